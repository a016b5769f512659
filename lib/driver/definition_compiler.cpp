#include "driver/definition_compiler.hpp"

#include "graph/key_encoder.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/spawn.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>
#include <bincastle/version.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>
#include <sstream>
#include <chrono>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

// Compiled with no -O: a definition only assembles the graph (the library does the
// work, optimized), and the edit-compile loop is what the user waits for.
const std::vector<std::string> compile_flags = {"-std=c++20", "-pthread", "-I."};

struct FileIdentity {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
};

std::optional<FileIdentity> identity_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return FileIdentity{static_cast<std::uint64_t>(st.st_size),
                        st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

std::string content_hash(const std::string& path) { return hash_bytes(read_file(path)).hex(); }

std::vector<std::string> sources_of(const fs::path& root, const std::string& subdir) {
    std::vector<std::string> sources;
    fs::path dir = subdir.empty() ? root : root / subdir;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".cpp" || !entry.is_regular_file()) continue;
        sources.push_back((fs::path(subdir) / entry.path().filename()).lexically_normal().string());
    }
    std::sort(sources.begin(), sources.end());
    return sources;
}

std::vector<std::string> compiler_args(const Toolchain& toolchain) {
    std::vector<std::string> args = compile_flags;
    for (const auto& dir : toolchain.include_dirs) args.push_back("-I" + dir.string());
    return args;
}

Key cache_key(const fs::path& root, const std::vector<std::string>& sources, const Toolchain& toolchain) {
    KeyEncoder encoder("definition");
    encoder.field('v', std::string_view(version));
    encoder.field('c', toolchain.compiler);
    auto compiler = identity_of(toolchain.compiler_path);
    encoder.field('C', toolchain.compiler_path.string());
    encoder.field('s', compiler ? compiler->size : 0).field('t', compiler ? std::uint64_t(compiler->mtime_ns) : 0);
    encoder.field('f', compiler_args(toolchain));
    encoder.field('l', toolchain.link_args);
    fs::path library = toolchain.library_dir / "libbincastle.a";
    auto lib = identity_of(library.string());
    encoder.field('L', library.string());
    encoder.field('s', lib ? lib->size : 0).field('t', lib ? std::uint64_t(lib->mtime_ns) : 0);
    for (const auto& source : sources) {
        encoder.field('p', source);
        encoder.field('h', content_hash((root / source).string()));
    }
    return encoder.finish();
}

// The prerequisites in a make rule written by -MD: "x.o: a.cpp b.hpp \\\n c.hpp".
std::vector<std::string> parse_depfile(const std::string& text) {
    std::vector<std::string> paths;
    std::string current;
    bool after_colon = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\\' && i + 1 < text.size() && text[i + 1] == '\n') {
            ++i;
            c = ' ';
        } else if (c == '\\' && i + 1 < text.size() && text[i + 1] == ' ') {
            current += ' ';
            ++i;
            continue;
        }
        if (!after_colon) {
            if (c == ':' && (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n')) after_colon = true;
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\t') {
            if (!current.empty()) paths.push_back(current);
            current.clear();
            if (c == '\n') after_colon = false;
        } else {
            current += c;
        }
    }
    if (!current.empty()) paths.push_back(current);
    return paths;
}

// "size mtime_ns hash path" per line; paths relative to `root` where the compiler
// wrote them so (the definition's own files), so that a tree seen at another path
// (a nested run) checks the same way.
std::string describe_inputs(const fs::path& root, const std::vector<std::string>& paths) {
    std::ostringstream out;
    for (const auto& path : paths) {
        std::string full = fs::path(path).is_absolute() ? path : (root / path).string();
        auto id = identity_of(full);
        if (!id) throw SysError("stat", full);
        out << id->size << ' ' << id->mtime_ns << ' ' << content_hash(full) << ' ' << path << '\n';
    }
    return out.str();
}

// Every warm start checks each line (some 250 headers): parsed in place, no streams.
bool inputs_unchanged(const fs::path& root, const fs::path& inputs_file) {
    auto text = read_file_if_exists(inputs_file.string());
    if (!text) return false;
    const std::string root_prefix = root.string() + "/";
    std::string full;
    for (std::string_view rest = *text; !rest.empty();) {
        const std::size_t end = rest.find('\n');
        if (end == std::string_view::npos) return false;
        std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end + 1);
        FileIdentity recorded;
        auto field = [&line](auto& value) {
            auto [next, error] = std::from_chars(line.data(), line.data() + line.size(), value);
            if (error != std::errc() || next == line.data() + line.size() || *next != ' ') return false;
            line.remove_prefix(static_cast<std::size_t>(next - line.data()) + 1);
            return true;
        };
        if (!field(recorded.size) || !field(recorded.mtime_ns)) return false;
        const std::size_t space = line.find(' ');
        if (space == std::string_view::npos || space + 1 == line.size()) return false;
        const std::string_view hash = line.substr(0, space), path = line.substr(space + 1);
        full.assign(path.starts_with('/') ? std::string_view() : std::string_view(root_prefix));
        full += path;
        auto now = identity_of(full);
        if (!now) return false;
        if (now->size == recorded.size && now->mtime_ns == recorded.mtime_ns) continue;
        if (now->size != recorded.size) return false;
        if (content_hash(full) != hash) return false;
    }
    return true;
}

