#include "util/tar_extract.hpp"

#include <bincastle/error.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <vector>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

struct ArchiveFree {
    void operator()(archive* handle) const noexcept { archive_free(handle); }
};
using Archive = std::unique_ptr<archive, ArchiveFree>;

// What libarchive said last, or a fallback when it said nothing.
std::string reason(archive* handle) {
    const char* text = archive_error_string(handle);
    return text ? text : "unknown error";
}

// A disk writer's reason with the system's own ("Can't create 'x': Permission
// denied"), which libarchive keeps apart. Its refusals carry no errno.
std::string disk_reason(archive* writer) {
    std::string text = reason(writer);
    const int number = archive_errno(writer);
    if (number > 0 && text.find(std::strerror(number)) == std::string::npos) text += std::string(": ") + std::strerror(number);
    return text;
}

class Extraction {
public:
    Extraction(const fs::path& archive_path, const fs::path& destination, const TarExtractOptions& options)
        : archive_path_(archive_path), where_("extracting " + archive_path.string()), options_(options) {
        // libarchive's symlink check looks at every component of the path it is given,
        // the destination's included; a canonical destination has no symlink of its own
        // to trip it.
        std::error_code error;
        root_ = fs::canonical(destination, error);
        if (error) throw SysError(error.value(), "realpath", destination.string());
    }

    void run() {
        if (!reader_ || !writer_) throw Error(where_ + ": out of memory");
        // Only tar and the compressions archives use: fewer parsers facing untrusted
        // input, and the static driver does not pull in libxml2 (xar) or nettle (zip
        // encryption).
        archive_read_support_format_tar(reader_.get());
        archive_read_support_filter_gzip(reader_.get());
        archive_read_support_filter_bzip2(reader_.get());
        archive_read_support_filter_xz(reader_.get());
        archive_read_support_filter_lzma(reader_.get());
        archive_read_support_filter_zstd(reader_.get());
        // No ARCHIVE_EXTRACT_OWNER (we run unprivileged; files belong to whoever
        // extracts), so no user lookup (getpwnam) is set up either. No
        // SECURE_NOABSOLUTEPATHS: it would refuse our own absolute destination;
        // `stripped` refuses absolute entry names instead. SPARSE: runs of zeros
        // become holes, so a sparse file stays sparse through a layer pull.
        archive_write_disk_set_options(writer_.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SPARSE |
                                                    ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                    ARCHIVE_EXTRACT_SECURE_NODOTDOT);
        if (archive_read_open_filename(reader_.get(), archive_path_.c_str(), 1 << 20) != ARCHIVE_OK)
            throw Error(where_ + ": " + reason(reader_.get()));
        for (;;) {
            archive_entry* entry;
            const int status = archive_read_next_header(reader_.get(), &entry);
            if (status == ARCHIVE_EOF) break;
            if (status < ARCHIVE_WARN) throw Error(where_ + ": " + reason(reader_.get()));
            extract(entry);
        }
        // Directory modes and times are set last, so that a read-only directory is
        // still filled first.
        if (archive_write_close(writer_.get()) != ARCHIVE_OK) throw Error(where_ + ": " + disk_reason(writer_.get()));
    }

private:
    void extract(archive_entry* entry) {
        const char* raw = archive_entry_pathname(entry);
        const std::string name = raw ? raw : "";
        const std::optional<std::string> path = stripped(name, "entry");
        if (!path) return;
        count(entry, name);
        if (options_.refuse_devices) refuse_device(entry, name);
        if (options_.strip_setuid)
            archive_entry_set_perm(entry, archive_entry_perm(entry) & ~static_cast<mode_t>(S_ISUID | S_ISGID));
        if (options_.oci_whiteouts && whiteout(*path)) return;

        const fs::path written = root_ / *path;
        archive_entry_set_pathname(entry, written.c_str());
        if (const char* target = archive_entry_hardlink(entry)) {
            const std::optional<std::string> target_path = stripped(target, "hard link target");
            if (!target_path) return;
            archive_entry_set_hardlink(entry, (root_ / *target_path).c_str());
        }
        // A write through a symlink (SECURE_SYMLINKS) fails here, as ARCHIVE_FAILED.
        if (archive_write_header(writer_.get(), entry) < ARCHIVE_WARN)
            throw Error(where_ + ": cannot write entry '" + name + "': " + disk_reason(writer_.get()));
        copy_data(name, written.string());
        if (archive_write_finish_entry(writer_.get()) < ARCHIVE_WARN)
            throw Error(where_ + ": writing " + written.string() + ": " + disk_reason(writer_.get()));
    }

    Error refusal(std::string_view what, std::string_view name, std::string_view why, std::string hint = {}) const {
        return Error(where_ + ": refusing " + std::string(what) + " '" + std::string(name) + "': " + std::string(why),
                     std::move(hint));
    }

