#include "graph/key_encoder.hpp"
#include "source/stat_cache.hpp"
#include "source/tree_hash.hpp"
#include "store/layer_contents.hpp"
#include "util/file_hash.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include "test_files.hpp"

#include <fcntl.h>
#include <fstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;
using bincastle::testing::read;
using bincastle::testing::write;
using bincastle::testing::make_deep_tree;
using bincastle::testing::open_deep_dir;
using namespace std::chrono_literals;

namespace {

// Sets mtime (and atime) to `age` ago; ctime becomes now, as the kernel allows no other.
void age(const fs::path& path, std::chrono::seconds age) {
    struct timespec times[2];
    REQUIRE(::clock_gettime(CLOCK_REALTIME, &times[0]) == 0);
    times[0].tv_sec -= age.count();
    times[1] = times[0];
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

void make_tree(const fs::path& root) {
    write(root / "README", "hello\n");
    write(root / "bin/tool", std::string(3 << 20, 'x') + "tail", 0755);
    write(root / "src/a.c", "int a;\n");
    write(root / "src/deep/b.c", "int b;\n", 0600);
    fs::create_directories(root / "empty");
    fs::create_symlink("../README", root / "src/readme-link");
}

Key key_of(const fs::path& root, unsigned threads = 2) { return hash_tree(root, nullptr, threads); }

}  // namespace

TEST_CASE("the tree encoding is pinned") {
    // If this fails, every directory source's key changed: bump key_format_version
    // and update the expected encoding deliberately.
    TempDir dir("bincastle-tree-test");
    fs::path root = dir.path() / "t";
    write(root / "a.b", "abc");
    write(root / "a/x", "", 0755);
    REQUIRE(::chmod((root / "a").c_str(), 0750) == 0);
    fs::create_symlink("a.b", root / "l");
    // Byte order of the paths: '.' sorts before '/', so "a.b" comes before "a/x".
    KeyEncoder expected("tree");
    expected.field('p', "a").field('t', "directory").field('m', std::uint64_t{0750});
    expected.field('p', "a.b").field('t', "file").field('m', std::uint64_t{0644}).field('c', hash_bytes("abc"));
    expected.field('p', "a/x").field('t', "file").field('m', std::uint64_t{0755}).field('c', hash_bytes(""));
    expected.field('p', "l").field('t', "symlink").field('m', std::uint64_t{0777}).field('l', "a.b");
    CHECK(key_of(root) == expected.finish());
    CHECK(key_of(root).hex() == "ae8d8f88fe4b8af44ba8e4ad1e0a5603");
}

TEST_CASE("the same tree has the same key, wherever it is and whenever it was touched") {
    TempDir dir("bincastle-tree-test");
    make_tree(dir.path() / "one");
    const Key key = key_of(dir.path() / "one");
    CHECK(key_of(dir.path() / "one") == key);

    fs::copy(dir.path() / "one", dir.path() / "two", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    CHECK(key_of(dir.path() / "two") == key);

    age(dir.path() / "one/README", 3600s);
    age(dir.path() / "one/src", 3600s);
    age(dir.path() / "one/src/readme-link", 3600s);
    CHECK(key_of(dir.path() / "one") == key);
}

TEST_CASE("the key changes with anything that is in the tree") {
    TempDir dir("bincastle-tree-test");
    fs::path root = dir.path() / "t";
    make_tree(root);
    const Key before = key_of(root);

    SUBCASE("one byte of content") {
        std::string tool = read(root / "bin/tool");
        tool[2 << 20] = 'y';
        write(root / "bin/tool", tool, 0755);
    }
    SUBCASE("one permission bit") { REQUIRE(::chmod((root / "README").c_str(), 0664) == 0); }
    SUBCASE("a directory's permission bit") { REQUIRE(::chmod((root / "src").c_str(), 0700) == 0); }
    SUBCASE("a rename") { fs::rename(root / "src/a.c", root / "src/c.c"); }
    SUBCASE("a new empty directory") { fs::create_directory(root / "empty/more"); }
    SUBCASE("a symlink's target") {
        fs::remove(root / "src/readme-link");
        fs::create_symlink("../bin/tool", root / "src/readme-link");
    }
    CHECK(key_of(root) != before);
}

TEST_CASE("one thread and several give the same key") {
    TempDir dir("bincastle-tree-test");
    fs::path root = dir.path() / "t";
    make_tree(root);
    for (int i = 0; i < 40; ++i) write(root / "many" / std::to_string(i), std::string(i * 5000, char('a' + i % 26)));
    const Key one = key_of(root, 1);
    CHECK(key_of(root, 4) == one);
    CHECK(key_of(root, 0) == one);
}

TEST_CASE("a fifo, a socket or a device in the tree is an error naming it") {
    TempDir dir("bincastle-tree-test");
    fs::path root = dir.path() / "t";
    make_tree(root);
    fs::path odd;
    SUBCASE("fifo") {
        odd = root / "src/deep/pipe";
        REQUIRE(::mkfifo(odd.c_str(), 0644) == 0);
    }
    SUBCASE("socket") {
        odd = root / "sock";
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(fd);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(odd.string().size() < sizeof address.sun_path);
        odd.string().copy(address.sun_path, sizeof address.sun_path - 1);
        REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    }
    SUBCASE("device") {
        // 0/0, which anyone may make (overlay's whiteout), so that the case runs
        // without root as well.
        odd = root / "null";
        REQUIRE(::mknod(odd.c_str(), S_IFCHR | 0666, makedev(0, 0)) == 0);
    }
    try {
        key_of(root);
        FAIL("hash_tree accepted " << odd);
    } catch (const Error& error) {
        CHECK(std::string(error.what()).find(odd.string()) != std::string::npos);
    }
}

TEST_CASE("a missing root is a system error naming it") {
    TempDir dir("bincastle-tree-test");
    try {
        key_of(dir.path() / "missing");
        FAIL("hash_tree accepted a missing root");
    } catch (const SysError& error) {
        CHECK(error.error_number() == ENOENT);
        CHECK(std::string(error.what()).find("missing") != std::string::npos);
    }
}

TEST_CASE("with a stat cache, an unchanged tree is not read again") {
    TempDir dir("bincastle-tree-test");
    fs::path root = dir.path() / "t";
    make_tree(root);
    const Key key = key_of(root);
    // Window zero: the files are minutes old for the purpose of this test, which
    // would otherwise wait out the real window for their ctimes.
    StatCache cache(0ns);
    TreeHashStats stats;
    CHECK(hash_tree(root, &cache, 2, &stats) == key);
    CHECK(stats.files == 4);
    CHECK(stats.files_read == 4);
    CHECK(stats.bytes_read == (3 << 20) + 4 + 6 + 7 + 7);
    CHECK(stats.links_checked == 1);
    CHECK(stats.links_read == 1);
    CHECK(cache.size() == 10);  // and the symlink's target, and the 5 directories' stats

    CHECK(hash_tree(root, &cache, 2, &stats) == key);
    CHECK(stats.files_read == 0);
    CHECK(stats.bytes_read == 0);
    CHECK(stats.links_checked == 0);  // its directory is unchanged
    CHECK(stats.links_read == 0);

    SUBCASE("also after a save and a load") {
        cache.save(dir.path() / "cache");
        for (const auto& entry : fs::directory_iterator(dir.path()))
            CHECK((entry.path().filename() == "t" || entry.path().filename() == "cache"));
        StatCache loaded(0ns);
        loaded.load(dir.path() / "cache");
        CHECK(loaded.size() == 10);
        CHECK(hash_tree(root, &loaded, 1, &stats) == key);
        CHECK(stats.files_read == 0);
        CHECK(stats.links_checked == 0);
    }
    SUBCASE("a symlink replaced by one of another target of the same length is read again") {
        fs::remove(root / "src/readme-link");
        fs::create_symlink("../READMX", root / "src/readme-link");
        const Key changed = hash_tree(root, &cache, 2, &stats);
        CHECK(stats.links_checked == 1);
        CHECK(stats.links_read == 1);
        CHECK(changed != key);
        CHECK(changed == key_of(root));
    }
    SUBCASE("a symlink renamed over another is read again, though its directory's mtime is put back") {
        struct stat before;
        REQUIRE(::lstat((root / "src").c_str(), &before) == 0);
        fs::create_symlink("../READMX", root / "src/new-link");
        fs::rename(root / "src/new-link", root / "src/readme-link");
        struct timespec times[2] = {before.st_atim, before.st_mtim};
        REQUIRE(::utimensat(AT_FDCWD, (root / "src").c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
        const Key changed = hash_tree(root, &cache, 2, &stats);
        CHECK(stats.links_read == 1);  // the directory's ctime moved
        CHECK(changed == key_of(root));
        CHECK(changed != key);
    }
    SUBCASE("a file changed to the same size and mtime is read again") {
        struct stat before;
        REQUIRE(::stat((root / "src/a.c").c_str(), &before) == 0);
        write(root / "src/a.c", "int z;\n");
        struct timespec times[2] = {before.st_atim, before.st_mtim};
        REQUIRE(::utimensat(AT_FDCWD, (root / "src/a.c").c_str(), times, 0) == 0);
        const Key changed = hash_tree(root, &cache, 2, &stats);
        CHECK(stats.files_read == 1);
        CHECK(changed != key);
        CHECK(changed == key_of(root));
    }
    SUBCASE("a deleted file leaves the cache") {
        fs::remove(root / "README");
        hash_tree(root, &cache, 2, &stats);
        CHECK(stats.files_read == 0);
        CHECK(cache.size() == 9);
    }
}

TEST_CASE("a tree deeper than PATH_MAX hashes, and a change at its bottom changes the key") {
    TempDir dir("bincastle-tree-test");
    const fs::path root = dir.path() / "t";
    fs::create_directories(root);
    make_deep_tree(root);
    StatCache cache(0ns);
    TreeHashStats stats;
    const Key key = hash_tree(root, &cache, 2, &stats);
    CHECK(stats.files_read == 1);
    CHECK(hash_tree(root, &cache, 2, &stats) == key);
    CHECK(stats.files_read == 0);
    // A copy hashes the same: it is how a build checks the source it copied.
    copy_tree(root, dir.path() / "copy");
    CHECK(key_of(dir.path() / "copy") == key);

    {
        UniqueFd file(::openat(open_deep_dir(root).get(), "file", O_WRONLY | O_TRUNC | O_CLOEXEC));
        REQUIRE(file);
        REQUIRE(::write(file.get(), "deeper\n", 7) == 7);
    }
    const Key changed = hash_tree(root, &cache, 2, &stats);
    CHECK(stats.files_read == 1);
    CHECK(changed != key);
    CHECK(changed == key_of(root));
    // The record of a layer's contents walks the same way.
    CHECK(LayerContents::of_tree(root).entries.size() == 26);

    remove_tree(root);
    remove_tree(dir.path() / "copy");
    CHECK_FALSE(fs::exists(root));
}

TEST_CASE("a file hashed within two seconds of its last change is not cached") {
    TempDir dir("bincastle-tree-test");
    fs::path root = dir.path() / "t";
    make_tree(root);
    // An old mtime does not help: chmod, utimensat and every write also set the ctime.
    age(root / "README", 3600s);
    StatCache cache;
    TreeHashStats stats;
    const Key key = hash_tree(root, &cache, 2, &stats);
    CHECK(cache.size() == 0);
    CHECK(hash_tree(root, &cache, 2, &stats) == key);
    CHECK(stats.files_read == 4);

    StatCache::Stat stat{1, 2, 3, 1'000'000'000'000'000'000, 1'000'000'000'000'000'000, 0100644};
    cache.store("f", stat, key, 1'000'000'001'000'000'000);
    CHECK_FALSE(cache.find("f", stat));
    cache.store("f", stat, key, 1'000'000'002'000'000'001);
    CHECK(cache.find("f", stat) == key);
    StatCache::Stat other = stat;
    other.ctime_ns += 1;
    CHECK_FALSE(cache.find("f", other));
    CHECK_FALSE(cache.find("g", stat));
}

TEST_CASE("a cache file that is missing, garbage, torn, of another version or not a file is ignored, and replaced") {
    TempDir dir("bincastle-tree-test");
    fs::path root = dir.path() / "t";
    make_tree(root);
    StatCache cache(0ns);
    const Key key = hash_tree(root, &cache, 2);
    fs::path file = dir.path() / "cache";
    cache.save(file);
    const std::string good = read(file);
    StatCache loaded(0ns);
    loaded.load(file);
    REQUIRE(loaded.size() == 10);

    std::string bad;
    SUBCASE("missing") { fs::remove(file); }
    SUBCASE("garbage") { bad = "not a cache at all"; }
    SUBCASE("torn") { bad = good.substr(0, good.size() - 1); }
    SUBCASE("one bit flipped") {
        bad = good;
        bad[bad.size() / 2] ^= 1;
    }
    SUBCASE("another version") {
        std::string body = good.substr(0, good.size() - 16);
        body.replace(body.find("-v2\n"), 4, "-v9\n");
        Key checksum = hash_bytes(body);
        bad = body + std::string(reinterpret_cast<const char*>(checksum.bytes.data()), 16);
    }
    SUBCASE("a directory") {
        fs::remove(file);
        write(file / "inside", "x");
    }
    if (!bad.empty()) {
        fs::remove(file);
        write(file, bad);
    }
    loaded.load(file);
    CHECK(loaded.size() == 0);
    TreeHashStats stats;
    CHECK(hash_tree(root, &loaded, 2, &stats) == key);
    CHECK(stats.files_read == 4);
    CHECK(stats.links_checked == 1);
    CHECK(stats.links_read == 1);
    // Saved over whatever was there: the next load finds it whole.
    loaded.save(file);
    StatCache again(0ns);
    again.load(file);
    CHECK(again.size() == 10);
}

// A directory swapped for a symlink after the walk listed it must not lead the hash
// out of the tree (under owner access, with the caller's read rights).
TEST_CASE("hash_file_under never reaches a file through a symlink on its way") {
    TempDir temp("bincastle-test");
    bincastle::testing::write(temp.path() / "outside" / "secret", "not the tree's");
    bincastle::testing::write(temp.path() / "tree" / "real" / "file", "the tree's");
    std::filesystem::create_directory_symlink(temp.path() / "outside", temp.path() / "tree" / "a");
    UniqueFd root(::open((temp.path() / "tree").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(root);
    CHECK(bincastle::hash_file_under(root.get(), "real/file", "tree/real/file").bytes == 10);
    CHECK_THROWS_AS(bincastle::hash_file_under(root.get(), "a/secret", "tree/a/secret"), bincastle::Error);
}
