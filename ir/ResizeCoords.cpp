#include "ir/ResizeCoords.h"

#include "ir/Error.h"

#include <cmath>

namespace kiln {

float resize_original_coordinate(const std::string &mode, float x, float scale, int64_t in_len,
                                 int64_t out_len) {
  if (mode == "half_pixel")
    return (x + 0.5f) / scale - 0.5f;
  if (mode == "pytorch_half_pixel")
    return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (mode == "align_corners")
    return out_len == 1 ? 0.0f
                        : x * static_cast<float>(in_len - 1) / static_cast<float>(out_len - 1);
  if (mode == "asymmetric")
    return x / scale;
  if (mode == "half_pixel_symmetric") {
    float adjustment = static_cast<float>(out_len) / (scale * static_cast<float>(in_len));
    float center = static_cast<float>(in_len) / 2.0f;
    float offset = center * (1.0f - adjustment);
    // ONNX Runtime evaluates this tail in double (its 0.5 literals are doubles); nearest-mode
    // ties depend on it.
    return static_cast<float>(offset + (static_cast<double>(x) + 0.5) / scale - 0.5);
  }
  throw Error("Resize: coordinate_transformation_mode '" + mode + "' is not supported");
}

int64_t resize_nearest_index(const std::string &mode, float x) {
  float fl = std::floor(x);
  if (mode == "round_prefer_floor")
    return static_cast<int64_t>(x - fl == 0.5f ? fl : std::round(x));
  if (mode == "round_prefer_ceil")
    return static_cast<int64_t>(x - fl == 0.5f ? std::ceil(x) : std::round(x));
  if (mode == "floor")
    return static_cast<int64_t>(fl);
  if (mode == "ceil")
    return static_cast<int64_t>(std::ceil(x));
  throw Error("Resize: nearest_mode '" + mode + "' is not supported");
}

} // namespace kiln
