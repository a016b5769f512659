// The plan's JSON form (documented in include/bincastle/plan.hpp).

#include <bincastle/error.hpp>
#include <bincastle/plan.hpp>

#include <boost/json.hpp>

namespace json = boost::json;

namespace bincastle {

namespace {

const char* kind_name(SourceSpec::Kind kind) {
    switch (kind) {
    case SourceSpec::Kind::local_dir: return "local_dir";
    case SourceSpec::Kind::git: return "git";
    case SourceSpec::Kind::http_archive: return "http_archive";
    case SourceSpec::Kind::host_packages: return "host_packages";
    case SourceSpec::Kind::image: return "image";
    }
    throw Error("a source of an unknown kind");
}

json::array strings(const std::vector<std::string>& values) { return json::array(values.begin(), values.end()); }

json::value optional_string(const std::optional<std::string>& value) {
    return value ? json::value(*value) : json::value(nullptr);
}

json::value source_value(const std::optional<SourceSpec>& source) {
    if (!source) return nullptr;
    json::object out;
    out["kind"] = kind_name(source->kind);
    switch (source->kind) {
    case SourceSpec::Kind::local_dir:
        out["path"] = source->location;
        out["exclude"] = strings(source->exclude);
        break;
    case SourceSpec::Kind::git:
        out["url"] = source->location;
        out["ref"] = source->revision;
        break;
    case SourceSpec::Kind::http_archive:
        out["url"] = source->location;
        out["sha256"] = source->revision;
        out["strip_components"] = source->strip_components;
        break;
    case SourceSpec::Kind::host_packages:
        out["packages"] = strings(source->packages);
        break;
    case SourceSpec::Kind::image:
        out["ref"] = source->location;
        out["digest"] = source->revision;
        break;
    }
    return out;
}

json::value plan_value(const Plan& plan) {
    json::array layers;
    for (const PlanLayer& layer : plan.layers) {
        json::array deps;
        for (const PlanDependency& dep : layer.deps)
            deps.push_back(json::object{{"layer", dep.layer},
                                        {"build", dep.build},
                                        {"run", dep.run},
                                        {"mount_dir", optional_string(dep.mount_dir)}});
        json::array env;
        for (const auto& [key, value] : layer.env) env.push_back(json::array{json::value(key), json::value(value)});
        json::object out;
        out["name"] = layer.name;
        out["source"] = source_value(layer.source);
        out["overridable"] = layer.overridable;
        out["deps"] = std::move(deps);
        out["env"] = std::move(env);
        out["build_script"] = strings(layer.build_script);
        out["build_scratch"] = strings(layer.build_scratch);
        out["output_dir"] = optional_string(layer.output_dir);
        out["run_args"] = strings(layer.run_args);
        out["run_working_dir"] = optional_string(layer.run_working_dir);
        out["always_run"] = layer.always_run;
        layers.push_back(std::move(out));
    }
    json::object out;
    out["bincastle_plan"] = plan_schema_version;
    out["system"] = plan.system;
    out["layers"] = std::move(layers);
    return out;
}

void write_indented(std::string& out, const json::value& value, int depth) {
    auto newline = [&](int level) {
        out += '\n';
        out.append(static_cast<std::size_t>(2 * level), ' ');
    };
    if (value.is_object() && !value.get_object().empty()) {
        out += '{';
        bool first = true;
        for (const auto& member : value.get_object()) {
            if (!first) out += ',';
            first = false;
            newline(depth + 1);
            out += json::serialize(json::string(member.key()));
            out += ": ";
            write_indented(out, member.value(), depth + 1);
        }
        newline(depth);
        out += '}';
    } else if (value.is_array() && !value.get_array().empty()) {
        out += '[';
        bool first = true;
        for (const auto& element : value.get_array()) {
            if (!first) out += ',';
            first = false;
            newline(depth + 1);
            write_indented(out, element, depth + 1);
        }
        newline(depth);
        out += ']';
    } else {
        out += json::serialize(value);
    }
}

// Reading: every access names where it is, for the error.
class Reader {
public:
    Reader(const json::value& value, std::string where) : value_(value), where_(std::move(where)) {}

    [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + ": " + what); }

    const json::object& object() const {
        if (!value_.is_object()) fail("expected an object");
        return value_.get_object();
    }
    const json::array& array() const {
        if (!value_.is_array()) fail("expected an array");
        return value_.get_array();
    }
    std::string string() const {
        if (!value_.is_string()) fail("expected a string");
        return std::string(value_.get_string());
    }
    bool boolean() const {
        if (!value_.is_bool()) fail("expected true or false");
        return value_.get_bool();
    }
    std::int64_t integer() const {
        if (!value_.is_int64()) fail("expected an integer");
        return value_.get_int64();
    }
    bool is_null() const { return value_.is_null(); }
    std::optional<std::string> optional_string() const {
        if (is_null()) return std::nullopt;
        return string();
    }
    std::vector<std::string> strings() const {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < array().size(); ++i) out.push_back(at(i).string());
        return out;
    }

