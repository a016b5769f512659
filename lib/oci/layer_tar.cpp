#include "oci/layer_tar.hpp"

#include "container/overlay_marks.hpp"
#include "util/sha256.hpp"
#include "util/file_tree.hpp"
#include "util/tar_extract.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace bincastle::exporting {

Compression parse_compression(const std::string& name) {
    if (name == "gzip") return Compression::gzip;
    if (name == "zstd") return Compression::zstd;
    if (name == "none") return Compression::none;
    throw Error("--compression " + name + ": expected gzip, zstd or none");
}

std::string layer_media_type(Compression compression) {
    switch (compression) {
    case Compression::gzip: return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::zstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
    case Compression::none: break;
    }
    return "application/vnd.oci.image.layer.v1.tar";
}

namespace {

void write_all(int fd, const void* data, std::size_t size, const std::string& path) {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, bytes, size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("write", path);
        bytes += n;
        size -= static_cast<std::size_t>(n);
    }
}

// Compressed bytes to the file, hashed on the way.
class BlobFile {
public:
    explicit BlobFile(const fs::path& path) : path_(path.string()) {
        fd_ = UniqueFd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd_) throw SysError("open", path_);
    }
    void write(const void* data, std::size_t size) {
        if (size == 0) return;
        hash_.update(data, size);
        size_ += size;
        // Fewer, larger writes: the compressors hand over 128 KiB at most.
        buffer_.append(static_cast<const char*>(data), size);
        if (buffer_.size() >= (4u << 20)) flush();
    }
    void flush() {
        write_all(fd_.get(), buffer_.data(), buffer_.size(), path_);
        buffer_.clear();
    }
    std::string digest() { return hash_.digest(); }
    std::uint64_t size() const { return size_; }

private:
    std::string path_;
    UniqueFd fd_;
    Sha256 hash_;
    std::uint64_t size_ = 0;
    std::string buffer_;
};

class Compressor {
public:
    virtual ~Compressor() = default;
    virtual void feed(const void* data, std::size_t size) = 0;
    virtual void finish() = 0;
};

class Plain : public Compressor {
public:
    explicit Plain(BlobFile& out) : out_(out) {}
    void feed(const void* data, std::size_t size) override { out_.write(data, size); }
    void finish() override {}

private:
    BlobFile& out_;
};

class Zstd : public Compressor {
public:
    Zstd(BlobFile& out, int level, unsigned threads) : out_(out), context_(ZSTD_createCCtx()), buffer_(ZSTD_CStreamOutSize()) {
        if (!context_) throw Error("zstd: out of memory");
        ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, level);
        // With one worker or more, the output is the same for any number of them.
        ZSTD_CCtx_setParameter(context_, ZSTD_c_nbWorkers, static_cast<int>(threads));
    }
    ~Zstd() override { ZSTD_freeCCtx(context_); }
    void feed(const void* data, std::size_t size) override { run(data, size, ZSTD_e_continue); }
    void finish() override { run(nullptr, 0, ZSTD_e_end); }

private:
    void run(const void* data, std::size_t size, ZSTD_EndDirective mode) {
        ZSTD_inBuffer in{data, size, 0};
        for (;;) {
            ZSTD_outBuffer out{buffer_.data(), buffer_.size(), 0};
            std::size_t left = ZSTD_compressStream2(context_, &out, &in, mode);
            if (ZSTD_isError(left)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(left));
            out_.write(buffer_.data(), out.pos);
            if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return;
        }
    }
    BlobFile& out_;
    ZSTD_CCtx* context_;
    std::vector<char> buffer_;
};

