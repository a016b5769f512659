#include "graph/key_encoder.hpp"
#include "store/store.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include "test_files.hpp"

#include <algorithm>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;
using bincastle::testing::read;
using bincastle::testing::write;

namespace {

}  // namespace

TEST_CASE("a committed build is found; an abandoned one leaves nothing") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key key = hash_bytes("layer one");
    CHECK_FALSE(store.find(key));
    {
        auto held = store.lock(key);
        auto build = store.begin(key);
        write(build.fs() / "etc/motd", "hello");
        fs::path files = build.commit("name=one\n");
        CHECK(read(files / "etc/motd") == "hello");
    }
    REQUIRE(store.find(key));
    CHECK(read(*store.find(key) / "etc/motd") == "hello");
    CHECK(fs::is_empty(dir.path() / "store/building"));

    Key other = hash_bytes("layer two");
    {
        auto held = store.lock(other);
        auto build = store.begin(other);
        write(build.fs() / "partial", "x");
    }
    CHECK_FALSE(store.find(other));
    CHECK(fs::is_empty(dir.path() / "store/building"));
}

TEST_CASE("OutputDir keeps only that subtree") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key key = hash_bytes("out");
    auto build = store.begin(key);
    write(build.fs() / "usr/bin/tool", "t");
    write(build.fs() / "build/junk", "j");
    fs::path files = build.commit("", "/usr");
    CHECK(fs::exists(files / "bin/tool"));
    CHECK_FALSE(fs::exists(files / "build"));
    auto missing = store.begin(hash_bytes("none"));
    CHECK_THROWS_AS(missing.commit("", "/nothing"), Error);
}

TEST_CASE("a crashed build's leftovers are cleared by the next builder") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key key = hash_bytes("crash");
    write(dir.path() / "store/building" / (key.hex() + ".99999") / "fs/half", "x");
    auto build = store.begin(key);
    CHECK_FALSE(fs::exists(dir.path() / "store/building" / (key.hex() + ".99999")));
}

TEST_CASE("one process at a time holds a key") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key key = hash_bytes("locked");
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t child = ::fork();
    if (child == 0) {
        auto held = store.lock(key);
        (void)!::write(ready[1], "x", 1);
        ::usleep(300000);
        ::_exit(0);
    }
    char byte;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    CHECK_FALSE(store.try_lock(key).has_value());
    auto held = store.lock(key);  // waits for the child to let go
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    ::close(ready[0]);
    ::close(ready[1]);
}

TEST_CASE("gc keeps what it is told to, and builds nobody holds go") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key keep = hash_bytes("keep"), drop = hash_bytes("drop");
    for (const Key& key : {keep, drop}) {
        auto build = store.begin(key);
        write(build.fs() / "f", key.hex());
        build.commit("");
    }
    write(dir.path() / "store/building" / (drop.hex() + ".12345") / "fs/x", "x");
    CHECK(store.gc({keep}) == 1);
    CHECK(store.find(keep));
    CHECK_FALSE(store.find(drop));
    CHECK(fs::is_empty(dir.path() / "store/building"));
}

TEST_CASE("roots record what each system needs; a new record replaces the old") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key a = hash_bytes("a"), b = hash_bytes("b"), c = hash_bytes("c");
    store.record_root("one", {a, b});
    store.record_root("two", {c});
    auto keys = store.rooted_keys();
    std::sort(keys.begin(), keys.end());
    std::vector<Key> expected = {a, b, c};
    std::sort(expected.begin(), expected.end());
    CHECK(keys == expected);
    store.record_root("one", {a});
    CHECK(store.rooted_keys().size() == 2);
}

TEST_CASE("trees without write permission are removed") {
    TempDir dir("bincastle-store-test");
    write(dir.path() / "t/a/b/file", "x");
    // Root ignores permissions; remove as an ordinary user then, or the test proves nothing.
    pid_t child = ::fork();
    if (child == 0) {
        if (::geteuid() == 0) {
            for (const auto& entry : fs::recursive_directory_iterator(dir.path()))
                (void)!::chown(entry.path().c_str(), 65534, 65534);
            (void)!::chown(dir.path().c_str(), 65534, 65534);
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
        }
        fs::permissions(dir.path() / "t/a/b", fs::perms::owner_read | fs::perms::owner_exec);
        fs::permissions(dir.path() / "t/a", fs::perms::owner_read);
        try {
            remove_tree(dir.path() / "t");
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(fs::exists(dir.path() / "t") ? 1 : 0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("remove_tree removes a symlink, never what it points to") {
    TempDir dir("bincastle-store-test");
    write(dir.path() / "target/sub/file", "x");
    fs::permissions(dir.path() / "target/sub", fs::perms::owner_read | fs::perms::owner_exec);
    fs::permissions(dir.path() / "target", fs::perms::owner_read | fs::perms::owner_exec);
    fs::create_directory_symlink(dir.path() / "target", dir.path() / "link");
    remove_tree(dir.path() / "link");
    CHECK_FALSE(fs::exists(fs::symlink_status(dir.path() / "link")));
    CHECK(read(dir.path() / "target/sub/file") == "x");
    const auto kept = fs::perms::owner_read | fs::perms::owner_exec;
    CHECK((fs::status(dir.path() / "target").permissions() & fs::perms::all) == kept);
    CHECK((fs::status(dir.path() / "target/sub").permissions() & fs::perms::all) == kept);
    remove_tree(dir.path() / "target");
}

TEST_CASE("the store lives in BINCASTLE_HOME, else ~/.bincastle") {
    ::setenv("BINCASTLE_HOME", "/somewhere", 1);
    CHECK(Store::default_root() == "/somewhere");
    ::unsetenv("BINCASTLE_HOME");
    ::setenv("HOME", "/home/u", 1);
    CHECK(Store::default_root() == "/home/u/.bincastle");
}
