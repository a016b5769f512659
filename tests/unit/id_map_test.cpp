#include "container/id_map.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

using namespace bincastle::container;

TEST_CASE("an unprivileged caller maps its own ids to the ids asked for inside") {
    Caller caller{1000, 1001, "0 0 4294967295\n", "0 0 4294967295\n"};
    auto plan = plan_id_maps(caller, 0, 0, std::nullopt);
    CHECK(format_id_map(plan.uids) == "0 1000 1\n");
    CHECK(format_id_map(plan.gids) == "0 1001 1\n");
    CHECK(plan.deny_setgroups);
    CHECK_FALSE(plan.use_newidmap);

    auto as_user = plan_id_maps(caller, 1000, 100, std::nullopt);
    CHECK(format_id_map(as_user.uids) == "1000 1000 1\n");
    CHECK(format_id_map(as_user.gids) == "100 1001 1\n");
}

TEST_CASE("root maps every id it has identically") {
    Caller host_root{0, 0, "         0          0 4294967295\n", "0 0 4294967295\n"};
    auto plan = plan_id_maps(host_root, 0, 0, std::nullopt);
    CHECK(format_id_map(plan.uids) == "0 0 4294967295\n");
    CHECK_FALSE(plan.deny_setgroups);

    // Root of a bincastle container has only itself mapped.
    Caller nested_root{0, 0, "0 1000 1\n", "0 1000 1\n"};
    auto nested = plan_id_maps(nested_root, 0, 0, std::nullopt);
    CHECK(format_id_map(nested.uids) == "0 0 1\n");
    CHECK_THROWS_AS(plan_id_maps(nested_root, 5, 0, std::nullopt), bincastle::Error);
}

TEST_CASE("subordinate ids give a full range through newuidmap") {
    Caller caller{1000, 1000, "0 0 4294967295\n", "0 0 4294967295\n"};
    SubIds sub{{1, 100000, 65536}, {1, 200000, 65536}};
    auto plan = plan_id_maps(caller, 1000, 1000, sub);
    CHECK(plan.use_newidmap);
    CHECK(format_id_map(plan.uids) == "0 1000 1\n1 100000 65536\n");
    CHECK(newidmap_args(plan.gids) == std::vector<std::string>{"0", "1000", "1", "1", "200000", "65536"});
    CHECK_THROWS_AS(plan_id_maps(caller, 70000, 0, sub), bincastle::Error);
}

TEST_CASE("subordinate ranges are found by name or by id") {
    const char* subuid = "alice:100000:65536\n1001:165536:1000\nbroken line\n";
    CHECK(find_subid_range(subuid, "alice", 1000) == IdMapEntry{1, 100000, 65536});
    CHECK(find_subid_range(subuid, "bob", 1001) == IdMapEntry{1, 165536, 1000});
    CHECK_FALSE(find_subid_range(subuid, "carol", 1002).has_value());
    CHECK(passwd_name("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/a:/bin/sh\n", 1000) == "alice");
    CHECK_FALSE(passwd_name("root:x:0:0::/root:/bin/sh\n", 7).has_value());
}

TEST_CASE("id maps parse what the kernel prints") {
    auto map = parse_id_map("         0       1000          1\n         1     100000      65536\n");
    REQUIRE(map.size() == 2);
    CHECK(map[1] == IdMapEntry{1, 100000, 65536});
    CHECK(maps_id(map, 65536));
    CHECK_FALSE(maps_id(map, 65537));
}
