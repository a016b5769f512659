// The bincastle driver: one verb per file, dispatched here.

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>
#include <bincastle/version.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

const char* const usage = R"(usage: bincastle COMMAND [ARGS...]

bincastle builds Linux systems from source as cached layers and runs them in
rootless containers.

Commands:
  sandbox     run a command in a rootless container (see 'bincastle sandbox --help')

  --help      this text
  --version   the version
)";

}  // namespace

int main(int argc, char** argv) {
    // A closed pipe on stdout must not kill bincastle mid-relay (leaving the terminal
    // raw); the container's command gets the default disposition back.
    std::signal(SIGPIPE, SIG_IGN);
    // Inherited SIG_IGN would make the kernel reap the container and lose its status.
    std::signal(SIGCHLD, SIG_DFL);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
        std::fputs(usage, args.empty() ? stderr : stdout);
        return args.empty() ? bincastle::container::exit_setup_failed : 0;
    }
    if (args[0] == "--version") {
        std::printf("bincastle %s\n", bincastle::version);
        return 0;
    }
    std::string verb = args[0];
    args.erase(args.begin());
    try {
        if (verb == "sandbox") return bincastle::cli::sandbox_main(args);
        std::fprintf(stderr, "bincastle: unknown command '%s'\n%s", verb.c_str(), usage);
        return bincastle::container::exit_setup_failed;
    } catch (const bincastle::Error& error) {
        // One line: what failed, on which path, and what to do.
        std::fprintf(stderr, "bincastle: %s%s%s\n", error.what(), error.hint().empty() ? "" : "; ",
                     error.hint().c_str());
        return bincastle::container::exit_setup_failed;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bincastle: %s\n", error.what());
        return bincastle::container::exit_setup_failed;
    }
}
