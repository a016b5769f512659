#pragma once

// What every request bincastle sends does with a redirect: follow at most
// max_redirects, and never from https to http (a registry's blob may live on a CDN,
// a source on a mirror, but never in the clear after TLS).

#include <string>

namespace bincastle {

inline constexpr int max_redirects = 5;

// 301, 302, 303, 307 or 308.
bool is_redirect(unsigned status);

// Whether a redirect from `from` to `to` may be followed: never from https to http.
bool may_follow_redirect(const std::string& from, const std::string& to);

}  // namespace bincastle
