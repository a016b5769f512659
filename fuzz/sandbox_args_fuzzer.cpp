// `bincastle sandbox`'s command line, which scripts and other tools build. Input: the
// first byte says whether stdin is a terminal, the rest is the arguments, each ended by
// a NUL byte.

#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool stdin_is_tty = data[0] & 1;
    std::vector<std::string> args;
    std::string current;
    for (std::size_t i = 1; i < size; ++i) {
        if (data[i] == 0) {
            args.push_back(current);
            current.clear();
        } else {
            current += static_cast<char>(data[i]);
        }
    }
    if (!current.empty()) args.push_back(current);
    try {
        bincastle::cli::parse_sandbox_args(args, stdin_is_tty);
    } catch (const bincastle::Error&) {
    }
    return 0;
}
