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
// older cache) is compiled again, with a notice.

#include "driver/toolchain.hpp"
#include "util/unique_fd.hpp"

#include <filesystem>
#include <string>

namespace bincastle::driver {

struct CompiledDefinition {
    std::filesystem::path program;
    bool compiled = false;  // false: found in the cache
    // Keeps `program` in place until dropped: hold it until the program has started.
    UniqueFd lock;
};

// Compiles every .cpp in `root`/`subdir` (the compiler runs in `root` on relative
// paths, so its messages name files as the source's tree does, and `root` is on the
// include path). Compiler messages go to `output_fd` as the compiler wrote them; a
// failed compile throws an Error. `cache_dir` is <store>/definitions/bin.
CompiledDefinition compile_definition(const std::filesystem::path& root, const std::string& subdir,
                                      const Toolchain& toolchain, const std::filesystem::path& cache_dir,
                                      int output_fd);

}  // namespace bincastle::driver
