#include "exec/layer_builder.hpp"
#include "graph/graph.hpp"
#include "graph/key_encoder.hpp"
#include "source/source_key.hpp"
#include "store/store.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include "test_files.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <sched.h>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;
using bincastle::testing::read;
using bincastle::testing::write;

namespace {

void commit_layer(const Store& store, const Key& key) {
    auto build = store.begin(key);
    write(build.fs() / "f", key.hex());
    build.commit("");
}

std::size_t count_entries(const fs::path& dir) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// In a forked child: a mount namespace of its own (in a user namespace of its own when
// it is not root, so that it may mount) with a tmpfs on `dir`, which then cannot be
// removed. False when the kernel refuses.
bool mount_tmpfs_privately(const fs::path& dir, uid_t uid, gid_t gid) {
    if (::unshare(CLONE_NEWNS | (uid == 0 ? 0 : CLONE_NEWUSER)) != 0) return false;
    try {
        if (uid != 0) {
            write_file("/proc/self/setgroups", "deny");
            write_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1\n");
            write_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1\n");
        }
    } catch (const std::exception&) {
        return false;
    }
    return ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
           ::mount("tmpfs", dir.c_str(), "tmpfs", 0, nullptr) == 0;
}

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

TEST_CASE("once a layer is committed, nothing of its build is left to remove") {
    // A crash after the layer appears would leave what is left of its build directory
    // for good: no builder of a finished key clears it. The commit is stopped there
    // by a build directory that cannot be removed (a mount in its scratch).
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key key = hash_bytes("committed");
    const uid_t uid = ::geteuid();
    const gid_t gid = ::getegid();
    pid_t child = ::fork();
    if (child == 0) {
        auto held = store.lock(key);
        auto build = store.begin(key);
        write(build.fs() / "file", "x");
        fs::create_directories(build.scratch() / "stuck");
        if (!mount_tmpfs_privately(build.scratch() / "stuck", uid, gid)) ::_exit(2);
        try {
            build.commit("");
        } catch (const std::exception&) {
        }
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    INFO("2: no namespace or mount for the test");
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK((!store.find(key) || fs::is_empty(dir.path() / "store/building")));
    // Either way, the next build of the key finds it whole or builds it afresh.
    if (!store.find(key)) {
        auto held = store.lock(key);
        auto build = store.begin(key);
        write(build.fs() / "file", "x");
        build.commit("");
    }
    CHECK(read(*store.find(key) / "file") == "x");
    CHECK(fs::is_empty(dir.path() / "store/building"));
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

TEST_CASE("gc keeps what a system needs, and builds nobody holds go") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key keep = hash_bytes("keep"), drop = hash_bytes("drop");
    for (const Key& key : {keep, drop}) commit_layer(store, key);
    store.record_root("system", {keep});
    write(dir.path() / "store/building" / (drop.hex() + ".12345") / "fs/x", "x");
    CHECK(store.gc() == 1);
    CHECK(store.find(keep));
    CHECK_FALSE(store.find(drop));
    CHECK(fs::is_empty(dir.path() / "store/building"));
    CHECK(fs::is_empty(dir.path() / "store/trash"));
}

TEST_CASE("gc keeps what live processes use; a dead process's claim is dropped") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key rooted = hash_bytes("rooted"), live = hash_bytes("live"), dead = hash_bytes("dead"),
        locked = hash_bytes("locked"), unused = hash_bytes("unused");
    for (const Key& key : {rooted, live, dead, locked, unused}) commit_layer(store, key);
    store.record_root("system", {rooted});
    auto claim = std::make_optional(store.register_live_root({live}));
    pid_t child = ::fork();
    if (child == 0) {
        // Dies without dropping its claim, as a crash would: the file stays, its lock goes.
        auto gone = store.register_live_root({dead});
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    const fs::path live_dir = dir.path() / "store/roots/live";
    CHECK(count_entries(live_dir) == 2);
    {
        // Someone building or removing `locked` decides about it, not gc.
        auto held = store.lock(locked);
        CHECK(store.gc() == 2);
    }
    CHECK(store.find(rooted));
    CHECK(store.find(live));
    CHECK_FALSE(store.find(dead));
    CHECK(store.find(locked));
    CHECK_FALSE(store.find(unused));
    CHECK(count_entries(live_dir) == 1);

    claim.reset();
    CHECK(count_entries(live_dir) == 0);
    CHECK(store.gc() == 2);
    CHECK_FALSE(store.find(live));
    CHECK(store.find(rooted));
}

TEST_CASE("a live root is not registered while gc runs") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    // What gc holds for its whole run.
    UniqueFd gc_lock(::open((dir.path() / "store/locks/gc").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(gc_lock);
    REQUIRE(::flock(gc_lock.get(), LOCK_EX) == 0);
    std::atomic<bool> registered = false;
    std::thread registering([&] {
        auto claim = store.register_live_root({hash_bytes("x")});
        registered = true;
    });
    ::usleep(200000);
    CHECK_FALSE(registered);
    ::flock(gc_lock.get(), LOCK_UN);
    registering.join();
    CHECK(registered);
}

TEST_CASE("a layer leaves layers/ before its files are removed") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key key = hash_bytes("stuck");
    commit_layer(store, key);
    const fs::path stuck = *store.find(key) / "stuck";
    fs::create_directories(stuck);
    // The removal fails half way, as a crash would stop it: the child finds a mount
    // on a directory of the layer, which it cannot remove.
    const uid_t uid = ::geteuid();
    const gid_t gid = ::getegid();
    pid_t child = ::fork();
    if (child == 0) {
        if (!mount_tmpfs_privately(stuck, uid, gid)) ::_exit(2);
        try {
            auto held = store.lock(key);
            store.forget(key);
            ::_exit(3);  // the removal was meant to fail
        } catch (const std::exception&) {
        }
        ::_exit(store.find(key) ? 1 : 0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    INFO("2: no namespace or mount for the test; 3: the removal did not fail; 1: the layer stayed");
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK_FALSE(store.find(key));
    // What the failed removal left in trash/ goes at the next gc.
    CHECK(count_entries(dir.path() / "store/trash") == 1);
    CHECK(store.gc() == 0);
    CHECK(count_entries(dir.path() / "store/trash") == 0);
}

TEST_CASE("forget removes a layer, and a missing one is no error") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    Key key = hash_bytes("forgotten");
    commit_layer(store, key);
    store.forget(key);
    CHECK_FALSE(store.find(key));
    CHECK_FALSE(fs::exists(dir.path() / "store/layers" / key.hex()));
    CHECK(count_entries(dir.path() / "store/trash") == 0);
    CHECK_NOTHROW(store.forget(key));
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

TEST_CASE("temporary directories of one prefix made by many threads at once all live until dropped") {
    TempDir dir("bincastle-store-test");
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                try {
                    TempDir mine("race", dir.path());
                    write(mine.path() / "file", "mine");
                    if (read(mine.path() / "file") != "mine") ++failures;
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    for (auto& thread : threads) thread.join();
    CHECK(failures == 0);
    CHECK(count_entries(dir.path()) == 0);
}

TEST_CASE("a temporary directory that a killed process left goes with the next one of its prefix") {
    TempDir dir("bincastle-store-test");
    pid_t child = ::fork();
    if (child == 0) {
        TempDir abandoned("work", dir.path());
        write(abandoned.path() / "sub/file", "left behind");
        ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    write(dir.path() / "work.not-a-tempdir/file", "not ours");
    // What mktemp, or a bincastle that held no lock, made: it may be in use.
    write(dir.path() / "work.a1b2c3/file", "an older bincastle's");
    CHECK(count_entries(dir.path()) == 3);
    // The killed process's is gone; what is not a TempDir stays.
    std::optional<TempDir> live;
    live.emplace("work", dir.path());
    CHECK(count_entries(dir.path()) == 3);
    CHECK(fs::exists(dir.path() / "work.not-a-tempdir/file"));
    CHECK(fs::exists(dir.path() / "work.a1b2c3/file"));
    {
        // A live one stays too.
        TempDir next("work", dir.path());
        CHECK(count_entries(dir.path()) == 4);
        CHECK(fs::exists(live->path()));
    }
    live.reset();
    CHECK(count_entries(dir.path()) == 2);
}

TEST_CASE("a temporary directory renamed into place stays; one whose place is taken goes when dropped") {
    TempDir dir("bincastle-store-test");
    {
        TempDir work("work", dir.path());
        write(work.path() / "file", "kept");
        CHECK(work.rename_to(dir.path() / "done"));
    }
    CHECK(read(dir.path() / "done/file") == "kept");
    {
        TempDir late("work", dir.path());
        write(late.path() / "file", "late");
        CHECK_FALSE(late.rename_to(dir.path() / "done"));
        CHECK(fs::exists(late.path()));
    }
    CHECK(read(dir.path() / "done/file") == "kept");
    CHECK(count_entries(dir.path()) == 1);
}

TEST_CASE("gc removes a roots list that a killed process was writing, never one being written") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    const fs::path roots = dir.path() / "store/roots";
    const std::string name = hash_bytes("system").hex();
    pid_t child = ::fork();
    if (child == 0) {
        // As replace_file starts a list: killed before its rename.
        fs::path partial;
        UniqueFd held = make_held_file(roots, name, partial);
        write_all(held.get(), hash_bytes("half").hex(), partial.string());
        ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    fs::path writing;
    UniqueFd live = make_held_file(roots, name, writing);
    // What an older bincastle, which held no lock, was writing: it may be in use.
    write(roots / (name + ".a1b2c3"), "");
    // Another system's list: the next write of this one's would remove it too, but
    // an unchanged list is not written again.
    store.record_root("other", {hash_bytes("kept")});
    CHECK(count_entries(roots) == 5);  // live/, the list, the killed, the live and the old
    store.gc();
    CHECK(count_entries(roots) == 4);
    CHECK(fs::exists(writing));
    CHECK(fs::exists(roots / (name + ".a1b2c3")));
    CHECK(store.rooted_keys() == std::vector<Key>{hash_bytes("kept")});
}

// The layer builder's guarantees that are about the store: what a failed build leaves.

TEST_CASE("a builder that fails while its build runs kills and reaps the build") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    // Stands in for the program's sandbox verb: says its pid, prints, and lingers.
    const fs::path self = dir.path() / "fake-sandbox";
    const fs::path pid_file = dir.path() / "pid";
    write(self, "#!/bin/sh\necho $$ >" + pid_file.string() + "\necho a line\nexec sleep 30\n", 0755);
    Graph graph = Graph::from(Layer(Name("lingers"), BuildScript({"true"})));
    auto keys = compute_keys(graph, [](const LayerData&) { return Key{}; });
    // The builder's own failure: its progress sink throws on the first line of output.
    struct ThrowingSink : ProgressSink {
        std::vector<ProgressEvent> failed;
        void event(const ProgressEvent& event) override {
            if (event.kind == ProgressEvent::Kind::output) throw std::runtime_error("the sink broke");
            if (event.kind == ProgressEvent::Kind::failed) failed.push_back(event);
        }
    } sink;
    SourceOverrides none;
    BuildSetup setup{&graph, &keys, &store, self.string(), 1, dir.path(), &none, &sink, {}};
    CHECK_FALSE(build_layer(setup, graph.root()));
    REQUIRE(sink.failed.size() == 1);
    CHECK(sink.failed[0].text.find("the sink broke") != std::string::npos);
    pid_t pid = std::stoi(read(pid_file));
    const bool gone = ::kill(pid, 0) != 0 && errno == ESRCH;
    CHECK(gone);
    if (!gone) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    CHECK_FALSE(store.find(keys[graph.root()]));
}

TEST_CASE("a local source edited after its key was computed fails its build and leaves no layer") {
    TempDir dir("bincastle-store-test");
    Store store(dir.path() / "store");
    write(dir.path() / "src/a.txt", "first version");
    Graph graph = Graph::from(Layer(Name("src"), LocalDir("src")));
    struct Events : ProgressSink {
        std::vector<ProgressEvent> failed;
        void event(const ProgressEvent& event) override {
            if (event.kind == ProgressEvent::Kind::failed) failed.push_back(event);
        }
    } sink;
    SourceOverrides none;
    auto keys = compute_keys(graph, make_source_key(dir.path(), none, store));
    write(dir.path() / "src/a.txt", "second version");
    BuildSetup setup{&graph, &keys, &store, "/nonexistent", 1, dir.path(), &none, &sink, {}};
    CHECK_FALSE(build_layer(setup, graph.root()));
    REQUIRE(sink.failed.size() == 1);
    CHECK(sink.failed[0].text.find("source " + (dir.path() / "src").string() +
                                   " changed while it was being built; build again") != std::string::npos);
    CHECK_FALSE(store.find(keys[graph.root()]));
    CHECK(fs::is_empty(dir.path() / "store/building"));

    // Built again, it is stored under the key of what it holds.
    keys = compute_keys(graph, make_source_key(dir.path(), none, store));
    CHECK(build_layer(setup, graph.root()));
    REQUIRE(store.find(keys[graph.root()]));
    CHECK(read(*store.find(keys[graph.root()]) / "a.txt") == "second version");
}

TEST_CASE("the store lives in BINCASTLE_HOME, else ~/.bincastle") {
    ::setenv("BINCASTLE_HOME", "/somewhere", 1);
    CHECK(Store::default_root() == "/somewhere");
    ::unsetenv("BINCASTLE_HOME");
    ::setenv("HOME", "/home/u", 1);
    CHECK(Store::default_root() == "/home/u/.bincastle");
}
