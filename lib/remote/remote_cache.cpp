#include "remote/remote_cache.hpp"

#include "container/owner_access.hpp"
#include "oci/layer_tar.hpp"
#include "oci/oci_platform.hpp"
#include "remote/registry_client.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/parallel.hpp"
#include "util/sha256.hpp"

#include <bincastle/error.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace bincastle::remote {

namespace {

// Lookups are small requests: many at once hide the round trips. Pulls of small
// layers are bounded by the store's metadata operations (about 1 ms each on a slow
// disk, some ten per layer), which overlap as well.
constexpr unsigned lookup_connections = 16;
constexpr unsigned transfer_connections = 8;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

const char* const key_annotation = "dev.bincastle.key";
const char* const name_annotation = "dev.bincastle.layer";
const char* const deps_annotation = "dev.bincastle.build-deps";

// Where a layer was found: its blob in one of the registries.
struct Found {
    std::size_t registry;
    CacheBlob blob;
};

}  // namespace

std::string cache_tag(const Key& key) { return "key-" + key.hex(); }

CacheBlob parse_cache_manifest(const std::string& body, const CacheLayer& layer, const std::string& ref) {
    auto bad = [&](const std::string& why) {
        return Error("layer " + layer.name + ": the manifest " + cache_tag(layer.key) + " in " + ref + " " + why);
    };
    try {
        json::value document = json::parse(body);
        const json::object& root = document.as_object();
        const json::value* annotations = root.if_contains("annotations");
        const json::value* key = annotations && annotations->is_object() ? annotations->as_object().if_contains(key_annotation) : nullptr;
        if (!key || !key->is_string() || key->as_string() != layer.key.hex()) throw bad("is for another key");
        const json::array& layers = root.at("layers").as_array();
        if (layers.size() != 1) throw bad("does not name exactly one layer");
        const json::object& blob = layers[0].as_object();
        CacheBlob found{std::string(blob.at("digest").as_string()), 0};
        const std::int64_t size = blob.at("size").to_number<std::int64_t>();
        // The size bounds the download and what it may unpack to: it must be given.
        if (size <= 0) throw bad("gives the layer's blob no size");
        found.size = static_cast<std::uint64_t>(size);
        if (!is_sha256_digest(found.digest)) throw bad("names a blob by something other than sha256");
        return found;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& error) {
        throw bad(std::string("is malformed: ") + error.what());
    }
}

namespace {

// The registries of `refs` that answer; one that does not is named on `notices`.
std::vector<std::unique_ptr<RegistryClient>> reachable_registries(const std::vector<std::string>& refs, bool insecure,
                                                                   std::FILE* notices) {
    std::vector<std::unique_ptr<RegistryClient>> clients;
    for (const auto& ref : refs) {
        auto client = std::make_unique<RegistryClient>(Reference::parse(ref, insecure), false);
        try {
            client->ping();
        } catch (const Error& error) {
            std::fprintf(notices, "bincastle: the cache %s cannot be used, so its layers will be built here: %s%s%s\n",
                         ref.c_str(), error.what(), error.hint().empty() ? "" : "; ", error.hint().c_str());
            continue;
        }
        clients.push_back(std::move(client));
    }
    return clients;
}

// Looks every layer up in every registry at once; the first registry that has it wins.
std::vector<std::optional<Found>> look_up(const std::vector<std::unique_ptr<RegistryClient>>& clients,
                                          const std::vector<CacheLayer>& wanted, std::FILE* notices) {
    std::vector<std::optional<Found>> found(wanted.size());
    std::mutex notice_mutex;
    parallel_for(wanted.size(), lookup_connections, [&](std::size_t i) {
        for (std::size_t r = 0; r < clients.size(); ++r) {
            try {
                auto manifest = clients[r]->get_manifest(cache_tag(wanted[i].key));
                if (!manifest) continue;
                found[i] = Found{r, parse_cache_manifest(manifest->body, wanted[i], clients[r]->reference().str())};
                return;
            } catch (const Error& error) {
                std::lock_guard lock(notice_mutex);
                std::fprintf(notices, "bincastle: looking up layer %s in %s: %s; it will be built here\n",
                             wanted[i].name.c_str(), clients[r]->reference().str().c_str(), error.what());
            }
        }
    });
    return found;
}

}  // namespace

std::vector<bool> cached_layers(const std::vector<std::string>& refs, bool insecure, const std::vector<CacheLayer>& wanted,
                                std::FILE* notices) {
    std::vector<bool> present(wanted.size(), false);
    if (wanted.empty() || refs.empty()) return present;
    const auto clients = reachable_registries(refs, insecure, notices);
    const auto found = look_up(clients, wanted, notices);
    for (std::size_t i = 0; i < wanted.size(); ++i) present[i] = found[i].has_value();
    return present;
}

