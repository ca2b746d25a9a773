#pragma once
/// `kiln quantize`: post-training static quantization of a float ONNX model into a standard QDQ
/// model that ONNX Runtime runs and that Kiln's `qconv` pass turns into QLinearConv kernels.
///
/// Calibration runs the float model (compiled, every tensor that gets a QuantizeLinear made a
/// graph output, as `kiln compare` does) on every image of a folder, letterboxed as `kiln detect`
/// does, and takes each tensor's range by min/max, a percentile of |x| or the KL-divergence
/// threshold. Each quantized Conv becomes DequantizeLinear(x u8) -> Conv(DequantizeLinear(W i8,
/// symmetric, per tensor or per output channel), DequantizeLinear(B i32, scale x_scale * w_scale))
/// -> QuantizeLinear, and a SiLU after it gets its own Quantize/Dequantize pair so that it fuses.
///
/// Which Convs stay float, by graph structure: grouped and depthwise Convs (the int8 kernels take
/// group-1 Convs only), Convs whose weights are not constant, the stem (Convs no other Conv
/// precedes: they read the image, whose few wide channels make their outputs' 8-bit steps too
/// coarse) and the head's prediction Convs, those followed by no activation (YOLO's box,
/// objectness and class convs and the DFL: their raw outputs are decoded directly).
/// --include-stem and --include-head quantize those two kinds; --exclude keeps named Conv nodes
/// float. Float Convs read their input in float even where it is quantized for others.
///
///   kiln quantize yolox_nano.onnx --calibration coco8/images -o yolox_nano_int8.onnx
#include "tools/SessionFlags.h"

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

struct QuantizeArgs {
  std::string model;
  std::string calibration; ///< folder of calibration images (searched recursively)
  std::string output;
  bool per_channel = false;
  std::string method = "minmax"; ///< minmax | percentile | entropy
  std::vector<std::string> exclude;
  bool include_head = false;
  bool include_stem = false;
  int limit = 0; ///< at most this many calibration images (0: all)
  std::string head = "auto";
  SessionFlags session; ///< the calibration session: --threads, --input-shape, --cache-dir, ...
};

CLI::App *add_quantize_command(CLI::App &app, QuantizeArgs &a);

int cmd_quantize(const QuantizeArgs &a);

} // namespace kiln
