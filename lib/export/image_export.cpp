#include "export/image_export.hpp"

#include "container/owner_access.hpp"
#include "oci/image_manifest.hpp"
#include "oci/oci_platform.hpp"
#include "remote/registry_client.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/parallel.hpp"
#include "util/sha256.hpp"

#include <bincastle/error.hpp>

#include <boost/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace bincastle::exporting {

Format parse_format(const std::string& name) {
    if (name == "oci") return Format::oci;
    if (name == "tar") return Format::tar;
    if (name == "dir") return Format::dir;
    throw Error("--format " + name + ": expected oci, tar or dir");
}

namespace {

// Reproducible images carry no time of their own.
const char* const epoch = "1970-01-01T00:00:00Z";

void refuse_existing(const fs::path& output, bool file_ok) {
    struct stat st {};
    if (::lstat(output.c_str(), &st) != 0) return;
    if (file_ok && S_ISREG(st.st_mode)) return;
    if (S_ISDIR(st.st_mode) && fs::is_empty(output)) {
        fs::remove(output);
        return;
    }
    throw Error("export: " + output.string() + " exists", "remove it, or name another output with -o");
}

std::string write_blob(const fs::path& layout, const std::string& body) {
    const std::string digest = sha256_digest(body);
    write_new_file((layout / "blobs" / "sha256" / digest.substr(7)).string(), body);
    return digest;
}

json::object descriptor(const std::string& media_type, const std::string& digest, std::uint64_t size) {
    return json::object{{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

void write_oci(const ImageSpec& image, const ExportOptions& options, const fs::path& layout) {
    fs::create_directories(layout / "blobs" / "sha256");
    const Compression compression = options.compression.value_or(Compression::gzip);
    json::array layers, diff_ids, history;
    // One layer at a time: gzip is single-threaded, zstd uses every CPU itself.
    for (const auto& layer : image.layers) {
        TarOptions tar;
        tar.compression = compression;
        tar.prefix = layer.mount_dir.value_or("");
        const fs::path partial = layout / "blobs" / "sha256" / "layer.partial";
        const LayerBlob blob = write_layer_tar(layer.files, partial, tar);
        fs::rename(partial, layout / "blobs" / "sha256" / blob.digest.substr(7));
        layers.push_back(descriptor(layer_media_type(compression), blob.digest, blob.size));
        diff_ids.push_back(json::value(blob.diff_id));
        history.push_back(json::object{{"created", epoch}, {"created_by", "bincastle layer " + layer.name}});
    }
    json::object run;
    json::array env, cmd;
    for (const auto& variable : image.env) env.push_back(json::value(variable));
    for (const auto& arg : image.args) cmd.push_back(json::value(arg));
    run["Env"] = env;
    run["Cmd"] = cmd;
    run["WorkingDir"] = image.working_dir;
    json::object config;
    config["created"] = epoch;
    config["architecture"] = remote::oci_architecture();
    config["os"] = "linux";
    config["config"] = run;
    config["rootfs"] = json::object{{"type", "layers"}, {"diff_ids", diff_ids}};
    config["history"] = history;
    const std::string config_body = json::serialize(config);
    const std::string config_digest = write_blob(layout, config_body);

    json::object manifest;
    manifest["schemaVersion"] = 2;
    manifest["mediaType"] = remote::oci_manifest_type;
    manifest["config"] = descriptor(remote::oci_config_type, config_digest, config_body.size());
    manifest["layers"] = layers;
    manifest["annotations"] = json::object{{"org.opencontainers.image.title", image.name}};
    const std::string manifest_body = json::serialize(manifest);
    const std::string manifest_digest = write_blob(layout, manifest_body);

    json::object index;
    index["schemaVersion"] = 2;
    index["mediaType"] = remote::oci_index_type;
    json::object entry = descriptor(remote::oci_manifest_type, manifest_digest, manifest_body.size());
    entry["annotations"] = json::object{{"org.opencontainers.image.ref.name", options.tag}};
    index["manifests"] = json::array{entry};
    write_new_file((layout / "index.json").string(), json::serialize(index));
    write_new_file((layout / "oci-layout").string(), R"({"imageLayoutVersion":"1.0.0"})");
}

void merge(const ImageSpec& image, const fs::path& merged) {
    fs::create_directories(merged);
    for (const auto& layer : image.layers) merge_layer(layer.files, merged, layer.mount_dir.value_or(""));
}

}  // namespace

void export_image(const ImageSpec& image, const ExportOptions& options) {
    // A build may leave directories of mode 000 and files nobody may read (rootless,
    // it ran as root): read them as their owner may, with their modes kept.
    container::with_owner_access([&] {
        refuse_existing(options.output, options.format == Format::tar);
        if (!options.output.parent_path().empty()) fs::create_directories(options.output.parent_path());
        // Written beside the output, and renamed into place whole; what a killed
        // export left there goes at the next export to the same output.
        const fs::path parent = options.output.parent_path().empty() ? fs::path(".") : options.output.parent_path();
        TempDir work(options.output.filename().string() + ".partial", parent);
        const fs::path result = work.path() / "out";
        switch (options.format) {
        case Format::oci: write_oci(image, options, result); break;
        case Format::dir: merge(image, result); break;
        case Format::tar: {
            merge(image, work.path() / "merged");
            TarOptions tar;
            tar.compression = options.compression.value_or(Compression::none);
            tar.whiteouts = false;
            write_layer_tar(work.path() / "merged", result, tar);
            break;
        }
        }
        if (::rename(result.c_str(), options.output.c_str()) != 0)
            throw SysError("rename", result.string() + " -> " + options.output.string());
    });
}

std::string push_oci_layout(const fs::path& layout, const std::string& ref, bool insecure, const std::string& tag,
                            std::FILE* notices) {
    const remote::Reference reference = remote::Reference::parse(ref, insecure);
    remote::RegistryClient client(reference, true);
    auto blob_path = [&](const std::string& digest) {
        if (!is_sha256_digest(digest)) throw Error(layout.string() + ": a blob named " + digest);
        return layout / "blobs" / "sha256" / digest.substr(7);
    };
    const oci::LayoutImage image = oci::find_layout_image(read_file((layout / "index.json").string()), tag, layout.string());
    const std::string& manifest_digest = image.manifest_digest;
    const std::string manifest_body = read_file(blob_path(manifest_digest).string());
    const std::vector<std::string> blobs = oci::manifest_blobs(manifest_body);
    try {
        client.ping();
        parallel_for(blobs.size(), 4, [&](std::size_t i) { client.put_blob(blobs[i], blob_path(blobs[i])); });
        const std::string target = reference.tag.empty() ? tag : reference.tag;
        client.put_manifest(target, image.media_type, manifest_body);
    } catch (const Error& error) {
        throw error.with_context("pushing " + layout.string() + " to " + ref);
    }
    const auto counts = client.counts();
    std::fprintf(notices, "bincastle: pushed %s (%s): %llu of %zu blobs uploaded\n", ref.c_str(), manifest_digest.c_str(),
                 static_cast<unsigned long long>(counts.blobs_uploaded), blobs.size());
    return manifest_digest;
}

}  // namespace bincastle::exporting
