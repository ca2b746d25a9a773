// QLinearConv -> loop IR kernels built around the Dot4 expression (VPDPBUSD on VNNI CPUs: four
// u8 x i8 products summed into each i32 lane). Vectors run over output pixels, so the output is
// written as plain NCHW rows and a tap is one contiguous vector load of packed inputs:
//
//   kernel qlinear_conv2d_repack_x_u8(x, xr) parallel N*C4*SH*SW*R:   // once per run
//     xr[n][c4][a][b][r][q] = the 4 input channels c4*4.. of padded pixel (r*sh + a, q*sw + b)
//                             as 4 bytes of one i32 (x_zero_point outside the image and past C;
//                             i8 inputs shifted by 128 to u8)
//   kernel qlinear_conv2d_packw_i8(w, wz, wp):  wp[ocgroup][c4][kh][kw][OCB] = 4 bytes w - wz
//   kernel qlinear_conv2d_requant_f32(...):      bias'[oc] = B[oc] - x_zp' * sum(w - wz)
//                                                mult[oc] = x_scale * w_scale[oc] / y_scale
//   kernel qlinear_conv2d_3x3s2_u8(xr, wp, bias', mult, yzp, y) parallel N*groups*OH*tiles:
//     acc[OCB][PXV][V] = bias'                        (OCB x PXV i32 vectors in registers)
//     for c4: for kh, kw (unrolled):                  (a, r, b, q offsets are constants)
//       xs[p] = xr[n][c4][a][b][oh + kh*dh/sh][tile*PXV*V + p*V + kw*dw/sw : +V]
//       acc[o][p] = dot4(acc[o][p], xs[p], x16(wp[ocgroup][c4][kh][kw][o]))
//     y[n][oc][oh][ow] = saturate(round_half_even(f32(acc) * mult[oc]) + y_zp)
//
// Splitting the padded input into stride phases (a, b) makes every tap of a stride-2 conv a
// contiguous load, and the padding is real data, so no load is predicated. 1x1/s1/p0 convs
// run over the whole plane as one row. The packed weights hold w - w_zero_point as one byte:
// exact for i8 weights with zero point 0 and u8 weights with zero point 128 (ONNX Runtime's
// quantizers make these).
#include "passes/LowerConvUtil.h"
#include "passes/LowerLoops.h"

