#include <bincastle/error.hpp>

#include <cerrno>
#include <cstring>

namespace bincastle {

Error::Error(std::string message, std::string hint)
    : std::runtime_error(std::move(message)), hint_(std::move(hint)) {}

Error Error::with_context(std::string_view context) const {
    std::string message(context);
    message += ": ";
    message += what();
    Error error(std::move(message), hint_);
    error.errno_ = errno_;
    return error;
}

namespace {

std::string describe(int error_number, std::string_view operation, std::string_view path) {
    std::string message(operation);
    if (!path.empty()) {
        message += '(';
        message += path;
        message += ')';
    }
    message += ": ";
    message += std::strerror(error_number);
    return message;
}

}  // namespace

SysError::SysError(std::string_view operation, std::string_view path, std::string hint)
    : SysError(errno, operation, path, std::move(hint)) {}

SysError::SysError(int error_number, std::string_view operation, std::string_view path,
                   std::string hint)
    : Error(describe(error_number, operation, path), std::move(hint)) {
    errno_ = error_number;
}

}  // namespace bincastle
