// Copying and removing trees that are deep or odd, and when the disk refuses a write.

#include "test_files.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;
using namespace bincastle::testing;

TEST_CASE("copy_tree copies a tree deeper than PATH_MAX, fifos, symlinks as such, and holes as holes") {
    TempDir temp("bincastle-test");
    const fs::path from = temp.path() / "from";
    fs::create_directories(from);
    make_deep_tree(from);
    REQUIRE(::mkfifo((from / "fifo").c_str(), 0640) == 0);
    fs::create_symlink("/etc/shadow", from / "shadow");
    {
        std::ofstream sparse(from / "sparse");
        sparse.seekp(16 << 20);
        sparse << "end";
    }
    REQUIRE(::chmod(from.c_str(), 0751) == 0);

    copy_tree(from, temp.path() / "to");
    const fs::path to = temp.path() / "to";
    CHECK(read_deep_file(to) == "deep\n");
    struct stat st {};
    REQUIRE(::lstat((to / "fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(fs::read_symlink(to / "shadow") == "/etc/shadow");
    REQUIRE(::lstat((to / "sparse").c_str(), &st) == 0);
    CHECK(st.st_size == (16 << 20) + 3);
    CHECK(st.st_blocks * 512 < (1 << 20));
    CHECK(read(to / "sparse").substr(16 << 20) == "end");
    REQUIRE(::lstat(to.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0751);

    remove_tree(from);
    remove_tree(to);
    CHECK_FALSE(fs::exists(from));
    CHECK_FALSE(fs::exists(to));
}

TEST_CASE("copy_tree leaves out excluded paths, also beside a tree deeper than PATH_MAX") {
    TempDir temp("bincastle-test");
    const fs::path from = temp.path() / "from";
    write(from / "build/out", "left out");
    write(from / "keep/build/out", "left out");
    write(from / "keep/builder", "kept");
    write(from / "keep/build.txt", "kept");
    fs::create_symlink("keep", from / "link");
    make_deep_tree(from / "keep");
    REQUIRE(::chmod((from / "keep").c_str(), 0750) == 0);

    const fs::path to = temp.path() / "to";
    copy_tree(from, to, {"build", "keep/build", "link/builder"});
    CHECK_FALSE(fs::exists(to / "build"));
    CHECK_FALSE(fs::exists(to / "keep/build"));
    CHECK(read(to / "keep/builder") == "kept");
    CHECK(read(to / "keep/build.txt") == "kept");
    CHECK(fs::read_symlink(to / "link") == "keep");
    CHECK(read_deep_file(to / "keep") == "deep\n");
    struct stat st {};
    REQUIRE(::lstat((to / "keep").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    remove_tree(from);
    remove_tree(to);
}

TEST_CASE("a copy the disk refuses says why and where, not EIO") {
    TempDir temp("bincastle-test");
    const fs::path from = temp.path() / "from";
    fs::create_directories(from / "sub");
    write(from / "sub" / "big", std::string(1 << 20, 'x'));
    FileSizeLimit limit(64 << 10);
    CHECK_THROWS_WITH_AS(copy_tree(from, temp.path() / "to"),
                         ("write(" + (temp.path() / "to" / "sub" / "big").string() + "): File too large").c_str(),
                         SysError);
}

// In a shared /tmp, another user's abandoned entry is theirs to judge. Only root can
// give an entry to another user, so that half is checked when the tests run as root,
// as CI runs them.
TEST_CASE("a sweep removes its own user's abandoned held entries, not another user's") {
    TempDir temp("bincastle-test");
    const std::filesystem::path mine = temp.path() / "job.held-abc123";
    const std::filesystem::path theirs = temp.path() / "job.held-def456";
    std::filesystem::create_directories(mine);
    std::filesystem::create_directories(theirs);
    const bool root = ::geteuid() == 0;
    if (root) REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
    remove_abandoned(temp.path(), "job");
    CHECK_FALSE(std::filesystem::exists(mine));
    CHECK(std::filesystem::exists(theirs) == root);
}
