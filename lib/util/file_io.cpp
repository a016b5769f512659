#include "util/file_io.hpp"

#include "util/file_tree.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

namespace {

std::optional<std::string> read_all(const std::string& path, bool missing_ok) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (missing_ok && errno == ENOENT) return std::nullopt;
        throw SysError("open", path);
    }
    std::string content;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError("read", path);
        }
        if (n == 0) break;
        content.append(buffer, static_cast<size_t>(n));
    }
    return content;
}

}  // namespace

std::string read_file(const std::string& path) { return *read_all(path, false); }

std::optional<std::string> read_file_if_exists(const std::string& path) {
    return read_all(path, true);
}

void write_file(const std::string& path, std::string_view content) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw SysError("open", path);
    ssize_t n = ::write(fd.get(), content.data(), content.size());
    if (n < 0) throw SysError("write", path);
    if (static_cast<size_t>(n) != content.size())
        throw Error("write(" + path + "): short write");
}

void write_new_file(const std::string& path, std::string_view content) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open", path);
    write_all(fd.get(), content, path);
}

void replace_file(const std::string& path, std::string_view content) {
    // Held while it is written: the next write of the file (and gc, for roots/) removes
    // what a killed writer left, and nothing that a live one writes.
    const fs::path target(path);
    const fs::path parent = target.has_parent_path() ? target.parent_path() : ".";
    remove_abandoned(parent, target.filename().string());
    fs::path written;
    UniqueFd fd = make_held_file(parent, target.filename().string(), written);
    const std::string temp = written.string();
    try {
        if (::fchmod(fd.get(), 0644) != 0) throw SysError("chmod", temp);
        write_all(fd.get(), content, temp);
        if (::rename(temp.c_str(), path.c_str()) != 0) throw SysError("rename", temp + " -> " + path);
    } catch (...) {
        ::unlink(temp.c_str());
        throw;
    }
}

std::array<UniqueFd, 2> make_pipe(const std::string& what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw SysError("pipe2", what);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void write_all(int fd, std::string_view content, const std::string& what) {
    while (!content.empty()) {
        ssize_t n = ::write(fd, content.data(), content.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError("write", what);
        content.remove_prefix(static_cast<size_t>(n));
    }
}

}  // namespace bincastle
