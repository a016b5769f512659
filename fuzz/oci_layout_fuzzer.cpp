// An OCI image layout pushed with `export --push` or read by Image(): its index.json
// (or a registry's index) and the manifest it names, as skopeo, umoci, a registry or an
// earlier export left them. Input: the index, a NUL byte, the manifest. A malformed document may throw (the command line reports any
// std::exception in one line); nothing else may go wrong.

#include "oci/image_manifest.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const std::size_t separator = input.find('\0');
    const std::string index = input.substr(0, separator);
    try {
        bincastle::oci::find_layout_image(index, "latest", "layout");
    } catch (const std::exception&) {
    }
    try {
        if (bincastle::oci::is_image_index(index, "index")) bincastle::oci::manifest_for_platform(index, "amd64", "index");
    } catch (const std::exception&) {
    }
    if (separator == std::string::npos) return 0;
    const std::string manifest = input.substr(separator + 1);
    try {
        bincastle::oci::manifest_blobs(manifest);
    } catch (const std::exception&) {
    }
    try {
        bincastle::oci::image_layers(manifest, "manifest");
    } catch (const std::exception&) {
    }
    return 0;
}