    // The entry's path with the first strip_components components dropped, or nullopt
    // when none is left. Throws for an absolute path or a ".." anywhere: checked here,
    // on the archive's own name, because libarchive only sees the path once the
    // destination is in front of it.
    std::optional<std::string> stripped(std::string_view name, std::string_view what) const {
        if (name.starts_with('/')) throw refusal(what, name, "absolute path");
        std::vector<std::string_view> components;
        for (std::size_t start = 0; start <= name.size();) {
            std::size_t end = name.find('/', start);
            if (end == std::string_view::npos) end = name.size();
            const std::string_view component = name.substr(start, end - start);
            if (component == "..") throw refusal(what, name, "'..' in the path");
            if (!component.empty() && component != ".") components.push_back(component);
            start = end + 1;
        }
        const auto strip = static_cast<std::size_t>(options_.strip_components);
        if (components.size() <= strip) return std::nullopt;
        std::string result;
        for (std::size_t i = strip; i < components.size(); ++i) {
            if (!result.empty()) result += '/';
            result += components[i];
        }
        return result;
    }

    // Counted from the header, before anything of the entry is written: a sparse
    // entry counts its full size, holes and all, as it reads back.
    void count(archive_entry* entry, const std::string& name) {
        if (options_.max_bytes == 0) return;
        const std::uint64_t bytes = 512 + static_cast<std::uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry)));
        if (bytes > options_.max_bytes - extracted_)
            throw refusal("entry", name,
                          "the archive unpacks to more than " + std::to_string(options_.max_bytes) + " bytes",
                          options_.max_bytes_hint);
        extracted_ += bytes;
    }

    void refuse_device(archive_entry* entry, const std::string& name) const {
        const mode_t type = archive_entry_filetype(entry);
        if (type != AE_IFCHR && type != AE_IFBLK) return;
        const dev_t major = archive_entry_rdevmajor(entry), minor = archive_entry_rdevminor(entry);
        if (type == AE_IFCHR && major == 0 && minor == 0) return;
        throw refusal("entry", name,
                      std::string("a ") + (type == AE_IFCHR ? "character" : "block") + " device " +
                          std::to_string(major) + ":" + std::to_string(minor),
                      "device nodes are refused from an archive that anyone may have written: they would "
                      "give the system's users the host's disks or memory");
    }

    // Turns an OCI whiteout entry at `path` into overlay's; false for any other entry.
    bool whiteout(const std::string& path) const {
        const std::string base = fs::path(path).filename().string();
        if (base == oci_opaque_marker) {
            const fs::path dir = real_parent(path);
            if (::lsetxattr(dir.c_str(), "user.overlay.opaque", "y", 1, 0) != 0)
                throw SysError("setxattr user.overlay.opaque", dir.string());
            return true;
        }
        if (!base.starts_with(oci_whiteout_prefix)) return false;
        const fs::path target = real_parent(path) / base.substr(std::strlen(oci_whiteout_prefix));
        // A 0/0 character device needs no privilege (Linux 5.8): overlay's whiteout.
        if (::mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) throw SysError("mknod whiteout", target.string());
        return true;
    }

    // `path`'s parent directory inside the destination, made when missing; refuses a
    // symlink on the way, which libarchive's check does not cover here.
    fs::path real_parent(const std::string& path) const {
        fs::path dir = root_;
        for (const auto& part : fs::path(path).parent_path()) {
            dir /= part;
            struct stat st {};
            if (::lstat(dir.c_str(), &st) != 0) {
                if (errno != ENOENT) throw SysError("lstat", dir.string());
                if (::mkdir(dir.c_str(), 0755) != 0) throw SysError("mkdir", dir.string());
            } else if (!S_ISDIR(st.st_mode)) {
                throw Error(where_ + ": refusing '" + path + "': " + dir.string() + " is not a directory");
            }
        }
        return dir;
    }

    void copy_data(const std::string& name, const std::string& written) {
        const void* block;
        std::size_t size;
        la_int64_t offset;
        for (;;) {
            const int status = archive_read_data_block(reader_.get(), &block, &size, &offset);
            if (status == ARCHIVE_EOF) return;
            if (status < ARCHIVE_WARN) throw Error(where_ + ": reading '" + name + "': " + reason(reader_.get()));
            // Blocks come with their offset, so holes in sparse files stay holes. A
            // failed write(2) is only ARCHIVE_WARN, with "Write failed" for all text:
            // the errno it keeps says why.
            if (archive_write_data_block(writer_.get(), block, size, offset) < ARCHIVE_OK) {
                const int number = archive_errno(writer_.get());
                if (number > 0) throw SysError(number, "write", written).with_context(where_);
                throw Error(where_ + ": writing " + written + ": " + reason(writer_.get()));
            }
        }
    }

    fs::path archive_path_;
    std::string where_;
    const TarExtractOptions& options_;
    fs::path root_;
    Archive reader_{archive_read_new()};
    Archive writer_{archive_write_disk_new()};
    std::uint64_t extracted_ = 0;
};

}  // namespace

void extract_tar(const fs::path& archive, const fs::path& destination, const TarExtractOptions& options) {
    Extraction(archive, destination, options).run();
}

}  // namespace bincastle
