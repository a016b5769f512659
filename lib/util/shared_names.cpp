#include "util/shared_names.hpp"

#include <cctype>

namespace bincastle::names {

std::string override_variable(const std::string& layer_name) {
    std::string name(override_prefix);
    for (char c : layer_name) name += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
    return name;
}

bool names_variable(std::string_view variable, std::string_view name) {
    return variable.starts_with(name) && (variable.size() == name.size() || variable[name.size()] == '=');
}

}  // namespace bincastle::names
