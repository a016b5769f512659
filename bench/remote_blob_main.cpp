// bench/remote's tool: bincastle's registry client and layer tarballs on their own,
// to time them beside curl and tar | zstd.
//
//   bench-remote-blob push FILE REF [DIGEST] upload FILE as a blob (monolithic)
//   bench-remote-blob pull DIGEST SIZE REF OUT   download and verify a blob
//   bench-remote-blob tar DIR OUT            DIR as a zstd (level 3, all CPUs) layer tarball
#include "oci/layer_tar.hpp"
#include "remote/registry_client.hpp"
#include "util/sha256.hpp"

#include <bincastle/error.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace bincastle;

namespace {

std::string file_digest(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buffer(1 << 20);
    Sha256 hash;
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
        hash.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
    return hash.digest();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::vector<std::string> args(argv + 1, argv + argc);
        if ((args.size() == 3 || args.size() == 4) && args[0] == "push") {
            // Digest first, as the cache has it from compressing; the upload is timed with it.
            remote::RegistryClient client(remote::Reference::parse(args[2], false), true);
            const std::string digest = args.size() > 3 ? args[3] : file_digest(args[1]);
            client.put_blob(digest, args[1]);
            std::printf("%s\n", digest.c_str());
            return 0;
        }
        if (args.size() == 5 && args[0] == "pull") {
            remote::RegistryClient client(remote::Reference::parse(args[3], false), false);
            client.get_blob(args[1], std::stoull(args[2]), args[4]);
            return 0;
        }
        if (args.size() == 3 && args[0] == "tar") {
            exporting::TarOptions options;
            options.compression = exporting::Compression::zstd;
            auto blob = exporting::write_layer_tar(args[1], args[2], options);
            std::printf("%s %llu\n", blob.digest.c_str(), static_cast<unsigned long long>(blob.size));
            return 0;
        }
        std::fprintf(stderr, "usage: %s push FILE REF | pull DIGEST SIZE REF OUT | tar DIR OUT\n", argv[0]);
        return 2;
    } catch (const Error& error) {
        std::fprintf(stderr, "%s: %s\n", argv[0], error.what());
        return 1;
    }
}
