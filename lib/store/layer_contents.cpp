#include "store/layer_contents.hpp"

#include "container/overlay_marks.hpp"
#include "container/owner_access.hpp"
#include "graph/key_encoder.hpp"
#include "util/file_hash.hpp"
#include "util/file_tree.hpp"
#include "util/parallel.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <climits>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

constexpr std::string_view file_header = "bincastle-layer-contents-v1\n";
constexpr std::string_view types = "fdlcbps";

char type_of(mode_t mode) {
    if (S_ISREG(mode)) return 'f';
    if (S_ISDIR(mode)) return 'd';
    if (S_ISLNK(mode)) return 'l';
    if (S_ISCHR(mode)) return 'c';
    if (S_ISBLK(mode)) return 'b';
    if (S_ISFIFO(mode)) return 'p';
    return 's';
}

// Everything but the files' contents, by directory fd (a build may leave a path
// longer than PATH_MAX): one fstatat per entry.
void walk(int dirfd, const std::string& shown, const std::string& relative, std::vector<LayerContents::Entry>& entries) {
    for (const std::string& name : sorted_names_at(dirfd, shown)) {
        const std::string path = shown + "/" + name;
        LayerContents::Entry entry{relative.empty() ? name : relative + "/" + name, 'f', 0, "-"};
        struct stat st;
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw SysError("lstat", path);
        entry.type = type_of(st.st_mode);
        entry.mode = st.st_mode & 07777;
        if (entry.type == 'd') {
            UniqueFd dir = open_dir_at(dirfd, name, path);
            if (container::is_opaque_dir(dir.get())) entry.detail = "opaque";
            const std::string inside = entry.path;
            entries.push_back(std::move(entry));
            walk(dir.get(), path, inside, entries);
            continue;
        }
        if (entry.type == 'l') {
            entry.detail = hash_bytes(read_link_at(dirfd, name, path)).hex();
        } else if (entry.type == 'f' && container::is_whiteout(dirfd, name, st, path)) {
            entry.detail = "whiteout";
        } else if (entry.type == 'c' || entry.type == 'b') {
            entry.detail = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
        }
        entries.push_back(std::move(entry));
    }
}

// The content hash of the file `relative` under `root`; past PATH_MAX, reached a
// directory at a time.
Key content_of(int root, const std::string& relative, const std::string& shown) {
    if (relative.size() < PATH_MAX) return hash_file(root, relative, shown).content;
    UniqueFd dir;
    int at = root;
    std::size_t start = 0;
    for (std::size_t slash; (slash = relative.find('/', start)) != std::string::npos; start = slash + 1) {
        dir = open_dir_at(at, relative.substr(start, slash - start), shown);
        at = dir.get();
    }
    return hash_file(at, relative.substr(start), shown).content;
}

LayerContents read_tree(const std::string& root) {
    UniqueFd top(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!top) throw SysError("opendir", root);
    LayerContents contents;
    auto& entries = contents.entries;
    walk(top.get(), root, "", entries);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    std::vector<LayerContents::Entry*> files;
    for (auto& entry : entries)
        if (entry.type == 'f' && entry.detail == "-") files.push_back(&entry);
    parallel_for(files.size(), std::max(1u, std::thread::hardware_concurrency()), [&](std::size_t i) {
        files[i]->detail = content_of(top.get(), files[i]->path, root + "/" + files[i]->path).hex();
    });
    return contents;
}

// A path on one line: backslash and newline escaped.
std::string escaped(std::string_view path) {
    std::string out;
    out.reserve(path.size());
    for (char c : path) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::optional<std::string> unescaped(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        if (++i == text.size()) return std::nullopt;
        if (text[i] == '\\') out += '\\';
        else if (text[i] == 'n') out += '\n';
        else return std::nullopt;
    }
    return out;
}

std::optional<LayerContents::Entry> parse_line(std::string_view line) {
    // "T MMMM DETAIL PATH"
    if (line.size() < 10 || types.find(line[0]) == std::string_view::npos || line[1] != ' ' || line[6] != ' ')
        return std::nullopt;
    LayerContents::Entry entry{{}, line[0], 0, {}};
    auto [end, error] = std::from_chars(line.data() + 2, line.data() + 6, entry.mode, 8);
    if (error != std::errc() || end != line.data() + 6) return std::nullopt;
    const std::string_view rest = line.substr(7);
    const std::size_t space = rest.find(' ');
    if (space == 0 || space == std::string_view::npos || space + 1 == rest.size()) return std::nullopt;
    entry.detail = rest.substr(0, space);
    auto path = unescaped(rest.substr(space + 1));
    if (!path) return std::nullopt;
    entry.path = std::move(*path);
    return entry;
}

}  // namespace

LayerContents LayerContents::of_tree(const fs::path& root) {
    try {
        return read_tree(root.string());
    } catch (const SysError& error) {
        if (error.error_number() != EACCES || ::geteuid() == 0) throw;
    }
    // A rootless build may leave directories and files that their owner (the caller)
    // may not read through; read as they are, without changing their modes.
    auto contents = parse(container::read_with_owner_access([&] { return read_tree(root.string()).text(); }));
    if (!contents) throw Error("the contents of " + root.string() + " read with the owner's rights did not parse");
    return *contents;
}

std::string LayerContents::text() const {
    std::string out(file_header);
    char mode[8];
    for (const auto& entry : entries) {
        std::snprintf(mode, sizeof mode, "%04o", entry.mode & 07777);
        out += entry.type;
        out += ' ';
        out += mode;
        out += ' ';
        out += entry.detail;
        out += ' ';
        out += escaped(entry.path);
        out += '\n';
    }
    return out;
}

std::optional<LayerContents> LayerContents::parse(std::string_view text) {
    if (!text.starts_with(file_header)) return std::nullopt;
    text.remove_prefix(file_header.size());
    LayerContents contents;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        if (end == std::string_view::npos) return std::nullopt;
        auto entry = parse_line(text.substr(0, end));
        if (!entry) return std::nullopt;
        contents.entries.push_back(std::move(*entry));
        text.remove_prefix(end + 1);
    }
    return contents;
}

std::optional<std::string> contents_difference(const LayerContents& recorded, const LayerContents& now) {
    std::size_t changed = 0, missing = 0, added = 0;
    std::string first;
    auto note = [&](std::size_t& count, const std::string& path, const char* how) {
        if (changed + missing + added == 0) first = escaped(path) + ", " + how;
        ++count;
    };
    auto a = recorded.entries.begin(), b = now.entries.begin();
    while (a != recorded.entries.end() || b != now.entries.end()) {
        if (b == now.entries.end() || (a != recorded.entries.end() && a->path < b->path)) {
            note(missing, a->path, "missing");
            ++a;
        } else if (a == recorded.entries.end() || b->path < a->path) {
            note(added, b->path, "new");
            ++b;
        } else {
            if (*a != *b)
                note(changed, a->path,
                     a->type != b->type ? "another type" : a->mode != b->mode ? "another mode" : "another content");
            ++a;
            ++b;
        }
    }
    if (changed + missing + added == 0) return std::nullopt;
    std::string counts;
    for (auto [count, what] : {std::pair{changed, "changed"}, {missing, "missing"}, {added, "new"}}) {
        if (count == 0) continue;
        counts += (counts.empty() ? "" : ", ") + std::to_string(count) + " " + what;
    }
    return counts + " (first: " + first + ")";
}

}  // namespace bincastle
