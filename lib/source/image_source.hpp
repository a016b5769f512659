#pragma once

// An Image() source: an OCI image from a registry ("REGISTRY/REPO[:TAG]") or an OCI
// layout directory ("oci:DIR[:TAG]"), pinned by its digest. Its key is the digest and
// this machine's platform; its content the union of its layers, each of which enters
// the store once, keyed by its blob's digest, so that images sharing a base pull and
// unpack it once.

#include "store/store.hpp"

#include <bincastle/key.hpp>
#include <bincastle/layer.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace bincastle {

struct ImageSourceOptions {
    std::filesystem::path definition_dir;  // what an OCI layout's DIR is relative to
    bool insecure_registry = false;         // plain http beyond loopback
};

// The layout directory an "oci:DIR[:TAG]" reference names, relative to
// `definition_dir`; nullopt for a registry reference.
std::optional<std::filesystem::path> image_layout_dir(const std::string& ref,
                                                      const std::filesystem::path& definition_dir);

// The key of the Image source `source` of layer `layer`: its digest and this
// machine's platform. A source with no digest is an Error whose hint gives the digest
// its tag names now (looked up), so that the user can pin it.
Key image_content_key(const std::string& layer, const SourceSpec& source, const ImageSourceOptions& options);

// The layer store key of an image layer: its blob's digest.
Key image_layer_key(const std::string& blob_digest);

// Writes the image's files into `destination` (an empty directory): every layer not
// in `store` is fetched, checked against its digest and unpacked into it; then the
// layers are merged in order, whiteouts applied. `say` gets a line per image layer,
// from several threads at once.
void unpack_image(const Store& store, const SourceSpec& source, const ImageSourceOptions& options,
                  const std::filesystem::path& destination, const std::function<void(const std::string&)>& say);

}  // namespace bincastle
