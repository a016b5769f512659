#include "source/git_source.hpp"

#include "graph/key_encoder.hpp"
#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <git2.h>

#include <cerrno>
#include <fcntl.h>
#include <optional>
#include <string_view>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// Owns one libgit2 object; frees it when dropped.
template <typename T, void (*Free)(T*)>
class GitHandle {
public:
    GitHandle() noexcept = default;
    GitHandle(GitHandle&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
    GitHandle& operator=(GitHandle&& other) noexcept {
        if (this != &other) {
            if (ptr_) Free(ptr_);
            ptr_ = std::exchange(other.ptr_, nullptr);
        }
        return *this;
    }
    GitHandle(const GitHandle&) = delete;
    GitHandle& operator=(const GitHandle&) = delete;
    ~GitHandle() {
        if (ptr_) Free(ptr_);
    }

    T* get() const noexcept { return ptr_; }
    // For libgit2's out-parameters; only on an empty handle.
    T** out() noexcept { return &ptr_; }

private:
    T* ptr_ = nullptr;
};

using Repository = GitHandle<git_repository, git_repository_free>;
using Remote = GitHandle<git_remote, git_remote_free>;
using Object = GitHandle<git_object, git_object_free>;
using Reference = GitHandle<git_reference, git_reference_free>;
using Commit = GitHandle<git_commit, git_commit_free>;
using Tree = GitHandle<git_tree, git_tree_free>;
using Blob = GitHandle<git_blob, git_blob_free>;
using Config = GitHandle<git_config, git_config_free>;

// "operation(subject): libgit2's message", as SysError words a failed system call.
[[noreturn]] void throw_git_error(std::string_view operation, std::string_view subject, std::string hint = {}) {
    const git_error* last = git_error_last();
    std::string message(operation);
    message += '(';
    message += subject;
    message += "): ";
    message += last && last->message ? last->message : "unknown libgit2 error";
    throw Error(std::move(message), std::move(hint));
}

void check(int result, std::string_view operation, std::string_view subject, std::string hint = {}) {
    if (result < 0) throw_git_error(operation, subject, std::move(hint));
}

void init_libgit2() {
    // A function-local static: initialized once, and thread-safely, by the language.
    static const int result = git_libgit2_init();
    if (result < 0) throw_git_error("git_libgit2_init", "");
}

std::string hex(const git_oid& id) {
    char buffer[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buffer, sizeof buffer, &id);
    return buffer;
}

bool is_hex(std::string_view text) {
    return text.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

bool is_full_commit_id(std::string_view ref) { return ref.size() == GIT_OID_HEXSZ && is_hex(ref); }

// A local path becomes absolute, so that the same repository has one cache whatever
// the working directory. "host:path" (scp-like ssh) and "scheme://..." are left alone.
std::string canonical_url(const std::string& url) {
    const bool has_scheme = url.find("://") != std::string::npos;
    const auto colon = url.find(':');
    const bool scp_like = colon != std::string::npos && url.find('/') > colon;
    if (has_scheme || scp_like) return url;
    return fs::absolute(url).lexically_normal().string();
}

fs::path cache_dir(const fs::path& store_root, const std::string& url) {
    return store_root / "git" / hash_bytes(url).hex();
}

// Held while the cache of one URL is created or fetched into; released when dropped.
UniqueFd lock_cache(const fs::path& cache) {
    std::error_code error;
    fs::create_directories(cache.parent_path(), error);
    if (error) throw SysError(error.value(), "mkdir", cache.parent_path().string());
    const std::string path = cache.string() + ".lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open", path);
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) throw SysError("flock", path);
    }
    return fd;
}

Repository open_cache(const fs::path& cache) {
    Repository repo;
    check(git_repository_open_bare(repo.out(), cache.c_str()), "git_repository_open_bare", cache.string(),
          "remove the damaged cache directory; the next run clones again");
    return repo;
}

// Only the ssh agent: bincastle runs unattended and never asks for a password.
int agent_credentials(git_credential** out, const char*, const char* username_from_url, unsigned int allowed,
                      void* payload) {
    auto* tried = static_cast<bool*>(payload);
    if (!(allowed & GIT_CREDENTIAL_SSH_KEY) || *tried) return GIT_PASSTHROUGH;
    *tried = true;
    return git_credential_ssh_key_from_agent(out, username_from_url ? username_from_url : "git");
}

