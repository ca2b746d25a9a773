// The CPU conv tile cost model (see passes/ConvTileCost.h).
#include "passes/ConvTileCost.h"

#include "passes/LowerExpr.h"

#include <algorithm>
#include <vector>

namespace kiln {

using lw::ceil_div;
using lw::round_up;

namespace {

/// Rows of similar length for the flattened pixel plane of a pointwise conv.
void flat_rows(int64_t pixels, int64_t tw, int64_t &rows, int64_t &len) {
  const int64_t target = std::max<int64_t>(tw, 256);
  rows = ceil_div(pixels, target);
  len = round_up(ceil_div(pixels, rows), tw);
}

/// Candidates for the blocked kernels (passes/LowerConvBlocked.cpp). Per (kh, kw, ic) step a
/// tile of `px` pixels x `ocv` channel vectors issues px*ocv FMAs, px broadcast loads (folded
/// into the FMAs as memory operands) and ocv weight-vector loads; per tile it pays the bias
/// loads, the epilogue and the stores once. Depthwise: px pixel vectors, one weight vector per
/// tap, (px - 1) * sw + kw input vectors per kernel row.
std::vector<std::pair<double, ConvTiles>> blocked_candidates(const ConvGeom &g,
                                                             const LowerOptions &opt) {
  const int64_t lanes = std::max(1, opt.vector_lanes_f32);
  const int64_t v = g.half ? 2 * lanes : lanes; // elements of the compute type per register
  const int64_t esize = g.half ? 2 : 4;
  const int64_t b = g.y_block > 0 ? g.y_block : g.x_block;
  const int64_t regs = lanes >= 16 ? 32 : 16; // zmm / ymm registers
  const int64_t bv = ceil_div(b, v);          // vector registers per channel block
  ConvTiles base;
  base.lanes = lanes;
  base.blocked = true;
  const bool dw = g.is_depthwise();
  base.flat = g.is_pointwise() && !dw;
  std::vector<int64_t> ocvs = {1, 2, 3, 4, 5, 6};
  if (dw)
    ocvs = {1};
  std::vector<int64_t> pxs = {1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28};
  bool given = !opt.tile || opt.tile_oc > 0 || opt.tile_px > 0;
  if (!opt.tile)
    ocvs = {1}, pxs = {1};
  if (opt.tile && opt.tile_oc > 0 && !dw)
    ocvs = {std::max<int64_t>(1, opt.tile_oc / b)};
  if (opt.tile && opt.tile_px > 0)
    pxs = {opt.tile_px};
  const int64_t blocks = ceil_div(g.mg, b);
  const int64_t taps = g.kh * g.kw * (dw ? 1 : g.cg);
  std::vector<std::pair<double, ConvTiles>> out;
  for (int64_t ocv : ocvs)
    for (int64_t px : pxs) {
      if (ocv > blocks && !given)
        continue;
      const int64_t acc = px * ocv * bv;
      const int64_t live = dw ? acc + ((px - 1) * g.sw + g.kw) * bv + bv : acc + ocv * bv + 1;
      if (!given && live > regs)
        continue;
      int64_t rows = g.oh, len = g.ow;
      if (base.flat)
        flat_rows(g.oh * g.ow, px, rows, len);
      const double px_eff = double(g.oh * g.ow) / double(rows * round_up(len, px));
      const double oc_eff = double(g.mg) / double(round_up(g.mg, ocv * b));
      // Cycles per step: FMAs on 2 ports; loads (weight vectors and the broadcasts, folded
      // into the FMAs or not) at about one a cycle in practice; each accumulator chain at
      // least ~5 cycles (FMA latency and scheduling slack); a group's weights past L1 stream
      // from L2 at ~32 B a cycle; plus about a cycle of loop and address work.
      const int64_t group_weight_bytes = g.cg * g.kh * g.kw * ocv * b * esize;
      const bool weights_in_l2 = !dw && group_weight_bytes > 40 * 1024;
      double fma = double(acc) / 2;
      double loads = dw ? double(((px - 1) * g.sw + g.kw) * bv) / double(g.kw) + double(bv)
                        : double(px + ocv * bv);
      double l2 = weights_in_l2 ? double(ocv * bv * v * esize) / 32 : 0;
      double step = std::max({fma, loads, 5.0 * double(bv), l2}) + 1;
      // Per tile: bias, epilogue (activation ~16 ops a vector) and stores, over all its steps.
      double tile_cycles = step * double(taps) + double(acc) * 10 / 2;
      double score = double(acc) * double(taps) * px_eff * oc_eff / tile_cycles;
      ConvTiles t = base;
      t.ocb = ocv * b, t.px = px, t.nv = 1, t.rows = rows, t.row_len = len;
      // A group's packed weights above ~1/4 of L2 (2 MiB here): keep them across rows.
      t.oc_outer = !dw && group_weight_bytes > 256 * 1024;
      out.emplace_back(score, t);
    }
  return out;
}

/// The scored tiles best first; ties keep the enumeration order (stable), so the choice is
/// deterministic. `fallback` when there are none.
std::vector<ConvTiles> best_first(std::vector<std::pair<double, ConvTiles>> scored,
                                  const ConvTiles &fallback) {
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto &a, const auto &b) { return a.first > b.first + 1e-9; });
  std::vector<ConvTiles> out;
  for (auto &[score, t] : scored)
    out.push_back(t);
  if (out.empty())
    out.push_back(fallback);
  return out;
}

} // namespace

std::vector<ConvTiles> conv_tile_candidates(const ConvGeom &g, const LowerOptions &opt) {
  ConvTiles base;
  const int64_t v = std::max(1, opt.vector_lanes_f32);
  base.lanes = v;
  base.flat = g.is_pointwise();
  if (g.blocked())
    return best_first(blocked_candidates(g, opt), base);
  std::vector<std::pair<double, ConvTiles>> scored;
  // A rough cycle model per (kh, kw, ic) step: FMAs on 2 ports, loads on 2 ports (a stride-s
  // pixel vector, s <= 4, is s loads and a shuffle that takes an FMA port; a longer stride is
  // a gather, about one load per lane), and at least the 4-cycle FMA latency of each
  // accumulator chain. Score: useful FMAs per cycle (padded channels and the lanes past a
  // row's end are wasted).
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
      if (base.flat)
        flat_rows(g.oh * g.ow, tw, rows, len);
      double px_eff = double(g.oh * g.ow) / double(rows * round_up(len, tw));
      double oc_eff = double(g.mg) / double(round_up(g.mg, ocb));
      double fma = double(ocb * nv + (g.sw > 1 && g.sw <= 4 ? nv : 0)) / 2;
      double loads = double(nv * (g.sw > 4 ? v : g.sw) + ocb) / 2;
      double cycles = std::max({fma, loads, 4.0});
      double score = double(ocb * nv) * px_eff * oc_eff / cycles;
      ConvTiles t = base;
      t.ocb = ocb, t.nv = nv, t.rows = rows, t.row_len = len;
      scored.emplace_back(score, t);
    }
  return best_first(std::move(scored), base);
}

ConvTiles choose_conv_tiles(const ConvGeom &g, const LowerOptions &opt) {
  return conv_tile_candidates(g, opt).front();
}

} // namespace kiln