namespace kiln {

using namespace lw;

namespace {

/// 4 bytes (each an i32 in [0, 255] or any i32 whose low byte is wanted) as one i32.
Expr pack_bytes(const std::vector<Expr> &bytes) {
  Expr v = binary(BinOp::And, bytes[0], imm_of(DType::i32, 255));
  for (int k = 1; k < 4; ++k)
    v = v + binary(BinOp::Shl, binary(BinOp::And, bytes[k], imm_of(DType::i32, 255)),
                   imm_of(DType::i32, 8 * k));
  return v;
}

} // namespace

void lower_qlinear_conv(LowerContext &cx, const Node &n) {
  const Value *x = n.inputs[0], *xs = n.inputs[1], *xz = n.inputs[2], *w = n.inputs[3];
  const Value *ws = n.inputs[4], *wz = n.inputs[5], *ys = n.inputs[6], *yz = n.inputs[7];
  const Value *bias = n.inputs.size() > 8 ? n.inputs[8] : nullptr, *y = n.outputs[0];
  const bool silu = n.attrs.has("activation") && n.attrs.s("activation") == "silu";
  const Value *as = silu ? n.inputs[9] : nullptr, *az = silu ? n.inputs[10] : nullptr;
  if (silu && az->dtype != yz->dtype)
    no_kernel(n, "a QLinearConv whose activation changes the 8-bit type");
  if (x->shape.size() != 4 || w->shape.size() != 4)
    no_kernel(n, "non-2-D convolution");
  const ConvGeom g = conv_geom(n, *x, *w, *y);
  if (g.group != 1)
    no_kernel(n, "a grouped QLinearConv");
  const bool x_signed = x->dtype == DType::i8;
  // Geometry of the kernel: a 1x1/s1/p0 conv is one row of H*W pixels.
  const bool flat = g.is_pointwise();
  const int64_t H = flat ? 1 : g.h, W = flat ? g.h * g.w : g.w;
  const int64_t OH = flat ? 1 : g.oh, OW = flat ? g.oh * g.ow : g.ow;
  const int64_t C = g.c, M = g.m, C4 = ceil_div(C, 4), KH = g.kh, KW = g.kw;
  const int64_t sh = g.sh, sw = g.sw, dh = g.dh, dw = g.dw;
  // Register tile: OCB channels x PXV vectors of V pixels, within 30 vector registers.
  const int64_t V = std::max(1, cx.opt.vector_lanes_f32), nvec = ceil_div(OW, V);
  int64_t pxv = nvec;
  if (nvec > 6) {
    pxv = 4;
    for (int64_t c : {5, 6, 3})
      if (round_up(nvec, c) < round_up(nvec, pxv))
        pxv = c;
  }
  const int64_t ocb = std::min<int64_t>({8, (30 - pxv) / pxv, M});
  const int64_t nb = ceil_div(M, ocb), tile = pxv * V, ntiles = ceil_div(OW, tile);
  const int64_t ro_max = (KH - 1) * dh / sh, qo_max = (KW - 1) * dw / sw;
  const int64_t R = OH + ro_max, Q = ntiles * tile + qo_max;
  const bool weights = cx.is_weight(w) && cx.is_weight(wz);
  const bool params = weights && cx.is_weight(xs) && cx.is_weight(xz) && cx.is_weight(ws) &&
                      cx.is_weight(ys) && (!bias || cx.is_weight(bias));
  auto i32 = [](int64_t v) { return imm_of(DType::i32, static_cast<double>(v)); };
  // x_zero_point as the packed inputs hold it (i8 inputs are shifted to u8).
  auto x_zero = [&](int zb) {
    Expr z = load_as(zb, xz->dtype, DType::i32, imm(0));
    return x_signed ? z + i32(128) : z;
  };

  // 1: the padded, phase-split, channel-quad input.
  const int xr = cx.add_buffer(n.name + ".xr", DType::i32, {g.n * C4 * sh * sw * R * Q}, false);
  {
    KernelBuilder kb("qlinear_conv2d_repack_x_" + std::string(dtype_name(x->dtype)));
    const int xb = kb.param(cx.prog, cx.buffer(x), false);
    const int zb = kb.param(cx.prog, cx.buffer(xz), false);
    const int rb = kb.param(cx.prog, xr, true);
    const int p = kb.new_var();
    Stmt body = split_parallel(kb, var(p), {g.n, C4, sh, sw, R}, [&](const std::vector<Expr> &c) {
      Expr ni = c[0], c4 = c[1], a = c[2], b = c[3], r = c[4];
      Expr row = ((((ni * imm(C4) + c4) * imm(sh) + a) * imm(sw) + b) * imm(R) + r) * imm(Q);
      Expr ih = r * imm(sh) + a - imm(flat ? 0 : g.pt);
      // Vectors of V columns (the last one predicated); the loads of a stride-s conv gather.
      return loop(kb, ceil_div(Q, V), ForKind::Serial, [&](Expr qv) {
        return loop(kb, V, ForKind::Vectorized, [&](Expr l) {
          Expr q = qv * imm(V) + l;
          Expr iw = q * imm(sw) + b - imm(flat ? 0 : g.pl);
          Expr inside =
              land(land(ge(ih, imm(0)), lt(ih, imm(H))), land(ge(iw, imm(0)), lt(iw, imm(W))));
          std::vector<Expr> bytes;
          for (int64_t k = 0; k < 4; ++k) {
            Expr ch = c4 * imm(4) + imm(k);
            Expr ok = C % 4 != 0 ? land(inside, lt(ch, imm(C))) : inside;
            Expr v = load_as(xb, x->dtype, DType::i32,
                             ((ni * imm(C) + ch) * imm(H) + ih) * imm(W) + iw, ok);
            if (x_signed)
              v = v + i32(128);
            bytes.push_back(select(ok, v, x_zero(zb)));
          }
          return store(rb, row + q, pack_bytes(bytes), Q % V != 0 ? lt(q, imm(Q)) : nullptr);
        });
      });
    });
    const int64_t extent = g.n * C4 * sh * sw * R;
    std::vector<int> args = kb.args();
    Kernel k = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
    cx.launch(std::move(k), std::move(args), false, n);
  }

  // 2: the packed weights, w - w_zero_point as bytes, zero past M and C.
  // `oc` must be a valid channel.
  auto w_minus_zero = [&](int wb, int wzb, Expr oc, Expr widx) {
    Expr z = load_as(wzb, wz->dtype, DType::i32, shape_numel(wz->shape) == 1 ? imm(0) : oc);
    return load_as(wb, w->dtype, DType::i32, widx) - z;
  };
  const int wp =
      cx.add_buffer(n.name + ".packed_w", DType::i32, {nb * C4 * KH * KW * ocb}, weights);
  {
    KernelBuilder kb("qlinear_conv2d_packw_" + std::string(dtype_name(w->dtype)));
    const int wb = kb.param(cx.prog, cx.buffer(w), false);
    const int wzb = kb.param(cx.prog, cx.buffer(wz), false);
    const int pb = kb.param(cx.prog, wp, true);
    const int p = kb.new_var();
    Stmt body = split_parallel(kb, var(p), {nb, C4}, [&](const std::vector<Expr> &c) {
      Expr gb = c[0], c4 = c[1];
      return loop(kb, KH * KW, ForKind::Serial, [&](Expr tap) {
        return loop(kb, ocb, ForKind::Serial, [&](Expr o) {
          Expr oc = gb * imm(ocb) + o;
          std::vector<Expr> bytes;
          for (int64_t k = 0; k < 4; ++k) {
            Expr ch = c4 * imm(4) + imm(k);
            Expr ok = land(lt(oc, imm(M)), lt(ch, imm(C)));
            Expr widx = select(ok, (oc * imm(C) + ch) * imm(KH * KW) + tap, imm(0));
            Expr occ = select(ok, oc, imm(0));
            bytes.push_back(select(ok, w_minus_zero(wb, wzb, occ, widx), i32(0)));
          }
          Expr at = ((gb * imm(C4) + c4) * imm(KH * KW) + tap) * imm(ocb) + o;
          return store(pb, at, pack_bytes(bytes));
        });
      });
    });
    std::vector<int> args = kb.args();
    Kernel k = kb.finish(for_loop(p, imm(0), imm(nb * C4), ForKind::Parallel, body), nb * C4);
    cx.launch(std::move(k), std::move(args), weights, n);
  }

  // 3: per output channel, the bias with the x zero point's share folded in, and the
  // requantisation multiplier in ONNX Runtime's float order.
  const int64_t mp = nb * ocb;
  const int bq = cx.add_buffer(n.name + ".bias_q", DType::i32, {mp}, params);
  const int mq = cx.add_buffer(n.name + ".mult_q", DType::f32, {mp}, params);
  {
    KernelBuilder kb("qlinear_conv2d_requant_f32");
    const int wb = kb.param(cx.prog, cx.buffer(w), false);
    const int wzb = kb.param(cx.prog, cx.buffer(wz), false);
    const int xzb = kb.param(cx.prog, cx.buffer(xz), false);
    const int xsb = kb.param(cx.prog, cx.buffer(xs), false);
    const int wsb = kb.param(cx.prog, cx.buffer(ws), false);
    const int ysb = kb.param(cx.prog, cx.buffer(ys), false);
    const int bb = bias ? kb.param(cx.prog, cx.buffer(bias), false) : -1;
    const int ob = kb.param(cx.prog, bq, true), mb = kb.param(cx.prog, mq, true);
    const int sum = kb.new_local();
    const int p = kb.new_var();
    Expr oc = var(p), ok = lt(oc, imm(M)), occ = select(ok, oc, imm(0));
    // The packed byte, sign-extended: what the kernel multiplies.
    Stmt acc = loop(kb, C * KH * KW, ForKind::Serial, [&](Expr j) {
      Expr d = w_minus_zero(wb, wzb, occ, occ * imm(C * KH * KW) + j);
      Expr sx = binary(BinOp::Shr, binary(BinOp::Shl, d, i32(24)), i32(24));
      return store(sum, imm(0), load(sum, {DType::i32, 1}, imm(0)) + sx);
    });
    Expr b0 = bias ? load(bb, {DType::i32, 1}, occ) : i32(0);
    Expr bv = b0 - x_zero(xzb) * load(sum, {DType::i32, 1}, imm(0));
    Expr wsv = load(wsb, {DType::f32, 1}, shape_numel(ws->shape) == 1 ? imm(0) : occ);
    Expr mult = ediv(load(xsb, {DType::f32, 1}, imm(0)) * wsv, load(ysb, {DType::f32, 1}, imm(0)));
    Stmt body =
        allocate(sum, DType::i32, 1,
                 block({store(sum, imm(0), i32(0)), acc, store(ob, oc, select(ok, bv, i32(0))),
                        store(mb, oc, select(ok, mult, fimm(0.0)))}));
    std::vector<int> args = kb.args();
    Kernel k = kb.finish(for_loop(p, imm(0), imm(mp), ForKind::Parallel, body), mp);
    cx.launch(std::move(k), std::move(args), params, n);
  }

  // 4: the conv.
  KernelBuilder kb("qlinear_conv2d_" + window_detail(KH, KW, sh, sw, dh, dw) +
                   (silu ? "_silu_" : "_") + std::string(dtype_name(y->dtype)));
  const int xrb = kb.param(cx.prog, xr, false), wpb = kb.param(cx.prog, wp, false);
  const int bqb = kb.param(cx.prog, bq, false), mqb = kb.param(cx.prog, mq, false);
  const int yzb = kb.param(cx.prog, cx.buffer(yz), false);
  const int ysb = silu ? kb.param(cx.prog, cx.buffer(ys), false) : -1;
  const int asb = silu ? kb.param(cx.prog, cx.buffer(as), false) : -1;
  const int azb = silu ? kb.param(cx.prog, cx.buffer(az), false) : -1;
  const int yb = kb.param(cx.prog, cx.buffer(y), true);
  const int acc = kb.new_local(), xv = kb.new_local();
  const KType t32{DType::i32, 1};
  auto acc_at = [&](int64_t o, int64_t p, Expr l) { return imm((o * pxv + p) * V) + l; };

  const int pv = kb.new_var();
  Stmt body = split_parallel(kb, var(pv), {g.n, nb, OH, ntiles}, [&](const std::vector<Expr> &c) {
    Expr ni = c[0], gb = c[1], oh = c[2], ti = c[3];
    std::vector<Stmt> init, epilogue;
    for (int64_t o = 0; o < ocb; ++o)
      for (int64_t p = 0; p < pxv; ++p)
        init.push_back(loop(kb, V, ForKind::Vectorized, [&](Expr l) {
          return store(acc, acc_at(o, p, l), load(bqb, t32, gb * imm(ocb) + imm(o)));
        }));
    Stmt reduce = loop(kb, C4, ForKind::Serial, [&](Expr c4) {
      std::vector<Stmt> taps;
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          const int64_t a = kh * dh % sh, ro = kh * dh / sh, b = kw * dw % sw, qo = kw * dw / sw;
          Expr base = ((((ni * imm(C4) + c4) * imm(sh) + imm(a)) * imm(sw) + imm(b)) * imm(R) + oh +
                       imm(ro)) *
                          imm(Q) +
                      ti * imm(tile) + imm(qo);
          for (int64_t p = 0; p < pxv; ++p)
            taps.push_back(loop(kb, V, ForKind::Vectorized, [&](Expr l) {
              return store(xv, imm(p * V) + l, load(xrb, t32, base + imm(p * V) + l));
            }));
          Expr wbase = ((gb * imm(C4) + c4) * imm(KH * KW) + imm(kh * KW + kw)) * imm(ocb);
          for (int64_t o = 0; o < ocb; ++o) {
            Expr wo = load(wpb, t32, wbase + imm(o));
            for (int64_t p = 0; p < pxv; ++p)
              taps.push_back(loop(kb, V, ForKind::Vectorized, [&](Expr l) {
                Expr at = acc_at(o, p, l);
                return store(acc, at, dot4(load(acc, t32, at), load(xv, t32, imm(p * V) + l), wo));
              }));
          }
        }
      return block(std::move(taps));
    });
    Expr zy = load_as(yzb, yz->dtype, DType::i32, imm(0));
    // The fused quantised SiLU: the standalone kernels' formulas, step by step.
    auto activation = [&](Expr q) {
      if (!silu)
        return q;
      Expr v =
          convert(DType::f32, convert(DType::i32, q) - zy) * load(ysb, {DType::f32, 1}, imm(0));
      Expr a = ediv(conv_activation(n, "silu", v), load(asb, {DType::f32, 1}, imm(0)));
      return saturate_round(n, a, load_as(azb, az->dtype, DType::i32, imm(0)), az->dtype);
    };
    for (int64_t o = 0; o < ocb; ++o) {
      Expr oc = gb * imm(ocb) + imm(o);
      std::vector<Stmt> stores;
      for (int64_t p = 0; p < pxv; ++p)
        stores.push_back(loop(kb, V, ForKind::Vectorized, [&](Expr l) {
          Expr ow = ti * imm(tile) + imm(p * V) + l;
          Expr v =
              convert(DType::f32, load(acc, t32, acc_at(o, p, l))) * load(mqb, {DType::f32, 1}, oc);
          Expr pred = OW % tile != 0 ? lt(ow, imm(OW)) : nullptr;
          return store(yb, ((ni * imm(M) + oc) * imm(OH) + oh) * imm(OW) + ow,
                       saturate_round(n, v, zy, yz->dtype), pred);
        }));
      // The activation re-reads the tile's stored row (in L1) in a loop, not unrolled: one copy
      // of its code per kernel.
      if (silu)
        stores.push_back(loop(kb, pxv, ForKind::Serial, [&](Expr p) {
          return loop(kb, V, ForKind::Vectorized, [&](Expr l) {
            Expr ow = ti * imm(tile) + p * imm(V) + l;
            Expr pred = OW % tile != 0 ? lt(ow, imm(OW)) : nullptr;
            Expr idx = ((ni * imm(M) + oc) * imm(OH) + oh) * imm(OW) + ow;
            return store(yb, idx, activation(load(yb, {y->dtype, 1}, idx, pred)), pred);
          });
        }));
      Stmt st = block(std::move(stores));
      epilogue.push_back(M % ocb != 0 ? if_then(lt(oc, imm(M)), st) : st);
    }
    return allocate(acc, DType::i32, ocb * pxv * V,
                    allocate(xv, DType::i32, pxv * V,
                             block({block(std::move(init)), reduce, block(std::move(epilogue))})));
  });
  const int64_t extent = g.n * nb * OH * ntiles;
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(pv, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(k), std::move(args), false, n);
}

} // namespace kiln
