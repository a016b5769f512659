// The source options the distro needs: LocalDir's Exclude and HostPackages.

#include "source/host_packages.hpp"
#include "source/source_key.hpp"
#include "source/tree_hash.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>
#include <bincastle/layer.hpp>

#include <doctest/doctest.h>

#include "test_files.hpp"

namespace fs = std::filesystem;
using namespace bincastle;
using bincastle::testing::write;

namespace {

// A dpkg database with gcc-x (needs libc-x | other, and cc-virtual, which base
// provides), libc-x and an unrelated package.
void fake_dpkg(const fs::path& admin) {
    write(admin / "status", R"(Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21

Package: gcc-x
Status: install ok installed
Architecture: amd64
Version: 12.2-1
Depends: libc-x (>= 2.36) | other, cc-virtual
Description: a compiler
 on two lines

Package: libc-x
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9

Package: base
Status: install ok installed
Architecture: all
Provides: cc-virtual (= 1)
Version: 1

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1
)");
    write(admin / "info" / "gcc-x.list", "/.\n/usr\n/usr/bin\n/usr/bin/gcc-x\n/usr/share/doc/gcc-x\n");
    write(admin / "info" / "libc-x:amd64.list", "/lib\n/lib/libc.so\n");
    write(admin / "info" / "base.list", "/etc\n/etc/gone\n");
}

}  // namespace

TEST_CASE("HostPackages: the closure by Depends, alternatives and Provides; the key names versions") {
    TempDir dir("host-packages");
    fake_dpkg(dir.path());
    auto closure = host_package_closure({"gcc-x"}, dir.path());
    REQUIRE(closure.size() == 3);
    CHECK(closure[0] == HostPackage{"base", "all", "1"});
    CHECK(closure[1] == HostPackage{"gcc-x", "amd64", "12.2-1"});
    CHECK(closure[2] == HostPackage{"libc-x", "amd64", "2.36-9"});
    Key key = host_packages_key(closure);
    closure[2].version = "2.36-10";
    CHECK(host_packages_key(closure) != key);
    CHECK_THROWS_AS(host_package_closure({"removed"}, dir.path()), Error);

    Layer layer(Name("bootstrap"), HostPackages({"gcc-x"}));
    REQUIRE(layer.data().source);
    CHECK(layer.data().source->kind == SourceSpec::Kind::host_packages);
    CHECK(layer.data().source->packages == std::vector<std::string>{"gcc-x"});
}

TEST_CASE("HostPackages: files are copied through the host's symlinked directories") {
    TempDir dir("host-packages");
    fs::path root = dir.path() / "host";
    write(root / "usr/lib/libc.so", "libc");
    write(root / "usr/bin/gcc-x", "#!/bin/sh\n", 0755);
    fs::create_symlink("usr/lib", root / "lib");
    fs::path admin = dir.path() / "admin";
    std::string lists[][2] = {{"gcc-x", root.string() + "/usr/bin/gcc-x\n" + root.string() + "/usr/share/doc/x\n"},
                              {"libc-x", root.string() + "/lib\n" + root.string() + "/lib/libc.so\n"}};
    for (auto& [name, list] : lists) write(admin / "info" / (name + ".list"), list);
    fs::path out = dir.path() / "out";
    copy_host_packages({{"gcc-x", "amd64", "1"}, {"libc-x", "amd64", "1"}}, admin, out);
    fs::path copied = out / root.relative_path();
    CHECK(fs::is_symlink(copied / "lib"));
    CHECK(fs::read_symlink(copied / "lib") == "usr/lib");
    CHECK(bincastle::testing::read(copied / "usr/lib/libc.so") == "libc");
    CHECK((fs::status(copied / "usr/bin/gcc-x").permissions() & fs::perms::owner_exec) != fs::perms::none);
}

TEST_CASE("LocalDir Exclude: excluded paths are not in the key; no exclusion keeps the old key") {
    TempDir dir("exclude");
    fs::path tree = dir.path() / "tree";
    write(tree / "src/a.c", "a");
    write(tree / "build/out.o", "1");
    write(tree / "sub/.git/HEAD", "x");
    Key plain = local_content_key(tree, {}, nullptr);
    CHECK(plain == hash_tree(tree, nullptr, 0));
    Key excluded = local_content_key(tree, {"build", "sub/.git/"}, nullptr);
    write(tree / "build/out.o", "2");
    write(tree / "sub/.git/HEAD", "y");
    CHECK(local_content_key(tree, {"build", "sub/.git"}, nullptr) == excluded);
    CHECK(local_content_key(tree, {}, nullptr) != plain);
    write(tree / "src/a.c", "b");
    CHECK(local_content_key(tree, {"build", "sub/.git"}, nullptr) != excluded);
    CHECK_THROWS_AS(local_content_key(tree, {"../x"}, nullptr), Error);

    Layer layer(Name("repo"), LocalDir("..", Exclude({"build", ".git"})));
    CHECK(layer.data().source->exclude == std::vector<std::string>{"build", ".git"});
}
