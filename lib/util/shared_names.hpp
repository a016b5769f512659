#pragma once

// Names that cross process boundaries: the environment variables one bincastle process
// sets for another, paths inside a system, and the verbs a system's /bincastle forwards.
// Each is spelled here once.

#include <string>
#include <string_view>

namespace bincastle::names {

// The store; read once, by the process a user started.
inline constexpr const char* home_variable = "BINCASTLE_HOME";
// Inside a system: the supervisor's socket, and the system's name.
inline constexpr const char* socket_variable = "BINCASTLE_SOCK";
inline constexpr const char* system_variable = "BINCASTLE_SYSTEM";
// A definition program started by the driver: where its LocalDir paths start.
inline constexpr const char* definition_dir_variable = "BINCASTLE_DEFINITION_DIR";
// The static driver that every system gets at /bincastle and that builds run.
inline constexpr const char* inside_driver_variable = "BINCASTLE_INSIDE_DRIVER";
// BINCASTLE_OVERRIDE_<layer>: a directory that replaces an overridable source.
inline constexpr std::string_view override_prefix = "BINCASTLE_OVERRIDE_";

// Where a system finds the driver and the supervisor.
inline constexpr const char* inside_driver_path = "/bincastle";
inline constexpr const char* inside_socket_path = "/run/bincastle.sock";

// BINCASTLE_OVERRIDE_<name>, with every character but [A-Za-z0-9_] made '_'.
std::string override_variable(const std::string& layer_name);

// Whether `variable` (KEY=VALUE, or KEY) is named `name`.
bool names_variable(std::string_view variable, std::string_view name);

}  // namespace bincastle::names
