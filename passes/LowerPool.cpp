// MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool / BatchNormalization -> loop IR.
// MaxPool on the channel-blocked layout has its own kernel (lower_blocked_max_pool).
//
// Windowed pools are vectorised over the output width with predicated loads, as the conv
// kernels are (no weights, one accumulator vector per NV):
//
//   kernel maxpool_5x5s1_f32(x, y) parallel N*C*OH:
//     parallel for (nc, oh): for tile of ow:
//       acc[u][lane] = -inf
//       for kh: if ih in [0, H): for kw: acc = max(acc, valid ? x[nc][ih][iw] : -inf)
//       y[nc][oh][ow...] = acc     (AveragePool: acc / count, count as ir/reference/Conv.cpp)
#include "passes/LowerContext.h"
#include "passes/LowerExpr.h"
#include "passes/LowerLoops.h"

#include <algorithm>
#include <cmath>

namespace kiln {

using namespace lw;

namespace {

bool float_or_half(DType t) { return is_float_storage(t); }

/// The identity of max for `t`: -inf for floats, the lowest value for 8-bit integers.
Expr max_identity(DType t) {
  if (is_float(t))
    return fimm(-std::numeric_limits<double>::infinity(), t);
  return typed_imm(t == DType::u8 ? 0 : -128, t);
}

std::string kname(const std::string &op, const std::string &detail, DType t) {
  return op + (detail.empty() ? "" : "_" + detail) + "_" + std::string(dtype_name(t));
}

void lower_window_pool(LowerContext &cx, const Node &n) {
  const bool is_max = n.op == OpKind::MaxPool;
  const Value *x = n.inputs[0], *y = n.outputs[0];
  if (n.outputs.size() > 1)
    no_kernel(n, "MaxPool indices output");
  if (x->shape.size() != 4)
    no_kernel(n, "non-2-D pooling");
  bool int8 = x->dtype == DType::u8 || x->dtype == DType::i8;
  if (!float_or_half(x->dtype) && !(is_max && int8))
    no_kernel(n, std::string(dtype_name(x->dtype)) + " pooling");
  const Attrs &a = n.attrs;
  const auto &k = a.ints("kernel"), &st = a.ints("strides"), &pads = a.ints("pads");
  const int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
  const int64_t oh = y->shape[2], ow = y->shape[3], kh = k[0], kw = k[1];
  const int64_t sh = st[0], sw = st[1];
  int64_t dh = 1, dw = 1;
  if (a.has("dilations"))
    dh = a.ints("dilations")[0], dw = a.ints("dilations")[1];
  const int64_t pt = pads[0], pl = pads[1], pb = pads[2], pr = pads[3];
  const bool include_pad = !is_max && a.i("count_include_pad") != 0;
  const DType adt = int8 ? x->dtype : DType::f32;

  const int64_t v = cx.opt.vector_lanes_f32, nv = ow > v ? 2 : 1, tw = nv * v;
  const int64_t ntiles = ceil_div(ow, tw);
  const bool tail = ow % tw != 0;
  const bool check_top = pt > 0, check_bottom = (oh - 1) * sh - pt + (kh - 1) * dh >= h;
  const bool check_left = pl > 0, check_right = (ow - 1) * sw - pl + (kw - 1) * dw >= w;

  KernelBuilder kb(
      kname(is_max ? "maxpool" : "avgpool", window_detail(kh, kw, sh, sw, dh, dw), x->dtype));
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  const int acc = kb.new_local();
  const Expr identity = is_max ? max_identity(adt) : zero_of(adt);

  int p = kb.new_var();
  Stmt body = split_parallel(kb, var(p), {nc, oh}, [&](const std::vector<Expr> &c) {
    Expr ci = c[0], r = c[1];
    return loop(kb, ntiles, ForKind::Serial, [&](Expr tile) {
      auto pix = [&](Expr u, Expr l) { return tile * imm(tw) + u * imm(v) + l; };
      auto each = [&](const std::function<Stmt(Expr, Expr)> &f) {
        return loop(kb, nv, ForKind::Unrolled, [&](Expr u) {
          return loop(kb, v, ForKind::Vectorized, [&](Expr l) { return f(u, l); });
        });
      };
      Stmt init = each([&](Expr u, Expr l) { return store(acc, u * imm(v) + l, identity); });
      Stmt reduce = loop(kb, kh, ForKind::Serial, [&](Expr i) {
        Expr ih = r * imm(sh) - imm(pt) + i * imm(dh);
        Stmt inner = loop(kb, kw, ForKind::Serial, [&](Expr jw) {
          return each([&](Expr u, Expr l) {
            Expr j = pix(u, l), iw = j * imm(sw) - imm(pl) + jw * imm(dw), pred;
            if (tail)
              pred = lt(j, imm(ow));
            if (check_left)
              pred = land(pred, ge(iw, imm(0)));
            if (check_right)
              pred = land(pred, lt(iw, imm(w)));
            Expr val = load_as(xb, x->dtype, adt, (ci * imm(h) + ih) * imm(w) + iw, pred);
            Expr cur = load(acc, {adt, 1}, u * imm(v) + l);
            // Padding never wins a max; a predicated-off load reads 0, right for sums.
            if (is_max && pred)
              val = select(pred, val, identity);
            return store(acc, u * imm(v) + l, is_max ? emax(cur, val) : cur + val);
          });
        });
        return guard_input_row(ih, check_top, check_bottom, h, inner);
      });
      Stmt epilogue = each([&](Expr u, Expr l) {
        Expr j = pix(u, l);
        Expr val = load(acc, {adt, 1}, u * imm(v) + l);
        if (!is_max) {
          // As ONNX Runtime: clip the window to the padded input, then to the real input.
          Expr hs = r * imm(sh) - imm(pt), he = emin(hs + imm(kh), imm(h + pb));
          Expr ws = j * imm(sw) - imm(pl), we = emin(ws + imm(kw), imm(w + pr));
          Expr count = include_pad ? (he - hs) * (we - ws)
                                   : (emin(he, imm(h)) - emax(hs, imm(0))) *
                                         (emin(we, imm(w)) - emax(ws, imm(0)));
          val = binary(BinOp::Div, val, cast({adt, 1}, count));
        }
        return store(yb, (ci * imm(oh) + r) * imm(ow) + j, store_cast(y->dtype, val),
                     tail ? lt(j, imm(ow)) : nullptr);
      });
      return allocate(acc, adt, nv * v, block({init, reduce, epilogue}));
    });
  });
  const int64_t extent = nc * oh;
  std::vector<int> args = kb.args();
  Kernel kern = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(kern), std::move(args), false, n);
}

/// MaxPool on the channel-blocked layout (ops.def `block` = b): X [N, C/b, H, W, b] ->
/// Y [N, C/b, OH, OW, b], vectorised over the b channel lanes. A tile of T output pixels of one
/// row first takes the max over the kh window rows of every input column it reads (one vector
/// each, kept in registers), then each pixel the max of its kw columns: kh*cols + T*kw max ops
/// instead of T*kh*kw, each input vector loaded once per window row. Which columns of a tile
/// lie in the padding is known from its position: the border tiles are emitted one by one with
/// those columns left out (no predicates, no -inf loads), the interior ones as a loop without
/// checks, the last partial tile on its own.
///
///   kernel maxpool_5x5s1_nchw16c_f32(x, y) parallel N*C/b*OH:
///     parallel for (cb, oh): for each tile (ow0, T pixels):
///       col[c][lane] = -inf                   for c < (T-1)*sw + (kw-1)*dw + 1 in the input
///       for kh: if ih in [0, H): col[c][lane] = max(col[c][lane], x[cb][ih][ow0*sw-pl+c][lane])
///       y[cb][oh][ow0+t][lane] = max over j < kw of col[t*sw + j*dw][lane]
void lower_blocked_max_pool(LowerContext &cx, const Node &n, int64_t b) {
  const Value *x = n.inputs[0], *y = n.outputs[0];
  if (cx.opt.gpu)
    no_kernel(n, "blocked MaxPool");
  bool int8 = x->dtype == DType::u8 || x->dtype == DType::i8;
  if (!float_or_half(x->dtype) && !int8)
    no_kernel(n, std::string(dtype_name(x->dtype)) + " pooling");
  const Attrs &a = n.attrs;
  const auto &k = a.ints("kernel"), &st = a.ints("strides"), &pads = a.ints("pads");
  const int64_t ncb = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
  const int64_t oh = y->shape[2], ow = y->shape[3], kh = k[0], kw = k[1];
  const int64_t sh = st[0], sw = st[1], pt = pads[0], pl = pads[1];
  int64_t dh = 1, dw = 1;
  if (a.has("dilations"))
    dh = a.ints("dilations")[0], dw = a.ints("dilations")[1];
  const DType adt = int8 ? x->dtype : DType::f32;
  const Expr identity = max_identity(adt);
  const bool check_top = pt > 0, check_bottom = (oh - 1) * sh - pt + (kh - 1) * dh >= h;

  // 8 pixels a tile while one column is one register (b lanes), 4 when it takes more.
  const int64_t tw = std::min<int64_t>(ow, b <= cx.opt.vector_lanes_f32 ? 8 : 4);
  auto span = [&](int64_t t) { return (t - 1) * sw + (kw - 1) * dw + 1; };

  KernelBuilder kb(kname("maxpool",
                         window_detail(kh, kw, sh, sw, dh, dw) + "_nchw" + std::to_string(b) + "c",
                         x->dtype));
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  auto lanes = [&](const std::function<Stmt(Expr)> &f) {
    return loop(kb, b, ForKind::Vectorized, f);
  };

  // `t` pixels from output column ow0; `at` is ow0 when it is known (border tiles), else -1.
  auto tile = [&](Expr ci, Expr r, Expr ow0, int64_t t, int64_t at) {
    const int64_t cols = span(t);
    int64_t lo = 0, hi = cols; // the columns inside the input
    if (at >= 0) {
      int64_t iw0 = at * sw - pl;
      lo = std::clamp<int64_t>(-iw0, 0, cols);
      hi = std::clamp<int64_t>(w - iw0, lo, cols);
    }
    const int col = kb.new_local();
    auto col_at = [&](int64_t c, Expr l) { return imm(c * b) + l; };
    std::vector<Stmt> init, out;
    for (int64_t c = lo; c < hi; ++c)
      init.push_back(lanes([&](Expr l) { return store(col, col_at(c, l), identity); }));
    Expr iw0 = ow0 * imm(sw) - imm(pl);
    Stmt rows = loop(kb, kh, ForKind::Serial, [&](Expr i) {
      Expr ih = r * imm(sh) - imm(pt) + i * imm(dh);
      Expr row = (ci * imm(h) + ih) * imm(w) + iw0;
      std::vector<Stmt> update;
      for (int64_t c = lo; c < hi; ++c)
        update.push_back(lanes([&](Expr l) {
          Expr val = load_as(xb, x->dtype, adt, (row + imm(c)) * imm(b) + l);
          return store(col, col_at(c, l), emax(load(col, {adt, 1}, col_at(c, l)), val));
        }));
      return guard_input_row(ih, check_top, check_bottom, h, block(std::move(update)));
    });
    for (int64_t p = 0; p < t; ++p)
      out.push_back(lanes([&](Expr l) {
        Expr m;
        for (int64_t j = 0; j < kw; ++j) {
          int64_t c = p * sw + j * dw;
          if (c < lo || c >= hi)
            continue;
          Expr v = load(col, {adt, 1}, col_at(c, l));
          m = m ? emax(m, v) : v;
        }
        if (!m)
          m = identity; // a window wholly in the padding (shape inference rules it out)
        Expr at_y = ((ci * imm(oh) + r) * imm(ow) + ow0 + imm(p)) * imm(b) + l;
        return store(yb, at_y, store_cast(y->dtype, m));
      }));
    return allocate(col, adt, cols * b,
                    block({block(std::move(init)), rows, block(std::move(out))}));
  };

  // Full tiles [0, nfull): those in [k_lo, k_hi) read no padding column.
  const int64_t nfull = ow / tw, rem = ow % tw, step = tw * sw;
  const int64_t k_lo = std::min(nfull, ceil_div(pl, step));
  const int64_t room = w + pl - span(tw); // ow0*sw <= room keeps the tile inside the input
  const int64_t k_hi = std::clamp<int64_t>(room >= 0 ? room / step + 1 : 0, k_lo, nfull);
  int p = kb.new_var();
  Stmt body = split_parallel(kb, var(p), {ncb, oh}, [&](const std::vector<Expr> &c) {
    std::vector<Stmt> steps;
    for (int64_t t = 0; t < k_lo; ++t)
      steps.push_back(tile(c[0], c[1], imm(t * tw), tw, t * tw));
    if (k_hi > k_lo) {
      int kv = kb.new_var();
      steps.push_back(for_loop(kv, imm(k_lo), imm(k_hi - k_lo), ForKind::Serial,
                               tile(c[0], c[1], var(kv) * imm(tw), tw, -1)));
    }
    for (int64_t t = k_hi; t < nfull; ++t)
      steps.push_back(tile(c[0], c[1], imm(t * tw), tw, t * tw));
    if (rem > 0)
      steps.push_back(tile(c[0], c[1], imm(nfull * tw), rem, nfull * tw));
    return block(std::move(steps));
  });
  const int64_t extent = ncb * oh;
  std::vector<int> args = kb.args();
  Kernel kern = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(kern), std::move(args), false, n);
}

