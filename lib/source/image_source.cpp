#include "source/image_source.hpp"

#include "container/linux_api.hpp"
#include "graph/key_encoder.hpp"
#include "oci/image_manifest.hpp"
#include "oci/layer_tar.hpp"
#include "oci/oci_platform.hpp"
#include "remote/registry_client.hpp"
#include "util/file_io.hpp"
#include "util/file_tree.hpp"
#include "util/parallel.hpp"
#include "util/sha256.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// An index or a manifest is a few KiB; a larger one is not worth reading.
constexpr std::uint64_t max_manifest_size = 4 << 20;
constexpr unsigned transfer_connections = 4;
constexpr std::string_view layout_prefix = "oci:";

// "oci:DIR[:TAG]" split; a colon followed by a path is part of DIR.
std::pair<std::string, std::string> split_layout_ref(const std::string& ref) {
    std::string rest = ref.substr(layout_prefix.size());
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string::npos || rest.find('/', colon) != std::string::npos) return {rest, ""};
    return {rest.substr(0, colon), rest.substr(colon + 1)};
}

// Where an image's documents and blobs come from; each checked against its digest.
class ImageRepository {
public:
    virtual ~ImageRepository() = default;
    virtual std::string where() const = 0;
    // The digest that `tag` (empty: the default) names now.
    virtual std::string resolve(const std::string& tag) = 0;
    virtual std::string document(const std::string& digest) = 0;
    // A small blob (an image config), checked against its digest and size.
    virtual std::string small_blob(const oci::ImageLayer& blob) = 0;
    // Writes the blob to `file` (created).
    virtual void blob(const oci::ImageLayer& layer, const fs::path& file) = 0;
};

class RegistryRepository final : public ImageRepository {
public:
    RegistryRepository(const std::string& ref, bool insecure, remote::RegistryOptions options)
        : client_(remote::Reference::parse(ref, insecure), false, options) {}

    std::string where() const override { return client_.reference().str(); }

    std::string resolve(const std::string&) override {
        const std::string& tag = client_.reference().tag;
        auto manifest = client_.get_manifest(tag.empty() ? "latest" : tag);
        if (!manifest) throw Error(where() + " has no such tag");
        return manifest->digest;
    }

    std::string document(const std::string& digest) override {
        auto manifest = client_.get_manifest(digest);
        if (!manifest) throw Error(where() + " has no manifest " + digest);
        return manifest->body;
    }

    void blob(const oci::ImageLayer& layer, const fs::path& file) override {
        client_.get_blob(layer.digest, layer.size, file);
    }

    std::string small_blob(const oci::ImageLayer& blob) override {
        if (blob.size > max_manifest_size) throw Error(where() + ": the blob " + blob.digest + " is too large for a config");
        TempDir dir("bincastle-image");
        client_.get_blob(blob.digest, blob.size, dir.path() / "blob");
        return read_file((dir.path() / "blob").string());
    }

private:
    remote::RegistryClient client_;
};

