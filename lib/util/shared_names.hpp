#pragma once

// Names that cross process boundaries: the environment variables one bincastle process
// sets for another, paths inside a system, and the verbs a system's /bincastle forwards.
// Each is spelled here once.

#include <string>
#include <string_view>

namespace bincastle::names {

// The store.
inline constexpr const char* home_variable = "BINCASTLE_HOME";
// Inside a system: the supervisor's socket, and the system's name.
inline constexpr const char* socket_variable = "BINCASTLE_SOCK";
inline constexpr const char* system_variable = "BINCASTLE_SYSTEM";
// A definition program started by the driver: where its LocalDir paths start.
inline constexpr const char* definition_dir_variable = "BINCASTLE_DEFINITION_DIR";
// The static driver that every system gets at /bincastle and that builds run.
inline constexpr const char* inside_driver_variable = "BINCASTLE_INSIDE_DRIVER";
// Read where they are used, by every process (a sandbox started by any of them).
inline constexpr const char* mirror_variable = "BINCASTLE_MIRROR";    // where pinned archives are tried first
inline constexpr const char* overlay_variable = "BINCASTLE_OVERLAY";  // "fuse" forces fuse-overlayfs
inline constexpr const char* dpkg_admin_variable = "BINCASTLE_DPKG_ADMINDIR";  // HostPackages' dpkg database
// BINCASTLE_OVERRIDE_<layer>: a directory that replaces an overridable source.
inline constexpr std::string_view override_prefix = "BINCASTLE_OVERRIDE_";

// Where a system finds the driver and the supervisor.
inline constexpr const char* inside_driver_path = "/bincastle";
inline constexpr const char* inside_socket_path = "/run/bincastle.sock";

// The driver's verbs that /bincastle inside a system sends to the supervisor.
inline bool is_forwarded_verb(std::string_view verb) {
    for (std::string_view forwarded : {"run", "build", "export", "plan", "graph", "gc", "verify", "clean", "systems", "rm", "fork", "ps", "stop"})
        if (verb == forwarded) return true;
    return false;
}

// BINCASTLE_OVERRIDE_<name>, with every character but [A-Za-z0-9_] made '_'.
std::string override_variable(const std::string& layer_name);

}  // namespace bincastle::names
