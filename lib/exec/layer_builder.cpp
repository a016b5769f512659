#include "exec/layer_builder.hpp"

#include "graph/key_encoder.hpp"
#include "source/archive_fetch.hpp"
#include "source/git_source.hpp"
#include "source/host_packages.hpp"
#include "source/image_source.hpp"
#include "source/source_key.hpp"
#include "source/tree_hash.hpp"
#include "util/file_tree.hpp"
#include "util/spawn.hpp"
#include "util/unique_fd.hpp"

#include <bincastle/error.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace bincastle {

std::vector<std::string> build_command(const BuildSetup& setup, std::size_t node, const fs::path& upper,
                                       const fs::path& empty_dir) {
    const Graph& graph = *setup.graph;
    const LayerData& layer = *graph.node(node).layer;
    std::vector<std::string> args = {"--no-tty", "--die-with-parent=" + std::to_string(::getpid()), "--upper",
                                     upper.string()};
    bool any_lower = false;
    for (const auto& placement : graph.build_closure(node)) {
        auto files = setup.store->find((*setup.keys)[placement.node]);
        if (!files) throw Error("layer " + graph.name(placement.node) + " is not built yet");
        if (placement.mount_dir) {
            args.insert(args.end(), {"--ro-bind", files->string() + ":" + *placement.mount_dir});
        } else {
            args.insert(args.end(), {"--layer", files->string()});
            any_lower = true;
        }
    }
    // The overlay needs a lower layer; a layer built on nothing gets an empty one.
    if (!any_lower) args.insert(args.begin(), {"--layer", empty_dir.string()});
    for (const auto& scratch : layer.build_scratch) args.insert(args.end(), {"--tmpfs", scratch});
    args.insert(args.end(), {"--setenv", "MAKEFLAGS=-j" + std::to_string(setup.jobs)});
    for (const auto& [key, value] : layer.env) args.insert(args.end(), {"--setenv", key + "=" + value});
    std::string script = "set -e\n";
    for (const auto& line : layer.build_script) script += line + "\n";
    args.insert(args.end(), {"--", "/bin/sh", "-c", script});
    return args;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Whether `content`, as the content key of `node`'s source, gives the key computed for it.
bool matches_content(const BuildSetup& setup, std::size_t node, const Key& content) {
    const std::string encoding =
        layer_key_encoding(*setup.graph, node, *setup.keys, [&](const LayerData&) { return content; });
    return hash_bytes(encoding) == (*setup.keys)[node];
}

// Whether `tree`, as the content of `node`'s source, gives the key computed for it.
bool matches_key(const BuildSetup& setup, std::size_t node, const fs::path& tree) {
    const LayerData& layer = *setup.graph->node(node).layer;
    return matches_content(setup, node, local_content_key(tree, layer.source->exclude, nullptr));
}

Error source_changed(const fs::path& source) {
    return Error("source " + source.string() + " changed while it was being built; build again");
}

// The key hashed the source tree as it was then; a tree edited since would be stored
// under a key that does not describe it. So the copy, not the source, is hashed
// again: it is what gets stored. No stat cache helps here (the copy's inodes are all
// new), but its pages are still in memory.
void copy_checked_source(const BuildSetup& setup, std::size_t node, const fs::path& source, const fs::path& copy) {
    try {
        copy_tree(source, copy, normal_exclude(setup.graph->node(node).layer->source->exclude));
    } catch (const Error&) {
        // A file that shrinks while it is copied fails the copy (EIO): say so when the
        // source no longer matches its key.
        bool changed = false;
        try {
            changed = !matches_key(setup, node, source);
        } catch (const Error&) {
            // Cannot tell: the copy's own error says more.
        }
        if (changed) throw source_changed(source);
        throw;
    }
    if (!matches_key(setup, node, copy)) throw source_changed(source);
}

// Runs `self sandbox ARGS` with its output in `log` (and, line by line, in the progress
// sink); returns its exit status.
int run_logged(const BuildSetup& setup, const std::string& layer_name, const Key& key,
               const std::vector<std::string>& sandbox_args, const fs::path& log,
               std::deque<std::string>& tail) {
    UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!log_fd) throw SysError("open", log.string());
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw SysError("pipe2", "build output");
    UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

    std::vector<std::string> argv = {setup.self, "sandbox"};
    argv.insert(argv.end(), sandbox_args.begin(), sandbox_args.end());
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull) throw SysError("open", "/dev/null");
    // Killed and reaped if anything below throws before it is waited for.
    ChildProcess child = spawn({argv, std::nullopt, {}, devnull.get(), write_end.get(), write_end.get()});
    write_end.reset();

    std::string pending;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        (void)!::write(log_fd.get(), buffer, static_cast<size_t>(n));
        pending.append(buffer, static_cast<size_t>(n));
        for (size_t newline; (newline = pending.find('\n')) != std::string::npos;) {
            std::string line = pending.substr(0, newline);
            pending.erase(0, newline + 1);
            tail.push_back(line);
            if (tail.size() > 20) tail.pop_front();
            setup.progress->event({ProgressEvent::Kind::output, layer_name, key, 0, line});
        }
    }
    if (!pending.empty()) tail.push_back(pending);
    return child.wait();
}

}  // namespace

