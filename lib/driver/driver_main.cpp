#include "driver/driver_main.hpp"

#include "driver/client.hpp"
#include "driver/request.hpp"
#include "util/shared_names.hpp"

#include <bincastle/container.hpp>
#include <bincastle/error.hpp>
#include <bincastle/sandbox_command.hpp>
#include <bincastle/version.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace bincastle::driver {

namespace {

const char* const usage = R"(usage: bincastle COMMAND [ARGS...]

bincastle builds Linux systems from source as cached layers and runs them in
rootless containers. A system is defined by a C++ program (main.cpp).

Commands:
  run         compile a definition (a directory, or a git repository at a ref), build
              what is missing and enter the system
  build       the same, without entering it
  export      the same, then write the system out as an OCI image, a tarball or a
              directory, or push it to a registry
  plan        print a definition's plan: every layer's recipe, as JSON
  graph       print a definition's layer graph in Graphviz dot
  systems     list the systems in the store: running or not, last used, size, origin
  rm          remove a system's own files (refused while it runs)
  fork        copy a system's own files to a new system, to try something there
  ps          list the systems that run
  exec        run a command in a running system (on the host only)
  stop        end a running system (TERM, then KILL after a timeout)
  build-layer build one layer from a job's recipe and push it (what a cluster job
              runs for 'build --executor slurm')
  gc          remove the layers no system needs any more
  verify      check every layer in the store against what it held when it was
              committed; --repair removes the damaged ones
  clean       remove the whole store
  sandbox     run a command in a rootless container

  --help      this text ('bincastle COMMAND --help' for each command)
  --version   the version

The store is ${BINCASTLE_HOME:-$HOME/.bincastle}. Inside a system, /bincastle sends
every command but sandbox and exec to the bincastle that started the system.
)";


}  // namespace

int driver_main(int argc, char** argv, HostMain host) {
    // A closed pipe on stdout must not kill bincastle mid-relay (leaving the terminal
    // raw); the container's command gets the default disposition back.
    std::signal(SIGPIPE, SIG_IGN);
    // Inherited SIG_IGN would make the kernel reap children and lose their status.
    std::signal(SIGCHLD, SIG_DFL);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
        std::fputs(usage, args.empty() ? stderr : stdout);
        return args.empty() ? container::exit_setup_failed : 0;
    }
    if (args[0] == "--version") {
        std::printf("bincastle %s\n", version);
        return 0;
    }
    std::string verb = args[0];
    try {
        if (verb == "sandbox") return cli::sandbox_main({args.begin() + 1, args.end()});
        const char* socket = std::getenv(names::socket_variable);
        if (verb == "exec" && host && !(socket && *socket)) return host(verb, {args.begin() + 1, args.end()});
        // A cluster job's command: on a node's host, never sent from inside a system.
        if (verb == "build-layer") {
            if (!host || (socket && *socket)) throw Error("build-layer runs on a host (a cluster's node), not inside a system");
            return host(verb, {args.begin() + 1, args.end()});
        }
        if (!names::is_forwarded_verb(verb)) throw Error("unknown command '" + verb + "'", "see 'bincastle --help'");
        if (socket && *socket)
            return forward_to_supervisor(socket, args);
        if (!host)
            throw Error(verb + " needs the bincastle that started this system, and " + names::socket_variable + " is not set",
                        "a system started by root needs 'bincastle run --trust-inside' for this");
        return host(verb, {args.begin() + 1, args.end()});
    } catch (const Error& error) {
        // One line: what failed, on which path, and what to do.
        std::fprintf(stderr, "bincastle: %s%s%s\n", error.what(), error.hint().empty() ? "" : "; ",
                     error.hint().c_str());
        return container::exit_setup_failed;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bincastle: %s\n", error.what());
        return container::exit_setup_failed;
    }
}

}  // namespace bincastle::driver
