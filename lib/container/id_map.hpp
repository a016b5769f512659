#pragma once

// Which ids of the caller appear inside the container, and how the kernel is told.
// Pure planning here; writing the maps is in user_namespace.cpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bincastle::container {

struct IdMapEntry {
    std::uint32_t inside;
    std::uint32_t outside;
    std::uint32_t count;
    bool operator==(const IdMapEntry&) const = default;
};
using IdMap = std::vector<IdMapEntry>;

struct IdMapPlan {
    IdMap uids;
    IdMap gids;
    bool deny_setgroups = false;  // required before gid_map for an unprivileged writer
    bool use_newidmap = false;    // newuidmap/newgidmap write the maps (subordinate ids)
};

struct Caller {
    std::uint32_t uid;  // effective ids in the caller's own user namespace
    std::uint32_t gid;
    std::string own_uid_map;  // /proc/self/uid_map of the caller
    std::string own_gid_map;
};

struct SubIds {
    IdMapEntry uids;  // inside 1.., outside the subordinate range
    IdMapEntry gids;
};

// The "0 1000 1\n" text the kernel's uid_map and gid_map files take.
std::string format_id_map(const IdMap& map);
// Parses the text of /proc/PID/uid_map.
IdMap parse_id_map(std::string_view text);
// Arguments after the pid for newuidmap/newgidmap: "0 1000 1 1 100000 65536".
std::vector<std::string> newidmap_args(const IdMap& map);
// The first range for `user` (by name or numeric id) in /etc/subuid-style text.
std::optional<IdMapEntry> find_subid_range(std::string_view text, std::string_view user_name,
                                           std::uint32_t id);
// The login name of `uid` in /etc/passwd-style text.
std::optional<std::string> passwd_name(std::string_view passwd, std::uint32_t uid);

// Root (in its own namespace) maps its ids identically; anyone else maps one id, or a
// full range when `sub_ids` is given. Throws bincastle::Error when `inside_uid` or
// `inside_gid` cannot be mapped.
IdMapPlan plan_id_maps(const Caller& caller, std::uint32_t inside_uid, std::uint32_t inside_gid,
                       const std::optional<SubIds>& sub_ids);

bool maps_id(const IdMap& map, std::uint32_t inside);

}  // namespace bincastle::container
