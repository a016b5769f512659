#pragma once

// Error policy of libbincastle:
// - A failure the caller cannot sensibly branch on is thrown as bincastle::Error.
// - A failed system call throws SysError, which captures errno when it is built and
//   names the operation and the path: `mount(overlay, /x/root): Operation not permitted`.
// - Context is added while unwinding with Error::with_context ("building layer busybox: ...").
// - An Error may carry a hint: what the user can do about it, printed on its own line.
// - Expected outcomes a caller branches on (not found, cache miss) are return values.

#include <bincastle/export.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace bincastle {

class BINCASTLE_API Error : public std::runtime_error {
public:
    explicit Error(std::string message, std::string hint = {});

    // What to do about it, or empty.
    const std::string& hint() const noexcept { return hint_; }

    // A copy with "context: " in front of the message, keeping the hint and the errno.
    Error with_context(std::string_view context) const;

    // The errno of the failed system call this error stems from (a SysError, with
    // context or not), or 0.
    int error_number() const noexcept { return errno_; }

protected:
    int errno_ = 0;

private:
    std::string hint_;
};

class BINCASTLE_API SysError : public Error {
public:
    // Reads errno now: construct it right after the failed call.
    SysError(std::string_view operation, std::string_view path, std::string hint = {});
    SysError(int error_number, std::string_view operation, std::string_view path,
             std::string hint = {});
};

}  // namespace bincastle
