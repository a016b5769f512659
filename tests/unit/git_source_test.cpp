#include "graph/key_encoder.hpp"
#include "source/git_source.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include "test_files.hpp"

#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>
#include <sys/stat.h>
#include <sys/wait.h>

namespace fs = std::filesystem;
using namespace bincastle;
using bincastle::testing::read;
using bincastle::testing::write;

namespace {

mode_t permissions(const fs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::string message_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& error) {
        return error.what();
    }
    FAIL("no bincastle::Error was thrown");
    return {};
}

// Repositories made with the git command line, which sees no system or user config.
class Origin {
public:
    Origin() {
        git(sub, "init -q");
        write(sub / "inner.txt", "from the submodule\n");
        git(sub, "add inner.txt");
        git(sub, "commit -q -m sub");

        git(repo, "init -q");
        write(repo / "README", "one\n");
        git(repo, "add README");
        git(repo, "commit -q -m one");
        first = git(repo, "rev-parse HEAD");
        git(repo, "tag -a v1 -m v1");
        git(repo, "branch feature");

        write(repo / "README", "two\n");
        write(repo / "dir/nested.txt", "nested\n");
        write(repo / "tool", "#!/bin/sh\necho hi\n");
        fs::permissions(repo / "tool", fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                        fs::perm_options::add);
        fs::create_symlink("README", repo / "link");
        git(repo, "submodule -q add " + sub.string() + " sub");
        // Relative to the superproject's URL, as most .gitmodules say it.
        git(repo, "submodule -q add ../sub relative");
        git(repo, "add -A");
        git(repo, "commit -q -m two");
        second = git(repo, "rev-parse HEAD");
    }

    // Runs git in `dir` and returns its output without the trailing newline.
    std::string git(const fs::path& dir, const std::string& args) {
        fs::create_directories(dir);
        const std::string home = "'" + temp.path().string() + "'";
        const std::string command = "cd '" + dir.string() + "' && HOME=" + home + " XDG_CONFIG_HOME=" + home +
                                    " GIT_CONFIG_NOSYSTEM=1 git -c user.name=test -c user.email=test@example.com"
                                    " -c init.defaultBranch=main -c protocol.file.allow=always " +
                                    args + " 2>&1";
        FILE* pipe = ::popen(command.c_str(), "r");
        REQUIRE(pipe);
        std::string output;
        char buffer[4096];
        while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
        const int status = ::pclose(pipe);
        INFO(command, "\n", output);
        REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
        while (!output.empty() && output.back() == '\n') output.pop_back();
        return output;
    }

    TempDir temp{"bincastle-git-test"};
    const fs::path store = temp.path() / "store";
    const fs::path sub = temp.path() / "sub";
    const fs::path repo = temp.path() / "origin";
    const std::string url = "file://" + repo.string();
    std::string first;
    std::string second;
};

}  // namespace

TEST_CASE("git: branches, tags and full or abbreviated commit ids resolve") {
    Origin origin;
    for (const std::string& url : {origin.url, origin.repo.string()}) {
        CAPTURE(url);
        CHECK(resolve_git_commit(origin.store, url, "main") == origin.second);
        CHECK(resolve_git_commit(origin.store, url, "feature") == origin.first);
        CHECK(resolve_git_commit(origin.store, url, "v1") == origin.first);  // an annotated tag
        CHECK(resolve_git_commit(origin.store, url, "refs/heads/feature") == origin.first);
        CHECK(resolve_git_commit(origin.store, url, origin.first) == origin.first);
        CHECK(resolve_git_commit(origin.store, url, origin.second.substr(0, 7)) == origin.second);
    }
    // One bare cache per URL, named by the URL's hash.
    CHECK(fs::exists(origin.store / "git" / hash_bytes(origin.url).hex() / "HEAD"));
    CHECK(fs::exists(origin.store / "git" / hash_bytes(origin.repo.string()).hex() / "HEAD"));
}

TEST_CASE("git: export writes files, executable bits, symlinks and submodules") {
    Origin origin;
    const std::string commit = resolve_git_commit(origin.store, origin.url, "main");
    const fs::path out = origin.temp.path() / "out";
    fs::create_directory(out);
    export_git_tree(origin.store, origin.url, commit, out);

    CHECK(read(out / "README") == "two\n");
    CHECK(permissions(out / "README") == 0644);
    CHECK(read(out / "tool") == "#!/bin/sh\necho hi\n");
    CHECK(permissions(out / "tool") == 0755);
    CHECK(fs::is_symlink(out / "link"));
    CHECK(fs::read_symlink(out / "link") == "README");
    CHECK(read(out / "dir/nested.txt") == "nested\n");
    CHECK(read(out / "sub/inner.txt") == "from the submodule\n");
    CHECK(read(out / "relative/inner.txt") == "from the submodule\n");
    CHECK(fs::exists(out / ".gitmodules"));
    CHECK_FALSE(fs::exists(out / ".git"));
    CHECK_FALSE(fs::exists(out / "sub/.git"));

    const fs::path older = origin.temp.path() / "older";
    fs::create_directory(older);
    export_git_tree(origin.store, origin.url, origin.first, older);
    CHECK(read(older / "README") == "one\n");
    CHECK_FALSE(fs::exists(older / "tool"));
}

