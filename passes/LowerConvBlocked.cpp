// Conv on channel-blocked tensors (NCHWc, docs/DESIGN.md "Blocked layout") -> loop IR kernels
// for the CPU. The tile comes from the cost model (passes/ConvTileCost.h, blocked candidates).
//
// Vectors run over output channels: one vector is one block of b channels of one pixel, so a
// kernel tap is a broadcast input scalar times a weight vector, whatever the stride:
//
//   kernel conv2d_packw_3x3_f32(w, wp): wp[ocgroup][kh][kw][ic][OCB] = w[oc][ic][kh][kw]
//   kernel conv2d_3x3s1_nchw16c_f32(x, wp, b, y) parallel N*groups*rows:
//     parallel for (n, ocgroup, row):          // or (n, row, ocgroup): ConvTiles::oc_outer
//       for tile in row:                       // PX output pixels
//         acc[PX][OCV][b] = bias               // registers once unrolled and vectorised
//         for kh: if ih in [0, H): for kw: for icblock: for i in b:
//           xs[j] = x[n][icblock][ih][iw(j)][i]          (scalar; predicated on edge tiles)
//           wv[o] = wp[ocgroup][kh][kw][icblock*b+i][o*b:(o+1)*b]
//           acc[j][o] += xs[j] * wv[o]                   (PX x OCV vector FMAs)
//         y[n][ocgroup*OCV+o][row][tile*PX+j][:] = act(acc[j][o]) (+ residual)
//
// An NCHW input (the first conv: 3 channels) is read the same way with NCHW indices; an NCHW
// output (channels not a multiple of b) is stored lane by lane. Tiles whose every tap is inside
// the image and the row get a copy of the body without predicates.
//
// Depthwise convs vectorise over the channel block too: a kernel row's input vectors are
// loaded once and shared by the PX pixels and KW taps that read them:
//
//   kernel conv2d_dw3x3s1_nchw16c_f32(x, wp, b, y) parallel N*C/b*OH:
//     acc[j][:] = bias; for kh: xr[q][:] = x[n][cb][ih][tile*PX*sw - pl + q][:]
//                               for kw, j: acc[j] += xr[j*sw + kw*dw] * wp[cb][kh][kw][:]
#include "passes/LowerConvBlocked.h"

#include "passes/LowerConvUtil.h"
#include "passes/LowerLoops.h"

#include <functional>

