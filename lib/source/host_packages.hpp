#pragma once

// A HostPackages source: installed Debian packages of the host, with their dependency
// closure, read from dpkg's database (its status file and info/*.list).

#include <bincastle/key.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace bincastle {

struct HostPackage {
    std::string name;
    std::string architecture;
    std::string version;
    bool operator==(const HostPackage&) const = default;
};

// The installed packages named in `names` and everything they depend on (Depends and
// Pre-Depends; of alternatives, the first one installed; a virtual package, by the
// first installed package that provides it), sorted by name and architecture. A name
// that is not installed is an Error saying how to install it.
std::vector<HostPackage> host_package_closure(const std::vector<std::string>& names,
                                              const std::filesystem::path& admin_dir);

// The content key of such a closure: its names, architectures and versions.
Key host_packages_key(const std::vector<HostPackage>& closure);

// Copies the files of `closure` from the host's / into `destination` (a directory that
// is made): directories, files with their modes, symlinks as symlinks, including the
// symlinked directories the host's paths go through (/lib -> usr/lib on a merged-/usr
// host). Documentation, manuals and translations are left out; a listed path the host
// no longer has (diverted, or excluded by dpkg's path-exclude) is skipped.
void copy_host_packages(const std::vector<HostPackage>& closure, const std::filesystem::path& admin_dir,
                        const std::filesystem::path& destination);

}  // namespace bincastle
