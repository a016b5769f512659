#include "oci/image_manifest.hpp"

#include "util/sha256.hpp"

#include <bincastle/error.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <string_view>

namespace json = boost::json;

namespace bincastle::oci {

namespace {

// Layer types whose blob is a filesystem tarball, plain or compressed.
constexpr std::array<std::string_view, 8> layer_types = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

json::object parse_object(const std::string& body, const std::string& where) {
    try {
        json::value document = json::parse(body);
        if (!document.is_object()) throw Error(where + " is not a JSON object");
        return std::move(document.as_object());
    } catch (const Error&) {
        throw;
    } catch (const std::exception& error) {
        throw Error(where + " is not JSON: " + error.what());
    }
}

const json::string& string_member(const json::object& object, const char* name, const std::string& where) {
    const json::value* value = object.if_contains(name);
    if (!value || !value->is_string()) throw Error(where + ": '" + name + "' is missing or not a string");
    return value->as_string();
}

std::string digest_member(const json::object& object, const std::string& where) {
    std::string digest(string_member(object, "digest", where));
    if (!is_sha256_digest(digest)) throw Error(where + ": the digest '" + digest + "' is not sha256:<64 hex digits>");
    return digest;
}

const json::array& array_member(const json::object& object, const char* name, const std::string& where) {
    const json::value* value = object.if_contains(name);
    if (!value || !value->is_array()) throw Error(where + ": '" + name + "' is missing or not an array");
    return value->as_array();
}

}  // namespace

LayoutImage find_layout_image(const std::string& index_json, const std::string& tag, const std::string& layout) {
    json::value index = json::parse(index_json);
    const json::array& manifests = index.at("manifests").as_array();
    const json::object* chosen = nullptr;
    for (const auto& entry : manifests) {
        const json::object& object = entry.as_object();
        const json::value* annotations = object.if_contains("annotations");
        const json::value* name = annotations ? annotations->as_object().if_contains("org.opencontainers.image.ref.name") : nullptr;
        if (manifests.size() == 1 || (name && name->as_string() == tag)) chosen = &object;
    }
    if (!chosen) throw Error(layout + " has no image tagged " + tag);
    return {std::string(chosen->at("digest").as_string()), std::string(chosen->at("mediaType").as_string())};
}

std::vector<std::string> manifest_blobs(const std::string& manifest_body) {
    json::value manifest = json::parse(manifest_body);
    std::vector<std::string> blobs;
    blobs.emplace_back(manifest.at("config").at("digest").as_string());
    for (const auto& layer : manifest.at("layers").as_array()) blobs.emplace_back(layer.at("digest").as_string());
    return blobs;
}

bool is_image_index(const std::string& body, const std::string& where) {
    const json::object document = parse_object(body, where);
    // mediaType is optional in OCI documents: what they hold tells them apart.
    if (document.contains("manifests")) return true;
    if (document.contains("layers")) return false;
    throw Error(where + " is neither an image manifest nor an index (it has no 'layers' and no 'manifests')");
}

std::string manifest_for_platform(const std::string& body, const std::string& architecture, const std::string& where) {
    const json::object document = parse_object(body, where);
    std::string seen;
    for (const json::value& entry : array_member(document, "manifests", where)) {
        if (!entry.is_object()) throw Error(where + ": an entry of 'manifests' is not an object");
        const json::object& manifest = entry.as_object();
        const json::value* platform = manifest.if_contains("platform");
        if (!platform || !platform->is_object()) continue;
        const std::string os(string_member(platform->as_object(), "os", where + " platform"));
        const std::string arch(string_member(platform->as_object(), "architecture", where + " platform"));
        if (os == "linux" && arch == architecture) return digest_member(manifest, where);
        seen += (seen.empty() ? "" : ", ") + os + "/" + arch;
    }
    throw Error(where + " has no image for linux/" + architecture + (seen.empty() ? "" : " (it has " + seen + ")"));
}

ImageLayer image_config(const std::string& body, const std::string& where) {
    const json::object document = parse_object(body, where);
    const json::value* config = document.if_contains("config");
    if (!config || !config->is_object()) throw Error(where + ": 'config' is missing or not an object");
    ImageLayer out{digest_member(config->as_object(), where), "", 0};
    const json::value* size = config->as_object().if_contains("size");
    if (!size || !size->is_int64() || size->as_int64() <= 0) throw Error(where + ": the config " + out.digest + " has no size");
    out.size = static_cast<std::uint64_t>(size->as_int64());
    return out;
}

void check_image_platform(const std::string& body, const std::string& architecture, const std::string& where) {
    const json::object document = parse_object(body, where);
    auto member = [&](const char* name) {
        const json::value* value = document.if_contains(name);
        return value && value->is_string() ? std::string(value->as_string()) : std::string();
    };
    const std::string os = member("os"), arch = member("architecture");
    if ((!os.empty() && os != "linux") || (!arch.empty() && arch != architecture))
        throw Error(where + " is an image for " + (os.empty() ? "?" : os) + "/" + (arch.empty() ? "?" : arch) +
                    ", not for this machine's linux/" + architecture);
}

std::vector<ImageLayer> image_layers(const std::string& body, const std::string& where) {
    const json::object document = parse_object(body, where);
    std::vector<ImageLayer> layers;
    for (const json::value& entry : array_member(document, "layers", where)) {
        if (!entry.is_object()) throw Error(where + ": an entry of 'layers' is not an object");
        const json::object& layer = entry.as_object();
        ImageLayer out{digest_member(layer, where), std::string(string_member(layer, "mediaType", where)), 0};
        if (std::find(layer_types.begin(), layer_types.end(), out.media_type) == layer_types.end())
            throw Error(where + ": the layer " + out.digest + " is of type " + out.media_type +
                        ", not a filesystem tarball; is this a container image?");
        const json::value* size = layer.if_contains("size");
        if (!size || !size->is_int64() || size->as_int64() <= 0)
            throw Error(where + ": the layer " + out.digest + " has no size");
        out.size = static_cast<std::uint64_t>(size->as_int64());
        layers.push_back(std::move(out));
    }
    return layers;
}

}  // namespace bincastle::oci
