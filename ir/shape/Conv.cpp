// Shape inference of the Conv, Pool and Norm families: 2-D NCHW window ops (Conv and MaxPool also
// on the channel-blocked layout, docs/DESIGN.md) and BatchNormalization.
#include "ir/shape/Infer.h"

namespace kiln::shape {

namespace {

/// Strides, dilations and pads of a 2-D window op.
struct Window {
  std::vector<int64_t> strides, dilations, pads;
};

Window window_attrs(Infer &c, bool has_dilations) {
  Window w;
  w.strides = c.ints("strides", 2);
  w.dilations = has_dilations ? c.ints("dilations", 2) : std::vector<int64_t>{1, 1};
  w.pads = c.ints("pads", 4);
  for (int64_t s : w.strides)
    if (s < 1)
      c.fail("strides " + ints_str(w.strides) + " must be >= 1");
  for (int64_t d : w.dilations)
    if (d < 1)
      c.fail("dilations " + ints_str(w.dilations) + " must be >= 1");
  for (int64_t p : w.pads)
    if (p < 0)
      c.fail("pads " + ints_str(w.pads) + " must be >= 0");
  return w;
}

/// Output size along spatial axis `a` (0: H, 1: W) of a window op over `in`.
int64_t window_out(Infer &c, const Window &w, int a, int64_t in, int64_t k, bool ceil_mode) {
  int64_t s = w.strides[a], pb = w.pads[a], pe = w.pads[a + 2];
  int64_t extent = c.add(c.mul(w.dilations[a], k - 1), 1);
  int64_t padded = c.add(c.add(in, pb), pe);
  const char *axis = a == 0 ? "height" : "width";
  if (padded < extent)
    c.fail(std::string("window extent ") + std::to_string(extent) + " exceeds padded " + axis +
           " " + std::to_string(padded));
  int64_t span = padded - extent;
  int64_t out = span / s + 1;
  if (ceil_mode && span % s != 0) {
    ++out;
    // ONNX: the last window must start inside the input or the left padding.
    if (c.mul(out - 1, s) >= in + pb)
      --out;
  }
  if (out <= 0)
    c.fail(std::string("output ") + axis + " " + std::to_string(out) + " is not positive");
  return out;
}

/// Kernel dims of a weight [*, *, kh, kw] must be positive.
void check_kernel(Infer &c, const Value &w) {
  if (w.shape[2] < 1 || w.shape[3] < 1)
    c.fail("weight " + shape_str(w.shape) + " has an empty kernel");
}

/// An optional channel-block attribute (docs/DESIGN.md, "Blocked layout"): absent or 0 is
/// NCHW, b > 0 the 5-D form [N, C/b, H, W, b].
int64_t block_attr(Infer &c, const char *name) {
  if (!c.has(name))
    return 0;
  int64_t b = c.i(name);
  if (b < 0)
    c.fail(std::string("attribute '") + name + "' is " + std::to_string(b) + ", must be >= 0");
  return b;
}

/// The logical NCHW shape of `v`: v's own shape (rank 4) when `b` is 0, else v must be the
/// blocked [N, C/b, H, W, b] and the result is [N, C, H, W].
Shape logical_nchw(Infer &c, const Value &v, const char *what, const char *attr, int64_t b) {
  if (b == 0) {
    c.rank(v, what, 4);
    return v.shape;
  }
  if (v.shape.size() != 5)
    c.fail(std::string(what) + " has shape " + shape_str(v.shape) + " but " + attr + " " +
           std::to_string(b) + " needs the blocked rank-5 [N, C/b, H, W, b]");
  if (v.shape[4] != b)
    c.fail(std::string(attr) + " " + std::to_string(b) + " does not match the last dim of " + what +
           " " + shape_str(v.shape));
  return {v.shape[0], c.mul(v.shape[1], b), v.shape[2], v.shape[3]};
}

/// The NCHW shape `s` in blocked form with block `b` (0: `s` itself); C must divide by b.
Shape to_blocked(Infer &c, const Shape &s, const char *what, const char *attr, int64_t b) {
  if (b == 0)
    return s;
  if (s[1] % b != 0)
    c.fail(std::string(what) + " has " + std::to_string(s[1]) + " channels, not divisible by " +
           attr + " " + std::to_string(b));
  return {s[0], s[1] / b, s[2], s[3], b};
}

/// The output shape of Conv / ConvInteger: X[N,C,H,W] (the logical shape `xs`) with
/// W[M,C/group,kh,kw].
Shape conv_shape(Infer &c, const Shape &xs, const Value &w) {
  c.rank(w, "weight W", 4);
  check_kernel(c, w);
  int64_t group = c.i("group");
  if (group < 1)
    c.fail("group " + std::to_string(group) + " must be >= 1");
  int64_t ch = xs[1], m = w.shape[0];
  if (c.mul(w.shape[1], group) != ch)
    c.fail("weight has " + std::to_string(w.shape[1]) + " input channels per group but input has " +
           std::to_string(ch) + " channels (group " + std::to_string(group) + ")");
  if (m % group != 0)
    c.fail("weight has " + std::to_string(m) + " output channels, not divisible by group " +
           std::to_string(group));
  Window win = window_attrs(c, true);
  return {xs[0], m, window_out(c, win, 0, xs[2], w.shape[2], false),
          window_out(c, win, 1, xs[3], w.shape[3], false)};
}

/// Optional bias B[M] of the dtype of X.
void check_bias(Infer &c, const Value &x, int64_t m) {
  const Value *b = c.opt(2);
  if (!b)
    return;
  c.same_dtype(*b, "bias B", x, "input X");
  if (b->shape != Shape{m})
    c.fail("bias B has shape " + shape_str(b->shape) + " but must be " + std::to_string(m));
}

void conv(Infer &c) {
  c.arity(2, 4);
  const Value &x = c.in(0), &w = c.in(1);
  c.kind(x, "input X", Kind::floating);
  c.same_dtype(w, "weight W", x, "input X");
  const int64_t xb = block_attr(c, "x_block"), yb = block_attr(c, "y_block");
  Shape out = conv_shape(c, logical_nchw(c, x, "input X", "x_block", xb), w);
  check_bias(c, x, out[1]);
  out = to_blocked(c, out, "the output", "y_block", yb);
  // The fused epilogue (passes/Fuse.h): absent attributes mean no activation, so graphs built
  // by hand and older text IR stay valid.
  if (c.has("activation"))
    c.choice("activation", {"none", "relu", "sigmoid", "silu", "leaky_relu", "hardswish"});
  if (c.has("alpha"))
    c.f("alpha");
  if (const Value *r = c.opt(3)) {
    c.same_dtype(*r, "residual", x, "input X");
    if (r->shape != out)
      c.fail("residual has shape " + shape_str(r->shape) + " but the output is " + shape_str(out));
  }
  c.out(x.dtype, out);
}

void conv_transpose(Infer &c) {
  c.arity(2, 3);
  const Value &x = c.in(0), &w = c.in(1);
  c.kind(x, "input X", Kind::floating);
  c.same_dtype(w, "weight W", x, "input X");
  c.rank(x, "input X", 4);
  c.rank(w, "weight W", 4);
  check_kernel(c, w);
  int64_t group = c.i("group");
  if (group < 1)
    c.fail("group " + std::to_string(group) + " must be >= 1");
  if (w.shape[0] != x.shape[1])
    c.fail("weight " + shape_str(w.shape) + " has " + std::to_string(w.shape[0]) +
           " input channels but input has " + std::to_string(x.shape[1]));
  if (x.shape[1] % group != 0)
    c.fail("input channels " + std::to_string(x.shape[1]) + " are not divisible by group " +
           std::to_string(group));
  int64_t m = c.mul(w.shape[1], group);
  check_bias(c, x, m);
  Window win = window_attrs(c, true);
  const auto &opad = c.ints("output_padding", 2);
  Shape out = {x.shape[0], m, 0, 0};
  for (int a = 0; a < 2; ++a) {
    int64_t s = win.strides[a], d = win.dilations[a];
    if (opad[a] < 0 || (opad[a] >= s && opad[a] >= d))
      c.fail("output_padding " + ints_str(opad) + " must be >= 0 and below stride or dilation");
    // (in-1)*stride - pad_begin - pad_end + dilation*(k-1) + output_padding + 1
    int64_t o = c.mul(x.shape[2 + a] - 1, s);
    o = c.add(o, -c.add(win.pads[a], win.pads[a + 2]));
    o = c.add(o, c.add(c.mul(d, w.shape[2 + a] - 1), c.add(opad[a], 1)));
    if (o <= 0)
      c.fail(std::string("output ") + (a == 0 ? "height " : "width ") + std::to_string(o) +
             " is not positive");
    out[2 + a] = o;
  }
  c.out(x.dtype, out);
}

void conv_integer(Infer &c) {
  c.arity(4, 4);
  const Value &x = c.in(0), &w = c.in(1), &xz = c.in(2), &wz = c.in(3);
  c.dtype_in(x, "input X", {DType::u8, DType::i8});
  c.dtype_in(w, "weight W", {DType::u8, DType::i8});
  c.same_dtype(xz, "x_zero_point", x, "input X");
  c.same_dtype(wz, "w_zero_point", w, "weight W");
  c.rank(x, "input X", 4);
  Shape out = conv_shape(c, x.shape, w);
  if (!is_scalar_like(xz.shape))
    c.fail("x_zero_point has shape " + shape_str(xz.shape) + " but must be a scalar");
  if (!is_scalar_like(wz.shape) && wz.shape != Shape{out[1]})
    c.fail("w_zero_point has shape " + shape_str(wz.shape) + " but must be a scalar or " +
           std::to_string(out[1]));
  c.out(DType::i32, out);
}

void qlinear_conv(Infer &c) {
  c.arity(8, 11);
  const Value &x = c.in(0), &w = c.in(3), &yz = c.in(7);
  c.dtype_in(x, "input X", {DType::u8, DType::i8});
  c.dtype_in(w, "weight W", {DType::u8, DType::i8});
  c.dtype_in(yz, "y_zero_point", {DType::u8, DType::i8});
  c.same_dtype(c.in(2), "x_zero_point", x, "input X");
  c.same_dtype(c.in(5), "w_zero_point", w, "weight W");
  c.rank(x, "input X", 4);
  Shape out = conv_shape(c, x.shape, w);
  static const char *const scalars[] = {nullptr, "x_scale", "x_zero_point", nullptr,
                                        nullptr, nullptr,   "y_scale",      "y_zero_point"};
  for (size_t i = 0; i < 8; ++i) {
    const Value &v = c.in(i);
    if (i == 1 || i == 4 || i == 6)
      c.dtype_in(v, i == 4 ? "w_scale" : scalars[i], {DType::f32});
    if (scalars[i] && !is_scalar_like(v.shape))
      c.fail(std::string(scalars[i]) + " has shape " + shape_str(v.shape) +
             " but must be a scalar");
    if ((i == 4 || i == 5) && !is_scalar_like(v.shape) && v.shape != Shape{out[1]})
      c.fail(std::string(i == 4 ? "w_scale" : "w_zero_point") + " has shape " + shape_str(v.shape) +
             " but must be a scalar or " + std::to_string(out[1]));
  }
  if (const Value *b = c.opt(8)) {
    c.dtype_in(*b, "bias B", {DType::i32});
    if (b->shape != Shape{out[1]})
      c.fail("bias B has shape " + shape_str(b->shape) + " but must be " + std::to_string(out[1]));
  }
  // The fused quantised activation and its output parameters.
  const bool act = c.has("activation") && c.choice("activation", {"none", "silu"}) != "none";
  const Value *as = c.opt(9), *az = c.opt(10);
  if (act != (as && az))
    c.fail("activation needs a_scale and a_zero_point (inputs 9 and 10), and they need it");
  if (!act)
    return c.out(yz.dtype, out);
  c.dtype_in(*as, "a_scale", {DType::f32});
  c.dtype_in(*az, "a_zero_point", {DType::u8, DType::i8});
  if (!is_scalar_like(as->shape) || !is_scalar_like(az->shape))
    c.fail("a_scale and a_zero_point must be scalars");
  c.out(az->dtype, out);
}

void pool(Infer &c, bool is_max) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  // MaxPool also runs on 8-bit quantised tensors.
  if (!is_max || (x.dtype != DType::u8 && x.dtype != DType::i8))
    c.kind(x, "input X", Kind::floating);
  // MaxPool may run on the blocked layout; the window attributes stay those of H and W.
  const int64_t b = is_max ? block_attr(c, "block") : 0;
  const Shape xs = logical_nchw(c, x, "input X", "block", b);
  const auto &kernel = c.ints("kernel", 2);
  for (int64_t k : kernel)
    if (k < 1)
      c.fail("kernel " + ints_str(kernel) + " must be >= 1");
  Window win = window_attrs(c, is_max);
  // AveragePool has no dilations; tolerate an explicit all-ones attribute.
  if (!is_max && c.has("dilations") && c.ints("dilations", 2) != std::vector<int64_t>{1, 1})
    c.fail("dilations " + ints_str(c.ints("dilations")) + " must be all 1");
  if (!is_max)
    c.flag("count_include_pad");
  bool ceil_mode = c.flag("ceil_mode");
  // A window lying entirely in padding has no defined value.
  for (int a = 0; a < 2; ++a) {
    int64_t extent = c.add(c.mul(win.dilations[a], kernel[a] - 1), 1);
    if (win.pads[a] >= extent || win.pads[a + 2] >= extent)
      c.fail("pads " + ints_str(win.pads) + " must be smaller than the window extent " +
             std::to_string(extent));
  }
  c.out(x.dtype, to_blocked(c,
                            {xs[0], xs[1], window_out(c, win, 0, xs[2], kernel[0], ceil_mode),
                             window_out(c, win, 1, xs[3], kernel[1], ceil_mode)},
                            "the output", "block", b));
}

void global_pool(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input X", Kind::floating);
  c.rank(x, "input X", 4);
  if (x.shape[2] < 1 || x.shape[3] < 1)
    c.fail("input X " + shape_str(x.shape) + " has an empty spatial extent");
  c.out(x.dtype, {x.shape[0], x.shape[1], 1, 1});
}

void batch_norm(Infer &c) {
  c.arity(5, 5);
  const Value &x = c.in(0);
  c.kind(x, "input X", Kind::floating);
  c.min_rank(x, "input X", 2);
  static const char *const names[] = {"scale", "bias", "mean", "var"};
  for (size_t i = 1; i < 5; ++i) {
    const Value &p = c.in(i);
    c.same_dtype(p, names[i - 1], x, "input X");
    if (p.shape != Shape{x.shape[1]})
      c.fail(std::string(names[i - 1]) + " has shape " + shape_str(p.shape) + " but must be " +
             std::to_string(x.shape[1]));
  }
  c.f("epsilon");
  c.out(x.dtype, x.shape);
}

} // namespace

void infer_conv(Infer &c) {
  switch (family_op<OpFamily::Conv>(c.op())) {
  case ConvOp::Conv: return conv(c);
  case ConvOp::ConvTranspose: return conv_transpose(c);
  case ConvOp::ConvInteger: return conv_integer(c);
  case ConvOp::QLinearConv: return qlinear_conv(c);
  }
}

void infer_pool(Infer &c) {
  switch (family_op<OpFamily::Pool>(c.op())) {
  case PoolOp::MaxPool: return pool(c, true);
  case PoolOp::AveragePool: return pool(c, false);
  case PoolOp::GlobalAveragePool:
  case PoolOp::GlobalMaxPool: return global_pool(c);
  }
}

void infer_norm(Infer &c) {
  switch (family_op<OpFamily::Norm>(c.op())) {
  case NormOp::BatchNormalization: return batch_norm(c);
  }
}

} // namespace kiln::shape
