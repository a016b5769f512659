#include "build/build_record.hpp"
#include "graph/key_encoder.hpp"
#include "test_files.hpp"
#include "util/file_tree.hpp"

#include <doctest/doctest.h>

using namespace bincastle;
using bincastle::testing::write;

namespace {

BuildRecord record(const std::string& script, std::vector<std::pair<std::string, std::string>> env,
                   std::map<std::string, Key> deps) {
    PlanLayer layer;
    layer.name = "tool";
    layer.build_script = {script};
    layer.env = std::move(env);
    return {hash_bytes(script + std::to_string(deps.size())), layer, std::nullopt, std::move(deps)};
}

}  // namespace

TEST_CASE("a build record reads back as written") {
    TempDir dir("record-test");
    BuildRecord written = record("make", {{"A", "1"}}, {{"libc", hash_bytes("libc")}});
    written.source = hash_bytes("tree");
    write_build_record(dir.path(), written);
    auto read = read_build_record(dir.path(), "tool");
    REQUIRE(read);
    CHECK(read->key == written.key);
    CHECK(read->recipe == written.recipe);
    CHECK(read->source == written.source);
    CHECK(read->deps == written.deps);
    CHECK_FALSE(read_build_record(dir.path(), "other"));
    write(build_record_path(dir.path(), "tool"), "{not json");
    CHECK_FALSE(read_build_record(dir.path(), "tool"));
}

TEST_CASE("what changed since a layer was built: script, env, dependencies") {
    BuildRecord before = record("make", {{"A", "1"}, {"B", "2"}}, {{"libc", hash_bytes("libc")}, {"zlib", hash_bytes("z")}});
    CHECK(explain_change(before, before, std::nullopt, std::nullopt).empty());
    BuildRecord now = record("make -j", {{"A", "3"}, {"C", "4"}}, {{"libc", hash_bytes("patched")}, {"tools", hash_bytes("t")}});
    CHECK(explain_change(before, now, std::nullopt, std::nullopt) ==
          std::vector<std::string>{"its BuildScript changed", "Env A changed: 1 -> 3", "Env C is new (4)",
                                   "Env B was removed", "dependency libc changed", "it is built on tools now",
                                   "it is no longer built on zlib"});
}

TEST_CASE("what changed in a local source: its files") {
    TempDir dir("record-test");
    write(dir.path() / "old/a.txt", "one");
    write(dir.path() / "old/gone.txt", "x");
    write(dir.path() / "new/a.txt", "two");
    write(dir.path() / "new/sub/added.txt", "y");
    BuildRecord before = record("", {}, {});
    before.recipe.source = SourceSpec{SourceSpec::Kind::local_dir, "src", "", 0, {}, {}};
    before.source = hash_bytes("old");
    BuildRecord now = before;
    now.source = hash_bytes("new");
    CHECK(explain_change(before, now, dir.path() / "old", dir.path() / "new") ==
          std::vector<std::string>{"file a.txt changed", "file sub/added.txt is new", "file gone.txt was removed"});
    // The old files are gone from the store: the content changed, that is all it knows.
    CHECK(explain_change(before, now, std::nullopt, dir.path() / "new") ==
          std::vector<std::string>{"its source's content changed"});
}
