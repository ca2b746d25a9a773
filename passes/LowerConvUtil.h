#pragma once
/// Internal to the conv lowerings: what the CPU (passes/LowerConv.cpp) and GPU-shaped
/// (passes/LowerConvGpu.cpp) conv kernels share: the conv's geometry and operands, the
/// weight-packing launch and the fused epilogue activation.
///
///   ConvGeom g = conv_geom(n, *x, *w, *y);
///   int wp = pack_conv_weights(cx, n, g, tiles, DType::f32, nullptr); //
///   wp[G][NB][KH][KW][Cg][OCB] Expr out = conv_activation(n, conv_operands(n, false).act, acc);
#include "passes/ConvTileCost.h"
#include "passes/LowerContext.h"

#include <string>

namespace kiln {

/// The geometry of Conv/ConvInteger/ConvTranspose node `n` (x input, w weights, y output; 4-D).
ConvGeom conv_geom(const Node &n, const Value &x, const Value &w, const Value &y);

/// Throws the "no CPU kernel" error unless the input and weights of `n` are 4-D (2-D conv).
void check_conv_4d(const Node &n);

/// Appends the launch that packs W[M][Cg][KH][KW] (minus the weight zero point `wzp` for
/// ConvInteger) into wp[G][NB][KH][KW][Cg][t.ocb] of dtype `adt` (zero for the padded output
/// channels; weight-only when the weights are); returns the packed buffer.
int pack_conv_weights(LowerContext &cx, const Node &n, const ConvGeom &g, const ConvTiles &t,
                      DType adt, const Value *wzp);

/// A Conv's or ConvInteger's optional operands (absent: nullptr) and fused activation.
struct ConvOperands {
  const Value *bias = nullptr, *residual = nullptr; ///< Conv
  const Value *xzp = nullptr, *wzp = nullptr;       ///< ConvInteger's zero points
  std::string act = "none";
};
ConvOperands conv_operands(const Node &n, bool integer);

/// Conv's fused epilogue activation `act` (ops.def) applied to the f32 accumulator `v`: the
/// same formulas as the standalone elementwise kernels, so fused and unfused outputs agree.
Expr conv_activation(const Node &n, const std::string &act, Expr v);

} // namespace kiln
