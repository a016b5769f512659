#pragma once

// What an Image() source reads of an OCI image: an index (or Docker manifest list),
// from which this machine's platform is chosen, and an image manifest, whose layers
// are unpacked in order. Both come from anyone who can push to a registry: every
// member read is checked, and a malformed document is an Error naming `where`.

#include <cstdint>
#include <string>
#include <vector>

namespace bincastle::oci {

struct ImageLayer {
    std::string digest;  // sha256:...
    std::string media_type;
    std::uint64_t size = 0;
};

// Whether `body` is an index (a list of manifests) rather than an image manifest.
bool is_image_index(const std::string& body, const std::string& where);

// The digest of the manifest for linux/`architecture` in the index `body`. Throws an
// Error listing the platforms the index has when it has not that one.
std::string manifest_for_platform(const std::string& body, const std::string& architecture, const std::string& where);

// The manifest of an OCI layout's index.json (its text `index_json`) tagged `tag`
// (org.opencontainers.image.ref.name), or its only one. Throws an Error naming `layout`
// when there is none; what Boost.JSON throws when the index is malformed.
struct LayoutImage {
    std::string manifest_digest;
    std::string media_type;
};
LayoutImage find_layout_image(const std::string& index_json, const std::string& tag, const std::string& layout);

// The blobs an image manifest names: its config, then its layers. Throws what
// Boost.JSON throws when the manifest is malformed.
std::vector<std::string> manifest_blobs(const std::string& manifest_body);

// The config blob the image manifest `body` names.
ImageLayer image_config(const std::string& body, const std::string& where);

// Throws an Error when the image config `body` says it is for another platform than
// linux/`architecture` (one that says nothing is taken at its word).
void check_image_platform(const std::string& body, const std::string& architecture, const std::string& where);

// The layers of the image manifest `body`, base first. Refuses a layer that is not a
// filesystem tarball (an artifact's blob), is not named by sha256, or has no size.
std::vector<ImageLayer> image_layers(const std::string& body, const std::string& where);

}  // namespace bincastle::oci
