#include "container/id_map.hpp"

#include <bincastle/error.hpp>

#include <charconv>
#include <sstream>

namespace bincastle::container {

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> fields;
    size_t start = 0;
    for (;;) {
        size_t end = text.find(separator, start);
        fields.push_back(text.substr(start, end - start));
        if (end == std::string_view::npos) return fields;
        start = end + 1;
    }
}

std::optional<std::uint32_t> to_u32(std::string_view text) {
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

}  // namespace

std::string format_id_map(const IdMap& map) {
    std::string text;
    for (const auto& entry : map) {
        text += std::to_string(entry.inside) + ' ' + std::to_string(entry.outside) + ' ' +
                std::to_string(entry.count) + '\n';
    }
    return text;
}

IdMap parse_id_map(std::string_view text) {
    IdMap map;
    std::istringstream lines{std::string(text)};
    std::uint64_t inside, outside, count;
    while (lines >> inside >> outside >> count) {
        map.push_back({static_cast<std::uint32_t>(inside), static_cast<std::uint32_t>(outside),
                       static_cast<std::uint32_t>(count)});
    }
    return map;
}

std::vector<std::string> newidmap_args(const IdMap& map) {
    std::vector<std::string> args;
    for (const auto& entry : map) {
        args.push_back(std::to_string(entry.inside));
        args.push_back(std::to_string(entry.outside));
        args.push_back(std::to_string(entry.count));
    }
    return args;
}

std::optional<IdMapEntry> find_subid_range(std::string_view text, std::string_view user_name,
                                           std::uint32_t id) {
    const std::string id_text = std::to_string(id);
    for (std::string_view line : split(text, '\n')) {
        auto fields = split(line, ':');
        if (fields.size() != 3) continue;
        if (fields[0] != user_name && fields[0] != id_text) continue;
        auto start = to_u32(fields[1]);
        auto count = to_u32(fields[2]);
        if (start && count && *count > 0) return IdMapEntry{1, *start, *count};
    }
    return std::nullopt;
}

std::optional<std::string> passwd_name(std::string_view passwd, std::uint32_t uid) {
    for (std::string_view line : split(passwd, '\n')) {
        auto fields = split(line, ':');
        if (fields.size() < 3) continue;
        if (to_u32(fields[2]) == uid) return std::string(fields[0]);
    }
    return std::nullopt;
}

bool maps_id(const IdMap& map, std::uint32_t inside) {
    for (const auto& entry : map) {
        if (inside >= entry.inside && inside - entry.inside < entry.count) return true;
    }
    return false;
}

IdMapPlan plan_id_maps(const Caller& caller, std::uint32_t inside_uid, std::uint32_t inside_gid,
                       const std::optional<SubIds>& sub_ids) {
    IdMapPlan plan;
    if (caller.uid == 0) {
        // Root may map every id it has; mapping them identically keeps file owners
        // meaningful, and in a nested container it is all that is mapped anyway.
        for (const auto& entry : parse_id_map(caller.own_uid_map))
            plan.uids.push_back({entry.inside, entry.inside, entry.count});
        for (const auto& entry : parse_id_map(caller.own_gid_map))
            plan.gids.push_back({entry.inside, entry.inside, entry.count});
    } else if (sub_ids) {
        plan.uids = {{0, caller.uid, 1}, sub_ids->uids};
        plan.gids = {{0, caller.gid, 1}, sub_ids->gids};
        plan.use_newidmap = true;
    } else {
        plan.uids = {{inside_uid, caller.uid, 1}};
        plan.gids = {{inside_gid, caller.gid, 1}};
        plan.deny_setgroups = true;
    }
    auto ranges = [](const IdMap& map) {
        std::string text;
        for (const auto& entry : map) {
            if (!text.empty()) text += ", ";
            text += std::to_string(entry.inside);
            if (entry.count > 1) text += "-" + std::to_string(entry.inside + (entry.count - 1));
        }
        return text;
    };
    if (!maps_id(plan.uids, inside_uid))
        throw Error("uid " + std::to_string(inside_uid) + " cannot be mapped inside the container",
                    "choose a uid in " + ranges(plan.uids) + (sub_ids || caller.uid == 0 ? "" : ", or use --subids"));
    if (!maps_id(plan.gids, inside_gid))
        throw Error("gid " + std::to_string(inside_gid) + " cannot be mapped inside the container",
                    "choose a gid in " + ranges(plan.gids) + (sub_ids || caller.uid == 0 ? "" : ", or use --subids"));
    return plan;
}

}  // namespace bincastle::container
