#pragma once

// The remote cache: layers of the store in an OCI registry repository, one small OCI
// image manifest per layer key, tagged key-<key hex>. The manifest names one layer
// blob (the layer as a zstd tar with OCI whiteouts) and an image config whose rootfs
// lists that blob's diff id, so any OCI tool can copy, inspect or garbage-collect the
// cache; its annotations hold the layer's name, key and the keys it was built on.
// Everything pulled is checked against its digest before it enters the store, where it
// is committed by the store's one atomic rename.

#include "store/store.hpp"

#include <bincastle/key.hpp>
#include <bincastle/progress.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace bincastle::remote {

struct CacheLayer {
    std::string name;
    Key key;
    std::vector<Key> build_deps;
};

// The tag of a key's manifest.
std::string cache_tag(const Key& key);

// The one layer blob a cache manifest names.
struct CacheBlob {
    std::string digest;  // sha256:...
    std::uint64_t size = 0;
};

// Reads the manifest `body` that `ref` holds under `layer`'s tag. Throws an Error naming
// the layer, the tag and `ref` unless it is JSON whose key annotation is `layer`'s key
// and which names exactly one layer blob, by sha256, with a size.
CacheBlob parse_cache_manifest(const std::string& body, const CacheLayer& layer, const std::string& ref);

// Pulls every layer of `wanted` that one of `refs` has (the first that has it wins)
// into `store`, with a `pulled` event each; lookups and transfers run in parallel.
// Returns, for each of `wanted`, whether it is now in the store. A registry that
// cannot be reached is named on `notices` and passed over. A layer whose pull fails (a
// blob that does not match its digest, a transfer that fails for good, a full disk)
// leaves the store unchanged and gets a `failed` event that says why, the one report of
// it; once the other pulls are done, this throws an Error that names the layers.
std::vector<bool> import_layers(const std::vector<std::string>& refs, bool insecure,
                                const std::vector<CacheLayer>& wanted, const Store& store, ProgressSink& progress,
                                std::FILE* notices);

// Which layers of `wanted` one of `refs` has: a lookup, nothing is pulled. A registry
// that cannot be reached is named on `notices` and has none.
std::vector<bool> cached_layers(const std::vector<std::string>& refs, bool insecure, const std::vector<CacheLayer>& wanted,
                                std::FILE* notices);

// Pushes every layer of `layers` (all built in `store`) that `ref` lacks, with a
// `pushed` event each, and writes a one-line summary to `notices`. Throws an Error when
// the registry cannot take them.
void export_layers(const std::string& ref, bool insecure, const std::vector<CacheLayer>& layers,
                   const Store& store, ProgressSink& progress, std::FILE* notices);

}  // namespace bincastle::remote
