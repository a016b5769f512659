#include "source/host_packages.hpp"

#include "graph/key_encoder.hpp"
#include "util/file_io.hpp"
#include "util/shared_names.hpp"

#include <bincastle/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

// What the copy leaves out: nothing a build reads. Part of the key's policy version.
const std::vector<std::string> left_out = {"/usr/share/doc", "/usr/share/doc-base", "/usr/share/man",
                                           "/usr/share/info", "/usr/share/locale", "/usr/share/lintian",
                                           "/usr/share/bug"};
constexpr std::string_view copy_policy = "1";

struct Installed {
    HostPackage package;
    std::string depends;  // Pre-Depends, then Depends, as dpkg wrote them
    std::vector<std::string> provides;
};

std::string trim(std::string_view text) {
    auto begin = text.find_first_not_of(" \t\n");
    if (begin == std::string_view::npos) return {};
    auto end = text.find_last_not_of(" \t\n");
    return std::string(text.substr(begin, end - begin + 1));
}

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream stream(text);
    while (std::getline(stream, part, separator)) parts.push_back(trim(part));
    return parts;
}

// "name:arch (>= 1.0) [amd64] <!nocheck>" -> name and the qualifier after ':' (or "").
std::pair<std::string, std::string> relation_name(const std::string& relation) {
    std::string name = relation.substr(0, relation.find_first_of(" (["));
    auto colon = name.find(':');
    if (colon == std::string::npos) return {name, ""};
    return {name.substr(0, colon), name.substr(colon + 1)};
}

// The installed packages of dpkg's status file.
std::vector<Installed> read_status(const fs::path& admin_dir) {
    const fs::path status_file = admin_dir / "status";
    std::ifstream in(status_file);
    if (!in) throw SysError("open", status_file.string(), "HostPackages needs dpkg's database (a Debian host)");
    std::vector<Installed> installed;
    std::map<std::string, std::string> fields;
    std::string last_field;
    auto finish = [&] {
        if (fields.count("Package") && fields["Status"].ends_with(" installed")) {
            Installed package;
            package.package = {fields["Package"], fields["Architecture"], fields["Version"]};
            package.depends = fields["Pre-Depends"];
            if (!fields["Depends"].empty())
                package.depends += (package.depends.empty() ? "" : ", ") + fields["Depends"];
            for (const auto& provided : split(fields["Provides"], ','))
                if (!provided.empty()) package.provides.push_back(relation_name(provided).first);
            installed.push_back(std::move(package));
        }
        fields.clear();
        last_field.clear();
    };
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) {
            finish();
        } else if (line[0] == ' ' || line[0] == '\t') {
            if (!last_field.empty()) fields[last_field] += "\n" + line;
        } else if (auto colon = line.find(':'); colon != std::string::npos) {
            last_field = line.substr(0, colon);
            fields[last_field] = trim(std::string_view(line).substr(colon + 1));
        }
    }
    finish();
    return installed;
}

class Resolver {
public:
    explicit Resolver(std::vector<Installed> installed) : installed_(std::move(installed)) {
        for (std::size_t i = 0; i < installed_.size(); ++i) {
            by_name_[installed_[i].package.name].push_back(i);
            for (const auto& name : installed_[i].provides) providers_[name].push_back(i);
        }
        for (auto& [name, providers] : providers_)
            std::sort(providers.begin(), providers.end(),
                      [&](std::size_t a, std::size_t b) { return installed_[a].package.name < installed_[b].package.name; });
        // The native architecture is dpkg's own.
        if (auto it = by_name_.find("dpkg"); it != by_name_.end()) native_ = installed_[it->second[0]].package.architecture;
    }

    // The installed package a relation names, for a dependent of architecture `arch`.
    std::optional<std::size_t> find(const std::string& relation, const std::string& arch) const {
        auto [name, qualifier] = relation_name(relation);
        std::string wanted = qualifier.empty() || qualifier == "any" ? arch : qualifier;
        if (auto it = by_name_.find(name); it != by_name_.end()) return best(it->second, wanted);
        if (auto it = providers_.find(name); it != providers_.end()) return best(it->second, wanted);
        return std::nullopt;
    }

    std::vector<std::size_t> closure(const std::vector<std::string>& names) const {
        std::set<std::size_t> seen;
        std::vector<std::size_t> pending;
        for (const auto& name : names) {
            auto found = find(name, native_);
            if (!found)
                throw Error("HostPackages: " + name + " is not installed on this host",
                            "install it (apt-get install " + relation_name(name).first + ")");
            pending.push_back(*found);
        }
        while (!pending.empty()) {
            std::size_t index = pending.back();
            pending.pop_back();
            if (!seen.insert(index).second) continue;
            const Installed& package = installed_[index];
            for (const auto& relation : split(package.depends, ',')) {
                if (relation.empty()) continue;
                for (const auto& alternative : split(relation, '|')) {
                    if (auto found = find(alternative, package.package.architecture)) {
                        pending.push_back(*found);
                        break;
                    }
                }
            }
        }
        return {seen.begin(), seen.end()};
    }

    const Installed& at(std::size_t index) const { return installed_[index]; }

private:
    std::size_t best(const std::vector<std::size_t>& candidates, const std::string& arch) const {
        for (const std::string& preferred : {arch, std::string("all"), native_})
            for (std::size_t i : candidates)
                if (installed_[i].package.architecture == preferred) return i;
        return candidates.front();
    }

