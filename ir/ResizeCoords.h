#pragma once
/// Resize's coordinate math, shared by the reference interpreter and lowering so that generated
/// kernels read exactly the source pixels the reference does (nearest-mode ties included).
#include <cstdint>
#include <string>

namespace kiln {

/// x_original for output coordinate x of an axis resized from in_len to out_len by `scale`,
/// per coordinate_transformation_mode (float math as ONNX Runtime does it). Throws kiln::Error
/// for an unsupported mode.
float resize_original_coordinate(const std::string &mode, float x, float scale, int64_t in_len,
                                 int64_t out_len);

/// The source index nearest to x per nearest_mode (not clamped). Throws kiln::Error for an
/// unsupported mode.
int64_t resize_nearest_index(const std::string &mode, float x);

} // namespace kiln
