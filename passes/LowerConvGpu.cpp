// GPU-shaped Conv / ConvInteger -> loop IR (LowerOptions::gpu: the OpenCL target).
//
// The OpenCL backend runs one work item per iteration of a kernel's Parallel loop, so a conv
// is cut into one iteration per small output tile: OCB output channels x PX neighbouring
// output pixels, accumulated in private scalars. The pixel tile is the fastest-varying
// coordinate, so neighbouring work items read neighbouring input and write neighbouring output
// (coalesced), and the work items of a work-group share their channel block, so their weight
// reads are one address (a broadcast). Weights are packed once on the host by the CPU kernels'
// pack_conv_weights (passes/LowerConvUtil.h; [G][NB][KH][KW][Cg][OCB]: a work item's OCB
// weights are contiguous).
//
//   kernel conv2d_3x3s1_t8x4_silu_f32(x, wp, b, y) parallel N*G*NB*OH*ceil(OW/PX):
//     parallel for (n, g, ocblock, oh, tile):
//       acc[o][k] = bias[oc]
//       for kh: ih = oh*sh - pt + kh*dh; if ih in [0, H):
//         for ic:
//           xr[q] = x[n][g*Cg+ic][ih][tile*PX*sw - pl + q]   for each q a tap reads (predicated)
//           for kw: wr[o] = wp[g][ocblock][kh][kw][ic][o]
//                   acc[o][k] += wr[o] * xr[k*sw + kw*dw]
//       y[n][oc][oh][tile*PX + k] = act(acc[o][k]) (+ residual[...])
//                                   (padded channels and pixels past the row are not stored)
//
// Pointwise convs (1x1, stride 1, no padding) walk the flattened OH*OW plane instead of rows,
// so narrow images waste no work items. Bias, the fused activation and the residual are the
// CPU kernels' (conv_activation), so both targets compute the same values.
#include "passes/LowerConvGpu.h"

#include "passes/LowerLoops.h"

#include <algorithm>

