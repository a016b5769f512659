// The driver's pure parts: its command line, where a definition comes from, and the
// compile cache (with a stand-in compiler that records its calls).

#include "driver/definition_compiler.hpp"
#include "driver/definition_source.hpp"
#include "driver/driver_command.hpp"
#include "driver/inside_tree.hpp"
#include "driver/supervisor.hpp"
#include "test_files.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;
using namespace bincastle::driver;
using bincastle::testing::read;
using bincastle::testing::ScopedEnv;
using bincastle::testing::write;

TEST_CASE("driver command line: options anywhere before --, the command after it") {
    auto command = parse_definition_command(
        "run", {"-j", "3", "repo", "--system", "dev", "demo", "--progress=json", "-v", "--", "sh", "-c", "x"});
    CHECK(command.positionals == std::vector<std::string>{"repo", "demo"});
    CHECK(command.system == "dev");
    CHECK(command.build.jobs == 3);
    CHECK(command.build.progress == ProgressFormat::json);
    CHECK(command.build.verbose);
    CHECK(command.command == std::vector<std::string>{"sh", "-c", "x"});

    auto caches = parse_definition_command("build", {"--import-cache", "r/a", "--export-cache=r/b", "d"});
    CHECK(caches.build.import_caches == std::vector<std::string>{"r/a"});
    CHECK(caches.build.export_cache == "r/b");
    CHECK(caches.positionals == std::vector<std::string>{"d"});

    auto exported = parse_definition_command("export", {"-o", "out", "--format=tar", "--compression", "zstd", "d"});
    CHECK(exported.build.export_request.output == std::filesystem::path("out"));
    CHECK(exported.build.export_request.format == "tar");
    CHECK(exported.build.export_request.compression == "zstd");
    CHECK_THROWS_AS(parse_definition_command("build", {"-o", "out", "d"}), Error);
    CHECK_THROWS_AS(parse_definition_command("run", {"-j", "0", "d"}), Error);
    CHECK_THROWS_AS(parse_definition_command("run", {"--progress=fancy", "d"}), Error);

    CHECK_THROWS_AS(parse_definition_command("run", {"--bogus", "d"}), Error);
    CHECK_THROWS_AS(parse_definition_command("run", {"d", "--system"}), Error);
    CHECK_THROWS_AS(parse_definition_command("run", {"--system", "a/b", "d"}), Error);
    CHECK_THROWS_AS(parse_definition_command("build", {"d", "--", "true"}), Error);
    CHECK(parse_definition_command("graph", {"-h"}).help);
}

