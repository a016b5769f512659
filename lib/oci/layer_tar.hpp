#pragma once

// A layer as an OCI layer tarball, and back.
//
// On the way out, a directory from the store becomes a reproducible tar: entries in
// byte order of their paths, mtime 0, owner 0:0 by number only, no atime or ctime, no
// xattrs; hard links kept. Overlay whiteouts (a 0/0 character device, or a file with
// the overlay.whiteout xattr) become empty `.wh.NAME` files, and an opaque directory
// (overlay.opaque=y, in the user. or trusted. namespace) gets a `.wh..wh..opq` entry.
// On the way in, the reverse: `.wh.NAME` becomes a 0/0 character device (which the
// kernel lets anyone create) and `.wh..wh..opq` the user.overlay.opaque xattr, which
// is what the runner's overlay (userxattr) reads, as root and as an ordinary user.

#include <cstdint>
#include <filesystem>
#include <string>

namespace bincastle::exporting {

enum class Compression { none, gzip, zstd };

// "gzip", "zstd" or "none"; throws Error otherwise.
Compression parse_compression(const std::string& name);
// The OCI media type of a layer so compressed.
std::string layer_media_type(Compression compression);

struct LayerBlob {
    std::string digest;    // sha256 of the file written
    std::string diff_id;   // sha256 of the uncompressed tar
    std::uint64_t size = 0;
};

struct TarOptions {
    Compression compression = Compression::gzip;
    // Every entry goes under this path (a wrapped layer's MountDir); "" for the root.
    std::string prefix;
    // Overlay whiteouts to OCI ones (a layer); off for a merged tree, which has none.
    bool whiteouts = true;
    int zstd_level = 3;
    int gzip_level = 6;
    unsigned threads = 0;  // zstd workers; 0: one per CPU
};

// Writes `dir` as a tarball to `out` (created or replaced).
LayerBlob write_layer_tar(const std::filesystem::path& dir, const std::filesystem::path& out,
                          const TarOptions& options);

// What a pulled layer may unpack to (file data plus 512 bytes per entry): 64 times
// its compressed size, plus 64 MiB for small layers of many empty files. Far above
// what real layers reach (zstd packs a tree of programs some 3 to 5 times), far below
// what a decompression bomb does.
inline constexpr std::uint64_t layer_expansion_limit = 64;
inline constexpr std::uint64_t layer_expansion_floor = 64ULL << 20;
inline std::uint64_t max_unpacked_size(std::uint64_t compressed) {
    return compressed * layer_expansion_limit + layer_expansion_floor;
}

// Extracts an OCI layer tarball (plain, gzip or zstd) into `destination`, an empty
// directory, with OCI whiteouts turned into overlay whiteouts. Refuses absolute paths,
// `..` and writes through symlinks, as extract_tar does; owners are not kept.
// Refuses device nodes but overlay's 0/0 whiteout, and strips setuid and setgid bits:
// the layer may come from anyone who can push to a cache. Refuses to unpack more than
// `max_bytes` (file data plus 512 per entry; 0: no limit).
void extract_layer_tar(const std::filesystem::path& archive, const std::filesystem::path& destination,
                       std::uint64_t max_bytes = 0);

// Applies the layer `layer` (a store directory, overlay whiteouts and all) on top of
// the merged tree `merged`, at the directory `under` in it ("" for its root; a wrapped
// layer's MountDir): whiteouts remove, opaque directories replace, the rest is copied
// over. Hard links within the layer stay hard links; a later layer's file under one
// of the names is a new file, which leaves the other names as they were. Never
// follows a symlink in `merged`: one where a directory is needed (on the way to
// `under` too) is replaced by the directory, as overlay shows it, so nothing is
// written or removed outside `merged`. Modes are the layer's, whatever the umask.
void merge_layer(const std::filesystem::path& layer, const std::filesystem::path& merged,
                 const std::string& under = "");

}  // namespace bincastle::exporting