    std::vector<Installed> installed_;
    std::map<std::string, std::vector<std::size_t>> by_name_;
    std::map<std::string, std::vector<std::size_t>> providers_;
    std::string native_ = "amd64";
};

bool is_left_out(const std::string& path) {
    for (const auto& prefix : left_out)
        if (path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/')) return true;
    return false;
}

fs::path list_file(const fs::path& admin_dir, const HostPackage& package) {
    fs::path qualified = admin_dir / "info" / (package.name + ":" + package.architecture + ".list");
    std::error_code error;
    if (fs::exists(qualified, error)) return qualified;
    return admin_dir / "info" / (package.name + ".list");
}

// Copies host paths into a destination tree, replicating the symlinks they go through.
class Copier {
public:
    explicit Copier(fs::path destination) : destination_(std::move(destination)) {}

    void copy(const std::string& path) {
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) return;  // diverted, or excluded by dpkg
            throw SysError("lstat", path);
        }
        fs::path host(path);
        fs::path parent = directory(host.parent_path());
        fs::path target = destination_ / parent.relative_path() / host.filename();
        if (S_ISDIR(st.st_mode)) {
            directory(host);
        } else if (S_ISLNK(st.st_mode)) {
            link(host, target);
        } else if (S_ISREG(st.st_mode)) {
            std::error_code error;
            if (fs::exists(fs::symlink_status(target, error))) return;  // listed twice (a diversion)
            fs::copy_file(host, target, error);
            if (error) throw SysError(error.value(), "copy", path + " -> " + target.string());
            fs::permissions(target, static_cast<fs::perms>(st.st_mode & 07777), fs::perm_options::replace, error);
            if (error) throw SysError(error.value(), "chmod", target.string());
        }
    }

private:
    // Makes the host directory `dir` in the destination, with every symlink on the way
    // replicated; returns its canonical host path.
    fs::path directory(const fs::path& dir) {
        if (auto it = made_.find(dir.string()); it != made_.end()) return it->second;
        fs::path canonical;
        if (dir == dir.root_path()) {
            canonical = dir;
        } else {
            fs::path parent = directory(dir.parent_path());
            fs::path here = parent / dir.filename();
            struct stat st;
            if (::lstat(here.c_str(), &st) != 0) throw SysError("lstat", here.string());
            if (S_ISLNK(st.st_mode)) {
                link(here, destination_ / here.relative_path());
                std::error_code error;
                canonical = fs::canonical(here, error);
                if (error) throw SysError(error.value(), "realpath", here.string());
                directory(canonical);
            } else {
                canonical = here;
                fs::path made = destination_ / here.relative_path();
                std::error_code error;
                if (!fs::is_directory(made, error)) {
                    fs::create_directory(made, error);
                    if (error) throw SysError(error.value(), "mkdir", made.string());
                    // Writable by its owner while the copy fills it.
                    fs::permissions(made, static_cast<fs::perms>((st.st_mode & 07777) | S_IWUSR),
                                    fs::perm_options::replace, error);
                }
            }
        }
        made_[dir.string()] = canonical;
        return canonical;
    }

    static void link(const fs::path& host, const fs::path& target) {
        std::error_code error;
        if (fs::exists(fs::symlink_status(target, error))) return;
        fs::path to = fs::read_symlink(host, error);
        if (error) throw SysError(error.value(), "readlink", host.string());
        fs::create_symlink(to, target, error);
        if (error) throw SysError(error.value(), "symlink", target.string());
    }

    fs::path destination_;
    std::map<std::string, fs::path> made_;
};

}  // namespace

std::vector<HostPackage> host_package_closure(const std::vector<std::string>& names, const fs::path& admin_dir) {
    Resolver resolver(read_status(admin_dir));
    std::vector<HostPackage> closure;
    for (std::size_t index : resolver.closure(names)) closure.push_back(resolver.at(index).package);
    std::sort(closure.begin(), closure.end(), [](const HostPackage& a, const HostPackage& b) {
        return std::tie(a.name, a.architecture) < std::tie(b.name, b.architecture);
    });
    return closure;
}

Key host_packages_key(const std::vector<HostPackage>& closure) {
    std::vector<std::string> packages;
    for (const auto& package : closure)
        packages.push_back(package.name + ":" + package.architecture + "=" + package.version);
    return KeyEncoder("host-packages").field('v', copy_policy).field('p', packages).finish();
}

void copy_host_packages(const std::vector<HostPackage>& closure, const fs::path& admin_dir,
                        const fs::path& destination) {
    std::error_code error;
    fs::create_directories(destination, error);
    if (error) throw SysError(error.value(), "mkdir", destination.string());
    Copier copier(destination);
    for (const auto& package : closure) {
        fs::path list = list_file(admin_dir, package);
        std::ifstream in(list);
        if (!in) throw SysError("open", list.string(), "dpkg's file list of " + package.name + " is missing");
        std::string path;
        while (std::getline(in, path)) {
            if (path.empty() || path == "/." || path[0] != '/' || is_left_out(path)) continue;
            copier.copy(path);
        }
    }
}

}  // namespace bincastle
