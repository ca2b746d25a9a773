#pragma once
/// "dce": dead-code elimination. Removes nodes none of whose outputs reach a graph output and
/// constants nobody uses.
///
///   Before: %a = Relu(%x); %b = Sigmoid(%x); -> (%a)
///   After:  %a = Relu(%x);                   -> (%a)
#include "ir/Graph.h"

namespace kiln {

/// Returns true if it removed a node or a value.
bool eliminate_dead_code(Graph &g);

} // namespace kiln
