#pragma once

// What a registry says about authentication, as the distribution spec has it: the
// WWW-Authenticate challenge of a 401, and the JSON answer of its token service. Both
// come from the network: parsing them never trusts a length, a quote or a type.

#include <string>
#include <utility>
#include <vector>

namespace bincastle::remote {

// Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"
struct Challenge {
    std::string scheme;  // lower case
    std::vector<std::pair<std::string, std::string>> params;
    // The first parameter named `name`, or empty.
    std::string param(const std::string& name) const;
};

// Parses a WWW-Authenticate header; what is not understood is left out. Never throws.
Challenge parse_challenge(const std::string& header);

// The token of a token service's answer ("token", else "access_token"); empty when the
// answer is not a JSON object or holds no token as a string.
std::string parse_token_answer(const std::string& body);

}  // namespace bincastle::remote
