#pragma once
/// Internal to the conv lowering: the CPU kernels for Conv on channel-blocked tensors (a Conv
/// with x_block or y_block, made by the `layout` pass, passes/Layout.h): dense convs with an
/// NCHW or blocked input and output, and depthwise convs blocked on both sides.
///
///   if (g.blocked()) return lower_conv_blocked(cx, n, g, choose_conv_tiles(g, cx.opt));
#include "passes/ConvTileCost.h"
#include "passes/LowerContext.h"

namespace kiln {

/// Appends the weight-packing launch and the conv launch of blocked Conv `n` with geometry `g`
/// and the blocked tile `t` (ConvTiles::blocked). Throws the "no CPU kernel" error for dtypes
/// other than f32/f16 storage, grouped convs other than depthwise, and a depthwise conv blocked
/// on one side only.
void lower_conv_blocked(LowerContext &cx, const Node &n, const ConvGeom &g, const ConvTiles &t);

} // namespace kiln