namespace {

bool build_layer_locked(const BuildSetup& setup, std::size_t node) {
    const Graph& graph = *setup.graph;
    const LayerData& layer = *graph.node(node).layer;
    const Key& key = (*setup.keys)[node];
    auto start = Clock::now();
    auto held = setup.store->lock(key);
    if (layer.always_run) {
        setup.store->forget(key);
    } else if (setup.store->find(key)) {
        // Another process built it while we waited for the lock.
        setup.progress->event({ProgressEvent::Kind::cached, layer.name, key, seconds_since(start), ""});
        return true;
    }
    setup.progress->event({ProgressEvent::Kind::started, layer.name, key, 0, ""});
    const fs::path log = setup.store->log_path(key);
    std::deque<std::string> tail;
    try {
        auto build = setup.store->begin(key);
        int status = 0;
        if (layer.source) {
            const SourceSpec& source = *layer.source;
            const fs::path& store_root = setup.store->root();
            // An override replaces a source of any kind with a directory.
            if (source.kind == SourceSpec::Kind::local_dir || overridden(layer, *setup.overrides)) {
                const fs::path dir = local_source_dir(layer, setup.definition_dir, *setup.overrides);
                copy_checked_source(setup, node, dir, build.fs());
            } else if (source.kind == SourceSpec::Kind::host_packages) {
                // The key named a closure as it was then; what is copied must be that
                // closure, so an upgrade of the host before or during the copy fails.
                const fs::path& admin_dir = setup.sources.dpkg_admin_dir;
                auto closure = host_package_closure(source.packages, admin_dir);
                if (!matches_content(setup, node, host_packages_key(closure)))
                    throw Error("the host's packages changed since " + layer.name + "'s key was computed", "build again");
                copy_host_packages(closure, admin_dir, build.fs());
                if (host_package_closure(source.packages, admin_dir) != closure)
                    throw Error("the host's packages changed while " + layer.name + " was copied from them",
                                "build again");
            } else if (source.kind == SourceSpec::Kind::image) {
                unpack_image(*setup.store, source, {setup.definition_dir, setup.insecure_registry}, build.fs(),
                             [&](const std::string& line) {
                                 setup.progress->event({ProgressEvent::Kind::output, layer.name, key, 0, line});
                             });
            } else if (source.kind == SourceSpec::Kind::git) {
                export_git_tree(store_root, source.location, git_commit_of(store_root, source), build.fs());
            } else {
                fetch_archive(store_root, source.location, source.revision, source.strip_components, build.fs(),
                              setup.sources.archive_mirror);
            }
        } else if (!layer.build_script.empty()) {
            fs::create_directories(build.scratch() / "empty");
            status = run_logged(setup, layer.name, key,
                                build_command(setup, node, build.fs(), build.scratch() / "empty"), log, tail);
        }
        if (status != 0) {
            std::string text = "exit status " + std::to_string(status) + "; log: " + log.string() + "\n";
            for (const auto& line : tail) text += "  " + line + "\n";
            setup.progress->event({ProgressEvent::Kind::failed, layer.name, key, seconds_since(start), text});
            return false;
        }
        build.commit("name=" + layer.name + "\n", layer.output_dir.value_or(""));
    } catch (const std::exception& error) {
        setup.progress->event({ProgressEvent::Kind::failed, layer.name, key, seconds_since(start),
                               std::string(error.what()) + "\n"});
        return false;
    }
    setup.progress->event({ProgressEvent::Kind::built, layer.name, key, seconds_since(start), ""});
    return true;
}

}  // namespace

bool build_layer(const BuildSetup& setup, std::size_t node) {
    // Whatever fails (the lock, the store, memory) is reported as this layer's failure:
    // run_jobs only counts it.
    try {
        return build_layer_locked(setup, node);
    } catch (const std::exception& error) {
        const LayerData& layer = *setup.graph->node(node).layer;
        setup.progress->event({ProgressEvent::Kind::failed, layer.name, (*setup.keys)[node], 0,
                               "building layer " + layer.name + ": " + error.what() + "\n"});
        return false;
    }
}

}  // namespace bincastle
