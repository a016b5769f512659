// Layers to and from tar, and merged into an exported tree, when the layers are hostile.

#include "export/image_export.hpp"
#include "oci/layer_tar.hpp"
#include "test_files.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>

#include "test_files.hpp"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace bincastle;

namespace {

struct TarEntry {
    std::string path;
    mode_t type;  // AE_IFREG, AE_IFCHR, ...
    mode_t perm;
    std::string data;
    dev_t rdev = 0;
};

// A plain pax tar of `entries`, written with libarchive (not our writer, which is what
// is under test on the other side).
void write_tar(const fs::path& out, const std::vector<TarEntry>& entries) {
    archive* writer = archive_write_new();
    REQUIRE(writer);
    REQUIRE(archive_write_set_format_pax_restricted(writer) == ARCHIVE_OK);
    REQUIRE(archive_write_open_filename(writer, out.c_str()) == ARCHIVE_OK);
    for (const auto& e : entries) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, e.path.c_str());
        archive_entry_set_filetype(entry, e.type);
        archive_entry_set_perm(entry, e.perm);
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
        if (e.rdev) archive_entry_set_rdev(entry, e.rdev);
        REQUIRE(archive_write_header(writer, entry) == ARCHIVE_OK);
        if (!e.data.empty()) archive_write_data(writer, e.data.data(), e.data.size());
        archive_entry_free(entry);
    }
    archive_write_close(writer);
    archive_write_free(writer);
}

std::string contents(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Exports the layers `dir`/lower, `dir`/wrapped (at /home/src) and `dir`/upper, in
// that order, to `output`.
void export_layers(const fs::path& dir, exporting::Format format, const fs::path& output) {
    exporting::ImageSpec image;
    image.name = "layers";
    image.layers = {{"lower", dir / "lower", std::nullopt},
                    {"wrapped", dir / "wrapped", "/home/src"},
                    {"upper", dir / "upper", std::nullopt}};
    exporting::ExportOptions options;
    options.format = format;
    options.output = output;
    exporting::export_image(image, options);
}

}  // namespace

