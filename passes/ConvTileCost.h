#pragma once
/// The conv tile cost model: the geometry of a 2-D conv and the register tile the CPU conv
/// kernel (passes/LowerConv.cpp) computes it in, chosen per layer by a rough cycle model.
///
///   ConvGeom g = conv_geom(node, x, w, y);            // passes/LowerConvUtil.h
///   ConvTiles t = choose_conv_tiles(g, opt);         // e.g. 8 channels x 2 vectors of 16
///   // one work item: t.ocb x (t.nv * t.lanes) outputs per step, rows of t.row_len pixels
#include "passes/Program.h"

#include <cstdint>
#include <vector>

namespace kiln {

/// The geometry of a 2-D conv (weights [M][C/group][KH][KW]); c, h, w, m, oh, ow are the
/// logical NCHW sizes. x_block / y_block: the channel block of a blocked input / output
/// ([N][C/b][H][W][b], docs/DESIGN.md "Blocked layout"), 0 for NCHW.
struct ConvGeom {
  int64_t n, c, h, w, m, oh, ow, kh, kw, group, cg, mg, sh, sw, dh, dw, pt, pl;
  int64_t x_block = 0, y_block = 0;
  /// Blocked f16 conv on a target with native f16 (LowerOptions::native_f16): accumulates in
  /// f16 with 2x the f32 lanes per vector register and 2-byte weights.
  bool half = false;
  bool blocked() const { return x_block > 0 || y_block > 0; }
  bool is_pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && oh == h && ow == w;
  }
  bool is_depthwise() const { return group > 1 && cg == 1 && mg == 1; }
};

/// Register tile of the conv kernels: `ocb` output channels x `nv` vectors of `lanes` output
/// pixels, accumulated in registers; pixels are walked as `rows` rows of `row_len` (for
/// 1x1/s1/p0 convs the whole OH*OW plane is cut into rows of similar length instead of image
/// rows, so narrow images do not waste lanes).
///
/// Blocked convs (ConvGeom::blocked(), passes/LowerConvBlocked.cpp) vectorise over output
/// channels instead: `ocb` channels (whole blocks) x `px` output pixels per register tile, and
/// `oc_outer` walks output-channel groups outside the pixel rows (a group's weights then stay
/// in cache across rows) instead of inside them (the rows' inputs stay in cache).
struct ConvTiles {
  int64_t ocb = 8, nv = 2, lanes = 16;
  bool flat = false;
  int64_t rows = 1, row_len = 1;
  bool blocked = false;
  int64_t px = 1;
  bool oc_outer = false;
};

/// The one place CPU conv tile sizes are chosen: the candidate tile with the most useful FMAs
/// per modelled cycle, within the register file of opt.vector_lanes_f32. The `tile` pass
/// options apply: tile off is one channel x one vector; tile_oc / tile_px give the sizes.
ConvTiles choose_conv_tiles(const ConvGeom &g, const LowerOptions &opt);

/// Every tile the cost model considers for `g` under `opt`, best modelled first (the first is
/// choose_conv_tiles' answer without a tuning database): what `kiln tune` times.
std::vector<ConvTiles> conv_tile_candidates(const ConvGeom &g, const LowerOptions &opt);

} // namespace kiln
