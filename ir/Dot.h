#pragma once
/// Graphviz export, for pictures of a model.
#include "ir/Graph.h"

#include <ostream>

namespace kiln {

/// Writes a `digraph`: one box per node (op, name, output shape), edges labelled by tensor
/// shape, graph inputs and outputs as ovals, constants folded into the node label as weight
/// shapes. Output is deterministic.
void write_dot(std::ostream &os, const Graph &g);

} // namespace kiln
