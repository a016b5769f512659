// bincastle::prepare_entry: the container that runs a built system.

#include "graph/key_encoder.hpp"
#include "plan/plan_graph.hpp"
#include "build/running_lock.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/shared_names.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/build.hpp>
#include <bincastle/error.hpp>

#include <cstdio>
#include <optional>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// The system's own copy of a wrapped layer: made from the layer when first entered,
// then the user's, kept across runs. When the layer changes (a new key), the old copy
// is kept beside the new one and the user is told where.
fs::path wrapped_copy(const fs::path& system_dir, const std::string& mount_dir, const fs::path& files,
                      const Key& key) {
    fs::path copy = system_dir / "mounts" / hash_bytes(mount_dir).hex();
    fs::path key_file = copy.string() + ".key";
    auto copied_from = read_file_if_exists(key_file.string());
    if (fs::exists(copy) && copied_from && *copied_from != key.hex()) {
        fs::path kept = copy.string() + ".from-" + copied_from->substr(0, 12);
        for (int n = 2; fs::exists(kept); ++n)
            kept = copy.string() + ".from-" + copied_from->substr(0, 12) + "." + std::to_string(n);
        fs::rename(copy, kept);
        std::fprintf(stderr, "bincastle: %s changed since this system copied it; the previous copy is in %s\n",
                     mount_dir.c_str(), kept.c_str());
    }
    if (!fs::exists(copy)) {
        fs::create_directories(copy.parent_path());
        // A full disk leaves no half copy; the next entry removes what a killed one left.
        TempDir partial(copy.filename().string() + ".partial", copy.parent_path());
        copy_tree(files, partial.path());
        if (!partial.rename_to(copy)) throw Error(copy.string() + " appeared while it was copied");
    }
    if (copied_from != key.hex()) {
        replace_file(key_file.string(), key.hex());
    }
    return copy;
}

// Who holds the lock (this process, which waits for the system), the process that
// runs the container once it is known, and what the system runs, for `bincastle ps`,
// `stop` and `exec`; the file's mtime is when the system was last entered. Rewritten
// in place: truncating it to nothing would free its block on every run.
void record_running(int fd, const fs::path& path, const std::vector<std::string>& command,
                    std::optional<int> system = std::nullopt) {
    std::string record = "pid " + std::to_string(::getpid()) + "\n";
    if (system) record += "system " + std::to_string(*system) + "\n";
    record += "command";
    for (const auto& arg : command) record += " " + arg;
    record += "\n";
    if (::pwrite(fd, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size()) ||
        ::ftruncate(fd, static_cast<off_t>(record.size())) != 0)
        throw SysError("write", path.string());
}

}  // namespace

SystemEntry prepare_entry(const BuiltSystem& system, const EntryOptions& options) {
    Graph graph = graph_of(system.plan);
    const PlanLayer& root = system.plan.layers.back();
    // One running instance per system: two overlay mounts must not share an upper dir.
    fs::path system_dir = system.store_root / "systems" / system.system_name;
    fs::create_directories(system_dir);
    auto running = std::make_shared<UniqueFd>(::open((system_dir / "running").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!*running) throw SysError("open", (system_dir / "running").string());
    if (!try_lock_running(running->get(), (system_dir / "running").string()))
        throw Error("system '" + system.system_name + "' is already running from " + system.store_root.string(),
                    "leave it first, or enter another system (bincastle run --system NAME)");
    // At once: what a previous run recorded (its processes) is not this run's.
    record_running(running->get(), system_dir / "running", {});
    if (!options.origin.empty() && read_file_if_exists((system_dir / "origin").string()) != options.origin + "\n") {
        replace_file((system_dir / "origin").string(), options.origin + "\n");
    }
    SystemEntry entry;
    entry.running = running;
    container::Spec& spec = entry.spec;
    for (const auto& placement : graph.run_closure(graph.root())) {
        const fs::path& files = system.files[placement.node];
        if (!placement.mount_dir) {
            spec.layers.push_back(files.string());
            continue;
        }
        // An overridable source says where it is, so that builds started inside use
        // the edited copy.
        const PlanLayer& wrapped = system.plan.layers[placement.node];
        fs::path copy = wrapped_copy(system_dir, *placement.mount_dir, files, system.keys[placement.node]);
        spec.mounts.push_back({container::Mount::Kind::bind, copy.string(), *placement.mount_dir});
        if (wrapped.overridable) spec.env.push_back(names::override_variable(wrapped.name) + "=" + *placement.mount_dir);
    }
    // What a nested `bincastle run` needs: the driver, and the supervisor's socket.
    if (!options.inside_driver.empty())
        spec.mounts.push_back({container::Mount::Kind::ro_bind, options.inside_driver, names::inside_driver_path});
    if (!options.supervisor_socket.empty()) {
        spec.mounts.push_back({container::Mount::Kind::bind, options.supervisor_socket, names::inside_socket_path});
        spec.env.push_back(std::string(names::socket_variable) + "=" + names::inside_socket_path);
        spec.env.push_back(std::string(names::system_variable) + "=" + system.system_name);
    }
    spec.upper = (system_dir / "upper").string();
    for (const auto& [key, value] : root.env) spec.env.push_back(key + "=" + value);
    if (options.term) spec.env.push_back("TERM=" + *options.term);
    spec.cwd = root.run_working_dir.value_or("/");
    if (options.boot && !options.command.empty()) throw Error("a booted system runs its own init, not a command");
    spec.boot = options.boot;
    spec.args = options.boot                ? std::vector<std::string>{"/sbin/init"}
                : !options.command.empty() ? options.command
                : !root.run_args.empty()  ? root.run_args
                                          : std::vector<std::string>{"/bin/sh"};
    spec.tty = options.tty;
    spec.network = options.network;
    spec.ports = options.ports;
    spec.host_loopback = options.host_loopback;
    record_running(running->get(), system_dir / "running", spec.args);
    entry.started = [running, path = system_dir / "running", args = spec.args](int pid) {
        record_running(running->get(), path, args, pid);
    };
    return entry;
}

}  // namespace bincastle