std::vector<bool> import_layers(const std::vector<std::string>& refs, bool insecure,
                                const std::vector<CacheLayer>& wanted, const Store& store, ProgressSink& progress,
                                std::FILE* notices) {
    std::vector<bool> present(wanted.size(), false);
    if (wanted.empty() || refs.empty()) return present;
    const auto clients = reachable_registries(refs, insecure, notices);
    if (clients.empty()) return present;
    const auto found = look_up(clients, wanted, notices);

    std::vector<std::size_t> pulls;
    for (std::size_t i = 0; i < wanted.size(); ++i) {
        if (!found[i]) continue;
        pulls.push_back(i);
        progress.event({ProgressEvent::Kind::queued, wanted[i].name, wanted[i].key, 0, ""});
    }
    progress.flush();
    std::mutex failure_mutex;
    std::vector<std::string> failed;
    parallel_for(pulls.size(), transfer_connections, [&](std::size_t p) {
        const std::size_t i = pulls[p];
        const CacheLayer& layer = wanted[i];
        RegistryClient& client = *clients[found[i]->registry];
        const auto start = Clock::now();
        try {
            auto held = store.lock(layer.key);
            if (store.find(layer.key)) {
                // Built or pulled by another process while we looked.
                progress.event({ProgressEvent::Kind::cached, layer.name, layer.key, seconds_since(start), ""});
                present[i] = true;
                return;
            }
            progress.event({ProgressEvent::Kind::started, layer.name, layer.key, 0, ""});
            auto build = store.begin(layer.key);
            const fs::path blob = build.scratch() / "blob";
            client.get_blob(found[i]->blob.digest, found[i]->blob.size, blob);
            exporting::extract_layer_tar(blob, build.fs(), exporting::max_unpacked_size(found[i]->blob.size));
            fs::remove(blob);
            build.commit("name=" + layer.name + "\npulled-from=" + client.reference().str() + "\n");
            present[i] = true;
            progress.event({ProgressEvent::Kind::pulled, layer.name, layer.key, seconds_since(start), ""});
        } catch (const std::exception& error) {
            // Said here, once: the error below only names the layers.
            const auto* ours = dynamic_cast<const Error*>(&error);
            const std::string hint = ours && !ours->hint().empty() ? ours->hint() : "nothing of it entered the store";
            progress.event({ProgressEvent::Kind::failed, layer.name, layer.key, seconds_since(start),
                            "pulling layer " + layer.name + " from " + client.reference().str() + ": " + error.what() +
                                "; " + hint + "\n"});
            std::lock_guard lock(failure_mutex);
            failed.push_back(layer.name);
        }
    });
    for (const auto& client : clients) {
        const TransferCounts counts = client->counts();
        std::fprintf(notices, "bincastle: cache %s: %zu of %zu missing layers found (%.1f MB downloaded, %llu requests)\n",
                     client->reference().str().c_str(), pulls.size(), wanted.size(),
                     static_cast<double>(counts.bytes_received) / 1e6, static_cast<unsigned long long>(counts.requests));
    }
    if (!failed.empty()) {
        std::sort(failed.begin(), failed.end());
        std::string names;
        for (const auto& name : failed) names += (names.empty() ? "" : ", ") + name;
        throw Error("pulling " + names + " failed, as said above",
                    "nothing of it entered the store; build without --import-cache, or fix what failed");
    }
    return present;
}

