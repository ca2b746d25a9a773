// Conv / ConvInteger / ConvTranspose -> loop IR kernels.
//
// Conv is a weight-packing launch (weight-only: run once at capture) plus a register-blocked
// direct convolution:
//
//   kernel conv2d_packw_3x3_f32(w in, wp out): wp[g][ocblock][kh][kw][ic][OCB] = w[oc][ic][kh][kw]
//   kernel conv2d_3x3s1_f32(x, wp, b, y) parallel N*G*blocks*rows:
//     parallel for (n, g, ocblock, row):
//       for tile in row:                      // NV vectors of V output pixels
//         acc[OCB][NV][V] = bias              // registers once unrolled/vectorized
//         for kh: if ih in [0, H): for kw: for ic:
//           xv[u][lane] = x[n][g*Cg+ic][ih][iw(u, lane)]  (predicated: padding, row tail)
//           acc[o][u][lane] += wp[...][ic][o] * xv[u][lane]
//         y[n][oc][row][tile...] = acc        (predicated row tail, skipped padded channels)
//
// The multiply-add is a Mul then an Add: whether it becomes one FMA is the backend's call
// (contraction flags), not lowering's.
#include "passes/LowerConvGpu.h"
#include "passes/LowerConvUtil.h"

#include <algorithm>
#include <cmath>

namespace kiln {

// ---- shared helpers (declared in LowerConvUtil.h) ----

namespace lc {

Stmt split_parallel(KernelBuilder &kb, Expr p, const std::vector<int64_t> &extents,
                    const std::function<Stmt(const std::vector<Expr> &)> &body) {
  std::vector<Expr> coords(extents.size());
  std::vector<std::pair<int, Expr>> lets;
  int64_t inner = 1;
  for (size_t i = extents.size(); i-- > 0;) {
    if (extents[i] == 1) {
      coords[i] = imm(0);
      continue;
    }
    Expr c = ediv(p, inner);
    // The outermost non-trivial coordinate needs no wrap-around.
    bool outermost = true;
    for (size_t j = 0; j < i; ++j)
      outermost = outermost && extents[j] == 1;
    if (!outermost)
      c = emod(c, extents[i]);
    int v = kb.new_var();
    coords[i] = var(v);
    lets.emplace_back(v, c);
    inner *= extents[i];
  }
  Stmt s = body(coords);
  for (auto &[v, value] : lets)
    s = let(v, value, s);
  return s;
}

std::string window_detail(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw) {
  std::string s = std::to_string(kh) + "x" + std::to_string(kw) + "s" + std::to_string(sh);
  if (sw != sh)
    s += "x" + std::to_string(sw);
  if (dh != 1 || dw != 1)
    s += "d" + std::to_string(dh) + (dw != dh ? "x" + std::to_string(dw) : "");
  return s;
}

} // namespace lc

using namespace lc;

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

/// Rows of similar length for the flattened pixel plane of a pointwise conv.
void flat_rows(int64_t pixels, int64_t tw, int64_t &rows, int64_t &len) {
  const int64_t target = std::max<int64_t>(tw, 256);
  rows = ceil_div(pixels, target);
  len = round_up(ceil_div(pixels, rows), tw);
}

} // namespace