namespace kiln {

using namespace lw;

GpuConvTiles choose_gpu_conv_tiles(const ConvGeom &g, const LowerOptions &opt) {
  GpuConvTiles base;
  base.flat = g.is_pointwise();
  base.rows = base.flat ? 1 : g.oh;
  base.row_len = base.flat ? g.oh * g.ow : g.ow;
  auto fit = [&](int64_t ocb, int64_t px) {
    GpuConvTiles t = base;
    t.ocb = std::clamp<int64_t>(ocb, 1, std::max<int64_t>(g.mg, 1));
    t.px = std::clamp<int64_t>(px, 1, std::max<int64_t>(base.row_len, 1));
    return t;
  };
  // The smallest split that gives `t` kGpuMinItems work items (parts keep enough work), or
  // the largest allowed; `reached` says whether it got there.
  auto with_split = [&](GpuConvTiles t, bool &reached) {
    const int64_t macs = g.kh * g.kw;
    t.split = 1;
    while (t.work_items(g) < kGpuMinItems && g.cg % (2 * t.split) == 0 &&
           g.cg / (2 * t.split) * macs >= kGpuMinSplitMacs)
      t.split *= 2;
    reached = t.work_items(g) >= kGpuMinItems;
    return t;
  };
  bool reached = false;
  if (!opt.tile)
    return fit(1, 1);
  if (opt.tile_oc > 0 || opt.tile_px > 0)
    return with_split(fit(opt.tile_oc > 0 ? opt.tile_oc : 8, opt.tile_px > 0 ? opt.tile_px : 4),
                      reached);
  if (!opt.gpu_device)
    return fit(4, 8); // PoCL on 2 cores, YOLOv8n: 4x8 142 ms, 4x4 220, 8x8 243, 8x4 349
  // The order comes from per-layer device times of YOLOv8n on an H100 (docs/GPU_RESULTS.md):
  // 8x4 wins where it reaches the work-item count (large planes), 4x2 then 2x2 elsewhere.
  static constexpr int64_t kCandidates[][2] = {{8, 4}, {8, 2}, {4, 2}, {2, 2}, {1, 2}, {1, 1}};
  GpuConvTiles most = with_split(fit(1, 1), reached);
  for (const auto &c : kCandidates) {
    GpuConvTiles t = with_split(fit(c[0], c[1]), reached);
    if (reached)
      return t;
    if (t.work_items(g) > most.work_items(g))
      most = t;
  }
  return most;
}

void lower_conv_gpu(LowerContext &cx, const Node &n, bool integer) {
  const Value *x = n.inputs[0], *w = n.inputs[1], *y = n.outputs[0];
  const ConvGeom g = conv_geom(n, *x, *w, *y);
  if (!integer && x->dtype != DType::f32 && x->dtype != DType::f16)
    no_kernel(n, std::string(dtype_name(x->dtype)) + " Conv");
  const DType adt = integer ? DType::i32 : DType::f32;
  const GpuConvTiles t = choose_gpu_conv_tiles(g, cx.opt);
  const int64_t ocb = t.ocb, px = t.px, nb = ceil_div(g.mg, ocb);
  const int64_t rows = t.rows, row_len = t.row_len, ntiles = ceil_div(row_len, px);
  const int64_t split = t.split, cs = g.cg / split; // input channels per split-K part
  const auto [bias, residual, xzp, wzp, act] = conv_operands(n, integer);

  // Depthwise f32 weights are already in the packed order ([G][1][KH][KW][1][1]).
  ConvTiles pt;
  pt.ocb = ocb;
  const bool pack = integer || !(ocb == 1 && g.mg == 1 && g.cg == 1 && w->dtype == DType::f32);
  const int wbuf = pack ? pack_conv_weights(cx, n, g, pt, adt, wzp) : cx.buffer(w);

  const std::string kind = integer ? "convinteger_" : "conv2d_";
  std::string epi; // the epilogue's name part: activation, residual
  if (act != "none")
    epi += "_" + act;
  if (residual)
    epi += "_add";
  std::string name = kind;
  if (g.is_depthwise())
    name += "dw";
  name += window_detail(g.kh, g.kw, g.sh, g.sw, g.dh, g.dw);
  if (g.group > 1 && !g.is_depthwise())
    name += "g" + std::to_string(g.group);
  name += "_t" + std::to_string(ocb) + "x" + std::to_string(px);
  if (split > 1)
    name += "_k" + std::to_string(split); // partial sums; conv2d_splitk_sum adds them up
  else
    name += epi;
  name += "_" + std::string(dtype_name(x->dtype));
  // Split-K: partial sums part[s][n][oc][pixel] (the epilogue runs in the sum kernel).
  const int64_t out_numel = g.n * g.m * g.oh * g.ow;
  const int part =
      split > 1 ? cx.add_buffer(n.name + ".partial", adt, {split, g.n, g.m, g.oh, g.ow}, false)
                : -1;
  KernelBuilder kb(name);
  const int xb = kb.param(cx.prog, cx.buffer(x), false);
  const int wb = kb.param(cx.prog, wbuf, false);
  const int bb = bias && split == 1 ? kb.param(cx.prog, cx.buffer(bias), false) : -1;
  const int zb = xzp ? kb.param(cx.prog, cx.buffer(xzp), false) : -1;
  const int rb = residual && split == 1 ? kb.param(cx.prog, cx.buffer(residual), false) : -1;
  const int yb = kb.param(cx.prog, split > 1 ? part : cx.buffer(y), true);
  const int acc = kb.new_local(), xr = kb.new_local(), wr = kb.new_local();

  // The input offsets q (from the tile's first tap column) that some (pixel, kw) tap reads:
  // xr holds each once, so neighbouring pixels share their loads.
  std::vector<bool> needed;
  for (int64_t k = 0; k < px; ++k)
    for (int64_t kw = 0; kw < (t.flat ? 1 : g.kw); ++kw) {
      size_t q = static_cast<size_t>(t.flat ? k : k * g.sw + kw * g.dw);
      if (needed.size() <= q)
        needed.resize(q + 1, false);
      needed[q] = true;
    }
  const int64_t xr_size = static_cast<int64_t>(needed.size());
  auto xr_at = [&](int64_t k, int64_t kw) { return t.flat ? k : k * g.sw + kw * g.dw; };

  const bool pixel_tail = row_len % px != 0;
  const int64_t pixels = g.oh * g.ow;
  // Statically in-bounds input rows and columns need no check.
  const bool check_top = g.pt > 0;
  const bool check_bottom = (g.oh - 1) * g.sh - g.pt + (g.kh - 1) * g.dh >= g.h;
  const int64_t last_j0 = (ntiles - 1) * px;

  int p = kb.new_var();
  Stmt body = split_parallel(
      kb, var(p), {split, g.n, g.group, nb, rows, ntiles}, [&](const std::vector<Expr> &c) {
        Expr si = c[0], ni = c[1], gi = c[2], b = c[3], r = c[4], tile = c[5];
        // Input channel `icl` of this split-K part.
        auto ic_of = [&](Expr icl) { return split > 1 ? si * imm(cs) + icl : icl; };
        Expr j0 = tile * imm(px);
        auto pix_ok = [&](int64_t k) -> Expr {
          return pixel_tail ? lt(j0 + imm(k), imm(row_len)) : nullptr;
        };
        auto oc_local = [&](int64_t o) { return b * imm(ocb) + imm(o); };
        auto a_at = [&](int64_t o, int64_t k) { return imm(o * px + k); };
        auto plane_of = [&](Expr ic) { return ni * imm(g.c) + gi * imm(g.cg) + ic; };

        std::vector<Stmt> init;
        for (int64_t o = 0; o < ocb; ++o) {
          Expr b0 = zero_of(adt);
          if (bias && split == 1) {
            Expr oc = oc_local(o);
            if (g.mg % ocb != 0)
              oc = emin(oc, imm(g.mg - 1)); // padded channels compute garbage, never stored
            b0 = load_as(bb, bias->dtype, adt, gi * imm(g.mg) + oc);
          }
          for (int64_t k = 0; k < px; ++k)
            init.push_back(store(acc, a_at(o, k), b0));
        }

        // xr[q] for every needed q: input element `idx(q)` if `pred(q)`, else 0 (the padding,
        // or past the plane for a flat tail tile).
        auto load_row = [&](const std::function<Expr(int64_t)> &idx,
                            const std::function<Expr(int64_t)> &pred) {
          std::vector<Stmt> s;
          for (int64_t q = 0; q < xr_size; ++q) {
            if (!needed[static_cast<size_t>(q)])
              continue;
            Expr pr = pred(q);
            Expr val = load_as(xb, x->dtype, adt, idx(q), pr);
            if (integer) {
              // Out-of-image taps contribute 0 after the zero point, as if padded with it.
              val = val - load_as(zb, xzp->dtype, adt, imm(0));
              if (pr)
                val = select(pr, val, zero_of(adt));
            }
            s.push_back(store(xr, imm(q), val));
          }
          return s;
        };
        // One (kh, kw, ic) step on the loaded xr: OCB weights, then OCB x PX multiply-adds.
        auto taps = [&](Expr kh, int64_t kw, Expr ic, std::vector<Stmt> &s) {
          Expr wbase =
              ((((gi * imm(nb) + b) * imm(g.kh) + kh) * imm(g.kw) + imm(kw)) * imm(g.cg) + ic) *
              imm(ocb);
          for (int64_t o = 0; o < ocb; ++o)
            s.push_back(store(wr, imm(o), load_as(wb, pack ? adt : w->dtype, adt, wbase + imm(o))));
          for (int64_t o = 0; o < ocb; ++o)
            for (int64_t k = 0; k < px; ++k) {
              Expr a = a_at(o, k);
              Expr xv = load(xr, {adt, 1}, imm(xr_at(k, kw)));
              Expr wv = load(wr, {adt, 1}, imm(o));
              s.push_back(store(acc, a, load(acc, {adt, 1}, a) + wv * xv));
            }
        };

        Stmt reduce;
        if (t.flat) {
          reduce = loop(kb, cs, ForKind::Serial, [&](Expr icl) {
            Expr ic = ic_of(icl);
            Expr base = plane_of(ic) * imm(pixels) + j0;
            std::vector<Stmt> s = load_row([&](int64_t q) { return base + imm(q); },
                                           [&](int64_t q) { return pix_ok(q); });
            taps(imm(0), 0, ic, s);
            return block(std::move(s));
          });
        } else {
          reduce = loop(kb, g.kh, ForKind::Serial, [&](Expr kh) {
            Expr ih = r * imm(g.sh) - imm(g.pt) + kh * imm(g.dh);
            Stmt inner = loop(kb, cs, ForKind::Serial, [&](Expr icl) {
              Expr ic = ic_of(icl);
              Expr rowbase = (plane_of(ic) * imm(g.h) + ih) * imm(g.w);
              Expr iw0 = j0 * imm(g.sw) - imm(g.pl);
              auto iw = [&](int64_t q) { return iw0 + imm(q); };
              std::vector<Stmt> s = load_row([&](int64_t q) { return rowbase + iw(q); },
                                             [&](int64_t q) -> Expr {
                                               Expr pr;
                                               if (q < g.pl)
                                                 pr = land(pr, ge(iw(q), imm(0)));
                                               if (last_j0 * g.sw - g.pl + q >= g.w)
                                                 pr = land(pr, lt(iw(q), imm(g.w)));
                                               return pr;
                                             });
              for (int64_t kw = 0; kw < g.kw; ++kw)
                taps(kh, kw, ic, s);
              return block(std::move(s));
            });
            return guard_input_row(ih, check_top, check_bottom, g.h, inner);
          });
        }

        std::vector<Stmt> epilogue;
        for (int64_t o = 0; o < ocb; ++o) {
          Expr oc = gi * imm(g.mg) + oc_local(o);
          std::vector<Stmt> st;
          for (int64_t k = 0; k < px; ++k) {
            Expr j = j0 + imm(k);
            Expr idx = t.flat ? (ni * imm(g.m) + oc) * imm(pixels) + j
                              : ((ni * imm(g.m) + oc) * imm(g.oh) + r) * imm(g.ow) + j;
            if (split > 1) {
              st.push_back(
                  store(yb, si * imm(out_numel) + idx, load(acc, {adt, 1}, a_at(o, k)), pix_ok(k)));
              continue;
            }
            Expr val = conv_activation(n, act, load(acc, {adt, 1}, a_at(o, k)));
            if (residual)
              val = val + load_as(rb, residual->dtype, adt, idx, pix_ok(k));
            st.push_back(store(yb, idx, store_cast(y->dtype, val), pix_ok(k)));
          }
          Stmt s = block(std::move(st));
          epilogue.push_back(g.mg % ocb != 0 ? if_then(lt(oc_local(o), imm(g.mg)), s) : s);
        }
        Stmt all = block({block(std::move(init)), reduce, block(std::move(epilogue))});
        return allocate(acc, adt, ocb * px,
                        allocate(xr, adt, xr_size, allocate(wr, adt, ocb, std::move(all))));
      });
  const int64_t extent = t.work_items(g);
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(k), std::move(args), false, n);
  if (split == 1)
    return;

