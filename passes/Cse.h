#pragma once
/// "cse": common-subexpression elimination. Nodes with the same op, attributes and inputs
/// compute the same thing: the later one's uses move to the first. Small constants with equal
/// contents are merged first so nodes reading them match too. A node whose output is a graph
/// output keeps it (the output's name is part of the model).
///
///   Before: %a = Sigmoid(%x); %b = Sigmoid(%x); %c = Mul(%a, %b)
///   After:  %a = Sigmoid(%x);                   %c = Mul(%a, %a)
#include "ir/Graph.h"

namespace kiln {

/// Returns true if it merged a node or a constant.
bool eliminate_common_subexpressions(Graph &g);

} // namespace kiln
