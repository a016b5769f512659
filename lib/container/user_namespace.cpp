#include "container/user_namespace.hpp"

#include "util/file_io.hpp"
#include "util/process.hpp"

#include <bincastle/error.hpp>

#include <unistd.h>

namespace bincastle::container {

Caller current_caller() {
    return {static_cast<std::uint32_t>(::geteuid()), static_cast<std::uint32_t>(::getegid()),
            read_file("/proc/self/uid_map"), read_file("/proc/self/gid_map")};
}

SubIds find_sub_ids(const Caller& caller) {
    std::string name = passwd_name(read_file_if_exists("/etc/passwd").value_or(""), caller.uid)
                           .value_or(std::to_string(caller.uid));
    auto uids = find_subid_range(read_file_if_exists("/etc/subuid").value_or(""), name, caller.uid);
    auto gids = find_subid_range(read_file_if_exists("/etc/subgid").value_or(""), name, caller.gid);
    if (!uids || !gids)
        throw Error("--subids: no subordinate " + std::string(!uids ? "uids in /etc/subuid" : "gids in /etc/subgid") +
                        " for " + name,
                    "ask an administrator: usermod --add-subuids 100000-165535 --add-subgids "
                    "100000-165535 " + name);
    return {*uids, *gids};
}

namespace {

void run_newidmap(const char* helper, pid_t pid, const IdMap& map) {
    std::vector<std::string> argv = {helper, std::to_string(pid)};
    for (auto& arg : newidmap_args(map)) argv.push_back(std::move(arg));
    int status = run_program(argv);
    if (status == program_not_found)
        throw Error(std::string("--subids needs ") + helper + ", which is not installed",
                    "install it: apt-get install uidmap");
    if (status != 0)
        throw Error(std::string(helper) + " " + std::to_string(pid) + " failed with status " +
                        std::to_string(status),
                    "check /etc/subuid and /etc/subgid, and that the helper is setuid root");
}

}  // namespace

void write_id_maps(pid_t pid, const IdMapPlan& plan) {
    std::string proc = "/proc/" + std::to_string(pid);
    if (plan.use_newidmap) {
        run_newidmap("newuidmap", pid, plan.uids);
        run_newidmap("newgidmap", pid, plan.gids);
        return;
    }
    if (plan.deny_setgroups) write_file(proc + "/setgroups", "deny");
    write_file(proc + "/uid_map", format_id_map(plan.uids));
    write_file(proc + "/gid_map", format_id_map(plan.gids));
}

}  // namespace bincastle::container
