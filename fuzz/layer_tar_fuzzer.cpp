// A pulled layer: whatever tarball (plain, gzip or zstd) a cache's pushers put there.
// Input: the blob. Each is extracted, as a pull does, into an empty directory beside a
// canary directory holding one file; besides crashes, it checks that nothing was
// written beside the destination or into the canary (a `..`, an absolute path or a
// write through a symlink would) and that the canary file gained no hard link.

#include "oci/layer_tar.hpp"

#include <bincastle/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace fs = std::filesystem;

namespace {

// Layers may hold mode-000 directories: open them up so that they can be removed.
void remove_tree(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(path))) {
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        for (const auto& entry : fs::directory_iterator(path)) remove_tree(entry.path());
    }
    fs::remove(path);
}

struct Workspace {
    fs::path root;  // holds only the destination and the canary
    fs::path blob;
    Workspace() {
        std::string dir = (fs::temp_directory_path() / "bincastle-fuzz-layer-tar.XXXXXX").string();
        if (!::mkdtemp(dir.data())) std::abort();
        root = fs::path(dir) / "root";
        blob = fs::path(dir) / "blob";
        fs::create_directories(root / "canary");
        std::ofstream(canary_file()) << canary_text;
    }
    fs::path canary_file() const { return root / "canary" / "file"; }
    static constexpr const char* canary_text = "canary";
    ~Workspace() { remove_tree(root.parent_path()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Workspace work;
    std::ofstream(work.blob, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), size);
    const fs::path destination = work.root / "out";
    fs::create_directory(destination);
    try {
        bincastle::exporting::extract_layer_tar(work.blob, destination, bincastle::exporting::max_unpacked_size(size));
    } catch (const bincastle::Error&) {
    }
    if (fs::hard_link_count(work.canary_file()) != 1) __builtin_trap();
    remove_tree(destination);
    for (const auto& entry : fs::directory_iterator(work.root))
        if (entry.path().filename() != "canary") __builtin_trap();
    for (const auto& entry : fs::directory_iterator(work.root / "canary"))
        if (entry.path() != work.canary_file()) __builtin_trap();
    std::string text;
    std::ifstream(work.canary_file()) >> text;
    if (text != Workspace::canary_text) __builtin_trap();
    return 0;
}
