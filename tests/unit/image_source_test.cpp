#include "oci/image_manifest.hpp"
#include "oci/layer_tar.hpp"
#include "source/image_source.hpp"
#include "test_files.hpp"
#include "util/file_tree.hpp"
#include "util/sha256.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace bincastle;

namespace {

const std::string digest_a = "sha256:" + std::string(64, 'a');
const std::string digest_b = "sha256:" + std::string(64, 'b');

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& error) {
        return std::string(error.what()) + " | " + error.hint();
    }
    return "no error";
}

// An OCI layout at `dir` with one image tagged t whose layers are `trees`, base
// first; returns its manifest's digest.
std::string make_layout(const fs::path& dir, const std::vector<fs::path>& trees) {
    auto put = [&](const std::string& body) {
        const std::string digest = sha256_digest(body);
        testing::write(dir / "blobs" / "sha256" / digest.substr(7), body);
        return digest;
    };
    fs::create_directories(dir / "blobs" / "sha256");
    std::string layers;
    for (const auto& tree : trees) {
        exporting::TarOptions options;
        const fs::path tar = dir / "layer.tmp";
        const exporting::LayerBlob blob = exporting::write_layer_tar(tree, tar, options);
        fs::rename(tar, dir / "blobs" / "sha256" / blob.digest.substr(7));
        layers += std::string(layers.empty() ? "" : ",") + R"({"mediaType":")" +
                  exporting::layer_media_type(options.compression) + R"(","digest":")" + blob.digest +
                  R"(","size":)" + std::to_string(blob.size) + "}";
    }
    const std::string config = put(R"({"architecture":"amd64","os":"linux"})");
    const std::string manifest = put(R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                                     config + R"(","size":37},"layers":[)" + layers + "]}");
    testing::write(dir / "index.json", R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                                           manifest + R"(","size":1,"annotations":{"org.opencontainers.image.ref.name":"t"}}]})");
    return manifest;
}

SourceSpec image_source(const std::string& ref, const std::string& digest) {
    return Layer(Name("image"), Image(digest.empty() ? ref : ref + "@" + digest)).data().source.value();
}

}  // namespace

TEST_CASE("Image() keeps the reference and its digest apart") {
    SourceSpec pinned = image_source("registry.example:5000/library/debian:12", digest_a);
    CHECK(pinned.kind == SourceSpec::Kind::image);
    CHECK(pinned.location == "registry.example:5000/library/debian:12");
    CHECK(pinned.revision == digest_a);
    CHECK(image_source("oci:images/base:t", "").revision.empty());
}

TEST_CASE("an index gives the manifest of this machine's platform, or says which it has") {
    const std::string index = R"({"schemaVersion":2,"manifests":[)"
                              R"({"digest":")" + digest_a + R"(","platform":{"os":"linux","architecture":"arm64"}},)"
                              R"({"digest":")" + digest_b + R"(","platform":{"os":"linux","architecture":"amd64"}}]})";
    CHECK(oci::is_image_index(index, "index"));
    CHECK(oci::manifest_for_platform(index, "amd64", "index") == digest_b);
    CHECK(error_of([&] { oci::manifest_for_platform(index, "riscv64", "index"); }) ==
          "index has no image for linux/riscv64 (it has linux/arm64, linux/amd64) | ");
    CHECK(error_of([&] { oci::is_image_index("[1]", "x"); }) == "x is not a JSON object | ");
}

TEST_CASE("a lone image's config says its platform") {
    CHECK(error_of([] { oci::check_image_platform(R"({"architecture":"amd64","os":"linux"})", "amd64", "img"); }) ==
          "no error");
    CHECK(error_of([] { oci::check_image_platform(R"({"rootfs":{}})", "amd64", "img"); }) == "no error");
    CHECK(error_of([] { oci::check_image_platform(R"({"architecture":"arm64","os":"linux"})", "amd64", "img"); }) ==
          "img is an image for linux/arm64, not for this machine's linux/amd64 | ");
    CHECK(error_of([] { oci::check_image_platform(R"({"architecture":"amd64","os":"windows"})", "amd64", "img"); })
              .starts_with("img is an image for windows/amd64"));
}

TEST_CASE("a manifest's layers are filesystem tarballs named by sha256, with sizes") {
    const std::string docker = R"({"schemaVersion":2,"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip",)"
                               R"("digest":")" + digest_a + R"(","size":12}]})";
    CHECK_FALSE(oci::is_image_index(docker, "m"));
    auto layers = oci::image_layers(docker, "m");
    REQUIRE(layers.size() == 1);
    CHECK(layers[0].digest == digest_a);
    CHECK(layers[0].size == 12);
    auto refusal = [](const std::string& layer) {
        return error_of([&] { oci::image_layers(R"({"layers":[)" + layer + "]}", "m"); });
    };
    CHECK(refusal(R"({"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":")" + digest_a +
                  R"(","size":1})")
              .find("not a filesystem tarball") != std::string::npos);
    CHECK(refusal(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"md5:00","size":1})")
              .find("is not sha256:") != std::string::npos);
    CHECK(refusal(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + digest_a + R"("})")
              .find("has no size") != std::string::npos);
}

