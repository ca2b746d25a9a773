#pragma once
/// Structural checks of a graph: what every pass must preserve.
#include "ir/Graph.h"

namespace kiln {

/// Checks that the graph is well formed: unique value names, ids matching positions, every
/// node input defined before use (topological order), constants holding tensors of their
/// value's type, each node's attributes of the right kinds and output types equal to
/// infer_types, graph outputs produced. Throws kiln::Error naming the node and the problem.
void verify(const Graph &g);

} // namespace kiln
