#pragma once

// The system-definition DSL: a Layer is an immutable value built from options.
//
//     struct Busybox {
//         bincastle::Layer spec() const {
//             using namespace bincastle;
//             return Layer(Name("busybox"),
//                          BuildDep(Bootstrap{}),
//                          BuildDep(Wrap(BusyboxSource{}, MountDir("/src"))),
//                          BuildScript({"cd /src", "make -j$(nproc) install"}));
//         }
//     };
//     Layer system(Name("system"), Dep(Busybox{}), RunArgs({"/bin/sh"}));
//
// Any type with a `spec()` returning a Layer is a reusable piece (LayerLike) and can
// be given wherever a Layer can. Nothing runs until the graph is evaluated.

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace bincastle {

class Layer;

// A reusable piece of a system: anything with `Layer spec() const`.
template <typename T>
concept LayerLike = std::same_as<std::remove_cvref_t<T>, Layer> || requires(const T& piece) {
    { piece.spec() } -> std::same_as<Layer>;
};

template <LayerLike T>
Layer to_layer(const T& piece);

// Where a wrapped layer appears in the container instead of being merged into /.
struct MountDir {
    explicit MountDir(std::string path) : path(std::move(path)) {}
    std::string path;
};

// Where a layer's files come from when it is a source rather than built.
struct SourceSpec {
    enum class Kind { local_dir, git, http_archive, host_packages, image };
    Kind kind = Kind::local_dir;
    // directory (relative to the definition), repository URL, archive URL, or image
    // reference without its digest
    std::string location;
    // git: branch, tag or commit; http: the archive's sha256; image: its manifest's
    // digest, "sha256:..." ("" when not pinned)
    std::string revision;
    int strip_components = 0;
    std::vector<std::string> exclude;   // local_dir: paths (relative to it) left out
    std::vector<std::string> packages;  // host_packages: the Debian packages asked for
    bool operator==(const SourceSpec&) const = default;
};

// One dependency edge, as the options below make it.
struct Dependency {
    std::shared_ptr<const class LayerData> layer;
    bool build = false;  // present while the dependent builds
    bool run = false;    // present wherever the dependent is present
    std::optional<std::string> mount_dir;  // bound here instead of merged into the overlay
};

// A layer's options besides its name, source and dependencies: what the DSL's
// LayerData and the plan's PlanLayer both hold.
struct LayerRecipe {
    bool overridable = false;  // LocalOverride: BINCASTLE_OVERRIDE_<name> replaces the source
    std::vector<std::pair<std::string, std::string>> env;
    std::vector<std::string> build_script;
    std::vector<std::string> build_scratch;
    std::optional<std::string> output_dir;
    std::vector<std::string> run_args;
    std::optional<std::string> run_working_dir;
    bool always_run = false;
    bool operator==(const LayerRecipe&) const = default;
};

// What a Layer holds. Built only through Layer's options; read by the graph.
class LayerData : public LayerRecipe {
public:
    std::string name;
    std::optional<SourceSpec> source;
    std::vector<Dependency> deps;
};

// ---- options ---------------------------------------------------------------------

struct Name {
    explicit Name(std::string value) : value(std::move(value)) {}
    std::string value;
};

struct Env {
    Env(std::string key, std::string value) : key(std::move(key)), value(std::move(value)) {}
    std::string key;
    std::string value;
};

// Lines of sh, run in order with `set -e` semantics: a line that fails fails the build.
struct BuildScript {
    BuildScript(std::initializer_list<std::string> lines) : lines(lines) {}
    explicit BuildScript(std::vector<std::string> lines) : lines(std::move(lines)) {}
    std::vector<std::string> lines;
};

// An empty writable directory during the build that is not part of the output.
struct BuildScratch {
    explicit BuildScratch(std::string path) : path(std::move(path)) {}
    std::string path;
};

// Only this subtree of what the build writes is kept as the layer.
struct OutputDir {
    explicit OutputDir(std::string path) : path(std::move(path)) {}
    std::string path;
};

struct RunArgs {
    RunArgs(std::initializer_list<std::string> args) : args(args) {}
    explicit RunArgs(std::vector<std::string> args) : args(std::move(args)) {}
    std::vector<std::string> args;
};

struct RunWorkingDir {
    explicit RunWorkingDir(std::string path) : path(std::move(path)) {}
    std::string path;
};

// Never cached: built again every time the graph is evaluated.
struct AlwaysRun {};

// The source may be replaced by the directory in BINCASTLE_OVERRIDE_<name>.
struct LocalOverride {};

// Sources.

// Paths relative to a LocalDir's root (a file or a directory, with all it holds) that
// are not part of the source: its key, its copy and its mount leave them out.
struct Exclude {
    Exclude(std::initializer_list<std::string> paths) : paths(paths) {}
    explicit Exclude(std::vector<std::string> paths) : paths(std::move(paths)) {}
    std::vector<std::string> paths;
};

struct LocalDir {
    explicit LocalDir(std::string path) : path(std::move(path)) {}
    LocalDir(std::string path, Exclude exclude) : path(std::move(path)), exclude(std::move(exclude.paths)) {}
    std::string path;
    std::vector<std::string> exclude;
};

struct Git {
    Git(std::string url, std::string ref) : url(std::move(url)), ref(std::move(ref)) {}
    std::string url;
    std::string ref;
};

struct HttpArchive {
    HttpArchive(std::string url, std::string sha256, int strip_components = 0)
        : url(std::move(url)), sha256(std::move(sha256)), strip_components(strip_components) {}
    std::string url;
    std::string sha256;
    int strip_components;
};

// The installed Debian packages of the host that are named, with their dependency
// closure (Depends and Pre-Depends, as installed): their files, copied into the store
// once (documentation, manuals and translations left out). For a declared bootstrap,
// such as the first compiler of a system built from source:
//
//     Layer(Name("bootstrap"), HostPackages({"gcc-12", "binutils", "make", "libc6-dev"}))
//
// Its key is the closure's package names, architectures and versions (what dpkg-query
// -W prints): the compiler's and the libc's identities, never the host's paths or file
// contents. Give it as a BuildDep only: a system that runs it depends on the host.
struct HostPackages {
    HostPackages(std::initializer_list<std::string> names) : names(names) {}
    explicit HostPackages(std::vector<std::string> names) : names(std::move(names)) {}
    std::vector<std::string> names;
};

// An OCI image's filesystem: "REGISTRY/REPO[:TAG]@sha256:DIGEST" from a registry, or
// "oci:DIR[:TAG]@sha256:DIGEST" from an OCI image layout (DIR relative to the
// definition, inside it). The digest pins the image: its manifest's, or, for an index
// of several platforms, the index's (this machine's platform is taken). A reference
// without one is refused at build time, with the digest its tag names now:
//
//     Layer(Name("debian"), Image("registry.example/library/debian:12@sha256:..."))
//
// Each of the image's layers is stored once, keyed by its digest, so images that share
// a base pull it once; the layer is their union, whiteouts applied. The image's config
// (its Cmd, Env, User) is not used: the system's RunArgs and Env say how it runs.
struct Image {
    explicit Image(const std::string& reference) {
        const std::size_t at = reference.rfind('@');
        ref = at == std::string::npos ? reference : reference.substr(0, at);
        digest = at == std::string::npos ? "" : reference.substr(at + 1);
    }
    std::string ref;     // without the digest
    std::string digest;  // "sha256:...", or "" when not given
};

// A layer mounted at a directory instead of merged into the overlay.
struct Wrapped {
    std::shared_ptr<const LayerData> layer;
    std::string mount_dir;
};

template <LayerLike T>
Wrapped Wrap(const T& piece, MountDir where);

struct DependencyOption {
    Dependency dependency;
};

// Dependencies chosen at run time, in order.
struct DependencyListOption {
    std::vector<Dependency> dependencies;
};

template <typename T>
concept Dependable = LayerLike<T> || std::same_as<std::remove_cvref_t<T>, Wrapped>;

template <Dependable T>
DependencyOption Dep(const T& what);
template <Dependable T>
DependencyOption BuildDep(const T& what);
template <Dependable T>
DependencyOption RunDep(const T& what);

namespace detail {

inline void apply(LayerData& data, const Name& option) { data.name = option.value; }
inline void apply(LayerData& data, const Env& option) { data.env.emplace_back(option.key, option.value); }
inline void apply(LayerData& data, const BuildScript& option) {
    data.build_script.insert(data.build_script.end(), option.lines.begin(), option.lines.end());
}
inline void apply(LayerData& data, const BuildScratch& option) { data.build_scratch.push_back(option.path); }
inline void apply(LayerData& data, const OutputDir& option) { data.output_dir = option.path; }
inline void apply(LayerData& data, const RunArgs& option) { data.run_args = option.args; }
inline void apply(LayerData& data, const RunWorkingDir& option) { data.run_working_dir = option.path; }
inline void apply(LayerData& data, const AlwaysRun&) { data.always_run = true; }
inline void apply(LayerData& data, const LocalOverride&) { data.overridable = true; }
inline void apply(LayerData& data, const DependencyOption& option) { data.deps.push_back(option.dependency); }
inline void apply(LayerData& data, const DependencyListOption& option) {
    data.deps.insert(data.deps.end(), option.dependencies.begin(), option.dependencies.end());
}
inline void apply(LayerData& data, const LocalDir& option) {
    data.source = SourceSpec{SourceSpec::Kind::local_dir, option.path, "", 0, option.exclude, {}};
}
inline void apply(LayerData& data, const Git& option) {
    data.source = SourceSpec{SourceSpec::Kind::git, option.url, option.ref, 0, {}, {}};
}
inline void apply(LayerData& data, const HttpArchive& option) {
    data.source = SourceSpec{SourceSpec::Kind::http_archive, option.url, option.sha256, option.strip_components, {}, {}};
}
inline void apply(LayerData& data, const HostPackages& option) {
    data.source = SourceSpec{SourceSpec::Kind::host_packages, "", "", 0, {}, option.names};
}
inline void apply(LayerData& data, const Image& option) {
    data.source = SourceSpec{SourceSpec::Kind::image, option.ref, option.digest, 0, {}, {}};
}

}  // namespace detail

// Something Layer's constructor takes.
template <typename T>
concept LayerOption = requires(LayerData& data, const T& option) { detail::apply(data, option); };

class Layer {
public:
    template <typename... Options>
    explicit Layer(const Options&... options) {
        static_assert((LayerOption<Options> && ...),
                      "bincastle::Layer takes only options: Name, Dep, BuildDep, RunDep (Deps, BuildDeps, RunDeps), Env, "
                      "BuildScript, BuildScratch, OutputDir, RunArgs, RunWorkingDir, AlwaysRun, "
                      "LocalOverride, LocalDir, Git, HttpArchive, HostPackages, Image (a Layer or a piece with spec() "
                      "goes inside Dep, BuildDep or RunDep)");
        auto data = std::make_shared<LayerData>();
        // Guarded so that a wrong option reports only the assertion above.
        if constexpr ((LayerOption<Options> && ...)) (detail::apply(*data, options), ...);
        data_ = std::move(data);
    }

    const LayerData& data() const { return *data_; }
    const std::shared_ptr<const LayerData>& shared() const { return data_; }
    const std::string& name() const { return data_->name; }

private:
    std::shared_ptr<const LayerData> data_;
};

template <LayerLike T>
Layer to_layer(const T& piece) {
    if constexpr (std::same_as<T, Layer>) {
        return piece;
    } else {
        return piece.spec();
    }
}

template <LayerLike T>
Wrapped Wrap(const T& piece, MountDir where) {
    return Wrapped{to_layer(piece).shared(), std::move(where.path)};
}

namespace detail {

template <Dependable T>
Dependency dependency(const T& what, bool build, bool run) {
    if constexpr (std::same_as<T, Wrapped>) {
        return Dependency{what.layer, build, run, what.mount_dir};
    } else {
        return Dependency{to_layer(what).shared(), build, run, std::nullopt};
    }
}

}  // namespace detail

template <Dependable T>
DependencyOption Dep(const T& what) {
    return {detail::dependency(what, true, true)};
}
template <Dependable T>
DependencyOption BuildDep(const T& what) {
    return {detail::dependency(what, true, false)};
}
template <Dependable T>
DependencyOption RunDep(const T& what) {
    return {detail::dependency(what, false, true)};
}

namespace detail {

inline DependencyListOption dependencies(const std::vector<Layer>& layers, bool build, bool run) {
    DependencyListOption option;
    for (const auto& layer : layers) option.dependencies.push_back(dependency(layer, build, run));
    return option;
}

}  // namespace detail

// Dep, BuildDep and RunDep for a list made at run time.
inline DependencyListOption Deps(const std::vector<Layer>& layers) { return detail::dependencies(layers, true, true); }
inline DependencyListOption BuildDeps(const std::vector<Layer>& layers) { return detail::dependencies(layers, true, false); }
inline DependencyListOption RunDeps(const std::vector<Layer>& layers) { return detail::dependencies(layers, false, true); }

}  // namespace bincastle
