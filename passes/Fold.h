#pragma once
/// "fold": constant folding. A node whose inputs are all constants is evaluated with the
/// reference interpreter and its outputs become constants (the node is left dead for dce).
/// Outputs over 16M elements and graph outputs are left alone.
///
///   Before: %q = const i8[16,3,3,3]; %w = DequantizeLinear(%q, %s, %z); %y = Conv(%x, %w, _)
///   After:  %w = const f32[16,3,3,3];                                   %y = Conv(%x, %w, _)
#include "ir/Graph.h"

namespace kiln {

/// Returns true if it folded a node.
bool fold_constants(Graph &g);

} // namespace kiln