TEST_CASE("an Image's key is its digest and platform, wherever it comes from") {
    ImageSourceOptions options{"/nonexistent", false};
    const Key from_registry = image_content_key("a", image_source("registry.example/x:1", digest_a), options);
    CHECK(image_content_key("a", image_source("oci:layout", digest_a), options) == from_registry);
    CHECK(image_content_key("a", image_source("registry.example/x:1", digest_b), options) != from_registry);
    CHECK(image_layer_key(digest_a) != from_registry);
    CHECK(error_of([&] { image_content_key("a", image_source("registry.example/x:1", "sha256:abc"), options); })
              .find("the digest is not sha256:<64 lowercase hex digits>") != std::string::npos);
    CHECK(error_of([&] { image_content_key("a", image_source("debian:12", digest_a), options); })
              .starts_with("layer 'a': registry reference 'debian:12': no registry host"));
}

TEST_CASE("an unpinned Image is refused with the digest its tag names") {
    TempDir dir("bincastle-image-test");
    testing::write(dir.path() / "tree" / "file", "content\n");
    const std::string digest = make_layout(dir.path() / "layout", {dir.path() / "tree"});
    ImageSourceOptions options{dir.path(), false};
    CHECK(error_of([&] { image_content_key("base", image_source("oci:layout:t", ""), options); }) ==
          "layer 'base': Image(\"oci:layout:t\") is not pinned by a digest | its tag names " + digest +
              " now: pin that with Image(\"oci:layout:t@" + digest + "\")");
}

TEST_CASE("an image from a layout unpacks to its layers' union, each layer stored once") {
    TempDir dir("bincastle-image-test");
    testing::write(dir.path() / "base" / "etc" / "gone", "x\n");
    testing::write(dir.path() / "base" / "etc" / "kept", "kept\n");
    fs::create_directories(dir.path() / "top" / "etc");
    // A whiteout as the store holds it: a 0/0 character device, which the layer tar
    // writes as .wh.gone.
    REQUIRE(::mknod((dir.path() / "top" / "etc" / "gone").c_str(), S_IFCHR | 0600, 0) == 0);
    const std::string digest = make_layout(dir.path() / "layout", {dir.path() / "base", dir.path() / "top"});
    Store store(dir.path() / "store");
    for (const char* out : {"out", "again", "bad-out"}) fs::create_directories(dir.path() / out);
    // The layers are pulled side by side: what is said comes in any order.
    std::mutex mutex;
    std::vector<std::string> said;
    auto say = [&](const std::string& line) {
        std::lock_guard lock(mutex);
        said.push_back(line);
        std::sort(said.begin(), said.end());
    };
    unpack_image(store, image_source("oci:layout", digest), {dir.path(), false}, dir.path() / "out", say);
    CHECK(testing::read(dir.path() / "out" / "etc" / "kept") == "kept\n");
    CHECK_FALSE(fs::exists(fs::symlink_status(dir.path() / "out" / "etc" / "gone")));
    REQUIRE(said.size() == 2);
    CHECK(said[0].find("layer 1 of 2 (sha256:") == 0);
    CHECK(said[0].find("): pulled") != std::string::npos);

    // Again: both layers are in the store.
    said.clear();
    unpack_image(store, image_source("oci:layout", digest), {dir.path(), false}, dir.path() / "again", say);
    REQUIRE(said.size() == 2);
    CHECK(said[1].find("): in the store") != std::string::npos);

    // A layout whose blob was changed is refused, naming the blob.
    testing::write(dir.path() / "other" / "file", "not yet in the store\n");
    const std::string other = make_layout(dir.path() / "bad", {dir.path() / "other"});
    for (const auto& entry : fs::directory_iterator(dir.path() / "bad" / "blobs" / "sha256")) {
        const std::string text = testing::read(entry.path());
        if (text.starts_with("{")) continue;
        testing::write(entry.path(), std::string(text.size(), '\0'));
    }
    CHECK(error_of([&] {
              unpack_image(store, image_source("oci:bad", other), {dir.path(), false}, dir.path() / "bad-out",
                           [](const std::string&) {});
          }).find("does not match its digest") != std::string::npos);
}

TEST_CASE("a layout's files are its own: none is reached through a symlink") {
    TempDir dir("bincastle-image-test");
    testing::write(dir.path() / "tree" / "file", "secret\n");
    // The blobs live elsewhere (another tool's store, say); the layout only links to them.
    const std::string digest = make_layout(dir.path() / "elsewhere", {dir.path() / "tree"});
    fs::create_directories(dir.path() / "layout");
    fs::copy_file(dir.path() / "elsewhere" / "index.json", dir.path() / "layout" / "index.json");
    fs::create_directory_symlink(dir.path() / "elsewhere" / "blobs", dir.path() / "layout" / "blobs");
    Store store(dir.path() / "store");
    fs::create_directories(dir.path() / "out");
    const std::string refusal = error_of([&] {
        unpack_image(store, image_source("oci:layout", digest), {dir.path(), false}, dir.path() / "out",
                     [](const std::string&) {});
    });
    CHECK(refusal.find("/layout/blobs/sha256/" + digest.substr(7) + " is reached through a symlink or leaves the layout") !=
          std::string::npos);
    CHECK(fs::is_empty(dir.path() / "out"));
    // index.json too, when the tag is looked up.
    fs::remove(dir.path() / "layout" / "index.json");
    fs::create_symlink(dir.path() / "elsewhere" / "index.json", dir.path() / "layout" / "index.json");
    CHECK(error_of([&] { image_content_key("base", image_source("oci:layout:t", ""), {dir.path(), false}); })
              .find("index.json is reached through a symlink") != std::string::npos);
}
