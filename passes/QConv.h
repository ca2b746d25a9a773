#pragma once
/// "qconv": a quantised Conv as one integer QLinearConv (int8 dot products, int32 accumulation
/// and a fused requantize epilogue; passes/LowerQLinearConv.cpp). Matches
/// DequantizeLinear(x u8|i8) -> Conv(W = DequantizeLinear(const i8 | u8), B = DequantizeLinear(
/// const i32, scale x_scale * w_scale, zero point 0) or none) -> QuantizeLinear with constant
/// scalar x and y parameters, w_scale per tensor or per output channel, w_zero_point 0 for i8
/// weights (128 for u8), a group-1 2-D Conv with no fused epilogue yet, and a Conv output used
/// only by the QuantizeLinear; other Convs (grouped, depthwise) stay on the float path. A
/// following DequantizeLinear (same parameters) -> x * Sigmoid(x) -> QuantizeLinear (the SiLU of
/// Ultralytics' int8 exports) joins it as activation="silu". Also
/// drops QuantizeLinear(DequantizeLinear(q, s, z), s, z) -> q. Runs before `fold`, which would
/// fold the weights' DequantizeLinear into float constants.
///
///   Before: %x = DequantizeLinear(%xq, %sx, %zx); %w = DequantizeLinear(%wq, %sw, %zw)
///           %b = DequantizeLinear(%bq, %sb, %zb); %c = Conv(%x, %w, %b) {...}
///           %y = QuantizeLinear(%c, %sy, %zy)
///   After:  %y = QLinearConv(%xq, %sx, %zx, %wq, %sw, %zw, %sy, %zy, %bq) {...}
#include "ir/Graph.h"

namespace kiln {

/// Returns true if it rewrote anything.
bool quantize_convs(Graph &g);

} // namespace kiln