void lower_global_pool(LowerContext &cx, const Node &n) {
  const bool is_max = n.op == OpKind::GlobalMaxPool;
  const Value *x = n.inputs[0], *y = n.outputs[0];
  if (!float_or_half(x->dtype))
    no_kernel(n, std::string(dtype_name(x->dtype)) + " pooling");
  const int64_t nc = x->shape[0] * x->shape[1];
  const int64_t s = shape_numel(x->shape) / std::max<int64_t>(nc, 1);
  const DType adt = DType::f32;
  const int64_t v = cx.opt.vector_lanes_f32, full = s / v, rem = s % v;

  KernelBuilder kb(kname(is_max ? "globalmaxpool" : "globalavgpool", "", x->dtype));
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  const int acc = kb.new_local(), sum = kb.new_local();
  const Expr identity = is_max ? max_identity(adt) : zero_of(adt);
  auto combine = [&](Expr a, Expr b) { return is_max ? emax(a, b) : a + b; };

  int p = kb.new_var();
  Expr ci = var(p);
  std::vector<Stmt> steps;
  steps.push_back(
      loop(kb, v, ForKind::Vectorized, [&](Expr l) { return store(acc, l, identity); }));
  if (full > 0)
    steps.push_back(loop(kb, full, ForKind::Serial, [&](Expr t) {
      return loop(kb, v, ForKind::Vectorized, [&](Expr l) {
        Expr val = load_as(xb, x->dtype, adt, ci * imm(s) + t * imm(v) + l);
        return store(acc, l, combine(load(acc, {adt, 1}, l), val));
      });
    }));
  if (rem > 0)
    steps.push_back(loop(kb, v, ForKind::Vectorized, [&](Expr l) {
      Expr pred = lt(l, imm(rem));
      Expr val = load_as(xb, x->dtype, adt, ci * imm(s) + imm(full * v) + l, pred);
      if (is_max)
        val = select(pred, val, identity);
      return store(acc, l, combine(load(acc, {adt, 1}, l), val));
    }));
  // Horizontal reduction of the lanes.
  steps.push_back(store(sum, imm(0), load(acc, {adt, 1}, imm(0))));
  steps.push_back(loop(kb, v - 1, ForKind::Serial, [&](Expr l) {
    return store(sum, imm(0),
                 combine(load(sum, {adt, 1}, imm(0)), load(acc, {adt, 1}, l + imm(1))));
  }));
  Expr result = load(sum, {adt, 1}, imm(0));
  if (!is_max)
    result = binary(BinOp::Div, result, fimm(double(s), adt));
  steps.push_back(store(yb, ci, store_cast(y->dtype, result)));
  Stmt body = allocate(acc, adt, v, allocate(sum, adt, 1, block(std::move(steps))));
  std::vector<int> args = kb.args();
  Kernel kern = kb.finish(for_loop(p, imm(0), imm(nc), ForKind::Parallel, body), nc);
  cx.launch(std::move(kern), std::move(args), false, n);
}

} // namespace