  // The split-K sum: y[i] = act(bias[oc] + sum_s part[s][i]) (+ residual[i]), four
  // neighbouring outputs per work item.
  constexpr int64_t kPer = 4;
  KernelBuilder sb(kind + "splitk_sum" + std::to_string(split) + epi + "_" +
                   std::string(dtype_name(x->dtype)));
  const int pb = sb.param(cx.prog, part, false);
  const int sbb = bias ? sb.param(cx.prog, cx.buffer(bias), false) : -1;
  const int srb = residual ? sb.param(cx.prog, cx.buffer(residual), false) : -1;
  const int syb = sb.param(cx.prog, cx.buffer(y), true);
  const int64_t chunks = ceil_div(out_numel, kPer);
  int q = sb.new_var();
  std::vector<Stmt> s;
  for (int64_t k = 0; k < kPer; ++k) {
    Expr i = var(q) * imm(kPer) + imm(k);
    Expr ok = out_numel % kPer != 0 ? lt(i, imm(out_numel)) : nullptr;
    Expr ic = ok ? emin(i, imm(out_numel - 1)) : i; // in-bounds index for the loads
    Expr v = bias ? load_as(sbb, bias->dtype, adt, emod(ediv(ic, pixels), g.m)) : zero_of(adt);
    for (int64_t si = 0; si < split; ++si)
      v = v + load(pb, {adt, 1}, imm(si * out_numel) + ic);
    v = conv_activation(n, act, v);
    if (residual)
      v = v + load_as(srb, residual->dtype, adt, ic);
    s.push_back(store(syb, i, store_cast(y->dtype, v), ok));
  }
  std::vector<int> sargs = sb.args();
  Kernel sk =
      sb.finish(for_loop(q, imm(0), imm(chunks), ForKind::Parallel, block(std::move(s))), chunks);
  cx.launch(std::move(sk), std::move(sargs), false, n);
}

} // namespace kiln
