#pragma once

// Where sources come from: settings a program's main reads from its environment once
// (source_settings_from_environment) and hands to build(); below main, nothing reads
// a variable.

#include <bincastle/export.hpp>

#include <filesystem>
#include <string>

namespace bincastle {

struct SourceSettings {
    // Tried first for HttpArchive sources: a directory or an http(s) URL prefix
    // (BINCASTLE_MIRROR); empty: none.
    std::string archive_mirror;
    // The dpkg database HostPackages reads (BINCASTLE_DPKG_ADMINDIR).
    std::filesystem::path dpkg_admin_dir = "/var/lib/dpkg";
};

BINCASTLE_API SourceSettings source_settings_from_environment();

}  // namespace bincastle