// Mirrors the remote's branches and tags, dropping the ones it no longer has.
void fetch(git_repository* repo, const std::string& url) {
    Remote remote;
    check(git_remote_create_anonymous(remote.out(), repo, url.c_str()), "git_remote_create_anonymous", url,
          "a git URL is https://, ssh://, host:path, file:// or a local path");
    char heads[] = "+refs/heads/*:refs/heads/*";
    char tags[] = "+refs/tags/*:refs/tags/*";
    char* specs[] = {heads, tags};
    const git_strarray refspecs{specs, 2};
    bool tried_agent = false;
    git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
    options.prune = GIT_FETCH_PRUNE;
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;  // the refspec above takes them all
    options.callbacks.credentials = agent_credentials;
    options.callbacks.payload = &tried_agent;
    check(git_remote_fetch(remote.get(), &refspecs, &options, nullptr), "git fetch", url,
          "check that the URL names a git repository reachable from here");
}

// Under the cache's lock. A new cache is filled beside its final name and renamed
// into place after its first fetch: a crash or a bad URL leaves no cache behind.
void create_cache(const fs::path& cache, const std::string& url) {
    const fs::path fresh = cache.string() + ".new";
    remove_tree(fresh);
    try {
        // No template directory: hooks and samples are of no use to a cache.
        git_repository_init_options options = GIT_REPOSITORY_INIT_OPTIONS_INIT;
        options.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
        Repository repo;
        check(git_repository_init_ext(repo.out(), fresh.c_str(), &options), "git_repository_init", fresh.string());
        fetch(repo.get(), url);
    } catch (const Error&) {
        try {
            remove_tree(fresh);
        } catch (const Error&) {
            // The next creation of this cache clears it.
        }
        throw;
    }
    std::error_code error;
    fs::rename(fresh, cache, error);
    if (error) throw SysError(error.value(), "rename", fresh.string());
}

// The commit that `object` is or points to (an annotated tag), or nullopt.
std::optional<std::string> peel_to_commit(git_object* object) {
    Object commit;
    if (git_object_peel(commit.out(), object, GIT_OBJECT_COMMIT) < 0) return std::nullopt;
    return hex(*git_object_id(commit.get()));
}

// As git does: a branch, then a tag, then a full ref name, then a commit id or prefix.
std::optional<std::string> find_commit(git_repository* repo, const std::string& ref, const std::string& url) {
    for (const std::string& name : {"refs/heads/" + ref, "refs/tags/" + ref, ref}) {
        // Not the cache's own HEAD or other top-level names: they say nothing of the remote.
        if (name.rfind("refs/", 0) != 0) continue;
        Reference reference;
        const int result = git_reference_lookup(reference.out(), repo, name.c_str());
        if (result == GIT_ENOTFOUND || result == GIT_EINVALIDSPEC) continue;
        check(result, "git_reference_lookup", name);
        Object target;
        check(git_reference_peel(target.out(), reference.get(), GIT_OBJECT_ANY), "git_reference_peel", name);
        if (auto commit = peel_to_commit(target.get())) return commit;
        throw Error("ref '" + ref + "' in " + url + " is not a commit");
    }
    // git's shortest abbreviation is 4 digits.
    if (ref.size() < 4 || ref.size() > GIT_OID_HEXSZ || !is_hex(ref)) return std::nullopt;
    git_oid prefix;
    check(git_oid_fromstrn(&prefix, ref.data(), ref.size()), "git_oid_fromstrn", ref);
    Object object;
    const int result = git_object_lookup_prefix(object.out(), repo, &prefix, ref.size(), GIT_OBJECT_ANY);
    if (result == GIT_ENOTFOUND) return std::nullopt;
    if (result == GIT_EAMBIGUOUS)
        throw Error("commit id '" + ref + "' is ambiguous in " + url, "give more digits of the commit id");
    check(result, "git_object_lookup_prefix", ref);
    return peel_to_commit(object.get());
}

// ../other.git in .gitmodules is relative to the superproject's URL.
std::string submodule_url(const std::string& super_url, std::string url) {
    if (url.rfind("./", 0) != 0 && url.rfind("../", 0) != 0) return url;
    std::string base = super_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    for (;;) {
        if (url.rfind("./", 0) == 0) {
            url.erase(0, 2);
        } else if (url.rfind("../", 0) == 0) {
            url.erase(0, 3);
            const auto slash = base.find_last_of("/:");
            if (slash == std::string::npos) throw Error("submodule URL ../" + url + " climbs above " + super_url);
            base.erase(slash);
        } else {
            break;
        }
    }
    return base + "/" + url;
}