// Copies at most `limit` bytes of the file `in` (named `from` in errors) to `to` (or
// into `content`), refusing a file that is larger or, when `digest` is given, whose
// sha256 is not that. The copy is what is checked and used: the layout may change
// meanwhile.
void copy_checked(int in, const fs::path& from, const std::string* digest, std::uint64_t limit, const fs::path* to,
                  std::string* content) {
    UniqueFd out;
    if (to) {
        out = UniqueFd(::open(to->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!out) throw SysError("open", to->string());
    }
    Sha256 hash;
    std::uint64_t total = 0;
    char buffer[1 << 16];
    for (;;) {
        ssize_t n = ::read(in, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("read", from.string());
        if (n == 0) break;
        total += static_cast<std::uint64_t>(n);
        if (total > limit) throw Error(from.string() + " is larger than the " + std::to_string(limit) + " bytes expected");
        hash.update(buffer, static_cast<std::size_t>(n));
        if (out) write_all(out.get(), std::string_view(buffer, static_cast<std::size_t>(n)), to->string());
        if (content) content->append(buffer, static_cast<std::size_t>(n));
    }
    const std::string got = hash.digest();
    if (digest && got != *digest)
        throw Error(from.string() + " does not match its digest " + *digest + " (got " + got + ")");
}

// An OCI layout in a directory. Its files are opened beneath it, through no symlink:
// the layout is the definition's, and must not lead to files elsewhere on the host that
// happen to be named by their digest (another tool's image store, say).
class LayoutRepository final : public ImageRepository {
public:
    LayoutRepository(fs::path dir, std::string tag) : dir_(std::move(dir)), tag_(std::move(tag)) {
        dir_fd_ = UniqueFd(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!dir_fd_) throw SysError("open", dir_.string());
    }

    std::string where() const override { return "the OCI layout " + dir_.string(); }

    std::string resolve(const std::string&) override {
        std::string index;
        UniqueFd in = open_beneath("index.json");
        // It names digests, which are checked on their own.
        copy_checked(in.get(), dir_ / "index.json", nullptr, max_manifest_size, nullptr, &index);
        try {
            return oci::find_layout_image(index, tag_.empty() ? "latest" : tag_, dir_.string()).manifest_digest;
        } catch (const Error&) {
            throw;
        } catch (const std::exception& error) {
            throw Error((dir_ / "index.json").string() + " is malformed: " + error.what());
        }
    }

    std::string document(const std::string& digest) override {
        std::string body;
        UniqueFd in = open_beneath(blob_path(digest));
        copy_checked(in.get(), dir_ / blob_path(digest), &digest, max_manifest_size, nullptr, &body);
        return body;
    }

    std::string small_blob(const oci::ImageLayer& blob) override {
        std::string body;
        UniqueFd in = open_beneath(blob_path(blob.digest));
        copy_checked(in.get(), dir_ / blob_path(blob.digest), &blob.digest, std::min(blob.size, max_manifest_size),
                     nullptr, &body);
        return body;
    }

    void blob(const oci::ImageLayer& layer, const fs::path& file) override {
        const fs::path from = dir_ / blob_path(layer.digest);
        UniqueFd in = open_beneath(blob_path(layer.digest));
        copy_checked(in.get(), from, &layer.digest, layer.size, &file, nullptr);
        if (fs::file_size(file) != layer.size)
            throw Error(from.string() + " is not of the " + std::to_string(layer.size) + " bytes its manifest gives");
    }

private:
    std::string blob_path(const std::string& digest) const {
        if (!is_sha256_digest(digest)) throw Error(where() + ": a blob named " + digest);
        return "blobs/sha256/" + digest.substr(7);
    }

    // A regular file at `relative` under the layout, reached through no symlink and no `..`.
    UniqueFd open_beneath(const std::string& relative) const {
        const fs::path path = dir_ / relative;
        UniqueFd fd(container::linux_api::openat2(dir_fd_.get(), relative.c_str(), O_RDONLY | O_CLOEXEC, 0,
                                                  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
        if (!fd) {
            if (errno == ELOOP || errno == EXDEV)
                throw Error(path.string() + " is reached through a symlink or leaves the layout",
                            "an OCI layout's files must be its own");
            throw SysError("open", path.string());
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) throw SysError("fstat", path.string());
        if (!S_ISREG(st.st_mode)) throw Error(path.string() + " is not a regular file");
        return fd;
    }

    fs::path dir_;
    std::string tag_;
    UniqueFd dir_fd_;
};

std::unique_ptr<ImageRepository> open_repository(const std::string& ref, const ImageSourceOptions& options,
                                                 remote::RegistryOptions registry = {}) {
    if (auto dir = image_layout_dir(ref, options.definition_dir))
        return std::make_unique<LayoutRepository>(*dir, split_layout_ref(ref).second);
    return std::make_unique<RegistryRepository>(ref, options.insecure_registry, registry);
}

std::string short_digest(const std::string& digest) { return digest.substr(0, 7 + 12); }

}  // namespace

std::optional<fs::path> image_layout_dir(const std::string& ref, const fs::path& definition_dir) {
    if (!ref.starts_with(layout_prefix)) return std::nullopt;
    const std::string dir = split_layout_ref(ref).first;
    if (dir.empty()) throw Error("Image(\"" + ref + "\"): expected oci:DIR[:TAG]");
    return definition_dir / dir;
}

Key image_content_key(const std::string& layer, const SourceSpec& source, const ImageSourceOptions& options) {
    const std::string what = "layer '" + layer + "': Image(\"" + source.location;
    if (source.revision.empty()) {
        std::string hint;
        try {
            // Only a hint: one quick try.
            remote::RegistryOptions quick;
            quick.timeout = std::chrono::seconds(10);
            quick.attempts = 1;
            const std::string digest = open_repository(source.location, options, quick)->resolve("");
            hint = "its tag names " + digest + " now: pin that with Image(\"" + source.location + "@" + digest + "\")";
        } catch (const std::exception& error) {
            hint = "pin it with Image(\"" + source.location + "@sha256:...\") (looking its tag up failed: " +
                   error.what() + ")";
        }
        throw Error(what + "\") is not pinned by a digest", hint);
    }
    if (!is_sha256_digest(source.revision))
        throw Error(what + "@" + source.revision + "\"): the digest is not sha256:<64 lowercase hex digits>");
    // A malformed reference is refused before anything is built.
    try {
        if (!image_layout_dir(source.location, options.definition_dir))
            remote::Reference::parse(source.location, options.insecure_registry);
    } catch (const Error& error) {
        throw error.with_context("layer '" + layer + "'");
    }
    // Not where it comes from: the same image from a registry or a layout is one layer.
    return KeyEncoder("oci-image")
        .field('d', source.revision)
        .field('p', "linux/" + remote::oci_architecture())
        .finish();
}

Key image_layer_key(const std::string& blob_digest) { return KeyEncoder("oci-image-layer").field('d', blob_digest).finish(); }

void unpack_image(const Store& store, const SourceSpec& source, const ImageSourceOptions& options,
                  const fs::path& destination, const std::function<void(const std::string&)>& say) {
    auto repository = open_repository(source.location, options);
    std::string where = repository->where() + "@" + source.revision;
    std::string body = repository->document(source.revision);
    if (oci::is_image_index(body, where)) {
        const std::string digest = oci::manifest_for_platform(body, remote::oci_architecture(), where);
        where = repository->where() + "@" + digest;
        body = repository->document(digest);
        if (oci::is_image_index(body, where)) throw Error(where + " is an index inside an index, which is not supported");
    }
    const std::vector<oci::ImageLayer> layers = oci::image_layers(body, where);
    // An index names each image's platform; a lone image says it in its config.
    oci::check_image_platform(repository->small_blob(oci::image_config(body, where)), remote::oci_architecture(), where);
    std::vector<Key> keys;
    for (const auto& layer : layers) keys.push_back(image_layer_key(layer.digest));
    // No gc removes an image layer between its pull and the merge below.
    const Store::LiveRoot live = store.register_live_root(keys);
    std::vector<fs::path> files(layers.size());
    parallel_for(layers.size(), transfer_connections, [&](std::size_t i) {
        const oci::ImageLayer& layer = layers[i];
        const std::string name = "layer " + std::to_string(i + 1) + " of " + std::to_string(layers.size()) + " (" +
                                 short_digest(layer.digest) + ", " + std::to_string(layer.size / 1024) + " KiB)";
        try {
            auto held = store.lock(keys[i]);
            if (auto found = store.find(keys[i])) {
                files[i] = *found;
                say(name + ": in the store");
                return;
            }
            auto build = store.begin(keys[i]);
            const fs::path blob = build.scratch() / "blob";
            repository->blob(layer, blob);
            exporting::extract_layer_tar(blob, build.fs(), exporting::max_unpacked_size(layer.size));
            fs::remove(blob);
            files[i] = build.commit("name=image-layer-" + layer.digest.substr(7, 12) + "\ndigest=" + layer.digest +
                                    "\nfrom=" + where + "\n");
            say(name + ": pulled");
        } catch (const Error& error) {
            throw error.with_context(where + ": " + name);
        }
    });
    for (const auto& files_of_layer : files) exporting::merge_layer(files_of_layer, destination);
}

}  // namespace bincastle
