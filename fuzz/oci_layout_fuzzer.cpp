// An OCI image layout pushed with `export --push`: its index.json and the manifest it
// names, as skopeo, umoci or an earlier export left them. Input: the index, a NUL
// byte, the manifest. A malformed document may throw (the command line reports any
// std::exception in one line); nothing else may go wrong.

#include "export/image_export.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const std::size_t separator = input.find('\0');
    try {
        bincastle::exporting::find_layout_image(input.substr(0, separator), "latest", "layout");
    } catch (const std::exception&) {
    }
    if (separator == std::string::npos) return 0;
    try {
        bincastle::exporting::manifest_blobs(input.substr(separator + 1));
    } catch (const std::exception&) {
    }
    return 0;
}
