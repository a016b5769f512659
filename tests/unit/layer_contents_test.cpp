// The record of a layer's contents: what it holds, written and parsed back, compared.

#include "graph/key_encoder.hpp"
#include "store/layer_contents.hpp"
#include "store/store.hpp"
#include "util/file_tree.hpp"

#include <doctest/doctest.h>

#include "test_files.hpp"

#include <sys/stat.h>
#include <vector>

namespace fs = std::filesystem;
using namespace bincastle;
using bincastle::testing::read;
using bincastle::testing::write;

TEST_CASE("layer contents: every kind of entry, written and parsed back") {
    TempDir dir("bincastle-contents-test");
    const fs::path root = dir.path() / "fs";
    write(root / "a file", "content");
    write(root / "odd\nname\\here", "x", 0600);
    fs::create_symlink("/nowhere", root / "link");
    REQUIRE(::mkfifo((root / "fifo").c_str(), 0644) == 0);
    fs::create_directories(root / "dir/sub");
    const LayerContents contents = LayerContents::of_tree(root);
    REQUIRE(contents.entries.size() == 6);
    CHECK(contents.entries[0].path == "a file");
    CHECK(contents.entries[0].type == 'f');
    CHECK(contents.entries[0].detail == hash_bytes("content").hex());
    CHECK(contents.entries[1].type == 'd');
    CHECK(contents.entries[2].path == "dir/sub");
    CHECK(contents.entries[3].type == 'p');
    CHECK(contents.entries[4].type == 'l');
    CHECK(contents.entries[5].path == "odd\nname\\here");
    CHECK(contents.entries[5].mode == 0600);
    auto parsed = LayerContents::parse(contents.text());
    REQUIRE(parsed);
    CHECK(parsed->entries == contents.entries);
    CHECK_FALSE(contents_difference(contents, *parsed));

    for (std::string bad : {std::string("not a record\n"), contents.text().substr(0, contents.text().size() - 1),
                            contents.text() + "x 0644 - path\n", contents.text() + "f 0644 - bad\\escape\n",
                            contents.text() + "f 0944 - mode\n"})
        CHECK_FALSE(LayerContents::parse(bad));
}

TEST_CASE("layer contents: what differs, counted, with the first path") {
    TempDir dir("bincastle-contents-test");
    const fs::path root = dir.path() / "fs";
    for (const char* name : {"a", "b", "c"}) write(root / name, name);
    const LayerContents before = LayerContents::of_tree(root);
    write(root / "b", "changed");
    fs::remove(root / "c");
    write(root / "d", "new");
    CHECK(contents_difference(before, LayerContents::of_tree(root)) ==
          "1 changed, 1 missing, 1 new (first: b, another content)");
    ::chmod((root / "a").c_str(), 0600);
    CHECK(contents_difference(before, LayerContents::of_tree(root)) ==
          "2 changed, 1 missing, 1 new (first: a, another mode)");
}

TEST_CASE("a commit records the layer's contents beside it, and their hash in its meta") {
    TempDir dir("bincastle-contents-test");
    Store store(dir.path() / "store");
    const Key key = hash_bytes("recorded");
    auto held = store.lock(key);
    auto build = store.begin(key);
    write(build.fs() / "out/bin/tool", "#!/bin/sh\n", 0755);
    write(build.fs() / "out/closed/secret", "kept");
    write(build.fs() / "left/out", "not kept");
    // Its owner cannot read it through: read with the owner's rights all the same.
    fs::permissions(build.fs() / "out/closed", fs::perms::none);
    const fs::path files = build.commit("name=recorded\n", "/out");
    const std::string contents = read(store.layer_dir(key) / "contents");
    CHECK(read(store.layer_dir(key) / "meta") == "name=recorded\ncontents=" + hash_bytes(contents).hex() + "\n");
    auto parsed = LayerContents::parse(contents);
    REQUIRE(parsed);
    // Of the OutputDir only.
    std::vector<std::string> paths;
    for (const auto& entry : parsed->entries) paths.push_back(entry.path);
    CHECK(paths == std::vector<std::string>{"bin", "bin/tool", "closed", "closed/secret"});
    CHECK(parsed->entries[2].mode == 0);
    CHECK(parsed->entries[3].detail == hash_bytes("kept").hex());
    fs::permissions(files / "closed", fs::perms::owner_all);
    CHECK(contents_difference(*parsed, LayerContents::of_tree(files)) == "1 changed (first: closed, another mode)");
}