namespace kiln {

using namespace lw;

namespace {

std::string blocked_kernel_name(const ConvGeom &g, const std::string &act, bool residual,
                                DType dt) {
  std::string name = "conv2d_";
  if (g.is_depthwise())
    name += "dw";
  name += window_detail(g.kh, g.kw, g.sh, g.sw, g.dh, g.dw);
  auto tag = [](int64_t b) { return b > 0 ? std::to_string(b) + "c" : std::string("nchw"); };
  name += g.x_block == g.y_block ? "_nchw" + tag(g.x_block)
                                 : "_" + tag(g.x_block) + "_to_" + tag(g.y_block);
  if (act != "none")
    name += "_" + act;
  if (residual)
    name += "_add";
  return name + "_" + std::string(dtype_name(dt));
}

/// The blocked conv kernels' buffer parameters: input, packed weights, bias and residual (-1
/// when absent), output.
struct ConvParams {
  int x, w, bias, residual, y;
};
ConvParams conv_params(LowerContext &cx, KernelBuilder &kb, const Node &n, int packed_w) {
  const ConvOperands ops = conv_operands(n, false);
  ConvParams p;
  p.x = kb.param(cx.prog, cx.buffer(n.inputs[0]), false);
  p.w = kb.param(cx.prog, packed_w, false);
  p.bias = ops.bias ? kb.param(cx.prog, cx.buffer(ops.bias), false) : -1;
  p.residual = ops.residual ? kb.param(cx.prog, cx.buffer(ops.residual), false) : -1;
  p.y = kb.param(cx.prog, cx.buffer(n.outputs[0]), true);
  return p;
}

/// Where logical element (n, c, pixel) of an [N, C, H*W] tensor stored with block `b` lives;
/// `pix` is h * W + w. Blocked: c is block c_block, lane c_lane; NCHW (b = 0): c = c_block +
/// c_lane.
Expr element_index(Expr n, Expr c_block, Expr c_lane, Expr pix, int64_t c, int64_t pixels,
                   int64_t b) {
  if (b > 0)
    return ((n * imm(c / b) + c_block) * imm(pixels) + pix) * imm(b) + c_lane;
  return (n * imm(c) + c_block + c_lane) * imm(pixels) + pix;
}

/// The tile index range [lo, hi) of a row whose taps all fall inside the input columns and
/// whose pixels all fall inside the row.
std::pair<int64_t, int64_t> interior_tiles(const ConvGeom &g, int64_t px, int64_t ntiles) {
  const int64_t lo = ceil_div(g.pl, px * g.sw);
  // (t*px + px - 1)*sw - pl + (kw-1)*dw <= W - 1 and t*px + px <= OW.
  const int64_t num = g.w - 1 + g.pl - (g.kw - 1) * g.dw - (px - 1) * g.sw;
  int64_t hi = num < 0 ? 0 : num / (px * g.sw) + 1;
  hi = std::min({hi, g.ow / px, ntiles});
  return {std::min(lo, hi), hi};
}

/// The tiles of a row: interior tiles [lo, hi) in a loop without checks (all of them when the
/// row has no edge tiles); the few edge tiles
/// before and after each as its own copy with a constant index (its padding predicates fold to
/// constants), or a checked loop when there are many.
Stmt edge_split(KernelBuilder &kb, int64_t ntiles, int64_t lo, int64_t hi,
                const std::function<Stmt(Expr, bool)> &tile_body) {
  std::vector<Stmt> parts;
  auto edge = [&](int64_t from, int64_t to) {
    if (to - from <= 2) {
      for (int64_t t = from; t < to; ++t)
        parts.push_back(tile_body(imm(t), true));
    } else if (to > from) {
      int v = kb.new_var();
      parts.push_back(
          for_loop(v, imm(from), imm(to - from), ForKind::Serial, tile_body(var(v), true)));
    }
  };
  edge(0, lo);
  if (hi - lo == 1) {
    parts.push_back(tile_body(imm(lo), false));
  } else if (hi > lo) {
    int v = kb.new_var();
    parts.push_back(for_loop(v, imm(lo), imm(hi - lo), ForKind::Serial, tile_body(var(v), false)));
  }
  edge(std::max(lo, hi), ntiles);
  return block(std::move(parts));
}

void lower_blocked_dense(LowerContext &cx, const Node &n, const ConvGeom &g, const ConvTiles &t) {
  const Value *x = n.inputs[0], *y = n.outputs[0];
  const auto [bias, residual, xzp, wzp, act] = conv_operands(n, false);
  (void)xzp, (void)wzp;
  // f16 on a native-f16 target: f16 accumulators, weights and FMAs; bias and epilogue in f32.
  const DType adt = g.half ? DType::f16 : DType::f32;
  const int64_t b = g.y_block > 0 ? g.y_block : g.x_block; // output channels per vector
  const int64_t ocb = t.ocb, ocv = ocb / b, px = t.px;
  const int64_t nb = ceil_div(g.m, ocb);
  // Input channels as (block, lane): NCHW input is one block of all C channels.
  const int64_t icw = g.x_block > 0 ? g.x_block : g.c, nicb = g.c / icw;
  const int wbuf = pack_conv_weights(cx, n, g, t, adt, nullptr);

  KernelBuilder kb(blocked_kernel_name(g, act, residual != nullptr, x->dtype));
  const ConvParams prm = conv_params(cx, kb, n, wbuf);
  const int xb = prm.x, wb = prm.w, bb = prm.bias, rb = prm.residual, yb = prm.y;
  const int acc = kb.new_local(), xs = kb.new_local(), wv = kb.new_local();

  const int64_t rows = t.flat ? t.rows : g.oh, row_len = t.flat ? t.row_len : g.ow;
  const int64_t in_pixels = g.h * g.w, out_pixels = g.oh * g.ow;
  const int64_t ntiles = ceil_div(row_len, px);
  const bool check_top = g.pt > 0;
  const bool check_bottom = (g.oh - 1) * g.sh - g.pt + (g.kh - 1) * g.dh >= g.h;
  const bool oc_tail = g.m % ocb != 0; // lanes or blocks past M: computed, never stored
  // Interior tiles: no padding taps, no pixels past the row (flat: past the plane).
  auto [t_lo, t_hi] = t.flat ? std::pair<int64_t, int64_t>{0, 0} : interior_tiles(g, px, ntiles);
  const bool flat_tail = t.flat && rows * row_len != out_pixels;

  auto acc_at = [&](Expr j, Expr o, Expr l) { return (j * imm(ocv) + o) * imm(b) + l; };

  auto tile_body = [&](Expr ni, Expr gb, Expr r, Expr tile, bool checked) {
    // Output pixel of register column j: its index in the row, its plane offset, validity.
    auto col = [&](Expr j) { return tile * imm(px) + j; };
    auto out_pix = [&](Expr j) {
      return t.flat ? r * imm(row_len) + col(j) : r * imm(g.ow) + col(j);
    };
    auto pix_ok = [&](Expr j) -> Expr {
      if (!checked)
        return nullptr;
      if (t.flat)
        return flat_tail ? lt(out_pix(j), imm(out_pixels)) : nullptr;
      return row_len % px != 0 ? lt(col(j), imm(g.ow)) : nullptr;
    };
    auto oc_of = [&](Expr o, Expr l) { return gb * imm(ocb) + o * imm(b) + l; };
    auto oc_ok = [&](Expr o, Expr l) -> Expr {
      return oc_tail ? lt(oc_of(o, l), imm(g.m)) : nullptr;
    };

    Stmt init = loop(kb, px, ForKind::Unrolled, [&](Expr j) {
      return loop(kb, ocv, ForKind::Unrolled, [&](Expr o) {
        return loop(kb, b, ForKind::Vectorized, [&](Expr l) {
          // f16 accumulators start at zero; the bias is added in f32 by the epilogue.
          Expr b0 = bias && !g.half ? load_as(bb, bias->dtype, adt, oc_of(o, l), oc_ok(o, l))
                                    : zero_of(adt);
          return store(acc, acc_at(j, o, l), b0);
        });
      });
    });

    auto step = [&](Expr ih, Expr kh, Expr kw, Expr icb, Expr i) {
      Stmt loads = loop(kb, px, ForKind::Unrolled, [&](Expr j) {
        Expr pix, pred = pix_ok(j);
        if (t.flat) {
          pix = out_pix(j);
        } else {
          Expr iw = col(j) * imm(g.sw) - imm(g.pl) + kw * imm(g.dw);
          pix = ih * imm(g.w) + iw;
          if (checked && g.pl > 0)
            pred = land(pred, ge(iw, imm(0)));
          if (checked && (g.ow - 1) * g.sw - g.pl + (g.kw - 1) * g.dw >= g.w)
            pred = land(pred, lt(iw, imm(g.w)));
        }
        Expr idx = element_index(ni, icb, i, pix, g.c, in_pixels, g.x_block);
        return store(xs, j, load_as(xb, x->dtype, adt, idx, pred));
      });
      Expr wbase =
          (((gb * imm(g.kh) + kh) * imm(g.kw) + kw) * imm(g.c) + icb * imm(icw) + i) * imm(ocb);
      Stmt wloads = loop(kb, ocv, ForKind::Unrolled, [&](Expr o) {
        return loop(kb, b, ForKind::Vectorized, [&](Expr l) {
          return store(wv, o * imm(b) + l, load(wb, {adt, 1}, wbase + o * imm(b) + l));
        });
      });
      Stmt fmas = loop(kb, px, ForKind::Unrolled, [&](Expr j) {
        Expr xval = load(xs, {adt, 1}, j);
        return loop(kb, ocv, ForKind::Unrolled, [&](Expr o) {
          return loop(kb, b, ForKind::Vectorized, [&](Expr l) {
            Expr a = acc_at(j, o, l);
            return store(acc, a,
                         load(acc, {adt, 1}, a) + xval * load(wv, {adt, 1}, o * imm(b) + l));
          });
        });
      });
      return block({loads, wloads, fmas});
    };

    Stmt reduce = loop(kb, g.kh, ForKind::Serial, [&](Expr kh) {
      Expr ih = t.flat ? imm(0) : r * imm(g.sh) - imm(g.pt) + kh * imm(g.dh);
      // Edge tiles unroll kw: with a constant tile index every padding predicate folds away.
      Stmt inner = loop(kb, g.kw, checked ? ForKind::Unrolled : ForKind::Serial, [&](Expr kw) {
        return loop(kb, nicb, ForKind::Serial, [&](Expr icb) {
          return loop(kb, icw, ForKind::Serial, [&](Expr i) { return step(ih, kh, kw, icb, i); });
        });
      });
      return guard_input_row(ih, check_top, check_bottom, g.h, inner);
    });

    Stmt epilogue = loop(kb, px, ForKind::Unrolled, [&](Expr j) {
      return loop(kb, ocv, ForKind::Unrolled, [&](Expr o) {
        Stmt st = loop(kb, b, ForKind::Vectorized, [&](Expr l) {
          Expr oc = oc_of(o, l);
          Expr idx = g.y_block > 0
                         ? element_index(ni, gb * imm(ocv) + o, l, out_pix(j), g.m, out_pixels, b)
                         : element_index(ni, imm(0), oc, out_pix(j), g.m, out_pixels, 0);
          Expr pred = land(pix_ok(j), g.y_block > 0 ? nullptr : oc_ok(o, l));
          Expr val = load(acc, {adt, 1}, acc_at(j, o, l));
          if (g.half) {
            val = cast({DType::f32, 1}, val);
            if (bias)
              val = val + load_as(bb, bias->dtype, DType::f32, oc_of(o, l), oc_ok(o, l));
          }
          val = conv_activation(n, act, val);
          if (residual)
            val = val + load_as(rb, residual->dtype, DType::f32, idx, pred);
          return store(yb, idx, store_cast(y->dtype, val), pred);
        });
        // Whole blocks past M (blocked output: M is a multiple of b) are not stored.
        if (g.y_block > 0 && oc_tail)
          return if_then(lt(gb * imm(ocb) + o * imm(b), imm(g.m)), st);
        return st;
      });
    });
    return allocate(acc, adt, px * ocb,
                    allocate(xs, adt, px, allocate(wv, adt, ocb, block({init, reduce, epilogue}))));
  };

  int p = kb.new_var();
  std::vector<int64_t> extents =
      t.oc_outer ? std::vector<int64_t>{g.n, nb, rows} : std::vector<int64_t>{g.n, rows, nb};
  Stmt body = split_parallel(kb, var(p), extents, [&](const std::vector<Expr> &c) {
    Expr ni = c[0], gb = t.oc_outer ? c[1] : c[2], r = t.oc_outer ? c[2] : c[1];
    if (!t.flat)
      return edge_split(kb, ntiles, t_lo, t_hi, [&](Expr tile, bool checked) {
        return tile_body(ni, gb, r, tile, checked);
      });
    // Flattened pointwise rows: only the last row may run past the plane.
    return loop(kb, ntiles, ForKind::Serial, [&](Expr tile) {
      if (!flat_tail)
        return tile_body(ni, gb, r, tile, false);
      Expr inside = le(r * imm(row_len) + (tile + imm(1)) * imm(px), imm(out_pixels));
      return if_then(inside, tile_body(ni, gb, r, tile, false), tile_body(ni, gb, r, tile, true));
    });
  });
  const int64_t extent = g.n * nb * rows;
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(k), std::move(args), false, n);
}

/// wp[C/b][KH][KW][b] = w[c][0][kh][kw]: a depthwise conv's weights as channel vectors.
int pack_depthwise_weights(LowerContext &cx, const Node &n, const ConvGeom &g, int64_t b) {
  const Value *w = n.inputs[1];
  const bool weight_only = cx.is_weight(w);
  int packed =
      cx.add_buffer(n.name + ".packed_w", DType::f32, {g.c / b, g.kh, g.kw, b}, weight_only);
  KernelBuilder kb("conv2d_dw_packw_" + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
                   "_nchw" + std::to_string(b) + "c_f32");
  int wb = kb.param(cx.prog, cx.buffer(w), false);
  int pb = kb.param(cx.prog, packed, true);
  int p = kb.new_var();
  Stmt body = loop(kb, g.kh * g.kw, ForKind::Serial, [&](Expr tap) {
    return loop(kb, b, ForKind::Serial, [&](Expr l) {
      Expr src = (var(p) * imm(b) + l) * imm(g.kh * g.kw) + tap;
      return store(pb, (var(p) * imm(g.kh * g.kw) + tap) * imm(b) + l,
                   load_as(wb, w->dtype, DType::f32, src));
    });
  });
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(p, imm(0), imm(g.c / b), ForKind::Parallel, body), g.c / b);
  cx.launch(std::move(k), std::move(args), weight_only, n);
  return packed;
}