void export_layers(const std::string& ref, bool insecure, const std::vector<CacheLayer>& layers,
                   const Store& store, ProgressSink& progress, std::FILE* notices) {
    RegistryClient client(Reference::parse(ref, insecure), true);
    try {
        client.ping();
    } catch (const Error& error) {
        throw error.with_context("exporting the cache to " + ref);
    }
    std::vector<bool> missing(layers.size(), false);
    parallel_for(layers.size(), lookup_connections,
                 [&](std::size_t i) { missing[i] = !client.has_manifest(cache_tag(layers[i].key)); });
    std::vector<std::size_t> pushes;
    for (std::size_t i = 0; i < layers.size(); ++i)
        if (missing[i]) pushes.push_back(i);
    TempDir scratch("bincastle-push");
    std::atomic<std::uint64_t> pushed{0};
    const std::string arch = oci_architecture();
    auto blob_file = [&](const CacheLayer& layer) { return scratch.path() / layer.key.hex(); };
    auto write_blob = [&](const CacheLayer& layer) {
        auto files = store.find(layer.key);
        if (!files) throw Error("it is not in the store");
        exporting::TarOptions options;
        options.compression = exporting::Compression::zstd;
        // The transfers already run side by side.
        options.threads = 1;
        return exporting::write_layer_tar(*files, blob_file(layer), options);
    };
    // The blob `blob_file(layer)`, then the config and the manifest that name it.
    auto publish = [&](const CacheLayer& layer, const exporting::LayerBlob& blob, Clock::time_point start) {
        client.put_blob(blob.digest, blob_file(layer));
        fs::remove(blob_file(layer));

        json::object config;
        config["architecture"] = arch;
        config["os"] = "linux";
        config["rootfs"] = json::object{{"type", "layers"}, {"diff_ids", json::array{json::value(blob.diff_id)}}};
        const std::string config_body = json::serialize(config);
        const std::string config_digest = sha256_digest(config_body);
        client.put_blob_bytes(config_digest, config_body);

        std::string deps;
        for (const auto& dep : layer.build_deps) deps += (deps.empty() ? "" : ",") + dep.hex();
        json::object manifest;
        manifest["schemaVersion"] = 2;
        manifest["mediaType"] = oci_manifest_type;
        manifest["config"] = json::object{{"mediaType", oci_config_type},
                                          {"digest", config_digest},
                                          {"size", config_body.size()}};
        manifest["layers"] = json::array{json::object{{"mediaType", exporting::layer_media_type(exporting::Compression::zstd)},
                                                      {"digest", blob.digest},
                                                      {"size", blob.size}}};
        manifest["annotations"] =
            json::object{{key_annotation, layer.key.hex()}, {name_annotation, layer.name}, {deps_annotation, deps}};
        client.put_manifest(cache_tag(layer.key), oci_manifest_type, json::serialize(manifest));
        ++pushed;
        progress.event({ProgressEvent::Kind::pushed, layer.name, layer.key, seconds_since(start), ""});
    };
    auto in_context = [&](const CacheLayer& layer, const Error& error) {
        return error.with_context("pushing layer " + layer.name + " to " + ref);
    };
    // A layer whose owner cannot read all of it (a build's mode-000 directory): its blob
    // is written below, once the transfer threads are done, with the owner's access.
    std::mutex unreadable_mutex;
    std::vector<std::size_t> unreadable;
    parallel_for(pushes.size(), transfer_connections, [&](std::size_t p) {
        const CacheLayer& layer = layers[pushes[p]];
        const auto start = Clock::now();
        try {
            std::optional<exporting::LayerBlob> blob;
            try {
                blob = write_blob(layer);
            } catch (const Error& error) {
                if (error.error_number() != EACCES) throw;
                std::lock_guard lock(unreadable_mutex);
                unreadable.push_back(pushes[p]);
                return;
            }
            publish(layer, *blob, start);
        } catch (const Error& error) {
            throw in_context(layer, error);
        }
    });
    if (!unreadable.empty()) {
        const auto start = Clock::now();
        // Each blob's digests come back in a file beside it: "DIGEST DIFF_ID SIZE".
        container::with_owner_access([&] {
            for (std::size_t i : unreadable) {
                try {
                    const exporting::LayerBlob blob = write_blob(layers[i]);
                    write_new_file(blob_file(layers[i]).string() + ".digests",
                                   blob.digest + " " + blob.diff_id + " " + std::to_string(blob.size) + "\n");
                } catch (const Error& error) {
                    throw in_context(layers[i], error);
                }
            }
        });
        parallel_for(unreadable.size(), transfer_connections, [&](std::size_t u) {
            const CacheLayer& layer = layers[unreadable[u]];
            try {
                std::istringstream digests(read_file(blob_file(layer).string() + ".digests"));
                exporting::LayerBlob blob;
                digests >> blob.digest >> blob.diff_id >> blob.size;
                publish(layer, blob, start);
            } catch (const Error& error) {
                throw in_context(layer, error);
            }
        });
    }
    const TransferCounts counts = client.counts();
    std::fprintf(notices, "bincastle: cache %s: %llu of %zu layers pushed (%llu blobs, %.1f MB uploaded, %llu requests)\n",
                 ref.c_str(), static_cast<unsigned long long>(pushed.load()), layers.size(),
                 static_cast<unsigned long long>(counts.blobs_uploaded), static_cast<double>(counts.bytes_sent) / 1e6,
                 static_cast<unsigned long long>(counts.requests));
}

}  // namespace bincastle::remote
