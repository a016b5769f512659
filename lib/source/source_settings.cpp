#include <bincastle/source_settings.hpp>

#include "util/shared_names.hpp"

#include <cstdlib>

namespace bincastle {

SourceSettings source_settings_from_environment() {
    SourceSettings settings;
    if (const char* mirror = std::getenv(names::mirror_variable)) settings.archive_mirror = mirror;
    if (const char* dir = std::getenv(names::dpkg_admin_variable); dir && *dir) settings.dpkg_admin_dir = dir;
    return settings;
}

}  // namespace bincastle
