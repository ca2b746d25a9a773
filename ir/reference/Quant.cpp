// Linear (de)quantisation, matching ONNX Runtime's CPU kernels: float arithmetic, rounding half
// to even (std::nearbyint in the default rounding mode), saturation to the integer type.
#include "ir/reference/Kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::ref {

namespace {

/// Per-element index into scale / zero point: 0 when per-tensor, the channel when per-axis.
struct ParamIndex {
  int64_t inner = 1, len = 1;
  bool per_axis = false;
  int64_t at(int64_t i) const { return per_axis ? (i / inner) % len : 0; }
};

ParamIndex param_index(const Node &node, const Tensor &x, const Tensor &scale) {
  ParamIndex p;
  if (scale.numel() == 1 && scale.rank() <= 1)
    return p;
  int64_t axis = node.attrs.i("axis");
  if (scale.rank() != 1 || axis < 0 || axis >= x.rank() || scale.numel() != x.shape()[axis])
    throw Error(std::string(op_name(node.op)) + ": scale " + shape_str(scale.shape()) +
                " is neither a scalar nor 1-D along axis " + std::to_string(axis) + " of " +
                shape_str(x.shape()));
  p.per_axis = true;
  p.len = x.shape()[axis];
  p.inner = dims_product(x.shape(), axis + 1, x.shape().size());
  return p;
}

/// Zero points as float (zeros when the input is absent), one per scale entry.
std::vector<float> zero_points(const Inputs &in, size_t i, int64_t n) {
  std::vector<float> zp(static_cast<size_t>(n), 0.0f);
  if (in.size() <= i || !in[i].defined())
    return zp;
  if (in[i].numel() != n)
    throw Error("zero point and scale have different sizes");
  for (int64_t j = 0; j < n; ++j)
    zp[j] = static_cast<float>(in[i].get_f64(j));
  return zp;
}

template <class T> T saturate_round(float v, float zp) {
  float q = std::nearbyint(v) + zp;
  q = std::max(q, static_cast<float>(std::numeric_limits<T>::lowest()));
  q = std::min(q, static_cast<float>(std::numeric_limits<T>::max()));
  return static_cast<T>(q);
}

template <class F> void dispatch_quantized(DType t, F &&f) {
  switch (t) {
  case DType::u8: return f(uint8_t{});
  case DType::i8: return f(int8_t{});
  case DType::i16: return f(int16_t{});
  case DType::i32: return f(int32_t{});
  case DType::f32:
  case DType::f16:
  case DType::bf16:
  case DType::f64:
  case DType::i64:
  case DType::boolean: break;
  }
  throw Error("QuantizeLinear: unsupported output dtype " + std::string(dtype_name(t)));
}

} // namespace

Tensor eval_quantize(const Node &node, const Inputs &in) {
  const Tensor &x = in[0], &scale = in[1];
  Tensor out = new_output(node, 0);
  if (!is_float(x.dtype()) || !is_float(scale.dtype()))
    throw Error("QuantizeLinear: input and scale must be floats");
  ParamIndex pi = param_index(node, x, scale);
  std::vector<float> xv = load_as<float>(x), sv = load_as<float>(scale);
  std::vector<float> zp = zero_points(in, 2, scale.numel());
  dispatch_quantized(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *y = out.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t c = pi.at(i);
      y[i] = saturate_round<T>(xv[i] / sv[c], zp[c]);
    }
  });
  return out;
}

Tensor eval_dequantize(const Node &node, const Inputs &in) {
  const Tensor &x = in[0], &scale = in[1];
  Tensor out = new_output(node, 0);
  if (!is_float(scale.dtype()))
    throw Error("DequantizeLinear: scale must be a float");
  ParamIndex pi = param_index(node, x, scale);
  std::vector<float> sv = load_as<float>(scale);
  std::vector<float> zp = zero_points(in, 2, scale.numel());
  std::vector<float> y(static_cast<size_t>(x.numel()));
  // (x - zp) is formed exactly in int64 before the float multiply, as ONNX Runtime does.
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = pi.at(i);
    y[i] = static_cast<float>(x.get_i64(i) - static_cast<int64_t>(zp[c])) * sv[c];
  }
  store_from(out, y);
  return out;
}

std::vector<Tensor> eval_dynamic_quantize(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  if (x.dtype() != DType::f32)
    throw Error("DynamicQuantizeLinear: input must be f32");
  Tensor y = new_output(node, 0), y_scale = new_output(node, 1), y_zp = new_output(node, 2);
  const float *xp = x.data<float>();
  // The range always includes 0 so that 0 is exactly representable.
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    lo = std::min(lo, xp[i]);
    hi = std::max(hi, xp[i]);
  }
  // ONNX Runtime (GetQuantizationParameter) uses scale 1 for an all-zero input instead of
  // the spec's 0/255, which would divide by zero below.
  float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  float zp_f = std::nearbyint(std::clamp(0.0f - lo / scale, 0.0f, 255.0f));
  uint8_t zp = static_cast<uint8_t>(zp_f);
  uint8_t *yp = y.data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i)
    yp[i] = saturate_round<uint8_t>(xp[i] / scale, zp_f);
  y_scale.data<float>()[0] = scale;
  y_zp.data<uint8_t>()[0] = zp;
  return {y, y_scale, y_zp};
}

std::vector<Tensor> eval_quant_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Quant>(node.op)) {
  case QuantOp::QuantizeLinear: return {eval_quantize(node, in)};
  case QuantOp::DequantizeLinear: return {eval_dequantize(node, in)};
  case QuantOp::DynamicQuantizeLinear: return eval_dynamic_quantize(node, in);
  }
  KILN_ASSERT(false, "eval_quant_family: not a QuantOp");
}

} // namespace kiln::ref