// The URL that .gitmodules (as committed in `tree`) gives the submodule at `path`.
std::string find_submodule_url(git_repository* repo, git_tree* tree, const std::string& path,
                               const std::string& super_url) {
    const git_tree_entry* entry = git_tree_entry_byname(tree, ".gitmodules");
    if (!entry) throw Error("submodule " + path + " of " + super_url + " has no .gitmodules entry");
    Blob blob;
    check(git_blob_lookup(blob.out(), repo, git_tree_entry_id(entry)), "git_blob_lookup", ".gitmodules");
    // libgit2 1.5 parses config only from files, so .gitmodules goes through one.
    TempDir scratch("bincastle-gitmodules");
    const fs::path file = scratch.path() / "gitmodules";
    {
        UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) throw SysError("open", file.string());
        const auto size = static_cast<ssize_t>(git_blob_rawsize(blob.get()));
        if (::write(fd.get(), git_blob_rawcontent(blob.get()), static_cast<size_t>(size)) != size)
            throw SysError("write", file.string());
    }
    Config config;
    check(git_config_open_ondisk(config.out(), file.c_str()), "git_config_open_ondisk", ".gitmodules");

    struct Search {
        const std::string& path;
        std::string name;
    } search{path, {}};
    auto match = [](const git_config_entry* item, void* payload) -> int {
        auto* search = static_cast<Search*>(payload);
        if (search->path != item->value) return 0;
        std::string_view key = item->name;  // submodule.<name>.path
        key.remove_prefix(std::string_view("submodule.").size());
        key.remove_suffix(std::string_view(".path").size());
        search->name = key;
        return 1;
    };
    const int found = git_config_foreach_match(config.get(), R"(^submodule\..*\.path$)", match, &search);
    if (found < 0 && found != 1) throw_git_error("git_config_foreach_match", ".gitmodules");
    if (search.name.empty()) throw Error("submodule " + path + " of " + super_url + " is not in .gitmodules");

    git_buf url = GIT_BUF_INIT;
    const std::string key = "submodule." + search.name + ".url";
    check(git_config_get_string_buf(&url, config.get(), key.c_str()), "git_config_get_string_buf",
          ".gitmodules " + key);
    std::string result(url.ptr, url.size);
    git_buf_dispose(&url);
    return submodule_url(super_url, result);
}

// One commit being written out: its repository, its root tree (where .gitmodules is),
// and the directory it goes to, for messages.
struct Export {
    const fs::path& store_root;
    const std::string& url;
    git_repository* repo;
    git_tree* root;
    const std::string& destination;

    std::string shown(const std::string& path) const { return destination + "/" + path; }
};

void write_commit(const fs::path& store_root, const std::string& url, const std::string& commit, int dir,
                  const std::string& destination);

UniqueFd make_directory(int parent, const char* name, const std::string& shown) {
    if (::mkdirat(parent, name, 0755) != 0) throw SysError("mkdir", shown);
    UniqueFd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw SysError("open", shown);
    if (::fchmod(fd.get(), 0755) != 0) throw SysError("fchmod", shown);
    return fd;
}

Blob find_blob(const Export& out, const git_oid& id, const std::string& path) {
    Blob blob;
    check(git_blob_lookup(blob.out(), out.repo, &id), "git_blob_lookup", path + " in " + out.url);
    return blob;
}

