#pragma once

// What a layer holds, recorded when it is committed (layers/<key>/contents) so that
// verify can tell what changed since: per entry under its fs/, in byte order of the
// path, the type, the permission bits, and a file's content hash, a symlink's target
// (hashed), a device's numbers, or the overlay's marks (whiteouts, opaque
// directories). Owners, times and other extended attributes are left out, as in a
// source's tree hash.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bincastle {

struct LayerContents {
    struct Entry {
        std::string path;  // relative, '/'-separated
        char type;         // f(ile) d(irectory) l(ink) c(har) b(lock) p(ipe) s(ocket)
        std::uint32_t mode;
        // The content's or target's hash, a device's "major:minor", "whiteout" (a marked
        // file), "opaque" (a directory), or "-".
        std::string detail;

        bool operator==(const Entry&) const = default;
    };
    std::vector<Entry> entries;

    // Of the tree `root` (a layer's fs/). What its owner may not read or search (a
    // rootless build's chmod 000) is read through container::read_with_owner_access.
    static LayerContents of_tree(const std::filesystem::path& root);

    // The file's text, and back; nothing when `text` is not such a file.
    std::string text() const;
    static std::optional<LayerContents> parse(std::string_view text);
};

// How `now` differs from `recorded`: counts and the first path, in path order
// ("1 changed, 2 missing (first: etc/passwd, changed)"); nothing when they are the same.
std::optional<std::string> contents_difference(const LayerContents& recorded, const LayerContents& now);

}  // namespace bincastle
