#pragma once

// The graph of a plan: what keys, builds and runs are computed from.

#include "graph/graph.hpp"

#include <bincastle/plan.hpp>

namespace bincastle {

// Node i is plan.layers[i]. Throws bincastle::Error for a plan that is not canonical:
// a name given twice, a dependency on a layer that does not come before it, a layer
// the system does not reach, or layers out of the order make_plan writes them in.
Graph graph_of(const Plan& plan);

}  // namespace bincastle