TEST_CASE("definition source: a directory, its SUBDIR, and what is wrong with them") {
    TempDir dir("driver-test");
    write(dir.path() / "repo" / "demo" / "main.cpp", "int main() {}\n");
    write(dir.path() / "repo" / "lib" / "x.hpp", "\n");
    fs::path store = dir.path() / "store";

    auto source = resolve_definition_source({"repo", "demo"}, store, dir.path());
    CHECK(source.root == dir.path() / "repo");
    CHECK(source.subdir == "demo");
    CHECK(source.definition_dir() == dir.path() / "repo" / "demo");
    CHECK_FALSE(source.ref);

    auto direct = resolve_definition_source({dir.path().string() + "/repo/demo/"}, store, "/");
    CHECK(direct.root == dir.path() / "repo" / "demo");
    CHECK(direct.subdir.empty());

    // Named after the source and SUBDIR; another parent system, another name.
    CHECK(source.default_system_name("").starts_with("repo-demo-"));
    CHECK(source.default_system_name("") == resolve_definition_source({"repo", "demo/"}, store, dir.path()).default_system_name(""));
    CHECK(source.default_system_name("") != source.default_system_name("outer"));
    CHECK(source.default_system_name("") != direct.default_system_name(""));

    auto message = [&](const std::vector<std::string>& args) {
        try {
            resolve_definition_source(args, store, dir.path());
        } catch (const Error& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    CHECK(message({"nowhere"}).find("no such directory") != std::string::npos);
    CHECK(message({"repo", "nosub"}).find("nosub") != std::string::npos);
    CHECK(message({"repo", "lib"}).find("no main.cpp") != std::string::npos);
    CHECK(message({"repo", "../x"}).find("leaves the source") != std::string::npos);
    CHECK(message({"https://example.invalid/r.git"}).find("needs a REF") != std::string::npos);
    CHECK(message({"repo", "demo", "extra"}).find("unexpected argument") != std::string::npos);
    CHECK(message({}).find("no SOURCE") != std::string::npos);
}

namespace {

// A stand-in compiler: with -c it writes the object and a depfile naming the source
// and every header in the source's directory; otherwise it writes a program. Each call
// is a line in calls.log.
void write_fake_compiler(const fs::path& dir) {
    write(dir / "fake-cxx", R"SH(#!/bin/sh
echo "$*" >>")SH" + (dir / "calls.log").string() + R"SH("
out= dep= src= compile=
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=$2; shift ;;
        -MF) dep=$2; shift ;;
        -c) compile=1; src=$2; shift ;;
    esac
    shift
done
if [ -n "$compile" ]; then
    printf '%s: %s' "$out" "$src" >"$dep"
    for h in "$(dirname "$src")"/*.hpp; do [ -f "$h" ] && printf ' \\\n %s' "$h" >>"$dep"; done
    echo >>"$dep"
    : >"$out"
else
    printf '#!/bin/sh\necho program\n' >"$out"; chmod +x "$out"
fi
)SH",
          0755);
}

// Written a while ago: a file written as a compile starts is not trusted to be
// what the compiler read.
void write_old(const fs::path& path, const std::string& content) {
    write(path, content);
    fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::hours(1));
}

int calls(const fs::path& dir) {
    std::string log = read(dir / "calls.log");
    return static_cast<int>(std::count(log.begin(), log.end(), '\n'));
}

// The stand-in compiler of write_fake_compiler, and a library for the cache key.
Toolchain fake_toolchain(const fs::path& dir) {
    write(dir / "lib" / "libbincastle.a", "archive");
    Toolchain toolchain;
    toolchain.compiler = {(dir / "fake-cxx").string()};
    toolchain.compiler_path = dir / "fake-cxx";
    toolchain.library_dir = dir / "lib";
    return toolchain;
}

}  // namespace

TEST_CASE("compile cache: unchanged sources and headers do not start the compiler") {
    TempDir dir("driver-test");
    write_fake_compiler(dir.path());
    write_old(dir.path() / "repo" / "demo" / "main.cpp", "int main() {}\n");
    write_old(dir.path() / "repo" / "demo" / "layers.hpp", "// v1\n");
    Toolchain toolchain = fake_toolchain(dir.path());
    fs::path cache = dir.path() / "cache";
    UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));

    // The result's lock keeps the program in place until it has started: dropped here.
    auto compile = [&] {
        auto result = compile_definition(dir.path() / "repo", "demo", toolchain, cache, devnull.get(), run_compiler_directly);
        CHECK(result.lock);
        result.lock.reset();
        return result;
    };
    auto first = compile();
    CHECK(first.compiled);
    CHECK(calls(dir.path()) == 2);  // one compile, one link
    CHECK(read(first.program).find("echo program") != std::string::npos);

    auto second = compile();
    CHECK_FALSE(second.compiled);
    CHECK(second.program == first.program);
    CHECK(calls(dir.path()) == 2);

    // Touched, same content: hashed again, still cached.
    write(dir.path() / "repo" / "demo" / "layers.hpp", "// v1\n");
    fs::last_write_time(dir.path() / "repo" / "demo" / "layers.hpp", fs::file_time_type::clock::now() - std::chrono::minutes(30));
    CHECK_FALSE(compile().compiled);
    // A header's content changed: compiled again.
    write_old(dir.path() / "repo" / "demo" / "layers.hpp", "// v2, longer\n");
    CHECK(compile().compiled);
    CHECK(calls(dir.path()) == 4);
    CHECK_FALSE(compile().compiled);
    // A new .cpp in the definition's directory is a new input.
    write_old(dir.path() / "repo" / "demo" / "more.cpp", "\n");
    CHECK(compile().compiled);
    // Another library build: compiled again.
    write(dir.path() / "lib" / "libbincastle.a", "another archive");
    CHECK(compile().compiled);

    // A compiler failure is an Error and leaves no program behind.
    write(dir.path() / "repo" / "demo" / "main.cpp", "broken\n");
    toolchain.compiler = {"false"};
    CHECK_THROWS_AS(compile(), Error);
}

TEST_CASE("compile cache: a program discarded by its caller is compiled again; what crashes left goes") {
    TempDir dir("driver-test");
    write_fake_compiler(dir.path());
    write_old(dir.path() / "repo" / "demo" / "main.cpp", "int main() {}\n");
    Toolchain toolchain = fake_toolchain(dir.path());
    auto compile = [&] {
        auto result = compile_definition(dir.path() / "repo", "demo", toolchain, dir.path() / "cache", STDERR_FILENO,
                                         run_compiler_directly);
        result.lock.reset();
        return result;
    };
    const auto first = compile();
    REQUIRE(first.compiled);
    CHECK_FALSE(compile().compiled);
    // What a compile and a replacement killed half way left, unlocked: the next
    // ones remove it.
    write(dir.path() / "cache" / ".compiling.held-a1b2c3" / "0.o", "half an object");
    write(dir.path() / "cache" / ".replaced.held-d4e5f6" / "entry" / "program", "an old program");
    // Its check passed, but it could not be started: the caller drops it.
    discard_compiled(first.program);
    CHECK_FALSE(fs::exists(first.program.parent_path()));
    const auto again = compile();
    CHECK(again.compiled);
    CHECK(again.program == first.program);
    CHECK_FALSE(compile().compiled);
    // Only the entry and its lock are left in the cache.
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir.path() / "cache")) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{first.program.parent_path().filename(),
                                            first.program.parent_path().filename().string() + ".lock"});
}

TEST_CASE("compile cache: a damaged program is compiled again, with a notice") {
    TempDir dir("driver-test");
    write_fake_compiler(dir.path());
    write_old(dir.path() / "repo" / "demo" / "main.cpp", "int main() {}\n");
    Toolchain toolchain = fake_toolchain(dir.path());
    fs::path cache = dir.path() / "cache";
    const fs::path notices = dir.path() / "notices";
    UniqueFd output(::open(notices.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    REQUIRE(output);
    auto compile = [&] {
        auto result = compile_definition(dir.path() / "repo", "demo", toolchain, cache, output.get(), run_compiler_directly);
        result.lock.reset();
        return result;
    };
    const auto first = compile();
    REQUIRE(first.compiled);
    const std::string program = read(first.program);
    REQUIRE(program.find("echo program") != std::string::npos);
    CHECK(fs::exists(first.program.parent_path() / "program.check"));
    CHECK_FALSE(compile().compiled);
    CHECK(read(notices).find("damaged") == std::string::npos);

    SUBCASE("truncated, as a crash leaves it") { fs::resize_file(first.program, 5); }
    SUBCASE("empty") { fs::resize_file(first.program, 0); }
    SUBCASE("same size, other bytes") { write(first.program, std::string(program.size(), '\0'), 0755); }
    SUBCASE("gone") { fs::remove(first.program); }
    SUBCASE("not executable") { fs::permissions(first.program, fs::perms::owner_read | fs::perms::owner_write); }
    SUBCASE("an entry from before the record") { fs::remove(first.program.parent_path() / "program.check"); }

    const auto again = compile();
    CHECK(again.compiled);
    CHECK(read(again.program) == program);
    CHECK(read(notices).find("bincastle: the compiled demo/main.cpp in the cache is damaged (") != std::string::npos);
    CHECK(calls(dir.path()) == 4);
    // Healed: found in the cache again.
    CHECK_FALSE(compile().compiled);
    CHECK(calls(dir.path()) == 4);
}

TEST_CASE("sync_tree mirrors a tree deeper than PATH_MAX, and makes an old mirror equal") {
    TempDir temp("bincastle-test");
    const fs::path source = temp.path() / "source", mirror = temp.path() / "mirror";
    write(source / "a", "new a", 0600);
    write(source / "kept", "kept");
    write(source / "was-a-file/inside", "x");
    fs::create_symlink("a", source / "link");
    REQUIRE(::mkfifo((source / "fifo").c_str(), 0644) == 0);
    bincastle::testing::make_deep_tree(source);
    // An older mirror: a stale file, a file where a directory is now, a leftover.
    write(mirror / "a", "old a");
    write(mirror / "gone", "gone");
    write(mirror / "was-a-file", "file");
    write(mirror / "a.partial", "torn");
    fs::create_symlink("elsewhere", mirror / "link");

    for (int round = 0; round < 2; ++round) {
        UniqueFd from(::open(source.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(from);
        sync_tree(from.get(), mirror);
        CHECK(read(mirror / "a") == "new a");
        struct stat st {};
        REQUIRE(::lstat((mirror / "a").c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        CHECK(read(mirror / "kept") == "kept");
        CHECK(read(mirror / "was-a-file/inside") == "x");
        CHECK(fs::read_symlink(mirror / "link") == "a");
        CHECK_FALSE(fs::exists(mirror / "gone"));
        CHECK_FALSE(fs::exists(mirror / "a.partial"));
        CHECK_FALSE(fs::exists(fs::symlink_status(mirror / "fifo")));
        CHECK(bincastle::testing::read_deep_file(mirror) == "deep\n");
    }
    remove_tree(source);
    remove_tree(mirror);
}

TEST_CASE("a killed supervisor's socket goes when the next supervisor starts; a live one's stays") {
    TempDir dir("bincastle-driver-test");
    ScopedEnv tmpdir("TMPDIR", dir.path().string());
    auto names = [&] {
        std::vector<std::string> found;
        for (const auto& entry : fs::directory_iterator(dir.path())) found.push_back(entry.path().filename().string());
        std::sort(found.begin(), found.end());
        return found;
    };
    std::optional<Supervisor> live;
    live.emplace();
    pid_t child = ::fork();
    if (child == 0) {
        Supervisor killed;
        ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    // Each leaves its socket and the file it held beside it.
    CHECK(names().size() == 4);
    // What another program made of that name is none of ours.
    write(dir.path() / "bincastle-supervisor.other", "");
    {
        Supervisor next;
        std::vector<std::string> expected = {"bincastle-supervisor.other"};
        for (const Supervisor* supervisor : {&*live, &next}) {
            const std::string socket = fs::path(supervisor->socket_path()).filename().string();
            expected.push_back(socket);
            expected.push_back(socket.substr(0, socket.size() - std::string(".sock").size()));
        }
        std::sort(expected.begin(), expected.end());
        CHECK(names() == expected);
    }
    live.reset();
    CHECK(names() == std::vector<std::string>{"bincastle-supervisor.other"});
}
