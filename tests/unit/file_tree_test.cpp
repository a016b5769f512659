// Copying and removing trees that are deep or odd, and when the disk refuses a write.

#include "test_files.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;
using namespace bincastle::testing;

namespace {

// 25 directories of 200 characters below `root`, made with relative steps (the whole
// path is longer than PATH_MAX), and a file at the bottom; returns the directory name.
std::string make_deep_tree(const fs::path& root) {
    const std::string name(200, 'd');
    UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
    for (int i = 0; i < 25; ++i) {
        REQUIRE(::mkdirat(dir.get(), name.c_str(), 0755) == 0);
        dir = open_dir_at(dir.get(), name, name);
    }
    UniqueFd file(::openat(dir.get(), "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(file);
    REQUIRE(::write(file.get(), "deep\n", 5) == 5);
    return name;
}

// What the file at the bottom of make_deep_tree's tree under `root` holds.
std::string read_deep_file(const fs::path& root, const std::string& name) {
    UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < 25; ++i) dir = open_dir_at(dir.get(), name, name);
    UniqueFd file(::openat(dir.get(), "file", O_RDONLY | O_CLOEXEC));
    REQUIRE(file);
    char buffer[16];
    const ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    REQUIRE(n >= 0);
    return std::string(buffer, static_cast<std::size_t>(n));
}

}  // namespace

TEST_CASE("copy_tree copies a tree deeper than PATH_MAX, fifos, symlinks as such, and holes as holes") {
    TempDir temp("bincastle-test");
    const fs::path from = temp.path() / "from";
    fs::create_directories(from);
    const std::string name = make_deep_tree(from);
    REQUIRE(::mkfifo((from / "fifo").c_str(), 0640) == 0);
    fs::create_symlink("/etc/shadow", from / "shadow");
    {
        std::ofstream sparse(from / "sparse");
        sparse.seekp(16 << 20);
        sparse << "end";
    }
    REQUIRE(::chmod(from.c_str(), 0751) == 0);

    copy_tree(from, temp.path() / "to");
    const fs::path to = temp.path() / "to";
    CHECK(read_deep_file(to, name) == "deep\n");
    struct stat st {};
    REQUIRE(::lstat((to / "fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(fs::read_symlink(to / "shadow") == "/etc/shadow");
    REQUIRE(::lstat((to / "sparse").c_str(), &st) == 0);
    CHECK(st.st_size == (16 << 20) + 3);
    CHECK(st.st_blocks * 512 < (1 << 20));
    CHECK(read(to / "sparse").substr(16 << 20) == "end");
    REQUIRE(::lstat(to.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0751);

    remove_tree(from);
    remove_tree(to);
    CHECK_FALSE(fs::exists(from));
    CHECK_FALSE(fs::exists(to));
}

TEST_CASE("a copy the disk refuses says why and where, not EIO") {
    TempDir temp("bincastle-test");
    const fs::path from = temp.path() / "from";
    fs::create_directories(from / "sub");
    write(from / "sub" / "big", std::string(1 << 20, 'x'));
    FileSizeLimit limit(64 << 10);
    CHECK_THROWS_WITH_AS(copy_tree(from, temp.path() / "to"),
                         ("write(" + (temp.path() / "to" / "sub" / "big").string() + "): File too large").c_str(),
                         SysError);
}