TEST_CASE("a pulled layer may hold no device node but a whiteout, and loses setuid and setgid") {
    TempDir temp("bincastle-test");
    const fs::path tar = temp.path() / "layer.tar";
    for (const auto& [type, name] : {std::pair{mode_t(AE_IFCHR), "dev/mem"}, std::pair{mode_t(AE_IFBLK), "dev/sda"}}) {
        write_tar(tar, {{"dev/", AE_IFDIR, 0755, ""}, {name, type, 0600, "", makedev(1, 1)}});
        const fs::path out = temp.path() / ("out-" + std::to_string(type));
        fs::create_directories(out);
        CHECK_THROWS_WITH_AS(exporting::extract_layer_tar(tar, out),
                             doctest::Contains(("refusing entry '" + std::string(name) + "'").c_str()), Error);
        CHECK_FALSE(fs::exists(out / name));
    }
    write_tar(tar, {{"bin/", AE_IFDIR, 0755, ""},
                    {"bin/su", AE_IFREG, 06755, "#!/bin/sh\n"},
                    {"bin/vi", AE_IFCHR, 0, "", 0}});
    const fs::path out = temp.path() / "out";
    fs::create_directories(out);
    exporting::extract_layer_tar(tar, out);
    struct stat st {};
    REQUIRE(::lstat((out / "bin" / "su").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    REQUIRE(::lstat((out / "bin" / "vi").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
}

TEST_CASE("a pulled layer may not unpack to more than its limit") {
    TempDir temp("bincastle-test");
    const fs::path tar = temp.path() / "layer.tar";
    write_tar(tar, {{"big", AE_IFREG, 0644, std::string(1 << 20, '\0')}});
    const fs::path out = temp.path() / "out";
    fs::create_directories(out);
    CHECK_THROWS_WITH_AS(exporting::extract_layer_tar(tar, out, 64 << 10), doctest::Contains("more than 65536 bytes"),
                         Error);
    CHECK(exporting::max_unpacked_size(1000) == 64000 + (64ULL << 20));
    const fs::path again = temp.path() / "again";
    fs::create_directories(again);
    exporting::extract_layer_tar(tar, again, 2 << 20);
    CHECK(fs::file_size(again / "big") == 1 << 20);
}

TEST_CASE("a pulled layer the disk refuses says which file and why") {
    TempDir temp("bincastle-test");
    const fs::path tar = temp.path() / "layer.tar";
    write_tar(tar, {{"opt/", AE_IFDIR, 0755, ""}, {"opt/big", AE_IFREG, 0644, std::string(1 << 20, 'x')}});
    const fs::path out = temp.path() / "out";
    fs::create_directories(out);
    testing::FileSizeLimit limit(64 << 10);
    try {
        exporting::extract_layer_tar(tar, out);
        FAIL("no error");
    } catch (const Error& error) {
        CHECK(std::string(error.what()).find("write(" + (out / "opt" / "big").string() + "): File too large") !=
              std::string::npos);
        CHECK(error.error_number() == EFBIG);
    }
}

TEST_CASE("a dir export never writes or removes outside its output through a layer's symlink") {
    TempDir temp("bincastle-test");
    const fs::path outside = temp.path() / "host-etc";
    fs::create_directories(outside / "src");
    std::ofstream(outside / "src" / "gone") << "host file\n";
    std::ofstream(outside / "keep") << "host file\n";

    // The lower layer points home and var at the "host"; the upper one is wrapped at
    // /home/src and deletes a file there, and one under /var.
    const fs::path lower = temp.path() / "lower";
    fs::create_directories(lower);
    fs::create_directory_symlink(outside, lower / "home");
    fs::create_directory_symlink(outside, lower / "var");
    ::mkfifo((lower / "fifo").c_str(), 0666);
    REQUIRE(::chmod((lower / "fifo").c_str(), 0666) == 0);
    const fs::path wrapped = temp.path() / "wrapped";
    fs::create_directories(wrapped);
    std::ofstream(wrapped / "new") << "layer file\n";
    REQUIRE(::mknod((wrapped / "gone").c_str(), S_IFCHR, makedev(0, 0)) == 0);
    const fs::path upper = temp.path() / "upper";
    fs::create_directories(upper / "var");
    REQUIRE(::mknod((upper / "var" / "keep").c_str(), S_IFCHR, makedev(0, 0)) == 0);

    const fs::path output = temp.path() / "rootfs";
    const mode_t umask = ::umask(077);
    export_layers(temp.path(), exporting::Format::dir, output);
    ::umask(umask);

    CHECK(contents(outside / "src" / "gone") == "host file\n");
    CHECK(contents(outside / "keep") == "host file\n");
    CHECK_FALSE(fs::exists(outside / "src" / "new"));
    // Inside, the symlinks gave way to directories, as overlay shows them.
    CHECK_FALSE(fs::is_symlink(output / "home"));
    CHECK(contents(output / "home" / "src" / "new") == "layer file\n");
    CHECK((fs::status(output / "home").permissions() & fs::perms::all) == static_cast<fs::perms>(0755));
    CHECK_FALSE(fs::is_symlink(output / "var"));
    // The fifo has its own mode, whatever the umask.
    struct stat st {};
    REQUIRE(::lstat((output / "fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK((st.st_mode & 07777) == 0666);
}

namespace {

// Path, mode, contents and hard link target of every entry of a plain tar, in order.
std::vector<std::string> listing(const fs::path& tar) {
    std::vector<std::string> lines;
    archive* reader = archive_read_new();
    REQUIRE(reader);
    archive_read_support_format_tar(reader);
    REQUIRE(archive_read_open_filename(reader, tar.c_str(), 1 << 16) == ARCHIVE_OK);
    archive_entry* entry;
    while (archive_read_next_header(reader, &entry) == ARCHIVE_OK) {
        std::string data(static_cast<std::size_t>(archive_entry_size(entry)), '\0');
        if (!data.empty()) archive_read_data(reader, data.data(), data.size());
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", archive_entry_perm(entry));
        const char* link = archive_entry_hardlink(entry);
        lines.push_back(std::string(archive_entry_pathname(entry)) + " " + mode + " " + data +
                        (link ? std::string(" => ") + link : ""));
    }
    archive_read_free(reader);
    return lines;
}

}  // namespace

TEST_CASE("an export reads, as their owner, directories and files whose modes shut the owner out") {
    TempDir temp("bincastle-test");
    const fs::path layer = temp.path() / "layer";
    fs::create_directories(layer / "closed" / "inner");
    fs::create_directories(layer / "readonly");
    std::ofstream(layer / "closed" / "inner" / "file") << "secret";
    std::ofstream(layer / "readonly" / "file") << "kept";
    std::ofstream(layer / "unreadable") << "hidden";
    REQUIRE(::chmod((layer / "closed" / "inner" / "file").c_str(), 0644) == 0);
    REQUIRE(::chmod((layer / "readonly" / "file").c_str(), 0644) == 0);
    REQUIRE(::chmod((layer / "closed" / "inner").c_str(), 0755) == 0);
    REQUIRE(::chmod(layer.c_str(), 0755) == 0);
    // Root reads anything: export as an ordinary user then, or the test proves nothing.
    const int status = testing::exit_status_as_ordinary_user(temp.path(), [&] {
        if (::chmod((layer / "unreadable").c_str(), 0) != 0 || ::chmod((layer / "readonly").c_str(), 0555) != 0 ||
            ::chmod((layer / "closed").c_str(), 0) != 0)
            return false;
        exporting::ImageSpec image;
        image.name = "closed";
        image.layers = {{"layer", layer, std::nullopt}};
        exporting::ExportOptions options;
        options.format = exporting::Format::tar;
        options.output = temp.path() / "out.tar";
        exporting::export_image(image, options);
        options.format = exporting::Format::dir;
        options.output = temp.path() / "rootfs";
        exporting::export_image(image, options);
        return true;
    });
    REQUIRE(status == 0);
    CHECK(listing(temp.path() / "out.tar") == std::vector<std::string>{
                                                 "closed/ 0000 ",
                                                 "closed/inner/ 0755 ",
                                                 "closed/inner/file 0644 secret",
                                                 "readonly/ 0555 ",
                                                 "readonly/file 0644 kept",
                                                 "unreadable 0000 hidden",
                                             });
    struct stat st {};
    REQUIRE(::lstat((temp.path() / "rootfs" / "closed").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0);
    REQUIRE(::lstat((temp.path() / "rootfs" / "readonly").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0555);
    REQUIRE(::lstat((temp.path() / "rootfs" / "unreadable").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0);
    REQUIRE(::chmod((temp.path() / "rootfs" / "closed").c_str(), 0700) == 0);
    REQUIRE(::chmod((temp.path() / "rootfs" / "unreadable").c_str(), 0600) == 0);
    CHECK(contents(temp.path() / "rootfs" / "closed" / "inner" / "file") == "secret");
    CHECK(contents(temp.path() / "rootfs" / "unreadable") == "hidden");
}

TEST_CASE("dir and tar exports keep a layer's hard links, and a later layer's file under one name is its own") {
    TempDir temp("bincastle-test");
    // The modes the listing below shows.
    const mode_t umask = ::umask(022);
    const fs::path lower = temp.path() / "lower";
    fs::create_directories(lower / "sub");
    std::ofstream(lower / "a") << "linked";
    fs::create_hard_link(lower / "a", lower / "b");
    fs::create_hard_link(lower / "a", lower / "sub" / "c");
    // Wrapped at a MountDir: its links are made under it.
    const fs::path wrapped = temp.path() / "wrapped";
    fs::create_directories(wrapped / "deep");
    std::ofstream(wrapped / "deep" / "x") << "wrapped";
    fs::create_hard_link(wrapped / "deep" / "x", wrapped / "y");
    const fs::path upper = temp.path() / "upper";
    fs::create_directories(upper);
    std::ofstream(upper / "b") << "replaced";
    ::umask(umask);

    export_layers(temp.path(), exporting::Format::dir, temp.path() / "rootfs");
    export_layers(temp.path(), exporting::Format::tar, temp.path() / "out.tar");

    const fs::path root = temp.path() / "rootfs";
    auto inode = [](const fs::path& path) {
        struct stat st {};
        REQUIRE(::lstat(path.c_str(), &st) == 0);
        return st.st_ino;
    };
    CHECK(inode(root / "a") == inode(root / "sub" / "c"));
    CHECK(fs::hard_link_count(root / "a") == 2);
    CHECK(inode(root / "b") != inode(root / "a"));
    CHECK(contents(root / "a") == "linked");
    CHECK(contents(root / "b") == "replaced");
    CHECK(inode(root / "home" / "src" / "deep" / "x") == inode(root / "home" / "src" / "y"));
    // The layers themselves are left as they were.
    CHECK(fs::hard_link_count(lower / "a") == 3);

    // In the tarball, the second name is a link entry to the first.
    CHECK(listing(temp.path() / "out.tar") == std::vector<std::string>{
                                                 "a 0644 linked",
                                                 "b 0644 replaced",
                                                 "home/ 0755 ",
                                                 "home/src/ 0755 ",
                                                 "home/src/deep/ 0755 ",
                                                 "home/src/deep/x 0644 wrapped",
                                                 "home/src/y 0644  => home/src/deep/x",
                                                 "sub/ 0755 ",
                                                 "sub/c 0644  => a",
                                             });
}
