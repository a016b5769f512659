#include "util/shared_names.hpp"

#include <cctype>

namespace bincastle::names {

std::string override_variable(const std::string& layer_name) {
    std::string name(override_prefix);
    for (char c : layer_name) name += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
    return name;
}

}  // namespace bincastle::names
