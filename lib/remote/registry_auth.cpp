#include "remote/registry_auth.hpp"

#include <boost/json.hpp>

#include <cctype>

namespace json = boost::json;

namespace bincastle::remote {

std::string Challenge::param(const std::string& name) const {
    for (const auto& [key, value] : params)
        if (key == name) return value;
    return {};
}

Challenge parse_challenge(const std::string& header) {
    Challenge challenge;
    std::size_t i = header.find(' ');
    challenge.scheme = header.substr(0, i);
    for (char& c : challenge.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (i != std::string::npos && i < header.size()) {
        while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
        std::size_t equals = header.find('=', i);
        if (equals == std::string::npos) break;
        std::string key = header.substr(i, equals - i);
        std::string value;
        i = equals + 1;
        if (i < header.size() && header[i] == '"') {
            ++i;
            while (i < header.size() && header[i] != '"') {
                if (header[i] == '\\' && i + 1 < header.size()) ++i;
                value += header[i++];
            }
            ++i;
        } else {
            std::size_t end = header.find(',', i);
            value = header.substr(i, end == std::string::npos ? std::string::npos : end - i);
            i = end;
        }
        challenge.params.emplace_back(key, value);
    }
    return challenge;
}

std::string parse_token_answer(const std::string& body) {
    try {
        json::value document = json::parse(body);
        for (const char* name : {"token", "access_token"}) {
            if (const auto* value = document.as_object().if_contains(name); value && value->is_string())
                return std::string(value->as_string());
        }
    } catch (const std::exception&) {
    }
    return {};
}

}  // namespace bincastle::remote
