#include <bincastle/layer.hpp>

#include <doctest/doctest.h>

using namespace bincastle;

namespace {

struct Base {
    Layer spec() const { return Layer(Name("base"), LocalDir("rootfs")); }
};

struct Tool {
    Layer spec() const {
        return Layer(Name("tool"), Dep(Base{}), Env("CC", "cc"),
                     BuildScript({"make", "make install"}), OutputDir("/usr"));
    }
};

struct NotAPiece {
    int spec() const { return 0; }
};

}  // namespace

static_assert(LayerLike<Base>);
static_assert(LayerLike<Layer>);
static_assert(!LayerLike<NotAPiece>);
static_assert(!LayerLike<int>);
static_assert(LayerOption<Name>);
static_assert(!LayerOption<Base>);  // a piece goes inside Dep()

TEST_CASE("a layer holds its options") {
    Layer tool = Tool{}.spec();
    const LayerData& data = tool.data();
    CHECK(tool.name() == "tool");
    REQUIRE(data.deps.size() == 1);
    CHECK(data.deps[0].build);
    CHECK(data.deps[0].run);
    CHECK(data.deps[0].layer->name == "base");
    CHECK(data.env == std::vector<std::pair<std::string, std::string>>{{"CC", "cc"}});
    CHECK(data.build_script == std::vector<std::string>{"make", "make install"});
    CHECK(data.output_dir == "/usr");
    CHECK_FALSE(data.source.has_value());
    CHECK(data.deps[0].layer->source->kind == SourceSpec::Kind::local_dir);
}

TEST_CASE("build, run and wrapped dependencies") {
    Layer source(Name("libc-src"), HttpArchive("https://example.org/musl.tar.gz", "abc", 1), LocalOverride());
    Layer system(Name("system"), BuildDep(Base{}), RunDep(Tool{}),
                 RunDep(Wrap(source, MountDir("/home/user/libc-src"))), RunArgs({"/bin/sh"}),
                 RunWorkingDir("/home/user"), AlwaysRun());
    const auto& deps = system.data().deps;
    REQUIRE(deps.size() == 3);
    CHECK((deps[0].build && !deps[0].run));
    CHECK((!deps[1].build && deps[1].run));
    CHECK(deps[2].mount_dir == "/home/user/libc-src");
    CHECK(deps[2].layer->overridable);
    CHECK(deps[2].layer->source->strip_components == 1);
    CHECK(system.data().run_args == std::vector<std::string>{"/bin/sh"});
    CHECK(system.data().always_run);
}

TEST_CASE("a list of dependencies made at run time") {
    std::vector<Layer> parts = {Base{}.spec(), Tool{}.spec()};
    Layer system(Name("system"), RunDeps(parts), BuildDeps({Base{}.spec()}), Deps({}));
    const auto& deps = system.data().deps;
    REQUIRE(deps.size() == 3);
    CHECK(deps[0].layer->name == "base");
    CHECK((deps[1].run && !deps[1].build));
    CHECK((deps[2].build && !deps[2].run));
}

TEST_CASE("layers are shared values: copying one does not copy its data") {
    Layer a = Base{}.spec();
    Layer b = a;
    CHECK(&a.data() == &b.data());
}
