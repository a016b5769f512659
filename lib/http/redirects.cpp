#include "http/redirects.hpp"

#include "util/url.hpp"

namespace bincastle {

bool is_redirect(unsigned status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool may_follow_redirect(const std::string& from, const std::string& to) {
    return !Url::parse(from).tls || Url::parse(to).tls;
}

}  // namespace bincastle