void lower_pool(LowerContext &cx, const Node &n) {
  if (n.op == OpKind::GlobalAveragePool || n.op == OpKind::GlobalMaxPool)
    return lower_global_pool(cx, n);
  if (n.op == OpKind::MaxPool && n.attrs.has("block") && n.attrs.i("block") > 0)
    return lower_blocked_max_pool(cx, n, n.attrs.i("block"));
  lower_window_pool(cx, n);
}

// Inference BatchNormalization: y = (x - mean) * (scale / sqrt(var + eps)) + bias, per
// channel, vectorised over each channel's plane (graph passes normally fold it into a conv).
void lower_batchnorm(LowerContext &cx, const Node &n) {
  const Value *x = n.inputs[0], *y = n.outputs[0];
  if (!float_or_half(x->dtype))
    no_kernel(n, std::string(dtype_name(x->dtype)) + " BatchNormalization");
  const int64_t batch = x->shape[0], ch = x->shape[1];
  int64_t inner = 1;
  for (size_t i = 2; i < x->shape.size(); ++i)
    inner *= x->shape[i];
  const DType adt = DType::f32;
  const int64_t v = cx.opt.vector_lanes_f32, ntiles = ceil_div(inner, v);
  const bool tail = inner % v != 0;
  const float eps = static_cast<float>(n.attrs.f("epsilon"));

  KernelBuilder kb(kname("batchnorm", "", x->dtype));
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int pb[4];
  for (int i = 0; i < 4; ++i)
    pb[i] = kb.param(cx.prog, cx.buffer(n.inputs[1 + i]), false);
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  int p = kb.new_var();
  Stmt body = split_parallel(kb, var(p), {batch, ch}, [&](const std::vector<Expr> &c) {
    Expr ci = c[1];
    auto param = [&](int i) { return load_as(pb[i], n.inputs[1 + i]->dtype, adt, ci); };
    // Loop-invariant scalars: the backend hoists them out of the tile loop.
    Expr scale = binary(BinOp::Div, param(0), unary(UnOp::Sqrt, param(3) + fimm(eps, adt)));
    return loop(kb, ntiles, ForKind::Serial, [&](Expr t) {
      return loop(kb, v, ForKind::Vectorized, [&](Expr l) {
        Expr j = t * imm(v) + l, pred = tail ? lt(j, imm(inner)) : nullptr;
        Expr idx = var(p) * imm(inner) + j;
        Expr val = (load_as(xb, x->dtype, adt, idx, pred) - param(2)) * scale + param(1);
        return store(yb, idx, store_cast(y->dtype, val), pred);
      });
    });
  });
  const int64_t extent = batch * ch;
  std::vector<int> args = kb.args();
  Kernel kern = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(kern), std::move(args), false, n);
}

} // namespace kiln
