#pragma once

// Compiling a definition into its program, cached.
//
// The cache lives in <store>/definitions/bin/<key>/{program,program.check,inputs}.
// The key hashes every .cpp of the definition's directory (path and content), the
// compiler's identity (its resolved executable's path, size and time) and arguments,
// and the library (version, libbincastle.a's size and time). `inputs` lists each
// header the compiler read, with its size, time and content hash: a header whose size or time
// changed is hashed again, and only a changed content recompiles. So an unchanged
// definition is found without starting the compiler. An entry is committed whole
// (written, flushed, renamed) with `program.check`, its program's size and a hash of
// samples of it; an entry whose program no longer matches (a crash, a full disk, an
// older cache) or is not executable is compiled again, with a notice. A program
// damaged where the samples do not reach, which then cannot be started, is dropped
// by its caller (discard_compiled) and compiled again.

#include "driver/toolchain.hpp"
#include "util/unique_fd.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace bincastle::driver {

// One compiler or linker command, and the paths it may read and write besides the
// system's own directories.
struct CompilerCommand {
    std::vector<std::string> argv;
    std::filesystem::path cwd;
    int output_fd;  // its stdout and stderr
    std::vector<std::filesystem::path> read_only;
    std::filesystem::path writable;
};
// Runs it; returns its exit status. The driver's runs it in a sandbox
// (host_tool_sandbox.hpp), so that a definition's code cannot #include a host file.
using CompilerRunner = std::function<int(const CompilerCommand&)>;
// Runs it as a plain child process (for tests with a stand-in compiler).
int run_compiler_directly(const CompilerCommand& command);

struct CompiledDefinition {
    std::filesystem::path program;
    bool compiled = false;  // false: found in the cache
    // Keeps `program` in place until dropped: hold it until the program has started.
    UniqueFd lock;
};

// Compiles every .cpp in `root`/`subdir` (the compiler runs in `root` on relative
// paths, so its messages name files as the source's tree does, and `root` is on the
// include path). Compiler messages go to `output_fd` as the compiler wrote them; a
// failed compile throws an Error. `cache_dir` is <store>/definitions/bin. The compiler
// may read `root`, the toolchain's own directories and its headers and library, and
// write only the entry it compiles into.
CompiledDefinition compile_definition(const std::filesystem::path& root, const std::string& subdir,
                                      const Toolchain& toolchain, const std::filesystem::path& cache_dir,
                                      int output_fd, const CompilerRunner& run_compiler);

// Drops the cache entry of `program` (one that compile_definition gave, whose lock the
// caller no longer holds), so that the next compile_definition compiles it again.
// Waits until no driver is starting it.
void discard_compiled(const std::filesystem::path& program);

}  // namespace bincastle::driver
