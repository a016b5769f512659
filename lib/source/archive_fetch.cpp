#include "source/archive_fetch.hpp"

#include "http/http_get.hpp"
#include "util/sha256.hpp"
#include "util/tar_extract.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <exception>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// A download in progress beside the cache, hashed as it is written. Removed when dropped
// unless kept: a failed or refused download leaves nothing behind.
class PartialFile {
public:
    PartialFile(const fs::path& downloads, const std::string& digest) {
        std::string pattern = (downloads / (digest + ".part.XXXXXX")).string();
        fd_.reset(::mkostemp(pattern.data(), O_CLOEXEC));
        if (!fd_) throw SysError("mkostemp", pattern);
        path_ = pattern;
    }
    PartialFile(const PartialFile&) = delete;
    PartialFile& operator=(const PartialFile&) = delete;
    ~PartialFile() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }

    void write(std::string_view data) {
        hash_.update(data);
        while (!data.empty()) {
            const ssize_t written = ::write(fd_.get(), data.data(), data.size());
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) throw SysError("write", path_);
            data.remove_prefix(static_cast<std::size_t>(written));
        }
    }

    // Lowercase hex, as recipes pin it.
    std::string digest() { return hash_.digest().substr(std::string_view("sha256:").size()); }

    // Makes the file durable and gives it its final name in one step.
    void keep(const fs::path& final_path) {
        if (::fchmod(fd_.get(), 0444) != 0) throw SysError("fchmod", path_);
        if (::fsync(fd_.get()) != 0) throw SysError("fsync", path_);
        if (::rename(path_.c_str(), final_path.c_str()) != 0)
            throw SysError("rename", path_ + " -> " + final_path.string());
        path_.clear();
    }

private:
    UniqueFd fd_;
    std::string path_;
    Sha256 hash_;
};

std::string checked_digest(const std::string& url, const std::string& sha256) {
    std::string digest;
    for (char c : sha256) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) break;
        digest += c;
    }
    if (digest.size() != 64 || sha256.size() != 64)
        throw Error("archive " + url + ": the sha256 '" + sha256 + "' is not 64 hex digits");
    return digest;
}

// The name a mirror holds the archive under: the URL's last path component.
std::string file_name(const std::string& url) {
    std::string_view path(url);
    path = path.substr(0, path.find_first_of("?#"));
    const std::size_t scheme_end = path.find("://");
    const std::size_t path_start = path.find('/', scheme_end == std::string_view::npos ? 0 : scheme_end + 3);
    const std::string_view name = path_start == std::string_view::npos ? "" : path.substr(path.rfind('/') + 1);
    if (name.empty())
        throw Error("archive " + url + ": the URL names no file", "an archive URL ends with its file name");
    return std::string(name);
}

bool is_http_url(std::string_view text) { return text.starts_with("http://") || text.starts_with("https://"); }

void read_local(const fs::path& path, const HttpBodySink& sink) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SysError("open", path.string());
    std::vector<char> buffer(64 * 1024);
    for (;;) {
        const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw SysError("read", path.string());
        if (got == 0) return;
        sink(std::string_view(buffer.data(), static_cast<std::size_t>(got)));
    }
}

// Fills the downloads cache's entry for `digest` from the mirror or from `url`.
void download(const std::string& url, const std::string& digest, const fs::path& downloads,
              const std::string& mirror) {
    std::error_code error;
    fs::create_directories(downloads, error);
    if (error) throw SysError(error.value(), "mkdir", downloads.string());

    const std::string name = file_name(url);
    // Each is a place the archive may come from, and a way to read it.
    std::vector<std::pair<std::string, std::function<void(const HttpBodySink&)>>> sources;
    if (!mirror.empty()) {
        std::string prefix = mirror;
        if (is_http_url(prefix)) {
            if (!prefix.ends_with('/')) prefix += '/';
            const std::string from = prefix + name;
            sources.emplace_back(from, [from](const HttpBodySink& sink) { http_get(from, sink); });
        } else {
            const fs::path from = fs::path(prefix) / name;
            sources.emplace_back(from.string(), [from](const HttpBodySink& sink) { read_local(from, sink); });
        }
    }
    sources.emplace_back(url, [&url](const HttpBodySink& sink) { http_get(url, sink); });

    std::string failures;
    std::string hints;
    for (const auto& [where, read] : sources) {
        PartialFile file(downloads, digest);
        // The store's own trouble (a full disk) is no reason to try another place.
        std::exception_ptr write_failure;
        try {
            read([&](std::string_view piece) {
                try {
                    file.write(piece);
                } catch (...) {
                    write_failure = std::current_exception();
                    throw;
                }
            });
        } catch (const Error& failure) {
            if (write_failure) std::rethrow_exception(write_failure);
            // Not there or not reachable: the next place may have it.
            failures += failures.empty() ? "" : "; ";
            failures += failure.what();
            if (!failure.hint().empty()) hints += failure.hint() + "; ";
            continue;
        }
        // A wrong file is never passed over: a mirror or an upstream that serves other
        // bytes than the recipe pinned must be looked at, not worked around.
        const std::string actual = file.digest();
        if (actual != digest) {
            const std::string source = where == url ? "the download" : where;
            throw Error("archive " + url + ": " + source + " has sha256 " + actual + ", but " + digest +
                            " was expected; it is not kept",
                        "if upstream re-released the archive, check it and update the recipe's "
                        "sha256; a mirror must hold the recipe's exact file");
        }
        file.keep(downloads / digest);
        return;
    }
    throw Error("archive " + url + ": cannot download it: " + failures,
                hints + "BINCASTLE_MIRROR may name a directory or URL prefix that holds " + name);
}

}  // namespace

void fetch_archive(const fs::path& store_root, const std::string& url, const std::string& sha256,
                   int strip_components, const fs::path& destination, const std::string& mirror) {
    if (!is_http_url(url)) throw Error("archive " + url + ": not an http:// or https:// URL");
    const std::string digest = checked_digest(url, sha256);
    const fs::path downloads = store_root / "downloads";
    // Only verified archives are ever renamed into the cache, so a hit needs no rehash.
    std::error_code error;
    if (!fs::exists(downloads / digest, error)) download(url, digest, downloads, mirror);
    try {
        extract_tar(downloads / digest, destination, {.strip_components = strip_components});
    } catch (const Error& failure) {
        throw failure.with_context("archive " + url);
    }
}

}  // namespace bincastle
