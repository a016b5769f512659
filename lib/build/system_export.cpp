// bincastle::export_system: a built system as an OCI image, a tarball or a directory.

#include "export/image_export.hpp"
#include "plan/plan_graph.hpp"
#include "util/file_tree.hpp"

#include <bincastle/build.hpp>
#include <bincastle/error.hpp>

#include <cstdio>

namespace fs = std::filesystem;

namespace bincastle {

void export_system(const BuiltSystem& system, const ExportRequest& request) {
    Graph graph = graph_of(system.plan);
    const PlanLayer& root = system.plan.layers.back();
    exporting::ImageSpec image;
    image.name = root.name;
    for (const auto& placement : graph.run_closure(graph.root()))
        image.layers.push_back({graph.name(placement.node), system.files[placement.node], placement.mount_dir});
    bool has_path = false;
    for (const auto& [key, value] : root.env) {
        image.env.push_back(key + "=" + value);
        has_path = has_path || key == "PATH";
    }
    // What the runner gives a command that sets none.
    if (!has_path) image.env.insert(image.env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    image.args = !root.run_args.empty() ? root.run_args : std::vector<std::string>{"/bin/sh"};
    image.working_dir = root.run_working_dir.value_or("/");

    exporting::ExportOptions out;
    out.format = exporting::parse_format(request.format);
    if (request.compression) out.compression = exporting::parse_compression(*request.compression);
    if (request.push && out.format != exporting::Format::oci) throw Error("--push goes with --format oci");
    std::optional<TempDir> scratch;
    if (request.output) {
        out.output = fs::absolute(*request.output);
    } else if (request.push) {
        scratch.emplace("bincastle-image");
        out.output = scratch->path() / "image";
    } else {
        throw Error("export needs -o PATH (or --push REF)");
    }
    exporting::export_image(image, out);
    if (request.output) std::fprintf(stderr, "bincastle: wrote %s\n", out.output.c_str());
    if (request.push) exporting::push_oci_layout(out.output, *request.push, request.insecure_registry, out.tag, stderr);
}

}  // namespace bincastle