ConvTiles choose_conv_tiles(const ConvGeom &g, const LowerOptions &opt) {
  ConvTiles best;
  const int64_t v = std::max(1, opt.vector_lanes_f32);
  best.lanes = v;
  best.flat = g.is_pointwise();
  // A rough cycle model per (kh, kw, ic) step: FMAs on 2 ports, loads on 2 ports (a stride-s
  // pixel vector, s <= 4, is s loads and a shuffle that takes an FMA port; a longer stride is
  // a gather, about one load per lane), and at least the 4-cycle FMA latency of each
  // accumulator chain. Score: useful FMAs per cycle (padded channels and the lanes past a
  // row's end are wasted).
  double best_score = -1;
  // Accumulator vectors that fit the register file next to the pixel vectors: 32 zmm
  // registers with AVX-512, 16 ymm with AVX2.
  const int64_t max_acc = v >= 16 ? 16 : 12;
  std::vector<int64_t> ocbs = g.mg == 1 ? std::vector<int64_t>{1} : std::vector<int64_t>{16, 8, 4};
  if (g.mg > 1 && g.mg < 8)
    ocbs = {g.mg};
  std::vector<int64_t> nvs = {1, 2, 3, 4, 6, 8};
  // The `tile` pass off: one channel x one vector. Given sizes replace the candidates (a
  // depthwise conv keeps one channel per tile; a pixel count is rounded to whole vectors).
  bool given = !opt.tile || opt.tile_oc > 0 || opt.tile_px > 0;
  if (!opt.tile)
    ocbs = {1}, nvs = {1};
  if (opt.tile && opt.tile_oc > 0 && g.mg > 1)
    ocbs = {std::min(opt.tile_oc, g.mg)};
  if (opt.tile && opt.tile_px > 0)
    nvs = {std::max<int64_t>(1, opt.tile_px / v)};
  for (int64_t ocb : ocbs)
    for (int64_t nv : nvs) {
      if (!given && (ocb * nv > max_acc || (ocb > 1 && nv > 4)))
        continue;
      int64_t tw = nv * v, rows = g.oh, len = g.ow;
      if (best.flat)
        flat_rows(g.oh * g.ow, tw, rows, len);
      double px_eff = double(g.oh * g.ow) / double(rows * round_up(len, tw));
      double oc_eff = double(g.mg) / double(round_up(g.mg, ocb));
      double fma = double(ocb * nv + (g.sw > 1 && g.sw <= 4 ? nv : 0)) / 2;
      double loads = double(nv * (g.sw > 4 ? v : g.sw) + ocb) / 2;
      double cycles = std::max({fma, loads, 4.0});
      double score = double(ocb * nv) * px_eff * oc_eff / cycles;
      if (score > best_score + 1e-9) {
        best_score = score;
        best.ocb = ocb, best.nv = nv, best.rows = rows, best.row_len = len;
      }
    }
  return best;
}

// conv_geom, pack_conv_weights and conv_activation are shared with the GPU-shaped lowering
// (passes/LowerConvGpu.cpp), declared in LowerConvUtil.h.
ConvGeom conv_geom(const Node &n, const Value &x, const Value &w, const Value &y) {
  const Attrs &a = n.attrs;
  const auto &st = a.ints("strides"), &dil = a.ints("dilations"), &pads = a.ints("pads");
  ConvGeom g;
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.m = y.shape[1], g.oh = y.shape[2], g.ow = y.shape[3];
  g.kh = w.shape[2], g.kw = w.shape[3];
  g.group = a.i("group");
  g.cg = g.c / g.group, g.mg = g.m / g.group;
  g.sh = st[0], g.sw = st[1], g.dh = dil[0], g.dw = dil[1];
  g.pt = pads[0], g.pl = pads[1];
  return g;
}

static void check_4d(const Node &n) {
  if (n.inputs[0]->shape.size() != 4 || n.inputs[1]->shape.size() != 4)
    no_cpu_kernel(n, "non-2-D convolution");
}

