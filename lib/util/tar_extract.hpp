#pragma once

// The one tar extractor: http source archives and OCI layers both come through it, so
// the checks that keep an archive inside its destination exist once.

#include <cstdint>
#include <filesystem>
#include <string>

namespace bincastle {

// How an OCI layer marks a deleted NAME (`.wh.NAME`) and a directory that hides the
// one below (an entry `.wh..wh..opq` in it).
inline constexpr const char* oci_whiteout_prefix = ".wh.";
inline constexpr const char* oci_opaque_marker = ".wh..wh..opq";

// What differs between the archives extracted; the defaults trust the archive's
// contents (a source pinned by sha256), but never its paths.
struct TarExtractOptions {
    // Leading path components dropped from every entry's path and hard link target;
    // an entry left with none is skipped. Empty and "." components do not count
    // ("./a/b" is "a/b", as GNU tar strips it).
    int strip_components = 0;
    // OCI whiteouts become overlay ones: `.wh.NAME` a 0/0 character device NAME (which
    // the kernel lets anyone create), the opaque marker the user.overlay.opaque xattr
    // on its directory, which is what the runner's overlay (userxattr) reads.
    bool oci_whiteouts = false;
    // Device nodes (but a 0/0 character device, overlay's whiteout) are refused; else
    // they are made, which needs privilege.
    bool refuse_devices = false;
    // Setuid and setgid bits are cleared.
    bool strip_setuid = false;
    // Refuses an archive that unpacks to more (declared file sizes plus 512 bytes per
    // entry, so that a bomb of empty files counts too); 0: no limit.
    std::uint64_t max_bytes = 0;
    // Said with that refusal: where the limit comes from.
    std::string max_bytes_hint = {};
};

// Extracts the tar archive (ustar, pax or GNU; plain or compressed with gzip, bzip2,
// xz, lzma or zstd) at `archive` into `destination`, an existing directory, keeping
// modes, times and holes (runs of zeros become holes too) but not owners.
//
// An entry with an absolute path, a `..` component, or a path that would be written
// through a symlink is refused with an Error naming it; nothing is then written outside
// `destination`, though what was extracted before it stays. A write the disk refuses
// is a SysError that names the file and the reason: `write(/dest/big): No space left
// on device`.
void extract_tar(const std::filesystem::path& archive, const std::filesystem::path& destination,
                 const TarExtractOptions& options = {});

}  // namespace bincastle
