#include "driver/host_verbs.hpp"

#include "driver/toolchain.hpp"
#include "store/store.hpp"
#include "util/file_tree.hpp"
#include "util/spawn.hpp"

#include <bincastle/error.hpp>

#include <cstdio>
#include <set>
#include <unistd.h>

namespace bincastle::driver {

namespace {

const char* const gc_usage = R"(usage: bincastle gc

Removes every layer that no system built with this store needs any more, and every
build that was left unfinished. The store is ${BINCASTLE_HOME:-$HOME/.bincastle}.
)";

const char* const clean_usage = R"(usage: bincastle clean

Removes the whole store (${BINCASTLE_HOME:-$HOME/.bincastle}): every layer, log,
compiled definition, git clone and system, with the files written in them.
)";

bool wants_help(const std::vector<std::string>& args) {
    for (const auto& arg : args)
        if (arg == "-h" || arg == "--help") return true;
    return false;
}

void refuse_arguments(const std::string& verb, const std::vector<std::string>& args) {
    if (!args.empty()) throw Error("unexpected argument " + args[0] + " to " + verb, "see 'bincastle " + verb + " --help'");
}

int store_verb(const std::string& verb, const std::vector<std::string>& args, const Caller& caller) {
    if (wants_help(args)) {
        ::dprintf(caller.stdio[1], "%s", verb == "gc" ? gc_usage : clean_usage);
        return 0;
    }
    refuse_arguments(verb, args);
    Store store(Store::default_root());
    if (verb == "clean") {
        store.clean();
        ::dprintf(caller.stdio[2], "bincastle: removed %s\n", store.root().c_str());
        return 0;
    }
    std::size_t removed = store.gc();
    ::dprintf(caller.stdio[2], "bincastle: removed %zu layers\n", removed);
    return 0;
}

}  // namespace

bool is_host_verb(const std::string& verb) {
    static const std::set<std::string> verbs = {"run", "build", "export", "plan", "graph", "gc", "clean"};
    return verbs.count(verb) > 0;
}

int run_host_verb(const std::string& verb, const std::vector<std::string>& args, const Caller& caller) {
    if (verb == "gc" || verb == "clean") return store_verb(verb, args, caller);
    DefinitionCommand command = parse_definition_command(verb, args);
    if (command.help) {
        ::dprintf(caller.stdio[1], "%s", definition_command_usage(verb));
        return 0;
    }
    Toolchain toolchain = find_toolchain();
    // Root's systems reach the host only when root says so; a system started from a
    // trusted one is trusted too.
    bool trusted = ::geteuid() != 0 || command.trust_inside || caller.origin.host_dir;
    std::string socket = verb == "run" && trusted ? caller.socket_path : std::string();
    ProgramLaunch launch =
        prepare_program(command, caller.origin, toolchain, Store::default_root(), socket, caller.stdio[2]);
    auto program = spawn({launch.argv, launch.env, launch.cwd, caller.stdio[0], caller.stdio[1], caller.stdio[2]});
    launch.program_lock.reset();
    int status = caller.wait(program);
    if (launch.staged_output) {
        const auto& [host, inside] = *launch.staged_output;
        try {
            if (status == 0) caller.origin.write_back(host, inside);
        } catch (...) {
            remove_tree(host.parent_path());
            throw;
        }
        remove_tree(host.parent_path());
    }
    return status;
}

}  // namespace bincastle::driver