// The program's size and a hash of 4 KiB out of every MiB and of its last 4 KiB: a
// file cut short, or one that lost its start, its end or any extent of a MiB or more
// (what a crash or a full disk leaves) differs from it. Cheap enough for every start:
// a definition is some 16 MB (its libraries linked in), which would take a warm run
// some 8 ms to hash whole.
std::string program_fingerprint(const fs::path& program) {
    UniqueFd fd(::open(program.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw SysError("open", program.string());
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw SysError("stat", program.string());
    const auto size = static_cast<std::uint64_t>(st.st_size);
    constexpr std::uint64_t block = 4096, stride = 1 << 20;
    std::string sampled;
    std::vector<std::uint64_t> offsets;
    for (std::uint64_t offset = 0; offset < size; offset += stride) offsets.push_back(offset);
    if (size > block) offsets.push_back(size - block);
    for (std::uint64_t offset : offsets) {
        const std::size_t wanted = static_cast<std::size_t>(std::min(block, size - offset));
        const std::size_t start = sampled.size();
        sampled.resize(start + wanted);
        ssize_t n = ::pread(fd.get(), sampled.data() + start, wanted, static_cast<off_t>(offset));
        if (n < 0) throw SysError("read", program.string());
        // A file that shrank while it was read differs from its record anyway.
        sampled.resize(start + static_cast<std::size_t>(n));
    }
    return std::to_string(size) + " " + hash_bytes(sampled).hex() + "\n";
}

// Why the program in a cache entry cannot be trusted, or nothing.
std::optional<std::string> program_damage(const fs::path& entry) {
    auto recorded = read_file_if_exists((entry / "program.check").string());
    if (!recorded) return "it has no record of its program";
    try {
        if (program_fingerprint(entry / "program") != *recorded) return "its program is not the one compiled";
    } catch (const SysError& error) {
        return error.what();
    }
    if (::access((entry / "program").c_str(), X_OK) != 0) return "its program is not executable";
    return std::nullopt;
}

// What a compile writes at most, with room to spare: its objects, and a program that
// links the library statically (some 16 MiB).
constexpr std::uint64_t compile_room = 64ULL << 20;

// The bytes free for us on the filesystem of `dir`, or nullopt when it cannot tell.
std::optional<std::uint64_t> free_bytes(const fs::path& dir) {
    struct statvfs info {};
    if (::statvfs(dir.c_str(), &info) != 0) return std::nullopt;
    return std::uint64_t{info.f_bavail} * info.f_frsize;
}

// Flushed to the disk, so that a crash after the rename that commits it finds it whole.
void sync_path(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SysError("open", path.string());
    if (::fsync(fd.get()) != 0) throw SysError("fsync", path.string());
}

}  // namespace

int run_compiler_directly(const CompilerCommand& command) {
    return spawn({command.argv, std::nullopt, command.cwd, 0, command.output_fd, command.output_fd}).wait();
}

namespace {

UniqueFd lock_entry(const fs::path& entry, int operation) {
    fs::path path = entry.string() + ".lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open", path.string());
    while (::flock(fd.get(), operation) != 0)
        if (errno != EINTR) throw SysError("flock", path.string());
    return fd;
}

// Compiles into `work`, a new entry directory, with `inputs` written unless an input
// changed while the compiler read it (then the next run compiles again rather than
// trust a program of unknown sources).
void compile_into(const fs::path& root, const std::string& subdir, const std::vector<std::string>& sources,
                  const Toolchain& toolchain, const fs::path& work, int output_fd, const CompilerRunner& run_compiler) {
    std::vector<fs::path> readable = {root, toolchain.compiler_path, toolchain.library_dir};
    readable.insert(readable.end(), toolchain.include_dirs.begin(), toolchain.include_dirs.end());
    auto run = [&](std::vector<std::string> argv, const std::string& what) {
        if (run_compiler({std::move(argv), root, output_fd, readable, work}) == 0) return;
        // A full disk fails the compiler too, which says so among its messages; this
        // line says where. What the compiler wrote is gone by now, hence a margin.
        const fs::path cache_dir = work.parent_path();
        if (const auto room = free_bytes(cache_dir); room && *room < compile_room)
            throw Error(what + " failed (the compiler's messages are above)",
                        "the disk of " + cache_dir.string() + " is full (" + std::to_string(*room >> 20) +
                            " MiB free): make room there and run again");
        throw Error(what + " failed (the compiler's messages are above)", "fix the definition and run again");
    };
    // Less a tick: the kernel stamps files from a coarse clock (HZ=250: 4 ms).
    const auto started = fs::file_time_type::clock::now() - std::chrono::milliseconds(5);
    std::string shown = (fs::path(subdir) / "main.cpp").string();
    ::dprintf(output_fd, "bincastle: compiling %s (once per change)\n", shown.c_str());
    std::vector<std::string> objects, prerequisites;
    for (std::size_t i = 0; i < sources.size(); ++i) {
        fs::path object = work / (std::to_string(i) + ".o");
        fs::path depfile = work / (std::to_string(i) + ".d");
        std::vector<std::string> argv = toolchain.compiler;
        for (const auto& arg : compiler_args(toolchain)) argv.push_back(arg);
        for (const auto& arg : {std::string("-MD"), std::string("-MF"), depfile.string(), std::string("-c"),
                                sources[i], std::string("-o"), object.string()})
            argv.push_back(arg);
        run(std::move(argv), "compiling " + sources[i]);
        objects.push_back(object.string());
        for (auto& path : parse_depfile(read_file(depfile.string()))) prerequisites.push_back(std::move(path));
    }
    std::vector<std::string> argv = toolchain.compiler;
    argv.push_back("-pthread");
    for (const auto& object : objects) argv.push_back(object);
    argv.push_back("-L" + toolchain.library_dir.string());
    for (const auto& arg : toolchain.link_args) argv.push_back(arg);
    argv.push_back("-o");
    argv.push_back((work / "program").string());
    run(std::move(argv), "linking " + shown);
    for (const auto& object : objects) fs::remove(object);
    std::sort(prerequisites.begin(), prerequisites.end());
    prerequisites.erase(std::unique(prerequisites.begin(), prerequisites.end()), prerequisites.end());
    bool racy = false;
    for (const auto& path : prerequisites) {
        std::error_code error;
        auto written = fs::last_write_time(fs::path(path).is_absolute() ? fs::path(path) : root / path, error);
        racy = racy || error || written >= started;
    }
    if (!racy) {
        write_new_file((work / "inputs").string(), describe_inputs(root, prerequisites));
        sync_path(work / "inputs");
    }
    // A linker that wrote through mmap learns of a full disk only here.
    sync_path(work / "program");
    write_new_file((work / "program.check").string(), program_fingerprint(work / "program"));
    sync_path(work / "program.check");
    sync_path(work);
}

// Moves `entry` out of the cache by one rename (gone already is as good), into a
// directory that is removed on return, or by the next one after a crash.
void retire_entry(const fs::path& entry) {
    TempDir replaced(".replaced", entry.parent_path());
    if (::rename(entry.c_str(), (replaced.path() / "entry").c_str()) != 0 && errno != ENOENT)
        throw SysError("rename", entry.string());
}

}  // namespace

