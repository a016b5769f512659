#pragma once

// `verify [--repair]`: the verb of the driver and of a definition program.

#include <filesystem>
#include <string>
#include <vector>

namespace bincastle::cli {

// Checks the store at `store_root` (bincastle::verify_store) and reports on `err_fd`:
// each damaged layer, progress (a live count on a terminal, else a line per 100
// layers) and a summary; --help goes to `out_fd`, naming `program`. Returns 0 when no
// layer is damaged, or every damaged one was removed; 1 otherwise.
int verify_main(const std::string& program, const std::vector<std::string>& args,
                const std::filesystem::path& store_root, int out_fd, int err_fd);

}  // namespace bincastle::cli
