#include "http/http_get.hpp"

#include "http/http_connection.hpp"
#include "http/redirects.hpp"
#include "util/url.hpp"

#include <bincastle/error.hpp>

namespace bincastle {

void http_get(const std::string& url, const HttpBodySink& sink, const HttpOptions& options) {
    HttpConnection connection(options.timeout);
    std::string current = url;
    for (int redirects = 0;; ++redirects) {
        HttpRequest request;
        request.url = current;
        request.headers = {{"Accept", "*/*"}};
        request.sink = [&](std::string_view piece) { sink(piece); };
        const HttpResponse response = connection.send(request);
        if (is_redirect(response.status)) {
            const std::string location = response.header("location");
            if (location.empty())
                throw Error("GET " + current + ": HTTP " + std::to_string(response.status) + " without a Location");
            if (redirects == max_redirects)
                throw Error("GET " + url + ": more than " + std::to_string(max_redirects) + " redirects");
            const std::string next = resolve_location(current, location);
            if (!may_follow_redirect(current, next))
                throw Error("GET " + current + ": refusing a redirect from https to " + next);
            current = next;
            continue;
        }
        if (response.status != 200)
            throw Error("GET " + current + ": HTTP " + std::to_string(response.status) + " " + response.reason);
        return;
    }
}

}  // namespace bincastle
