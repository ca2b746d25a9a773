// Shape inference of the Quant family.
#include "ir/shape/Infer.h"

namespace kiln::shape {

namespace {

/// Scale and zero point: both scalars (per tensor), or both 1-D of x's size along `axis`.
void check_quant_params(Infer &c, const Value &x, const Value &scale, const Value &zp) {
  int64_t axis = c.i("axis");
  bool per_tensor = is_scalar_like(scale.shape);
  if (per_tensor ? !is_scalar_like(zp.shape) : zp.shape != scale.shape)
    c.fail("zero point has shape " + shape_str(zp.shape) + " but scale has " +
           shape_str(scale.shape));
  if (per_tensor)
    return; // axis is irrelevant
  if (axis < 0 || axis >= static_cast<int64_t>(x.shape.size()))
    c.fail("axis " + std::to_string(axis) + " is out of range for input " + shape_str(x.shape));
  if (scale.shape != Shape{x.shape[axis]})
    c.fail("scale has shape " + shape_str(scale.shape) + " but must be a scalar or " +
           std::to_string(x.shape[axis]) + " (axis " + std::to_string(axis) + " of " +
           shape_str(x.shape) + ")");
}

void quantize(Infer &c) {
  c.arity(3, 3);
  const Value &x = c.in(0), &scale = c.in(1), &zp = c.in(2);
  c.dtype_in(x, "input x", {DType::f32, DType::f16});
  c.same_dtype(scale, "y_scale", x, "input x");
  c.dtype_in(zp, "y_zero_point", {DType::u8, DType::i8, DType::i16});
  check_quant_params(c, x, scale, zp);
  c.out(zp.dtype, x.shape);
}

void dequantize(Infer &c) {
  c.arity(3, 3);
  const Value &x = c.in(0), &scale = c.in(1), &zp = c.in(2);
  c.dtype_in(x, "input x", {DType::u8, DType::i8, DType::i16, DType::i32});
  c.kind(scale, "x_scale", Kind::floating);
  c.same_dtype(zp, "x_zero_point", x, "input x");
  check_quant_params(c, x, scale, zp);
  c.out(scale.dtype, x.shape);
}

void dynamic_quantize(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.dtype_in(x, "input x", {DType::f32});
  c.out(DType::u8, x.shape);
  c.out(DType::f32, {});
  c.out(DType::u8, {});
}

} // namespace

void infer_quant(Infer &c) {
  switch (family_op<OpFamily::Quant>(c.op())) {
  case QuantOp::QuantizeLinear: return quantize(c);
  case QuantOp::DequantizeLinear: return dequantize(c);
  case QuantOp::DynamicQuantizeLinear: return dynamic_quantize(c);
  }
}

} // namespace kiln::shape
