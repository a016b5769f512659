#include "cli/verify_command.hpp"

#include "util/file_io.hpp"

#include <bincastle/error.hpp>
#include <bincastle/verify.hpp>

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace bincastle::cli {

namespace {

const char* const usage = R"(usage: %s verify [--repair]

Checks every layer in the store against what it held when it was committed (each
entry's type, mode and content), and names each damaged layer with what differs.
Layers committed before bincastle recorded that are counted as unverifiable.

  --repair   remove the damaged layers, so that the next build or pull makes them
             again (not one that a running system or a build uses: run it again
             once that has ended)

Exit status: 0 when no layer is damaged (or every damaged one was removed), 1 when
one is, 125 when the store cannot be read. The store is ${BINCASTLE_HOME:-$HOME/.bincastle}.
)";

// How often the live count on a terminal is redrawn, and every how many layers a
// line is written elsewhere.
constexpr auto redraw_interval = std::chrono::milliseconds(100);
constexpr std::size_t layers_per_line = 100;

}  // namespace

int verify_main(const std::string& program, const std::vector<std::string>& args, const std::filesystem::path& store_root,
                int out_fd, int err_fd) {
    VerifyOptions options;
    options.store_root = store_root;
    for (const auto& arg : args) {
        if (arg == "-h" || arg == "--help") {
            ::dprintf(out_fd, usage, program.c_str());
            return 0;
        }
        if (arg != "--repair") throw Error("unexpected argument " + arg + " to verify", "see '" + program + " verify --help'");
        options.repair = true;
    }
    const bool terminal = ::isatty(err_fd) == 1;
    bool count_shown = false;
    auto last_drawn = std::chrono::steady_clock::time_point();
    // The live count is one line that the next line of text replaces.
    auto clear_count = [&] {
        if (count_shown) write_all(err_fd, "\r\033[K", "standard error");
        count_shown = false;
    };
    options.progress = [&](std::size_t done, std::size_t total) {
        if (!terminal) {
            if (done % layers_per_line == 0 && done < total)
                ::dprintf(err_fd, "bincastle: verified %zu of %zu layers\n", done, total);
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now - last_drawn < redraw_interval && done < total) return;
        last_drawn = now;
        ::dprintf(err_fd, "\r\033[Kbincastle: verifying layers: %zu of %zu", done, total);
        count_shown = true;
    };
    options.damaged = [&](const DamagedLayer& layer) {
        clear_count();
        std::string outcome;
        if (options.repair) outcome = layer.removed ? "; removed" : "; not removed: " + layer.kept_because;
        ::dprintf(err_fd, "bincastle: damaged layer %s (%s): %s%s\n", layer.name.empty() ? "?" : layer.name.c_str(),
                  layer.key.hex().c_str(), layer.what.c_str(), outcome.c_str());
    };
    const VerifySummary summary = verify_store(options);
    clear_count();
    std::string counts = std::to_string(summary.checked) + " layers checked, " + std::to_string(summary.damaged) +
                         " damaged";
    if (options.repair) counts += ", " + std::to_string(summary.repaired) + " repaired";
    if (summary.unverifiable)
        counts += ", " + std::to_string(summary.unverifiable) + " unverifiable (from before contents were recorded)";
    ::dprintf(err_fd, "bincastle: verify: %s, %.1f s\n", counts.c_str(), summary.seconds);
    return summary.repaired == summary.damaged ? 0 : 1;
}

}  // namespace bincastle::cli