    Reader at(std::size_t i) const { return Reader(array()[i], where_ + "[" + std::to_string(i) + "]"); }

    Reader member(const char* name) const {
        const json::object& members = object();
        auto found = members.find(name);
        if (found == members.end()) fail(std::string("no member '") + name + "'");
        return Reader(found->value(), where_ + "." + name);
    }
    // Refuses members other than `names`.
    void only(std::initializer_list<const char*> names) const {
        for (const auto& member : object()) {
            bool known = false;
            for (const char* name : names) known = known || member.key() == name;
            if (!known) fail("unknown member '" + std::string(member.key()) + "'");
        }
    }

private:
    const json::value& value_;
    std::string where_;
};

std::optional<SourceSpec> read_source(const Reader& in) {
    if (in.is_null()) return std::nullopt;
    std::string kind = in.member("kind").string();
    SourceSpec source;
    if (kind == "local_dir") {
        in.only({"kind", "path", "exclude"});
        source.kind = SourceSpec::Kind::local_dir;
        source.location = in.member("path").string();
        source.exclude = in.member("exclude").strings();
    } else if (kind == "git") {
        in.only({"kind", "url", "ref"});
        source.kind = SourceSpec::Kind::git;
        source.location = in.member("url").string();
        source.revision = in.member("ref").string();
    } else if (kind == "http_archive") {
        in.only({"kind", "url", "sha256", "strip_components"});
        source.kind = SourceSpec::Kind::http_archive;
        source.location = in.member("url").string();
        source.revision = in.member("sha256").string();
        Reader strip = in.member("strip_components");
        std::int64_t n = strip.integer();
        if (n < 0 || n > 1024) strip.fail("expected a number of leading path components from 0 to 1024");
        source.strip_components = static_cast<int>(n);
    } else if (kind == "host_packages") {
        in.only({"kind", "packages"});
        source.kind = SourceSpec::Kind::host_packages;
        source.packages = in.member("packages").strings();
    } else if (kind == "image") {
        in.only({"kind", "ref", "digest"});
        source.kind = SourceSpec::Kind::image;
        source.location = in.member("ref").string();
        source.revision = in.member("digest").string();
    } else {
        in.member("kind").fail("unknown source kind '" + kind + "'");
    }
    return source;
}

PlanLayer read_layer(const Reader& in) {
    in.only({"name", "source", "overridable", "deps", "env", "build_script", "build_scratch", "output_dir",
             "run_args", "run_working_dir", "always_run"});
    PlanLayer layer;
    layer.name = in.member("name").string();
    layer.source = read_source(in.member("source"));
    layer.overridable = in.member("overridable").boolean();
    Reader deps = in.member("deps");
    for (std::size_t i = 0; i < deps.array().size(); ++i) {
        Reader dep = deps.at(i);
        dep.only({"layer", "build", "run", "mount_dir"});
        layer.deps.push_back({dep.member("layer").string(), dep.member("build").boolean(),
                              dep.member("run").boolean(), dep.member("mount_dir").optional_string()});
    }
    Reader env = in.member("env");
    for (std::size_t i = 0; i < env.array().size(); ++i) {
        Reader pair = env.at(i);
        if (pair.array().size() != 2) pair.fail("expected [KEY, VALUE]");
        layer.env.emplace_back(pair.at(0).string(), pair.at(1).string());
    }
    layer.build_script = in.member("build_script").strings();
    layer.build_scratch = in.member("build_scratch").strings();
    layer.output_dir = in.member("output_dir").optional_string();
    layer.run_args = in.member("run_args").strings();
    layer.run_working_dir = in.member("run_working_dir").optional_string();
    layer.always_run = in.member("always_run").boolean();
    return layer;
}

}  // namespace

std::string plan_to_json(const Plan& plan, PlanStyle style) {
    json::value value = plan_value(plan);
    if (style == PlanStyle::compact) return json::serialize(value);
    std::string out;
    write_indented(out, value, 0);
    out += '\n';
    return out;
}

Plan plan_from_json(std::string_view text) {
    boost::system::error_code error;
    json::value value = json::parse(text, error);
    if (error) throw Error("plan: not JSON: " + error.message());
    Reader in(value, "plan");
    Reader version = in.member("bincastle_plan");
    if (version.integer() != plan_schema_version)
        version.fail("this bincastle reads plans of schema " + std::to_string(plan_schema_version));
    in.only({"bincastle_plan", "system", "layers"});
    Plan plan;
    plan.system = in.member("system").string();
    Reader layers = in.member("layers");
    for (std::size_t i = 0; i < layers.array().size(); ++i) plan.layers.push_back(read_layer(layers.at(i)));
    return plan;
}

}  // namespace bincastle
