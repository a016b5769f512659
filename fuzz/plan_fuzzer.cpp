// Plans: what a definition program writes for the driver, which reads it on the host.
// Input: a plan's JSON text. Whatever it is, reading it either fails with an Error or
// gives a plan whose graph is canonical, and which reads back as itself.

#include "plan/plan_graph.hpp"

#include <bincastle/error.hpp>
#include <bincastle/plan.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const bincastle::Plan plan = bincastle::plan_from_json(text);
        bincastle::graph_of(plan);
        if (bincastle::plan_from_json(bincastle::plan_to_json(plan)) != plan) __builtin_trap();
        if (bincastle::plan_from_json(bincastle::plan_to_json(plan, bincastle::PlanStyle::indented)) != plan)
            __builtin_trap();
    } catch (const bincastle::Error&) {
    }
    return 0;
}
