#include "store/layer_contents.hpp"

#include "container/overlay_marks.hpp"
#include "container/owner_access.hpp"
#include "graph/key_encoder.hpp"
#include "util/file_hash.hpp"
#include "util/file_tree.hpp"
#include "util/parallel.hpp"
#include "util/tree_walk.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
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

// Everything but the files' contents: one fstatat per entry.
class ContentsVisitor : public TreeVisitor {
public:
    explicit ContentsVisitor(std::vector<LayerContents::Entry>& entries) : entries_(entries) {}

    // A directory is recorded from its open fd, where its opaque mark is read.
    void directory(const TreeDir& dir) override {
        if (dir.path.empty()) return;
        entries_.push_back({dir.path, 'd', static_cast<std::uint32_t>(dir.stat.st_mode & 07777),
                            container::is_opaque_dir(dir.fd) ? "opaque" : "-"});
    }

    bool entry(TreeEntry& found) override {
        const struct stat& st = found.stat();
        LayerContents::Entry entry{found.path(), type_of(st.st_mode),
                                   static_cast<std::uint32_t>(st.st_mode & 07777), "-"};
        if (entry.type == 'd') return true;
        if (entry.type == 'l') {
            entry.detail = hash_bytes(read_link_at(found.dir().fd, found.name(), found.shown())).hex();
        } else if (entry.type == 'f' && container::is_whiteout(found.dir().fd, found.name(), st, found.shown())) {
            entry.detail = "whiteout";
        } else if (entry.type == 'c' || entry.type == 'b') {
            entry.detail = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
        }
        entries_.push_back(std::move(entry));
        return false;
    }

private:
    std::vector<LayerContents::Entry>& entries_;
};

LayerContents read_tree(const std::string& root) {
    UniqueFd top(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!top) throw SysError("opendir", root);
    LayerContents contents;
    auto& entries = contents.entries;
    ContentsVisitor visitor(entries);
    walk_tree(top.get(), root, visitor);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    std::vector<LayerContents::Entry*> files;
    for (auto& entry : entries)
        if (entry.type == 'f' && entry.detail == "-") files.push_back(&entry);
    parallel_for(files.size(), std::max(1u, std::thread::hardware_concurrency()), [&](std::size_t i) {
        files[i]->detail = hash_file_under(top.get(), files[i]->path, root + "/" + files[i]->path).content.hex();
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