/// Packs W[M][Cg][KH][KW] (minus the weight zero point for ConvInteger) into
/// wp[G][NB][KH][KW][Cg][OCB] of dtype `adt`, zero for the padded output channels.
int pack_conv_weights(LowerContext &cx, const Node &n, const ConvGeom &g, const ConvTiles &t,
                      DType adt, const Value *wzp) {
  const Value *w = n.inputs[1];
  const int64_t nb = ceil_div(g.mg, t.ocb), ocb = t.ocb;
  bool weight_only = cx.is_weight(w) && (!wzp || cx.is_weight(wzp));
  int packed =
      cx.add_buffer(n.name + ".packed_w", adt, {g.group, nb, g.kh, g.kw, g.cg, ocb}, weight_only);
  KernelBuilder kb(std::string(wzp ? "convinteger" : "conv2d") + "_packw_" + std::to_string(g.kh) +
                   "x" + std::to_string(g.kw) + "_" + std::string(dtype_name(adt)));
  int wb = kb.param(cx.prog, cx.buffer(w), false);
  int zb = wzp ? kb.param(cx.prog, cx.buffer(wzp), false) : -1;
  int pb = kb.param(cx.prog, packed, true);
  const int64_t zp_numel = wzp ? shape_numel(wzp->shape) : 0;
  int p = kb.new_var();
  Stmt body = split_parallel(kb, var(p), {g.group, nb}, [&](const std::vector<Expr> &c) {
    Expr gi = c[0], b = c[1];
    return loop(kb, g.kh, ForKind::Serial, [&](Expr kh) {
      return loop(kb, g.kw, ForKind::Serial, [&](Expr kw) {
        return loop(kb, g.cg, ForKind::Serial, [&](Expr ic) {
          return loop(kb, ocb, ForKind::Serial, [&](Expr o) {
            Expr oc_l = b * imm(ocb) + o;
            Expr oc = gi * imm(g.mg) + emin(oc_l, imm(g.mg - 1));
            Expr src = ((oc * imm(g.cg) + ic) * imm(g.kh) + kh) * imm(g.kw) + kw;
            Expr val = load_as(wb, w->dtype, adt, src);
            if (wzp)
              val = val - load_as(zb, wzp->dtype, adt, zp_numel == 1 ? imm(0) : oc);
            if (g.mg % ocb != 0)
              val = select(lt(oc_l, imm(g.mg)), val, zero_of(adt));
            Expr dst =
                (((var(p) * imm(g.kh) + kh) * imm(g.kw) + kw) * imm(g.cg) + ic) * imm(ocb) + o;
            return store(pb, dst, val);
          });
        });
      });
    });
  });
  std::vector<int> args = kb.args();
  Kernel k =
      kb.finish(for_loop(p, imm(0), imm(g.group * nb), ForKind::Parallel, body), g.group * nb);
  cx.launch(std::move(k), std::move(args), weight_only, n);
  return packed;
}

/// The fused activation of Conv's epilogue (ops.def), on the f32 accumulator: the same
/// formulas as the standalone elementwise kernels, so fused and unfused outputs agree.
ConvOperands conv_operands(const Node &n, bool integer) {
  ConvOperands o;
  if (integer) {
    o.xzp = n.inputs[2];
    o.wzp = n.inputs[3];
    return o;
  }
  o.bias = n.inputs.size() > 2 ? n.inputs[2] : nullptr;
  o.residual = n.inputs.size() > 3 ? n.inputs[3] : nullptr;
  if (n.attrs.has("activation"))
    o.act = n.attrs.s("activation");
  return o;
}

Expr conv_activation(const Node &n, const std::string &act, Expr v) {
  auto k = [](double c) { return fimm(c, DType::f32); };
  if (act == "none")
    return v;
  if (act == "relu")
    return emax(v, k(0));
  if (act == "sigmoid")
    return unary(UnOp::Sigmoid, v);
  if (act == "silu")
    return v * unary(UnOp::Sigmoid, v);
  if (act == "leaky_relu")
    return select(le(k(0), v), v, k(n.attrs.f("alpha")) * v);
  if (act == "hardswish")
    return v * emax(k(0), emin(k(1), binary(BinOp::Div, v, k(6)) + k(0.5)));
  no_cpu_kernel(n, "activation '" + act + "'");
}

