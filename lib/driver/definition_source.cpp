#include "driver/definition_source.hpp"

#include "graph/key_encoder.hpp"
#include "source/git_source.hpp"
#include "util/file_tree.hpp"

#include <bincastle/error.hpp>

#include <cctype>
#include <sys/stat.h>

namespace fs = std::filesystem;

namespace bincastle::driver {

namespace {

bool is_dir(const fs::path& path) {
    std::error_code error;
    return fs::is_directory(path, error);
}

bool is_bare_repository(const fs::path& dir) {
    std::error_code error;
    return fs::is_regular_file(dir / "HEAD", error) && is_dir(dir / "objects") && is_dir(dir / "refs");
}

bool is_work_tree(const fs::path& dir) {
    std::error_code error;
    return fs::exists(dir / ".git", error);
}

std::string checked_subdir(const std::string& subdir) {
    fs::path path = fs::path(subdir).lexically_normal();
    if (path.is_absolute() || (!path.empty() && *path.begin() == ".."))
        throw Error("SUBDIR " + subdir + " leaves the source", "give a directory relative to the source's root");
    std::string text = path.string();
    if (text == "." || text == "./") return {};
    while (!text.empty() && text.back() == '/') text.pop_back();
    return text;
}

void check_definition(const DefinitionSource& source) {
    fs::path dir = source.definition_dir();
    std::string shown = source.origin + (source.ref ? " " + *source.ref : "");
    if (!is_dir(dir)) throw Error("no directory " + source.subdir + " in " + shown, "check SUBDIR");
    std::error_code error;
    if (!fs::is_regular_file(dir / "main.cpp", error))
        throw Error("no main.cpp in " + (source.subdir.empty() ? shown : shown + " " + source.subdir),
                    "a definition is a directory with a main.cpp that calls bincastle::main");
}

// Writes the commit's tree out once: concurrent drivers each write a private copy
// and the first rename wins.
fs::path checkout(const fs::path& store_root, const std::string& url, const std::string& commit) {
    fs::path final_dir = store_root / "definitions" / "src" / commit;
    if (is_dir(final_dir)) return final_dir;
    fs::create_directories(final_dir.parent_path());
    // Held while written: the next checkout of the commit removes what a killed one left.
    TempDir partial(commit + ".partial", final_dir.parent_path());
    if (::chmod(partial.path().c_str(), 0755) != 0) throw SysError("chmod", partial.path().string());
    export_git_tree(store_root, url, commit, partial.path());
    // False when another driver wrote it first: then ours goes with `partial`.
    partial.rename_to(final_dir);
    return final_dir;
}

DefinitionSource git_source(const fs::path& store_root, std::string url, const std::string& ref,
                            const std::string& subdir) {
    DefinitionSource source;
    source.origin = url;
    source.ref = ref;
    source.subdir = checked_subdir(subdir);
    source.commit = resolve_git_commit(store_root, url, ref);
    source.root = checkout(store_root, url, source.commit);
    return source;
}

}  // namespace

bool is_url(const std::string& source) {
    if (source.find("://") != std::string::npos) return true;
    // scp-like: [user@]host:path, with no slash before the colon.
    auto colon = source.find(':');
    return colon != std::string::npos && colon > 0 && source.find('/') > colon;
}

std::string DefinitionSource::default_system_name(const std::string& parent) const {
    std::string base = fs::path(origin).lexically_normal().filename().string();
    if (base.empty()) base = fs::path(origin).lexically_normal().parent_path().filename().string();
    if (base.size() > 4 && base.ends_with(".git")) base.resize(base.size() - 4);
    std::string name = base;
    if (!subdir.empty()) name += "-" + fs::path(subdir).filename().string();
    std::string sanitized;
    for (char c : name) sanitized += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
    std::string identity = parent + '\0' + origin + '\0' + subdir;
    return sanitized + "-" + hash_bytes(identity).hex().substr(0, 8);
}

DefinitionSource resolve_definition_source(const std::vector<std::string>& positionals, const fs::path& store_root,
                                           const fs::path& cwd) {
    if (positionals.empty()) throw Error("no SOURCE given", "usage: bincastle run DIR [SUBDIR] or GIT-URL REF [SUBDIR]");
    if (positionals.size() > 3) throw Error("unexpected argument " + positionals[3], "see --help");
    const std::string& origin = positionals[0];
    auto arg = [&](std::size_t i) { return i < positionals.size() ? positionals[i] : std::string(); };

    if (is_url(origin)) {
        if (positionals.size() < 2) throw Error("a git URL needs a REF: " + origin, "give a branch, tag or commit");
        DefinitionSource source = git_source(store_root, origin, positionals[1], arg(2));
        check_definition(source);
        return source;
    }
    fs::path dir = (cwd / origin).lexically_normal();
    if (dir.has_relative_path() && dir.filename().empty()) dir = dir.parent_path();
    if (!is_dir(dir)) throw Error("no such directory: " + origin, "give a directory with main.cpp or a git URL and REF");
    if (is_bare_repository(dir) || (is_work_tree(dir) && positionals.size() >= 2 && !is_dir(dir / positionals[1]))) {
        if (positionals.size() < 2) throw Error("a git repository needs a REF: " + origin, "give a branch, tag or commit");
        DefinitionSource source = git_source(store_root, dir.string(), positionals[1], arg(2));
        check_definition(source);
        return source;
    }
    if (positionals.size() > 2) throw Error("unexpected argument " + positionals[2] + " after DIR SUBDIR", "see --help");
    DefinitionSource source;
    // Not canonical(): through a nested run's /proc/PID/root it would leave the system.
    source.origin = dir.string();
    source.root = dir;
    source.subdir = checked_subdir(arg(1));
    check_definition(source);
    return source;
}

}  // namespace bincastle::driver
