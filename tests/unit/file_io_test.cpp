// Whole files written when the disk refuses a write.

#include "test_files.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <doctest/doctest.h>

#include <iterator>
#include <string>

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
