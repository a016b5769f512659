// verify_store against the contents each layer's commit recorded.

#include "graph/key_encoder.hpp"
#include "store/store.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"

#include <bincastle/verify.hpp>

#include <doctest/doctest.h>

#include "test_files.hpp"

#include <map>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace bincastle;
using bincastle::testing::read;
using bincastle::testing::write;

namespace {

// A layer named `name` in `store`, with a file, a symlink, a fifo and a mode-000
// directory holding a file.
Key commit_layer(const Store& store, const std::string& name) {
    Key key = hash_bytes(name);
    auto held = store.lock(key);
    auto build = store.begin(key);
    write(build.fs() / "etc/motd", "hello from " + name);
    fs::create_symlink("../etc/motd", build.fs() / "etc/link");
    REQUIRE(::mkfifo((build.fs() / "etc/fifo").c_str(), 0600) == 0);
    write(build.fs() / "closed/inner", "behind a mode-000 directory");
    fs::permissions(build.fs() / "closed", fs::perms::none);
    build.commit("name=" + name + "\n");
    return key;
}

struct Verified {
    VerifySummary summary;
    std::vector<DamagedLayer> damaged;
};

Verified verify(const Store& store, bool repair) {
    Verified result;
    VerifyOptions options;
    options.store_root = store.root();
    options.repair = repair;
    options.damaged = [&](const DamagedLayer& layer) { result.damaged.push_back(layer); };
    result.summary = verify_store(options);
    return result;
}

}  // namespace

TEST_CASE("verify: whole layers pass; damaged ones are named and repaired; old ones are unverifiable") {
    TempDir dir("bincastle-verify-test");
    Store store(dir.path() / "store");
    const Key whole = commit_layer(store, "whole"), edited = commit_layer(store, "edited"),
              emptied = commit_layer(store, "emptied"), old = commit_layer(store, "old"),
              recordless = commit_layer(store, "recordless");
    Verified clean = verify(store, false);
    CHECK(clean.summary.checked == 5);
    CHECK(clean.summary.damaged == 0);
    CHECK(clean.summary.unverifiable == 0);
    CHECK(clean.damaged.empty());

    write(store.layer_dir(edited) / "fs/etc/motd", "edited by hand");
    remove_tree(store.layer_dir(emptied) / "fs");
    // Committed before contents were recorded.
    write(store.layer_dir(old) / "meta", "name=old\n");
    fs::remove(store.layer_dir(old) / "contents");
    fs::remove(store.layer_dir(recordless) / "contents");

    Verified found = verify(store, false);
    CHECK(found.summary.checked == 5);
    CHECK(found.summary.damaged == 3);
    CHECK(found.summary.repaired == 0);
    CHECK(found.summary.unverifiable == 1);
    REQUIRE(found.damaged.size() == 3);
    std::map<std::string, std::string> what;
    for (const auto& layer : found.damaged) {
        what[layer.name] = layer.what;
        CHECK_FALSE(layer.removed);
        CHECK(layer.key == hash_bytes(layer.name));
    }
    CHECK(what["edited"] == "1 changed (first: etc/motd, another content)");
    CHECK(what["emptied"] == "its files are gone");
    CHECK(what["recordless"] == "its record of contents is gone");
    CHECK(store.find(edited));

    {
        // A running system or a build uses it: it stays, and says so.
        auto in_use = store.register_live_root({edited});
        Verified kept = verify(store, true);
        CHECK(kept.summary.damaged == 3);
        CHECK(kept.summary.repaired == 2);
        for (const auto& layer : kept.damaged)
            CHECK(layer.removed == (layer.name != "edited"));
        CHECK(store.find(edited));
    }
    Verified repaired = verify(store, true);
    CHECK(repaired.summary.damaged == 1);
    CHECK(repaired.summary.repaired == 1);
    CHECK_FALSE(store.find(edited));
    CHECK_FALSE(fs::exists(store.layer_dir(emptied)));
    CHECK(store.find(whole));
    CHECK(store.find(old));

    Verified after = verify(store, false);
    CHECK(after.summary.checked == 2);
    CHECK(after.summary.damaged == 0);
    CHECK(after.summary.unverifiable == 1);
}
