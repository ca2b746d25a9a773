#pragma once
/// Lowering: graph IR -> a Program of kernels in the loop IR (one kernel per op to start; the
/// fusion issue merges them), plus the buffer table the runtime plans memory for.
///
///   %y = Conv(%x, %w, %b) {...}   ->   kernel conv2d_pack_w (weight_only: packs %w once)
///                                      kernel conv2d_3x3s1_f32 (x, packed w, b -> y)
#include "ir/Graph.h"
#include "passes/Program.h"

namespace kiln {

/// Lowers every node; throws kiln::Error "node 'x' (Op): no CPU kernel for ..." for what it
/// cannot lower. Kernels come out with Vectorized/Unrolled loops still in place: run
/// vectorize/unroll (passes/KernelPasses.h) before codegen.
Program lower(const Graph &g, const LowerOptions &opt = {});

} // namespace kiln