TEST_CASE("git: a commit id the cache has resolves without fetching") {
    Origin origin;
    CHECK(resolve_git_commit(origin.store, origin.url, "main") == origin.second);
    fs::rename(origin.repo, origin.temp.path() / "gone");
    // A fetch would fail now, as resolving a branch shows.
    CHECK(resolve_git_commit(origin.store, origin.url, origin.second) == origin.second);
    CHECK(resolve_git_commit(origin.store, origin.url, origin.first) == origin.first);
    CHECK_THROWS_AS(resolve_git_commit(origin.store, origin.url, "main"), Error);
    const fs::path out = origin.temp.path() / "out";
    fs::create_directory(out);
    export_git_tree(origin.store, origin.url, origin.second, out);
    CHECK(read(out / "README") == "two\n");
}

TEST_CASE("git: a branch that moved is fetched again") {
    Origin origin;
    CHECK(resolve_git_commit(origin.store, origin.url, "main") == origin.second);
    write(origin.repo / "README", "three\n");
    origin.git(origin.repo, "commit -q -a -m three");
    const std::string third = origin.git(origin.repo, "rev-parse HEAD");
    REQUIRE(third != origin.second);
    CHECK(resolve_git_commit(origin.store, origin.url, "main") == third);
    // A deleted branch is gone from the cache too.
    origin.git(origin.repo, "branch -q -D feature");
    CHECK_THROWS_AS(resolve_git_commit(origin.store, origin.url, "feature"), Error);
}

TEST_CASE("git: processes resolving one URL at once share one cache") {
    Origin origin;
    // flock(2) locks belong to open files, so threads contend for them as processes do.
    std::vector<std::string> commits(4);
    {
        std::vector<std::jthread> threads;
        for (auto& commit : commits)
            threads.emplace_back([&] {
                try {
                    commit = resolve_git_commit(origin.store, origin.url, "main");
                } catch (const Error& error) {
                    commit = error.what();
                }
            });
    }
    for (const auto& commit : commits) CHECK(commit == origin.second);
    CHECK(std::distance(fs::directory_iterator(origin.store / "git"), fs::directory_iterator()) == 2);  // cache, lock
}

TEST_CASE("git: a bare origin works") {
    Origin origin;
    const fs::path bare = origin.temp.path() / "bare.git";
    origin.git(origin.temp.path(), "clone -q --bare " + origin.repo.string() + " " + bare.string());
    CHECK(resolve_git_commit(origin.store, bare.string(), "main") == origin.second);
    CHECK(resolve_git_commit(origin.store, "file://" + bare.string(), "v1") == origin.first);
    const fs::path out = origin.temp.path() / "out";
    fs::create_directory(out);
    export_git_tree(origin.store, bare.string(), origin.second, out);
    CHECK(read(out / "README") == "two\n");
    CHECK(read(out / "sub/inner.txt") == "from the submodule\n");
}

TEST_CASE("git: errors name the ref, the path or the URL") {
    Origin origin;
    CHECK(message_of([&] { resolve_git_commit(origin.store, origin.url, "nope"); }) ==
          "ref 'nope' not found in " + origin.url);
    CHECK(message_of([&] { resolve_git_commit(origin.store, origin.url, "0000000"); }) ==
          "ref '0000000' not found in " + origin.url);

    const fs::path plain = origin.temp.path() / "plain";
    fs::create_directory(plain);
    const std::string not_repository = message_of([&] { resolve_git_commit(origin.store, plain.string(), "main"); });
    CHECK(not_repository.find(plain.string()) != std::string::npos);

    const std::string missing = "file://" + (origin.temp.path() / "missing").string();
    const std::string unreachable = message_of([&] { resolve_git_commit(origin.store, missing, "main"); });
    CHECK(unreachable.find(missing) != std::string::npos);
    CHECK_FALSE(fs::exists(origin.store / "git" / hash_bytes(missing).hex()));  // no empty cache left

    const fs::path out = origin.temp.path() / "out";
    fs::create_directory(out);
    const std::string never = std::string(40, 'a');
    CHECK(message_of([&] { export_git_tree(origin.store, origin.url, never, out); }).find(origin.url) !=
          std::string::npos);
}
