// Whole files written when the disk refuses a write.

#include "test_files.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bincastle;
using namespace bincastle::testing;

TEST_CASE("replace_file replaces whole or not at all, and a failed write leaves nothing") {
    TempDir temp("bincastle-test");
    const fs::path file = temp.path() / "record";
    replace_file(file.string(), "first\n");
    CHECK(read(file) == "first\n");
    CHECK((fs::status(file).permissions() & fs::perms::all) == static_cast<fs::perms>(0644));
    {
        FileSizeLimit limit(4096);
        CHECK_THROWS_AS(replace_file(file.string(), std::string(1 << 20, 'x')), SysError);
    }
    CHECK(read(file) == "first\n");
    CHECK(std::distance(fs::directory_iterator(temp.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("what a writer killed while it replaced a file goes at the next write of that file") {
    TempDir temp("bincastle-test");
    const fs::path file = temp.path() / "record";
    pid_t child = ::fork();
    if (child == 0) {
        // As replace_file starts: killed before its rename.
        fs::path partial;
        UniqueFd held = make_held_file(temp.path(), "record", partial);
        write_all(held.get(), "half", partial.string());
        ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    // Another file's, and one a live writer holds, stay.
    fs::path other, live;
    UniqueFd other_held = make_held_file(temp.path(), "other", other);
    other_held.reset();
    UniqueFd live_held = make_held_file(temp.path(), "record", live);
    CHECK(std::distance(fs::directory_iterator(temp.path()), fs::directory_iterator()) == 3);
    replace_file(file.string(), "whole\n");
    CHECK(read(file) == "whole\n");
    CHECK(fs::exists(other));
    CHECK(fs::exists(live));
    CHECK(std::distance(fs::directory_iterator(temp.path()), fs::directory_iterator()) == 3);
}
