// Conv / ConvInteger / ConvTranspose -> loop IR kernels for the CPU. The tile comes from the
// cost model (passes/ConvTileCost.h); helpers shared with the GPU-shaped lowering are in
// passes/LowerConvUtil.h.
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
#include "passes/ConvTuning.h"
#include "passes/LowerConvBlocked.h"
#include "passes/LowerConvGpu.h"
#include "passes/LowerConvUtil.h"
#include "passes/LowerLoops.h"

#include <algorithm>

namespace kiln {

using namespace lw;

namespace {

/// The direct convolution kernel for Conv (integer = false) and ConvInteger.
void lower_conv_direct(LowerContext &cx, const Node &n, bool integer) {
  check_conv_4d(n);
  if (cx.opt.gpu)
    return lower_conv_gpu(cx, n, integer); // passes/LowerConvGpu.cpp
  const Value *x = n.inputs[0], *w = n.inputs[1], *y = n.outputs[0];
  ConvGeom g = conv_geom(n, *x, *w, *y);
  if (!integer && !is_float_storage(x->dtype))
    no_kernel(n, std::string(dtype_name(x->dtype)) + " Conv");
  const DType adt = integer ? DType::i32 : DType::f32;
  g.half = g.blocked() && x->dtype == DType::f16 && cx.opt.native_f16;
  const ConvTiles t = conv_tiles_for(g, x->dtype, cx.opt);
  if (g.blocked())
    return lower_conv_blocked(cx, n, g, t); // passes/LowerConvBlocked.cpp
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
  check_conv_4d(n);
  const Value *x = n.inputs[0], *w = n.inputs[1], *y = n.outputs[0];
  const Value *bias = n.inputs.size() > 2 ? n.inputs[2] : nullptr;
  if (!is_float_storage(x->dtype))
    no_kernel(n, std::string(dtype_name(x->dtype)) + " ConvTranspose");
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
