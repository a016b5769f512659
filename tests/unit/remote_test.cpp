#include "export/layer_tar.hpp"
#include "remote/credentials.hpp"
#include "remote/reference.hpp"
#include "remote/registry_client.hpp"
#include "remote/sha256.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

namespace fs = std::filesystem;
using namespace bincastle;

TEST_CASE("registry references: plain http only for loopback or when asked") {
    auto local = remote::Reference::parse("127.0.0.1:5000/cache", false);
    CHECK(local.plain_http);
    CHECK(local.registry == "127.0.0.1:5000");
    CHECK(local.repository == "cache");
    CHECK(local.tag.empty());
    CHECK(remote::Reference::parse("localhost/a/b:v1", false).plain_http);
    CHECK(remote::Reference::parse("[::1]:5000/a", false).plain_http);
    auto far = remote::Reference::parse("registry.example:5000/team/cache:v2", false);
    CHECK_FALSE(far.plain_http);
    CHECK(far.origin() == "https://registry.example:5000");
    CHECK(far.repository == "team/cache");
    CHECK(far.tag == "v2");
    CHECK(remote::Reference::parse("registry.example/team/cache", true).plain_http);
    CHECK_THROWS_AS(remote::Reference::parse("cache", false), Error);
    CHECK_THROWS_AS(remote::Reference::parse("host/Upper", false), Error);
}

TEST_CASE("sha256 digests and base64") {
    CHECK(remote::sha256_digest("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(remote::is_sha256_digest(remote::sha256_digest("x")));
    CHECK_FALSE(remote::is_sha256_digest("sha256:../../etc"));
    CHECK(remote::base64_decode(remote::base64_encode("user:pa:ss")) == "user:pa:ss");
    CHECK(remote::base64_decode(remote::base64_encode("ab")) == "ab");
}

TEST_CASE("a layer with overlay whiteouts goes to tar and back unchanged, byte-identically twice") {
    TempDir temp("bincastle-test");
    const fs::path layer = temp.path() / "layer";
    fs::create_directories(layer / "etc");
    std::ofstream(layer / "etc" / "marker") << "pruned\n";
    REQUIRE(::setxattr((layer / "etc").c_str(), "user.overlay.opaque", "y", 1, 0) == 0);
    fs::create_directories(layer / "bin");
    REQUIRE(::mknod((layer / "bin" / "vi").c_str(), S_IFCHR, makedev(0, 0)) == 0);
    fs::create_symlink("marker", layer / "etc" / "link");

    exporting::TarOptions options;
    options.compression = exporting::Compression::zstd;
    auto one = exporting::write_layer_tar(layer, temp.path() / "one", options);
    auto two = exporting::write_layer_tar(layer, temp.path() / "two", options);
    CHECK(one.digest == two.digest);
    CHECK(one.diff_id == two.diff_id);

    const fs::path back = temp.path() / "back";
    fs::create_directories(back);
    exporting::extract_layer_tar(temp.path() / "one", back);
    struct stat st {};
    REQUIRE(::lstat((back / "bin" / "vi").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    char value[4] = {};
    CHECK(::getxattr((back / "etc").c_str(), "user.overlay.opaque", value, sizeof value) == 1);
    CHECK(value[0] == 'y');
    CHECK(fs::read_symlink(back / "etc" / "link") == "marker");
    CHECK(fs::file_size(back / "etc" / "marker") == 7);
    // And once more from what came back: the same bytes.
    auto three = exporting::write_layer_tar(back, temp.path() / "three", options);
    CHECK(three.digest == one.digest);
}

TEST_CASE("loopback is an address, not a name that starts like one") {
    CHECK(remote::is_loopback_host("127.0.0.1"));
    CHECK(remote::is_loopback_host("127.255.3.4"));
    CHECK(remote::is_loopback_host("::1"));
    CHECK(remote::is_loopback_host("localhost"));
    CHECK_FALSE(remote::is_loopback_host("127.0.0.1.evil.example"));
    CHECK_FALSE(remote::is_loopback_host("127.example"));
    CHECK_FALSE(remote::is_loopback_host("128.0.0.1"));
    CHECK_FALSE(remote::Reference::parse("127.0.0.1.nip.io:5000/cache", false).plain_http);
}

TEST_CASE("credentials never go over plain http from an https registry; no redirect from https to http") {
    CHECK(remote::may_send_credentials("https://registry.example", "https://auth.example/token"));
    CHECK_FALSE(remote::may_send_credentials("https://registry.example", "http://auth.example/token"));
    CHECK(remote::may_send_credentials("http://127.0.0.1:5000", "http://127.0.0.1:5001/token"));
    CHECK(remote::may_follow_redirect("https://registry.example/v2/x", "https://cdn.example/blob"));
    CHECK(remote::may_follow_redirect("http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5001/blob"));
    CHECK_FALSE(remote::may_follow_redirect("https://registry.example/v2/x", "http://cdn.example/blob"));
}
