#pragma once
/// GPU-shaped lowering of Conv / ConvInteger (passes/LowerConvGpu.cpp), taken when
/// LowerOptions::gpu is set (the OpenCL target): one work item per small output tile, so a
/// layer has tens of thousands of parallel iterations instead of the CPU kernels' few hundred
/// register-blocked rows.
#include "passes/LowerConvUtil.h"

namespace kiln {

/// The output tile of one work item: `ocb` output channels x `px` neighbouring output pixels
/// of one row (for pointwise convs, of the flattened OH*OW plane: `flat`), accumulated in
/// private scalars, over the input channels of one of `split` equal parts (split-K: with
/// split > 1 each part writes partial sums and a second kernel adds them up).
struct GpuConvTiles {
  int64_t ocb = 8, px = 4;
  bool flat = false;
  int64_t rows = 1, row_len = 1; ///< pixel rows and their length (OH x OW, or 1 x OH*OW)
  int64_t split = 1;             ///< divides Cg
  /// Output tiles (work items of one input-channel part).
  int64_t items(const ConvGeom &g) const {
    return g.n * g.group * ((g.mg + ocb - 1) / ocb) * rows * ((row_len + px - 1) / px);
  }
  /// Work items of the conv kernel.
  int64_t work_items(const ConvGeom &g) const { return items(g) * split; }
};

/// Work items a GPU wants at least per conv launch (an H100: 132 SMs x 4 schedulers x a few
/// warps of 32 lanes each).
inline constexpr int64_t kGpuMinItems = 65536;
/// Multiply-adds per output a split-K part keeps at least (Cg / split * KH * KW).
inline constexpr int64_t kGpuMinSplitMacs = 72;

/// The tile choice. On a GPU: the first of 8x4, 8x2, 4x2, 2x2, 1x2, 1x1 (channels x pixels,
/// capped by the layer) that reaches kGpuMinItems work items with the smallest split
/// (a power of two dividing Cg whose parts keep kGpuMinSplitMacs), else the configuration with
/// the most work items. On a CPU OpenCL device (LowerOptions::gpu_device false): 4x8, no
/// split. The `tile` pass options apply: tile off is 1x1 without split; tile_oc / tile_px
/// give the tile (the split is still chosen).
GpuConvTiles choose_gpu_conv_tiles(const ConvGeom &g, const LowerOptions &opt);

/// Appends the weight-packing launch (pack_conv_weights) and the conv launch for `n`.
void lower_conv_gpu(LowerContext &cx, const Node &n, bool integer);

} // namespace kiln