void lower_blocked_depthwise(LowerContext &cx, const Node &n, const ConvGeom &g,
                             const ConvTiles &t) {
  const Value *x = n.inputs[0], *y = n.outputs[0];
  const auto [bias, residual, xzp, wzp, act] = conv_operands(n, false);
  (void)xzp, (void)wzp;
  const DType adt = DType::f32;
  const int64_t b = g.x_block, px = t.px, cbs = g.c / b;
  const int64_t span = (px - 1) * g.sw + (g.kw - 1) * g.dw + 1; // input columns of a tile row
  const int wbuf = pack_depthwise_weights(cx, n, g, b);

  KernelBuilder kb(blocked_kernel_name(g, act, residual != nullptr, x->dtype));
  const ConvParams prm = conv_params(cx, kb, n, wbuf);
  const int xb = prm.x, wb = prm.w, bb = prm.bias, rb = prm.residual, yb = prm.y;
  const int acc = kb.new_local(), xr = kb.new_local();
  const int64_t ntiles = ceil_div(g.ow, px), in_pixels = g.h * g.w, out_pixels = g.oh * g.ow;
  const bool check_top = g.pt > 0;
  const bool check_bottom = (g.oh - 1) * g.sh - g.pt + (g.kh - 1) * g.dh >= g.h;
  auto [t_lo, t_hi] = interior_tiles(g, px, ntiles);

  auto tile_body = [&](Expr ni, Expr cb, Expr oh, Expr tile, bool checked) {
    auto col = [&](Expr j) { return tile * imm(px) + j; };
    auto pix_ok = [&](Expr j) -> Expr {
      return checked && g.ow % px != 0 ? lt(col(j), imm(g.ow)) : nullptr;
    };
    Stmt init = loop(kb, px, ForKind::Unrolled, [&](Expr j) {
      return loop(kb, b, ForKind::Vectorized, [&](Expr l) {
        Expr b0 = bias ? load_as(bb, bias->dtype, adt, cb * imm(b) + l) : zero_of(adt);
        return store(acc, j * imm(b) + l, b0);
      });
    });
    Stmt reduce = loop(kb, g.kh, ForKind::Serial, [&](Expr kh) {
      Expr ih = oh * imm(g.sh) - imm(g.pt) + kh * imm(g.dh);
      Stmt loads = loop(kb, span, ForKind::Unrolled, [&](Expr q) {
        Expr iw = tile * imm(px * g.sw) - imm(g.pl) + q;
        Expr pred;
        if (checked)
          pred = land(ge(iw, imm(0)), lt(iw, imm(g.w)));
        return loop(kb, b, ForKind::Vectorized, [&](Expr l) {
          Expr idx = element_index(ni, cb, l, ih * imm(g.w) + iw, g.c, in_pixels, b);
          return store(xr, q * imm(b) + l, load_as(xb, x->dtype, adt, idx, pred));
        });
      });
      Stmt fmas = loop(kb, g.kw, ForKind::Unrolled, [&](Expr kw) {
        Expr wbase = ((cb * imm(g.kh) + kh) * imm(g.kw) + kw) * imm(b);
        return loop(kb, px, ForKind::Unrolled, [&](Expr j) {
          return loop(kb, b, ForKind::Vectorized, [&](Expr l) {
            Expr a = j * imm(b) + l;
            Expr xv = load(xr, {adt, 1}, (j * imm(g.sw) + kw * imm(g.dw)) * imm(b) + l);
            return store(acc, a, load(acc, {adt, 1}, a) + xv * load(wb, {adt, 1}, wbase + l));
          });
        });
      });
      return guard_input_row(ih, check_top, check_bottom, g.h, block({loads, fmas}));
    });
    Stmt epilogue = loop(kb, px, ForKind::Unrolled, [&](Expr j) {
      return loop(kb, b, ForKind::Vectorized, [&](Expr l) {
        Expr idx = element_index(ni, cb, l, oh * imm(g.ow) + col(j), g.m, out_pixels, b);
        Expr val = conv_activation(n, act, load(acc, {adt, 1}, j * imm(b) + l));
        if (residual)
          val = val + load_as(rb, residual->dtype, adt, idx, pix_ok(j));
        return store(yb, idx, store_cast(y->dtype, val), pix_ok(j));
      });
    });
    return allocate(acc, adt, px * b, allocate(xr, adt, span * b, block({init, reduce, epilogue})));
  };

  int p = kb.new_var();
  Stmt body = split_parallel(kb, var(p), {g.n, cbs, g.oh}, [&](const std::vector<Expr> &c) {
    Expr ni = c[0], cb = c[1], oh = c[2];
    return edge_split(kb, ntiles, t_lo, t_hi, [&](Expr tile, bool checked) {
      return tile_body(ni, cb, oh, tile, checked);
    });
  });
  const int64_t extent = g.n * cbs * g.oh;
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(k), std::move(args), false, n);
}

} // namespace

void lower_conv_blocked(LowerContext &cx, const Node &n, const ConvGeom &g, const ConvTiles &t) {
  const DType dt = n.inputs[0]->dtype;
  if (!is_float_storage(dt))
    no_kernel(n, std::string(dtype_name(dt)) + " blocked Conv");
  if (g.is_depthwise()) {
    if (g.x_block == 0 || g.x_block != g.y_block)
      no_kernel(n, "a depthwise Conv with only one side blocked");
    return lower_blocked_depthwise(cx, n, g, t);
  }
  if (g.group != 1)
    no_kernel(n, "a blocked grouped Conv");
  lower_blocked_dense(cx, n, g, t);
}

} // namespace kiln