namespace {

/// The direct convolution kernel for Conv (integer = false) and ConvInteger.
void lower_conv_direct(LowerContext &cx, const Node &n, bool integer) {
  check_4d(n);
  if (cx.opt.gpu)
    return lower_conv_gpu(cx, n, integer); // passes/LowerConvGpu.cpp
  const Value *x = n.inputs[0], *w = n.inputs[1], *y = n.outputs[0];
  ConvGeom g = conv_geom(n, *x, *w, *y);
  if (!integer && x->dtype != DType::f32 && x->dtype != DType::f16)
    no_cpu_kernel(n, std::string(dtype_name(x->dtype)) + " Conv");
  const DType adt = integer ? DType::i32 : DType::f32;
  const ConvTiles t = choose_conv_tiles(g, cx.opt);
  const int64_t v = t.lanes, nv = t.nv, ocb = t.ocb, tw = nv * v;
  const int64_t nb = ceil_div(g.mg, ocb);
  const auto [bias, residual, xzp, wzp, act] = conv_operands(n, integer);

  // Depthwise f32 weights are already in the packed order ([G][1][KH][KW][1][1]).
  bool pack = integer || !(ocb == 1 && g.mg == 1 && g.cg == 1 && w->dtype == DType::f32);
  int wbuf = pack ? pack_conv_weights(cx, n, g, t, adt, wzp) : cx.buffer(w);

  std::string name = integer ? "convinteger_" : "conv2d_";
  if (g.is_depthwise())
    name += "dw";
  name += window_detail(g.kh, g.kw, g.sh, g.sw, g.dh, g.dw);
  if (g.group > 1 && !g.is_depthwise())
    name += "g" + std::to_string(g.group);
  if (act != "none")
    name += "_" + act;
  if (residual)
    name += "_add";
  name += "_" + std::string(dtype_name(x->dtype));
  KernelBuilder kb(name);
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int wb = kb.param(cx.prog, wbuf, false);
  int bb = bias ? kb.param(cx.prog, cx.buffer(bias), false) : -1;
  int zb = xzp ? kb.param(cx.prog, cx.buffer(xzp), false) : -1;
  int rb = residual ? kb.param(cx.prog, cx.buffer(residual), false) : -1;
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  const int acc = kb.new_local(), xv = kb.new_local();

  // Pixel rows: image rows, or for pointwise convs cuts of the flattened plane.
  const int64_t rows = t.flat ? t.rows : g.oh, row_len = t.flat ? t.row_len : g.ow;
  const int64_t pixels = g.oh * g.ow, ntiles = ceil_div(row_len, tw);
  const bool pixel_tail = t.flat ? rows * round_up(row_len, tw) != pixels : row_len % tw != 0;
  // Statically known in-bounds input rows and columns need no check.
  const bool check_top = g.pt > 0;
  const bool check_bottom = (g.oh - 1) * g.sh - g.pt + (g.kh - 1) * g.dh >= g.h;
  const bool check_left = g.pl > 0;
  const bool check_right = (g.ow - 1) * g.sw - g.pl + (g.kw - 1) * g.dw >= g.w;

  int p = kb.new_var();
  // Output-channel blocks innermost: consecutive iterations (one thread's share) read the same
  // input rows while they are still in cache, and only the small packed weights change.
  Stmt body = split_parallel(kb, var(p), {g.n, g.group, rows, nb}, [&](const std::vector<Expr> &c) {
    Expr ni = c[0], gi = c[1], r = c[2], b = c[3];
    return loop(kb, ntiles, ForKind::Serial, [&](Expr tile) {
      // Output pixel j of the row for vector u, lane l, and its validity.
      auto pix = [&](Expr u, Expr l) { return tile * imm(tw) + u * imm(v) + l; };
      auto pix_ok = [&](Expr j) -> Expr {
        if (!pixel_tail)
          return nullptr;
        return t.flat ? lt(r * imm(row_len) + j, imm(pixels)) : lt(j, imm(g.ow));
      };
      auto acc_at = [&](Expr o, Expr u, Expr l) { return (o * imm(nv) + u) * imm(v) + l; };
      auto oc_local = [&](Expr o) { return b * imm(ocb) + o; };

      // acc = bias (clamped channel index: padded channels compute garbage, never stored).
      Stmt init = loop(kb, ocb, ForKind::Unrolled, [&](Expr o) {
        Expr b0 = zero_of(adt);
        if (bias)
          b0 = load_as(bb, bias->dtype, adt, gi * imm(g.mg) + emin(oc_local(o), imm(g.mg - 1)));
        return loop(kb, nv, ForKind::Unrolled, [&](Expr u) {
          return loop(kb, v, ForKind::Vectorized,
                      [&](Expr l) { return store(acc, acc_at(o, u, l), b0); });
        });
      });

      // One (kh, kw, ic) step: load NV pixel vectors, then OCB x NV multiply-adds.
      auto step = [&](Expr ih, Expr kh, Expr kw, Expr ic) {
        Expr plane = (ni * imm(g.c) + gi * imm(g.cg) + ic);
        Stmt loads = loop(kb, nv, ForKind::Unrolled, [&](Expr u) {
          return loop(kb, v, ForKind::Vectorized, [&](Expr l) {
            Expr j = pix(u, l), idx, pred = pix_ok(j);
            if (t.flat) {
              idx = plane * imm(pixels) + r * imm(row_len) + j;
            } else {
              Expr iw = j * imm(g.sw) - imm(g.pl) + kw * imm(g.dw);
              idx = (plane * imm(g.h) + ih) * imm(g.w) + iw;
              if (check_left)
                pred = land(pred, ge(iw, imm(0)));
              if (check_right)
                pred = land(pred, lt(iw, imm(g.w)));
            }
            Expr val = load_as(xb, x->dtype, adt, idx, pred);
            if (integer) {
              // Out-of-image taps contribute 0 after the zero point, as if padded with it.
              val = val - load_as(zb, xzp->dtype, adt, imm(0));
              if (pred)
                val = select(pred, val, zero_of(adt));
            }
            return store(xv, u * imm(v) + l, val);
          });
        });
        Expr wbase =
            ((((gi * imm(nb) + b) * imm(g.kh) + kh) * imm(g.kw) + kw) * imm(g.cg) + ic) * imm(ocb);
        Stmt fmas = loop(kb, ocb, ForKind::Unrolled, [&](Expr o) {
          Expr wv = load_as(wb, pack ? adt : w->dtype, adt, wbase + o);
          return loop(kb, nv, ForKind::Unrolled, [&](Expr u) {
            return loop(kb, v, ForKind::Vectorized, [&](Expr l) {
              Expr a = acc_at(o, u, l);
              Expr xval = load(xv, {adt, 1}, u * imm(v) + l);
              return store(acc, a, load(acc, {adt, 1}, a) + wv * xval);
            });
          });
        });
        return block({loads, fmas});
      };

      Stmt reduce = loop(kb, g.kh, ForKind::Serial, [&](Expr kh) {
        Expr ih = t.flat ? imm(0) : r * imm(g.sh) - imm(g.pt) + kh * imm(g.dh);
        Stmt inner = loop(kb, g.kw, ForKind::Serial, [&](Expr kw) {
          return loop(kb, g.cg, ForKind::Serial, [&](Expr ic) { return step(ih, kh, kw, ic); });
        });
        return guard_input_row(ih, check_top, check_bottom, g.h, inner);
      });

      Stmt epilogue = loop(kb, ocb, ForKind::Unrolled, [&](Expr o) {
        Expr oc = gi * imm(g.mg) + oc_local(o);
        Stmt st = loop(kb, nv, ForKind::Unrolled, [&](Expr u) {
          return loop(kb, v, ForKind::Vectorized, [&](Expr l) {
            Expr j = pix(u, l);
            Expr idx = t.flat ? (ni * imm(g.m) + oc) * imm(pixels) + r * imm(row_len) + j
                              : ((ni * imm(g.m) + oc) * imm(g.oh) + r) * imm(g.ow) + j;
            Expr val = conv_activation(n, act, load(acc, {adt, 1}, acc_at(o, u, l)));
            if (residual)
              val = val + load_as(rb, residual->dtype, adt, idx, pix_ok(j));
            return store(yb, idx, store_cast(y->dtype, val), pix_ok(j));
          });
        });
        return g.mg % ocb != 0 ? if_then(lt(oc_local(o), imm(g.mg)), st) : st;
      });
      return allocate(acc, adt, ocb * nv * v,
                      allocate(xv, adt, nv * v, block({init, reduce, epilogue})));
    });
  });
  const int64_t extent = g.n * g.group * nb * rows;
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(k), std::move(args), false, n);
}

} // namespace

