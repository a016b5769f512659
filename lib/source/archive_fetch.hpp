#pragma once

// An archive source: an http(s) archive pinned by sha256, downloaded once into the store's
// downloads cache (from a mirror when one is set, for machines that cannot reach upstream)
// and extracted.

#include <filesystem>
#include <string>

namespace bincastle {

// Fills `destination` (an empty directory) with the archive at `url`, pinned by `sha256`
// (64 hex digits), dropping `strip_components` leading path components.
//
// The archive is taken from <store_root>/downloads/<sha256> when present; else from
// `mirror` when given (a local directory, or an http:// or https:// URL prefix, as
// BINCASTLE_MIRROR names it; the file name is the last path component of `url`), then
// from `url` itself. A
// mirror that lacks the file or cannot be reached is passed over; whatever arrives is
// checked against `sha256` before it is kept, and a mismatch is an Error naming where it
// came from and both digests, from the mirror as from upstream. What is kept is renamed
// into the downloads cache whole, so a crash never leaves a partial file under a digest's
// name. Extraction is extract_tar's, with its refusals.
void fetch_archive(const std::filesystem::path& store_root, const std::string& url, const std::string& sha256,
                   int strip_components, const std::filesystem::path& destination, const std::string& mirror = {});

}  // namespace bincastle
