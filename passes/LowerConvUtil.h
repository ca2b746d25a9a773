#pragma once
/// Internal to the conv / pool / matmul lowerings (passes/LowerConv.cpp, LowerPool.cpp,
/// LowerMatmul.cpp): small expression helpers and the conv tile choice.
#include "passes/LowerContext.h"

#include "ir/Error.h"

#include <functional>
#include <limits>
#include <string>

namespace kiln {

// ---- conv tiling ----
/// Register tile of the conv kernels: `ocb` output channels x `nv` vectors of `lanes` output
/// pixels, accumulated in registers; pixels are walked as `rows` rows of `row_len` (for
/// 1x1/s1/p0 convs the whole OH*OW plane is cut into rows of similar length instead of image
/// rows, so narrow images do not waste lanes).
struct ConvTiles {
  int64_t ocb = 8, nv = 2, lanes = 16;
  bool flat = false;
  int64_t rows = 1, row_len = 1;
};

/// The geometry of a 2-D conv (NCHW, weights [M][C/group][KH][KW]).
struct ConvGeom {
  int64_t n, c, h, w, m, oh, ow, kh, kw, group, cg, mg, sh, sw, dh, dw, pt, pl;
  bool is_pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && oh == h && ow == w;
  }
  bool is_depthwise() const { return group > 1 && cg == 1 && mg == 1; }
};

/// The one place conv tile sizes are chosen (a tiling pass can take this over later).
ConvTiles choose_conv_tiles(const ConvGeom &g, const LowerOptions &opt);

// ---- shared by the CPU and GPU conv lowerings (passes/LowerConv.cpp) ----

/// The geometry of Conv/ConvInteger node `n` (x input, w weights, y output; 4-D).
ConvGeom conv_geom(const Node &n, const Value &x, const Value &w, const Value &y);

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

/// Conv's fused epilogue activation `act` (ops.def) applied to the f32 accumulator `v`.
Expr conv_activation(const Node &n, const std::string &act, Expr v);

namespace lc {

// ---- errors ----

[[noreturn]] inline void no_cpu_kernel(const Node &n, const std::string &what) {
  throw Error("node '" + n.name + "' (" + std::string(op_name(n.op)) + "): no CPU kernel for " +
              what);
}

// ---- expression helpers (null predicates mean "always true") ----

inline Expr lt(Expr a, Expr b) { return binary(BinOp::Lt, std::move(a), std::move(b)); }
inline Expr le(Expr a, Expr b) { return binary(BinOp::Le, std::move(a), std::move(b)); }
inline Expr ge(Expr a, Expr b) { return binary(BinOp::Le, std::move(b), std::move(a)); }
inline Expr emin(Expr a, Expr b) { return binary(BinOp::Min, std::move(a), std::move(b)); }
inline Expr emax(Expr a, Expr b) { return binary(BinOp::Max, std::move(a), std::move(b)); }
inline Expr ediv(Expr a, int64_t b) {
  return b == 1 ? a : binary(BinOp::Div, std::move(a), imm(b));
}
inline Expr emod(Expr a, int64_t b) { return binary(BinOp::Mod, std::move(a), imm(b)); }
/// a && b where either may be null (true).
inline Expr land(Expr a, Expr b) {
  if (!a)
    return b;
  if (!b)
    return a;
  return binary(BinOp::And, std::move(a), std::move(b));
}

/// An integer immediate of any integer dtype (imm() is i64 only).
inline Expr typed_imm(int64_t v, DType t) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::IntImm;
  n->type = {t, 1};
  n->ival = v;
  return n;
}

/// Zero of an accumulator dtype.
inline Expr zero_of(DType t) { return is_float(t) ? fimm(0, t) : typed_imm(0, t); }

/// The dtype products and sums are accumulated in: f32 for the float types (f16 inputs are
/// widened on load), i32 for 8/16/32-bit integers, i64 for i64.
inline DType acc_dtype(DType t) {
  if (is_float(t))
    return t == DType::f64 ? DType::f64 : DType::f32;
  return t == DType::i64 ? DType::i64 : DType::i32;
}

/// load(buf) of stored dtype `t`, converted to `to` when they differ.
inline Expr load_as(int buf, DType t, DType to, Expr index, Expr pred = nullptr) {
  Expr e = load(buf, {t, 1}, std::move(index), std::move(pred));
  return t == to ? e : cast({to, 1}, e);
}

/// `value` converted to the stored dtype `t`.
inline Expr store_cast(DType t, Expr value) {
  return value->type.dtype == t ? value : cast({t, 1}, std::move(value));
}

/// A loop over [0, extent) of `kind`, or the body with the index 0 when extent is 1 (keeps
/// kernels readable and saves the backend a trivial loop).
inline Stmt loop(KernelBuilder &kb, int64_t extent, ForKind kind,
                 const std::function<Stmt(Expr)> &body) {
  if (extent == 1 && kind != ForKind::Parallel)
    return body(imm(0));
  int v = kb.new_var();
  return for_loop(v, imm(0), imm(extent), kind, body(var(v)));
}

/// Splits the parallel index into coordinates of `extents` (outermost first), binding each
/// with Let; `body` gets one expression per extent (imm(0) for extents of 1).
Stmt split_parallel(KernelBuilder &kb, Expr p, const std::vector<int64_t> &extents,
                    const std::function<Stmt(const std::vector<Expr> &)> &body);

/// "3x3s2" style detail for kernel names: kernel, stride (one number when equal), dilation.
std::string window_detail(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh = 1,
                          int64_t dw = 1);

/// `inner` under the input-row bounds check of a conv tap row `ih`: ih >= 0 when `check_top`,
/// ih < h when `check_bottom` (neither: `inner` as it is).
inline Stmt guard_input_row(Expr ih, bool check_top, bool check_bottom, int64_t h, Stmt inner) {
  Expr ok;
  if (check_top)
    ok = land(ok, ge(ih, imm(0)));
  if (check_bottom)
    ok = land(ok, lt(ih, imm(h)));
  return ok ? if_then(ok, inner) : inner;
}

} // namespace lc
} // namespace kiln
