#pragma once
/// "ewfuse": chains and trees of elementwise ops become one FusedElementwise node (ops.def,
/// ir/FusedProgram.h), so one kernel computes them with no intermediate buffers. A producer
/// joins a group when every use of its output is inside the group, it is not a graph output, and
/// has the group's output shape and dtype (f32 or f16); the group's other operands (inputs,
/// constants, values from outside) may broadcast. Members are the ops with ops.def's EwFusable
/// trait; a Cheap one (Add, Sub, Mul, Div, Neg, Abs, Relu, Min, Max, Clip) over operands from
/// outside any chain is copied into every group that reads it instead (it is dropped when no
/// other node needs it). Groups of one op stay as they are. The grouping depends only on the
/// graph, never on heap addresses. Runs after "fuse", so activations and residual Adds go into
/// Conv epilogues first.
///
///   Before: %a = Sub(%x, %y); %b = Add(%a, %z); %c = Div(%b, %k)
///   After:  %c = FusedElementwise(%x, %y, %z, %k) {program="Sub(i0,i1);Add(t0,i2);Div(t1,i3)"}
#include "ir/Graph.h"

namespace kiln {

/// Returns true if it fused anything.
bool fuse_elementwise_chains(Graph &g);

} // namespace kiln