void write_file(const Export& out, const git_oid& id, int dir, const char* name, mode_t mode,
                const std::string& path) {
    const Blob blob = find_blob(out, id, path);
    const char* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
    auto left = static_cast<size_t>(git_blob_rawsize(blob.get()));
    const std::string shown = out.shown(path);
    UniqueFd fd(::openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) throw SysError("open", shown);
    while (left > 0) {
        const ssize_t n = ::write(fd.get(), data, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("write", shown);
        data += n;
        left -= static_cast<size_t>(n);
    }
    // Exactly git's two modes, whatever the umask.
    if (::fchmod(fd.get(), mode) != 0) throw SysError("fchmod", shown);
}

// Everything is created relative to directory fds, with O_EXCL and O_NOFOLLOW, so a
// hostile tree (a symlink named like a later directory) cannot make us write outside.
void write_tree(const Export& out, git_tree* tree, int dir, const std::string& path) {
    const size_t count = git_tree_entrycount(tree);
    for (size_t i = 0; i < count; ++i) {
        const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
        const char* name = git_tree_entry_name(entry);
        const std::string_view name_view = name;
        const std::string entry_path = path.empty() ? std::string(name_view) : path + "/" + std::string(name_view);
        if (name_view.empty() || name_view == "." || name_view == ".." || name_view == ".git" ||
            name_view.find('/') != std::string_view::npos)
            throw Error("a commit of " + out.url + " has an unsafe path: " + entry_path);
        const git_oid& id = *git_tree_entry_id(entry);
        switch (git_tree_entry_filemode(entry)) {
        case GIT_FILEMODE_BLOB: write_file(out, id, dir, name, 0644, entry_path); break;
        case GIT_FILEMODE_BLOB_EXECUTABLE: write_file(out, id, dir, name, 0755, entry_path); break;
        case GIT_FILEMODE_LINK: {
            const Blob blob = find_blob(out, id, entry_path);
            const std::string target(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                                     static_cast<size_t>(git_blob_rawsize(blob.get())));
            if (::symlinkat(target.c_str(), dir, name) != 0) throw SysError("symlink", out.shown(entry_path));
            break;
        }
        case GIT_FILEMODE_TREE: {
            Tree subtree;
            check(git_tree_lookup(subtree.out(), out.repo, &id), "git_tree_lookup", entry_path + " in " + out.url);
            UniqueFd sub = make_directory(dir, name, out.shown(entry_path));
            write_tree(out, subtree.get(), sub.get(), entry_path);
            break;
        }
        case GIT_FILEMODE_COMMIT: {
            UniqueFd sub = make_directory(dir, name, out.shown(entry_path));
            try {
                const std::string url = find_submodule_url(out.repo, out.root, entry_path, out.url);
                const std::string commit = resolve_git_commit(out.store_root, url, hex(id));
                write_commit(out.store_root, canonical_url(url), commit, sub.get(), out.shown(entry_path));
            } catch (const Error& error) {
                throw error.with_context("submodule " + entry_path + " of " + out.url);
            }
            break;
        }
        default: throw Error("a commit of " + out.url + " has an entry of unknown type: " + entry_path);
        }
    }
}

void write_commit(const fs::path& store_root, const std::string& url, const std::string& commit, int dir,
                  const std::string& destination) {
    if (!is_full_commit_id(commit))
        throw Error("'" + commit + "' is not a full commit id", "resolve the ref with resolve_git_commit first");
    const fs::path cache = cache_dir(store_root, url);
    std::error_code error;
    if (!fs::exists(cache, error))
        throw Error("no cached clone of " + url + " in " + store_root.string(),
                    "resolve the ref with resolve_git_commit first");
    Repository repo = open_cache(cache);
    git_oid id;
    check(git_oid_fromstr(&id, commit.c_str()), "git_oid_fromstr", commit);
    Commit object;
    check(git_commit_lookup(object.out(), repo.get(), &id), "git_commit_lookup", commit + " in " + url);
    Tree tree;
    check(git_commit_tree(tree.out(), object.get()), "git_commit_tree", commit + " in " + url);
    const Export out{store_root, url, repo.get(), tree.get(), destination};
    write_tree(out, tree.get(), dir, {});
}

}  // namespace

std::string resolve_git_commit(const fs::path& store_root, const std::string& url, const std::string& ref) {
    init_libgit2();
    const std::string location = canonical_url(url);
    const fs::path cache = cache_dir(store_root, location);
    UniqueFd lock = lock_cache(cache);
    std::error_code error;
    if (!fs::exists(cache, error)) {
        create_cache(cache, location);
    } else {
        Repository repo = open_cache(cache);
        // A commit id names the same tree forever: when the cache has it, the network is not asked.
        if (is_full_commit_id(ref)) {
            if (auto commit = find_commit(repo.get(), ref, url)) return *commit;
        }
        fetch(repo.get(), location);
    }
    Repository repo = open_cache(cache);
    if (auto commit = find_commit(repo.get(), ref, url)) return *commit;
    throw Error("ref '" + ref + "' not found in " + url, "name a branch, a tag or a commit id of that repository");
}

void export_git_tree(const fs::path& store_root, const std::string& url, const std::string& commit,
                     const fs::path& destination) {
    init_libgit2();
    // No lock: a fetch only adds objects (pruning drops refs, not objects), so it cannot
    // change a commit's tree under us.
    UniqueFd dir(::open(destination.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) throw SysError("open", destination.string());
    write_commit(store_root, canonical_url(url), commit, dir.get(), destination.string());
}

}  // namespace bincastle
