#include "source/archive_extract.hpp"

#include <bincastle/error.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

struct ReaderFree {
    void operator()(archive* reader) const noexcept { archive_read_free(reader); }
};
struct WriterFree {
    void operator()(archive* writer) const noexcept { archive_write_free(writer); }
};
using Reader = std::unique_ptr<archive, ReaderFree>;
using Writer = std::unique_ptr<archive, WriterFree>;

// What libarchive said last, or a fallback when it said nothing.
std::string reason(archive* handle) {
    const char* text = archive_error_string(handle);
    return text ? text : "unknown error";
}

// The entry's path with its first `strip` components dropped, or nullopt when none is
// left. Empty and "." components do not count ("./a/b" is "a/b", as GNU tar strips it).
// Throws for an absolute path or a ".." anywhere: checked here, on the archive's own
// name, because libarchive only sees the path once `destination` is in front of it.
std::optional<std::string> stripped(std::string_view name, int strip, const fs::path& archive_path,
                                    std::string_view what) {
    auto unsafe = [&](std::string_view why) {
        return Error("extracting " + archive_path.string() + ": refusing " + std::string(what) + " '" +
                     std::string(name) + "': " + std::string(why));
    };
    if (name.starts_with('/')) throw unsafe("absolute path");
    std::vector<std::string_view> components;
    for (std::size_t start = 0; start <= name.size();) {
        std::size_t end = name.find('/', start);
        if (end == std::string_view::npos) end = name.size();
        std::string_view component = name.substr(start, end - start);
        if (component == "..") throw unsafe("'..' in the path");
        if (!component.empty() && component != ".") components.push_back(component);
        start = end + 1;
    }
    if (components.size() <= static_cast<std::size_t>(strip)) return std::nullopt;
    std::string result;
    for (std::size_t i = static_cast<std::size_t>(strip); i < components.size(); ++i) {
        if (!result.empty()) result += '/';
        result += components[i];
    }
    return result;
}

void copy_data(archive* reader, archive* writer, const fs::path& archive_path, const std::string& name) {
    const void* block;
    std::size_t size;
    la_int64_t offset;
    for (;;) {
        int status = archive_read_data_block(reader, &block, &size, &offset);
        if (status == ARCHIVE_EOF) return;
        if (status < ARCHIVE_WARN)
            throw Error("extracting " + archive_path.string() + ": reading '" + name + "': " + reason(reader));
        // Blocks come with their offset, so holes in sparse files stay holes.
        if (archive_write_data_block(writer, block, size, offset) < ARCHIVE_WARN)
            throw Error("extracting " + archive_path.string() + ": writing '" + name + "': " + reason(writer));
    }
}

}  // namespace

void extract_archive(const fs::path& archive_path, const fs::path& destination, int strip_components) {
    const std::string where = "extracting " + archive_path.string();
    // libarchive's symlink check looks at every component of the path it is given, the
    // destination's included; a canonical destination has no symlink of its own to trip it.
    std::error_code error;
    const fs::path root = fs::canonical(destination, error);
    if (error) throw SysError(error.value(), "realpath", destination.string());

    Reader reader(archive_read_new());
    Writer writer(archive_write_disk_new());
    if (!reader || !writer) throw Error(where + ": out of memory");
    // Only tar and the compressions sources use: fewer parsers facing untrusted input,
    // and the static driver does not pull in libxml2 (xar) or nettle (zip encryption).
    archive_read_support_format_tar(reader.get());
    archive_read_support_filter_gzip(reader.get());
    archive_read_support_filter_bzip2(reader.get());
    archive_read_support_filter_xz(reader.get());
    archive_read_support_filter_lzma(reader.get());
    archive_read_support_filter_zstd(reader.get());

    // No ARCHIVE_EXTRACT_OWNER (we run unprivileged; files belong to whoever builds), so
    // no user lookup (getpwnam) is set up either. No SECURE_NOABSOLUTEPATHS: it would
    // refuse our own absolute destination; `stripped` refuses absolute entry names instead.
    archive_write_disk_set_options(writer.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                                     ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                     ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    if (archive_read_open_filename(reader.get(), archive_path.c_str(), 64 * 1024) != ARCHIVE_OK)
        throw Error(where + ": " + reason(reader.get()));

    for (;;) {
        archive_entry* entry;
        int status = archive_read_next_header(reader.get(), &entry);
        if (status == ARCHIVE_EOF) break;
        if (status < ARCHIVE_WARN) throw Error(where + ": " + reason(reader.get()));

        const std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
        const std::optional<std::string> path = stripped(name, strip_components, archive_path, "entry");
        if (!path) continue;
        archive_entry_set_pathname(entry, (root / *path).c_str());

        if (const char* target = archive_entry_hardlink(entry)) {
            const std::optional<std::string> target_path =
                stripped(target, strip_components, archive_path, "hard link target");
            if (!target_path) continue;
            archive_entry_set_hardlink(entry, (root / *target_path).c_str());
        }

        // A write through a symlink (SECURE_SYMLINKS) fails here, as ARCHIVE_FAILED.
        if (archive_write_header(writer.get(), entry) < ARCHIVE_WARN)
            throw Error(where + ": cannot write entry '" + name + "': " + reason(writer.get()));
        if (archive_entry_size(entry) > 0) copy_data(reader.get(), writer.get(), archive_path, name);
        if (archive_write_finish_entry(writer.get()) < ARCHIVE_WARN)
            throw Error(where + ": writing '" + name + "': " + reason(writer.get()));
    }
    // Directory modes and times are set last, so that a read-only directory is still
    // filled first.
    if (archive_write_close(writer.get()) != ARCHIVE_OK) throw Error(where + ": " + reason(writer.get()));
}

}  // namespace bincastle