void discard_compiled(const fs::path& program) {
    const fs::path entry = program.parent_path();
    UniqueFd lock = lock_entry(entry, LOCK_EX);
    retire_entry(entry);
}

CompiledDefinition compile_definition(const fs::path& root, const std::string& subdir, const Toolchain& toolchain,
                                      const fs::path& cache_dir, int output_fd, const CompilerRunner& run_compiler) {
    std::vector<std::string> sources = sources_of(root, subdir);
    fs::create_directories(cache_dir);
    fs::path entry = cache_dir / cache_key(root, sources, toolchain).hex();
    // Shared while the program is found and started, exclusive while it is replaced:
    // a driver never starts a program that another is deleting.
    UniqueFd lock = lock_entry(entry, LOCK_SH);
    if (inputs_unchanged(root, entry / "inputs")) {
        auto damage = program_damage(entry);
        if (!damage) return {entry / "program", false, std::move(lock)};
        // A cache heals itself: trusted, a damaged program would fail every run.
        ::dprintf(output_fd, "bincastle: the compiled %s in the cache is damaged (%s): compiling it again\n",
                  (fs::path(subdir) / "main.cpp").c_str(), damage->c_str());
    }
    lock.reset();
    lock = lock_entry(entry, LOCK_EX);
    // Another driver may have compiled it while this one waited.
    if (inputs_unchanged(root, entry / "inputs") && !program_damage(entry))
        return {entry / "program", false, std::move(lock)};
    // Removed when dropped, or by the next compile after a crash: never half an entry.
    TempDir work(".compiling", cache_dir);
    compile_into(root, subdir, sources, toolchain, work.path(), output_fd, run_compiler);
    retire_entry(entry);
    if (::rename(work.path().c_str(), entry.c_str()) != 0) throw SysError("rename", work.path().string() + " -> " + entry.string());
    sync_path(cache_dir);
    return {entry / "program", true, std::move(lock)};
}

}  // namespace bincastle::driver