class Gzip : public Compressor {
public:
    Gzip(BlobFile& out, int level) : out_(out), buffer_(256 << 10) {
        // windowBits 15 + 16: a gzip wrapper with mtime 0 and no name, so the same
        // input always gives the same bytes.
        if (deflateInit2(&stream_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw Error("zlib: deflateInit2 failed");
    }
    ~Gzip() override { deflateEnd(&stream_); }
    void feed(const void* data, std::size_t size) override { run(data, size, Z_NO_FLUSH); }
    void finish() override { run(nullptr, 0, Z_FINISH); }

private:
    void run(const void* data, std::size_t size, int flush) {
        stream_.next_in = static_cast<Bytef*>(const_cast<void*>(data));
        stream_.avail_in = static_cast<uInt>(size);
        for (;;) {
            stream_.next_out = reinterpret_cast<Bytef*>(buffer_.data());
            stream_.avail_out = static_cast<uInt>(buffer_.size());
            int status = deflate(&stream_, flush);
            if (status == Z_STREAM_ERROR) throw Error("zlib: deflate failed");
            out_.write(buffer_.data(), buffer_.size() - stream_.avail_out);
            if (flush == Z_FINISH ? status == Z_STREAM_END : stream_.avail_in == 0 && stream_.avail_out != 0) return;
        }
    }
    BlobFile& out_;
    z_stream stream_{};
    std::vector<char> buffer_;
};

// A tar stream written by hand rather than by libarchive: its tar writers pull in
// every other format (xar brings libxml2 and ICU) into static links, and this way
// every byte is ours to keep reproducible. ustar headers, with a pax header
// ("././@PaxHeader") for what ustar cannot hold (long names, sizes from 8 GiB).
class TarStream {
public:
    explicit TarStream(Compressor& compressor) : compressor_(compressor) {}

    void entry(const std::string& path, char type, mode_t perm, std::uint64_t size, const std::string& link,
               dev_t rdev) {
        std::string pax;
        if (path.size() > 100) pax += record("path", path);
        if (link.size() > 100) pax += record("linkpath", link);
        if (size > 077777777777ULL) pax += record("size", std::to_string(size));
        if (!pax.empty()) {
            write_header("././@PaxHeader", 'x', 0644, pax.size(), "", 0);
            data(pax.data(), pax.size());
            pad(pax.size());
        }
        write_header(path, type, perm, size, link, rdev);
    }
    void data(const void* bytes, std::size_t size) {
        uncompressed_.update(bytes, size);
        compressor_.feed(bytes, size);
    }
    // After an entry's data: up to the next 512-byte boundary.
    void pad(std::uint64_t size) {
        static const char zeros[512] = {};
        if (size % 512) data(zeros, 512 - size % 512);
    }
    std::string finish() {
        static const char zeros[1024] = {};
        data(zeros, sizeof zeros);
        return uncompressed_.digest();
    }

private:
    static std::string record(const std::string& key, const std::string& value) {
        // "LEN key=value\n", LEN counting itself.
        const std::size_t body = key.size() + value.size() + 3;
        std::size_t length = body + std::to_string(body).size();
        if (std::to_string(length).size() != std::to_string(body).size()) ++length;
        return std::to_string(length) + " " + key + "=" + value + "\n";
    }
    static void octal(char* field, std::size_t width, std::uint64_t value) {
        // width - 1 octal digits, then NUL (callers keep values in range).
        field[width - 1] = '\0';
        for (std::size_t i = width - 1; i-- > 0; value >>= 3) field[i] = static_cast<char>('0' + (value & 7));
    }
    void write_header(const std::string& path, char type, mode_t perm, std::uint64_t size, const std::string& link,
                      dev_t rdev) {
        char block[512] = {};
        std::memcpy(block, path.data(), std::min<std::size_t>(path.size(), 100));
        octal(block + 100, 8, perm & 07777);
        octal(block + 108, 8, 0);
        octal(block + 116, 8, 0);
        octal(block + 124, 12, size > 077777777777ULL ? 0 : size);
        octal(block + 136, 12, 0);
        std::memset(block + 148, ' ', 8);
        block[156] = type;
        std::memcpy(block + 157, link.data(), std::min<std::size_t>(link.size(), 100));
        std::memcpy(block + 257, "ustar\0" "00", 8);
        if (type == '3' || type == '4') {
            octal(block + 329, 8, major(rdev));
            octal(block + 337, 8, minor(rdev));
        }
        unsigned sum = 0;
        for (unsigned char c : block) sum += c;
        octal(block + 148, 7, sum);  // six digits, NUL, and the space already there
        data(block, sizeof block);
    }

    Compressor& compressor_;
    Sha256 uncompressed_;
};

class TarWriter {
public:
    TarWriter(TarStream& tar, const TarOptions& options) : tar_(tar), options_(options) {}

    void prefix_dirs(int root, const std::string& shown) {
        struct stat st {};
        if (::fstat(root, &st) != 0) throw SysError("stat", shown);
        std::string path;
        const std::string prefix = fs::path(options_.prefix).relative_path().lexically_normal().string();
        for (const auto& part : fs::path(prefix)) {
            if (part.empty() || part == ".") continue;
            path += (path.empty() ? "" : "/") + part.string();
            header(path, '5', path.size() == prefix.size() ? st.st_mode & 07777 : 0755, 0, {}, {});
        }
        base_ = path;
    }

    // `dirfd` is the directory `shown`, at `relative` in the layer.
    void walk(int dirfd, const std::string& shown, const std::string& relative) {
        for (const std::string& name : sorted_names_at(dirfd, shown)) {
            const std::string path = shown + "/" + name;
            const std::string inside = relative.empty() ? name : relative + "/" + name;
            struct stat st {};
            if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", path);
            if (options_.whiteouts && container::is_whiteout(dirfd, name, st, path)) {
                const std::string parent = relative.empty() ? "" : relative + "/";
                header(parent + oci_whiteout_prefix + name, '0', 0, 0, {}, {});
                continue;
            }
            if (options_.whiteouts && name.starts_with(oci_whiteout_prefix))
                throw Error("exporting " + path + ": a file whose name starts with .wh. cannot go into an OCI layer");
            if (S_ISDIR(st.st_mode)) {
                UniqueFd dir = open_dir_at(dirfd, name, path);
                header(inside, '5', st.st_mode & 07777, 0, {}, {});
                if (options_.whiteouts && container::is_opaque_dir(dir.get())) header(inside + "/" + oci_opaque_marker, '0', 0, 0, {}, {});
                walk(dir.get(), path, inside);
            } else if (S_ISREG(st.st_mode)) {
                if (st.st_nlink > 1) {
                    auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, full(inside));
                    if (!first) {
                        hardlink(inside, it->second, st.st_mode & 07777);
                        continue;
                    }
                }
                UniqueFd file(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
                if (!file) throw SysError("open", path);
                header(inside, '0', st.st_mode & 07777, static_cast<std::uint64_t>(st.st_size), {}, {});
                data(file.get(), path, static_cast<std::uint64_t>(st.st_size));
            } else if (S_ISLNK(st.st_mode)) {
                header(inside, '2', 0777, 0, read_link_at(dirfd, name, path), {});
            } else if (S_ISFIFO(st.st_mode)) {
                header(inside, '6', st.st_mode & 07777, 0, {}, {});
            } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
                header(inside, S_ISCHR(st.st_mode) ? '3' : '4', st.st_mode & 07777, 0, {}, st.st_rdev);
            }
            // Sockets are not files anyone can ship.
        }
    }

private:
    std::string full(const std::string& inside) const { return base_.empty() ? inside : base_ + "/" + inside; }

    void header(const std::string& inside, char type, mode_t perm, std::uint64_t size, const std::string& symlink,
                std::optional<dev_t> rdev) {
        // Directories end in '/', as tar writes them.
        const std::string path = full(inside) + (type == '5' ? "/" : "");
        tar_.entry(path, type, perm, size, symlink, rdev.value_or(0));
    }

    void hardlink(const std::string& inside, const std::string& target, mode_t perm) {
        tar_.entry(full(inside), '1', perm, 0, target, 0);
    }

    void data(int fd, const std::string& path, std::uint64_t size) {
        std::uint64_t done = 0;
        while (done < size) {
            ssize_t n = ::read(fd, buffer_.data(), std::min<std::uint64_t>(buffer_.size(), size - done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw SysError("read", path);
            if (n == 0) throw Error("exporting " + path + ": the file shrank while it was read");
            tar_.data(buffer_.data(), static_cast<std::size_t>(n));
            done += static_cast<std::uint64_t>(n);
        }
        tar_.pad(size);
    }

    TarStream& tar_;
    const TarOptions& options_;
    std::string base_;
    std::map<std::pair<dev_t, ino_t>, std::string> links_;
    std::vector<char> buffer_ = std::vector<char>(1 << 20);
};

}  // namespace

LayerBlob write_layer_tar(const fs::path& dir, const fs::path& out, const TarOptions& options) {
    const std::string where = "writing " + out.string() + " from " + dir.string();
    BlobFile file(out);
    std::unique_ptr<Compressor> compressor;
    switch (options.compression) {
    case Compression::none: compressor = std::make_unique<Plain>(file); break;
    case Compression::gzip: compressor = std::make_unique<Gzip>(file, options.gzip_level); break;
    case Compression::zstd: {
        unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
        compressor = std::make_unique<Zstd>(file, options.zstd_level, threads);
        break;
    }
    }
    TarStream stream(*compressor);
    std::string diff_id;
    try {
        UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root) throw SysError("open", dir.string());
        TarWriter tar(stream, options);
        tar.prefix_dirs(root.get(), dir.string());
        tar.walk(root.get(), dir.string(), "");
        diff_id = stream.finish();
    } catch (const Error& error) {
        throw error.with_context(where);
    }
    compressor->finish();
    file.flush();
    return {file.digest(), diff_id, file.size()};
}

void extract_layer_tar(const fs::path& archive, const fs::path& destination, std::uint64_t max_bytes) {
    // A pulled layer is whatever the cache's pushers put there. Device nodes would hand
    // the system's users the host's disks or memory. Setuid and setgid bits are
    // stripped, not refused: they would make a program chosen by whoever pushed the
    // layer run with the rights of its owner (root, for a store of root's), and a layer
    // built here keeps them anyway; stripped, such layers stay usable when pulled.
    extract_tar(archive, destination,
                {.oci_whiteouts = true,
                 .refuse_devices = true,
                 .strip_setuid = true,
                 .max_bytes = max_bytes,
                 .max_bytes_hint = "a pulled layer may unpack to 64 times its compressed size, plus 64 MiB"});
}

namespace {

// The merged tree is written only through directory fds opened with O_NOFOLLOW and
// *at() calls with AT_SYMLINK_NOFOLLOW: a symlink a lower layer left there (`home ->
// /etc`) is an entry like any other, replaced or removed, and never leads a write or
// a removal outside the output.

std::string joined(const std::string& shown, const std::string& name) { return shown + "/" + name; }

// The directory `name` in `dirfd`, open; made when missing (mode 0700 until the
// caller sets its own), and anything else there (a symlink, a file) replaced by it,
// as overlay shows an upper directory over a lower non-directory.
UniqueFd make_dir_at(int dirfd, const std::string& name, const std::string& shown, bool replace) {
    struct stat existing {};
    bool exists = ::fstatat(dirfd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT) throw SysError("lstat", shown);
    if (exists && (!S_ISDIR(existing.st_mode) || replace)) {
        remove_at(dirfd, name, shown);
        exists = false;
    }
    if (!exists && ::mkdirat(dirfd, name.c_str(), 0700) != 0) throw SysError("mkdir", shown);
    if (exists && (existing.st_mode & 0700) != 0700 && ::fchmodat(dirfd, name.c_str(), 0700, 0) != 0)
        throw SysError("chmod", shown);
    return open_dir_at(dirfd, name, shown);
}

// One layer's merge. Names of one file in the layer become names of one file in the
// merged tree, as in the system; a later layer that replaces one of them unlinks it
// and writes a new file, so the other names keep their content (overlay's copy-up).
struct LayerMerge {
    int top;  // the merged directory the layer goes into
    std::string top_shown;
    // The layer's files with more than one name, by (dev, ino): where the first name
    // was copied to, relative to `top`.
    std::map<std::pair<dev_t, ino_t>, std::string> copied;
};

// `name` in `dirfd` (`to`) becomes another name of the file at `first` in `top`. The
// directories on the way are this layer's, made by this merge: none is a symlink, and
// open_dir_at refuses one anyway.
void link_to_first(const LayerMerge& merge, const std::string& first, int dirfd, const std::string& name,
                   const std::string& to) {
    const fs::path path(first);
    UniqueFd parent;
    int at = merge.top;
    std::string shown = merge.top_shown;
    for (const auto& part : path.parent_path()) {
        shown = joined(shown, part.string());
        parent = open_dir_at(at, part.string(), shown);
        at = parent.get();
    }
    const std::string target = joined(shown, path.filename().string());
    if (::linkat(at, path.filename().c_str(), dirfd, name.c_str(), 0) != 0) throw SysError("link", target + " -> " + to);
}

// `layer` is the layer's directory `from`, `dirfd` the merged one `shown`, at
// `relative` under the merge's top.
void merge_into(LayerMerge& merge, int layer, const std::string& from, int dirfd, const std::string& shown,
                const std::string& relative) {
    for (const std::string& name : sorted_names_at(layer, from)) {
        const std::string source = joined(from, name);
        const std::string to = joined(shown, name);
        const std::string inside = relative.empty() ? name : joined(relative, name);
        struct stat st {};
        if (::fstatat(layer, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", source);
        if (container::is_whiteout(layer, name, st, source)) {
            remove_at(dirfd, name, to);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            UniqueFd in = open_dir_at(layer, name, source);
            UniqueFd dir = make_dir_at(dirfd, name, to, container::is_opaque_dir(in.get()));
            merge_into(merge, in.get(), source, dir.get(), to, inside);
            if (::fchmod(dir.get(), st.st_mode & 07777) != 0) throw SysError("chmod", to);
            continue;
        }
        remove_at(dirfd, name, to);
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
            auto [it, first] = merge.copied.try_emplace({st.st_dev, st.st_ino}, inside);
            if (!first) {
                link_to_first(merge, it->second, dirfd, name, to);
                continue;
            }
        }
        copy_at(layer, name, source, dirfd, name, to);
    }
}

}  // namespace

void merge_layer(const fs::path& layer, const fs::path& merged, const std::string& under) {
    UniqueFd root(::open(merged.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) throw SysError("open", merged.string());
    UniqueFd dir = std::move(root);
    std::string shown = merged.string();
    for (const auto& part : fs::path(under).relative_path().lexically_normal()) {
        const std::string text = part.string();
        if (text.empty() || text == ".") continue;
        if (text == "..") throw Error("merging " + layer.string() + ": refusing the directory " + under + ": '..' in it");
        shown = joined(shown, text);
        // A directory a lower layer made keeps its mode; a new one gets 0755.
        struct stat st {};
        const bool fresh = ::fstatat(dir.get(), text.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode);
        UniqueFd next = make_dir_at(dir.get(), text, shown, false);
        if (::fchmod(next.get(), fresh ? 0755 : st.st_mode & 07777) != 0) throw SysError("chmod", shown);
        dir = std::move(next);
    }
    UniqueFd files(::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!files) throw SysError("open", layer.string());
    LayerMerge merge{dir.get(), shown, {}};
    merge_into(merge, files.get(), layer.string(), dir.get(), shown, "");
}

}  // namespace bincastle::exporting
