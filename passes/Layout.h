#pragma once
/// The `layout` pass: channel-blocked activations (NCHWc, docs/DESIGN.md "Blocked layout").
///
/// Convs whose output channels are a multiple of the block `b` (the target's vector lanes)
/// write [N, C/b, H, W, b] instead of NCHW, so one vector is b channels of one pixel; the ops
/// that only move or combine whole channels run on that layout too (elementwise ops and fused
/// chains over same-shaped operands, Concat and Split on channels, MaxPool, Resize of H and W),
/// and a Reshape + Transpose pair converts at the edges: before ops that need NCHW and before
/// graph outputs. Graph inputs and outputs keep their names, shapes and layout.
///
///   conv(x[1,64,80,80]) -> silu -> concat -> conv      Conv y_block=16 -> [1,4,80,80,16]
///                                                      Concat axis 1 of blocked inputs
///                                                      Conv x_block=16 ...
///   graph output y                                     Transpose + Reshape back to NCHW
#include "ir/Graph.h"

namespace kiln {

/// Rewrites `g` to the blocked layout with block `b` (b <= 1: no change), and `b_f16` for f16
/// values (0: b; a target with native f16 vectors holds twice the f32 lanes). Returns true
/// when it changed the graph.
bool block_layout(Graph &g, int64_t b, int64_t b_f16 = 0);

} // namespace kiln