void lower_conv(LowerContext &cx, const Node &n) {
  lower_conv_direct(cx, n, n.op == OpKind::ConvInteger);
}

// ---- ConvTranspose ----
//
// Gather form, split by output column phase: for output columns ow = pw + sw*j, the kernel
// columns that reach them are the kw with (pw + pl - kw*dw) divisible by sw, known when
// lowering, and they read input columns iw = q(kw) + j, contiguous in j. So each phase is a
// small direct convolution with unit-stride input vectors; its stores are strided by sw.
//
//   parallel for (n, g, ocblock, oh):
//     for pw in [0, sw) (generated): for tile of j:
//       acc[o][lane] = bias
//       for kh: th = oh + pt - kh*dh; if th >= 0 && th % sh == 0 && th / sh < H:
//         for ic: for kw in phase(pw): xv = x[ic][th/sh][q(kw) + j]; acc[o] += w[ic][oc][kh][kw] *
//         xv
//       y[oc][oh][pw + sw*j] = acc
void lower_conv_transpose(LowerContext &cx, const Node &n) {
  check_4d(n);
  const Value *x = n.inputs[0], *w = n.inputs[1], *y = n.outputs[0];
  const Value *bias = n.inputs.size() > 2 ? n.inputs[2] : nullptr;
  if (x->dtype != DType::f32 && x->dtype != DType::f16)
    no_cpu_kernel(n, std::string(dtype_name(x->dtype)) + " ConvTranspose");
  ConvGeom g = conv_geom(n, *x, *w, *y);
  const DType adt = DType::f32;
  const int64_t v = cx.opt.vector_lanes_f32;
  const int64_t ocb = std::min<int64_t>(g.mg, 8), nb = ceil_div(g.mg, ocb);

  KernelBuilder kb("convtranspose_" + window_detail(g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) + "_" +
                   std::string(dtype_name(x->dtype)));
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int wb = kb.param(cx.prog, cx.buffer(w), false);
  int bb = bias ? kb.param(cx.prog, cx.buffer(bias), false) : -1;
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  int p = kb.new_var();
  Stmt body = split_parallel(kb, var(p), {g.n, g.group, nb, g.oh}, [&](const std::vector<Expr> &c) {
    Expr ni = c[0], gi = c[1], b = c[2], oh = c[3];
    auto oc_local = [&](Expr o) { return b * imm(ocb) + o; };
    auto oc_clamped = [&](Expr o) { return emin(oc_local(o), imm(g.mg - 1)); };
    std::vector<Stmt> phases;
    for (int64_t pw = 0; pw < std::min(g.sw, g.ow); ++pw) {
      const int64_t cols = ceil_div(g.ow - pw, g.sw); // output columns of this phase
      std::vector<std::pair<int64_t, int64_t>> taps;  // (kw, q): iw = q + j
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        int64_t tcol = pw + g.pl - kw * g.dw;
        if (((tcol % g.sw) + g.sw) % g.sw == 0)
          taps.emplace_back(kw, floor_div(tcol, g.sw));
      }
      const int acc = kb.new_local(), xv = kb.new_local();
      phases.push_back(loop(kb, ceil_div(cols, v), ForKind::Serial, [&](Expr tile) {
        auto jexpr = [&](Expr l) { return tile * imm(v) + l; };
        const bool tail = cols % v != 0;
        Stmt init = loop(kb, ocb, ForKind::Unrolled, [&](Expr o) {
          Expr b0 =
              bias ? load_as(bb, bias->dtype, adt, gi * imm(g.mg) + oc_clamped(o)) : zero_of(adt);
          return loop(kb, v, ForKind::Vectorized,
                      [&](Expr l) { return store(acc, o * imm(v) + l, b0); });
        });
        Stmt reduce = loop(kb, g.kh, ForKind::Serial, [&](Expr kh) {
          Expr th = oh + imm(g.pt) - kh * imm(g.dh);
          Expr ok = land(ge(th, imm(0)), lt(th, imm(g.h * g.sh)));
          if (g.sh > 1)
            ok = land(ok, binary(BinOp::Eq, emod(th, g.sh), imm(0)));
          Expr ih = ediv(th, g.sh);
          Stmt inner = loop(kb, g.cg, ForKind::Serial, [&](Expr ic) {
            std::vector<Stmt> steps;
            for (auto [kw, q] : taps) {
              Expr ci = gi * imm(g.cg) + ic;
              steps.push_back(loop(kb, v, ForKind::Vectorized, [&](Expr l) {
                Expr j = jexpr(l), iw = j + imm(q), pred;
                if (tail)
                  pred = lt(j, imm(cols));
                if (q < 0)
                  pred = land(pred, ge(iw, imm(0)));
                if (q + cols > g.w)
                  pred = land(pred, lt(iw, imm(g.w)));
                Expr idx = ((ni * imm(g.c) + ci) * imm(g.h) + ih) * imm(g.w) + iw;
                return store(xv, l, load_as(xb, x->dtype, adt, idx, pred));
              }));
              steps.push_back(loop(kb, ocb, ForKind::Unrolled, [&](Expr o) {
                Expr widx =
                    ((ci * imm(g.mg) + oc_clamped(o)) * imm(g.kh) + kh) * imm(g.kw) + imm(kw);
                Expr wv = load_as(wb, w->dtype, adt, widx);
                return loop(kb, v, ForKind::Vectorized, [&](Expr l) {
                  Expr a = o * imm(v) + l;
                  return store(acc, a, load(acc, {adt, 1}, a) + wv * load(xv, {adt, 1}, l));
                });
              }));
            }
            return block(std::move(steps));
          });
          return if_then(ok, inner);
        });
        Stmt epilogue = loop(kb, ocb, ForKind::Unrolled, [&](Expr o) {
          Expr oc = gi * imm(g.mg) + oc_local(o);
          Stmt st = loop(kb, v, ForKind::Vectorized, [&](Expr l) {
            Expr j = jexpr(l);
            Expr idx =
                ((ni * imm(g.m) + oc) * imm(g.oh) + oh) * imm(g.ow) + imm(pw) + j * imm(g.sw);
            return store(yb, idx, store_cast(y->dtype, load(acc, {adt, 1}, o * imm(v) + l)),
                         tail ? lt(j, imm(cols)) : nullptr);
          });
          return g.mg % ocb != 0 ? if_then(lt(oc_local(o), imm(g.mg)), st) : st;
        });
        Stmt parts = taps.empty() ? block({init, epilogue}) : block({init, reduce, epilogue});
        return allocate(acc, adt, ocb * v, allocate(xv, adt, v, parts));
      }));
    }
    return block(std::move(phases));
  });
  const int64_t extent = g.n * g.group * nb * g.oh;
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(k), std::move(args), false, n);
}

} // namespace kiln
