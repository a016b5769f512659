#pragma once

// A built system out of the store: an OCI image layout (one OCI layer per bincastle
// layer, the system's RunArgs, env and working directory in the image config), one
// tarball of the merged system, or the merged system as a directory. The same system
// always gives the same bytes.

#include "oci/layer_tar.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bincastle::exporting {

struct ImageLayer {
    std::string name;
    std::filesystem::path files;            // the layer in the store
    std::optional<std::string> mount_dir;   // a wrapped layer: its files go there
};

struct ImageSpec {
    std::string name;
    std::vector<ImageLayer> layers;  // lowest first
    std::vector<std::string> env;    // KEY=VALUE
    std::vector<std::string> args;
    std::string working_dir = "/";
};

enum class Format { oci, tar, dir };
// "oci", "tar" or "dir"; throws Error otherwise.
Format parse_format(const std::string& name);

struct ExportOptions {
    Format format = Format::oci;
    std::filesystem::path output;  // must not exist (a tarball may be replaced)
    // Of the OCI layers; of the tarball when given (none by default).
    std::optional<Compression> compression;
    std::string tag = "latest";    // the OCI layout's org.opencontainers.image.ref.name
};

// Writes the image. The output appears whole, by one rename, or not at all. Files the
// caller owns are read whatever their modes, and keep them (container::with_owner_access:
// call this while the process runs no other thread).
void export_image(const ImageSpec& image, const ExportOptions& options);

// Pushes the image of an OCI layout (its manifest tagged `tag` in index.json, or its
// only one) to `ref` (host[:port]/repo[:tag]); the blobs the registry has are not sent.
// Returns the manifest's digest.
std::string push_oci_layout(const std::filesystem::path& layout, const std::string& ref, bool insecure,
                            const std::string& tag, std::FILE* notices);

}  // namespace bincastle::exporting
