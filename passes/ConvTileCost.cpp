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

} // namespace

std::vector<ConvTiles> conv_tile_candidates(const ConvGeom &g, const LowerOptions &opt) {
  ConvTiles base;
  const int64_t v = std::max(1, opt.vector_lanes_f32);
  base.lanes = v;
  base.flat = g.is_pointwise();
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
  // Best first; ties keep the enumeration order (stable), so the choice is deterministic.
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto &a, const auto &b) { return a.first > b.first + 1e-9; });
  std::vector<ConvTiles> out;
  for (auto &[score, t] : scored)
    out.push_back(t);
  if (out.empty())
    out.push_back(base);
  return out;
}

ConvTiles choose_conv_tiles(const ConvGeom &g, const LowerOptions &opt) {
  return conv_tile_candidates(g, opt).front();
}

} // namespace kiln
