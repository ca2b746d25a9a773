// Importers of the QOperator format: QLinearConv and QLinearMatMul (ONNX) and the ops ONNX
// Runtime's quantizer emits in its com.microsoft domain. Each becomes the QDQ form the rest of
// Kiln runs: DequantizeLinear of every quantized input -> the float op -> QuantizeLinear, the
// float op imported by its own importer (ImportContext::import_as), so its attributes mean what
// they mean there and a pass that recognises DQ -> Conv -> Q serves QOperator and QDQ models
// alike. ONNX Runtime computes these ops in integers (QLinearConv: int32 accumulation, one
// float requantize multiplier) or through 256-entry tables; the float form may round a value
// one step the other way (tests/models/check_model.py measures this against ORT).
#include "frontend/ImportContext.h"

namespace kiln::frontend {

namespace {

using Outs = std::vector<Value *>;

/// The node lists between `lo` and `hi` inputs (optional ones may be empty names).
void expect_inputs(ImportContext &cx, int lo, int hi) {
  int n = cx.node().input_size();
  if (n >= lo && n <= hi)
    return;
  std::string want = std::to_string(lo) + (hi == lo ? "" : " or " + std::to_string(hi));
  cx.fail("expects " + want + " inputs, got " + std::to_string(n));
}

/// A quantized tensor: uint8 or int8.
Value *quantized_input(ImportContext &cx, int i, const char *what) {
  Value *x = cx.required_input(i, what);
  if (x->dtype != DType::u8 && x->dtype != DType::i8)
    cx.fail(std::string("input '") + what + "' must be uint8 or int8, not " +
            std::string(dtype_name(x->dtype)));
  return x;
}

/// A scale or zero point must be a constant: the QDQ form and the int8 kernels need it at
/// compile time. Null for an absent optional one.
Value *param(ImportContext &cx, int i, const char *what, bool required) {
  Value *v = required ? cx.required_input(i, what) : cx.input(i);
  if (v && !v->is_constant())
    cx.fail(std::string("input '") + what + "' must be a constant (a quantisation parameter)");
  if (v && shape_numel(v->shape) != 1 && v->shape.size() != 1)
    cx.fail(std::string("input '") + what + "' must be a scalar or 1-D, not " +
            shape_str(v->shape));
  return v;
}

Value *broadcast_to(ImportContext &cx, Value *v, int64_t n, const std::string &suffix) {
  if (shape_numel(v->shape) == n && v->shape.size() == 1)
    return v;
  if (shape_numel(v->shape) != 1)
    cx.fail("a scale and its zero point have " + shape_str(v->shape) + " and " + std::to_string(n) +
            " entries");
  Attrs a;
  a.set("shape", Shape{n});
  return cx.emit(OpKind::Expand, {v}, a, suffix);
}

/// (x - zero_point) * scale: inputs `i` (x), `i + 1` (scale), `i + 2` (zero point, optional
/// unless `zp_required`); per-channel along `axis` when the scale or zero point is 1-D.
Value *dequantize(ImportContext &cx, int i, const char *x_name, const char *scale_name,
                  const char *zp_name, bool zp_required, int64_t axis) {
  Value *x = quantized_input(cx, i, x_name);
  Value *scale = param(cx, i + 1, scale_name, true);
  Value *zp = param(cx, i + 2, zp_name, zp_required);
  if (!zp)
    zp = cx.scalar(x->dtype, 0, std::string("/") + zp_name);
  int64_t n = std::max(shape_numel(scale->shape), shape_numel(zp->shape));
  if (n > 1) {
    scale = broadcast_to(cx, scale, n, std::string("/") + scale_name);
    zp = broadcast_to(cx, zp, n, std::string("/") + zp_name);
  }
  Attrs a;
  a.set("axis", n > 1 ? axis : int64_t(0));
  return cx.emit(OpKind::DequantizeLinear, {x, scale, zp}, a, std::string("/dq_") + x_name);
}

/// y quantized with inputs `i` (scale) and `i + 1` (zero point; absent: 0 of `dtype`).
Value *quantize(ImportContext &cx, Value *y, int i, bool zp_required, DType dtype) {
  Value *scale = param(cx, i, "y_scale", true);
  Value *zp = param(cx, i + 1, "y_zero_point", zp_required);
  if (shape_numel(scale->shape) != 1 || (zp && shape_numel(zp->shape) != 1))
    cx.fail("the output's scale and zero point must be scalars");
  if (!zp)
    zp = cx.scalar(dtype, 0, "/y_zero_point");
  if (zp->dtype != DType::u8 && zp->dtype != DType::i8)
    cx.fail(std::string("input 'y_zero_point' must be uint8 or int8, not ") +
            std::string(dtype_name(zp->dtype)));
  Attrs a;
  a.set("axis", int64_t(0));
  return cx.emit(OpKind::QuantizeLinear, {y, scale, zp}, a);
}

/// A float op (`op`, imported by `importer`) between the DequantizeLinear and QuantizeLinear.
struct FloatOp {
  std::string op;
  Importer importer;
};

Value *float_op(ImportContext &cx, const FloatOp &f, std::vector<Value *> inputs,
                const std::set<std::string> &drop_attrs = {}) {
  Outs outs = cx.import_as(f.importer, f.op, std::move(inputs), drop_attrs);
  KILN_ASSERT(outs.size() == 1 && outs[0], "float_op: one output");
  return outs[0];
}

/// channels_last=1 (NHWC) pools are not supported; 0 is the attribute's default.
void require_nchw_pool(ImportContext &cx) {
  if (cx.attr_i("channels_last", 0) != 0)
    cx.unsupported_attr("channels_last", std::to_string(cx.attr_i("channels_last", 0)));
}

// (x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B int32 opt);
// w's scale and zero point are scalars or [M]; B's scale is x_scale * w_scale, its zero point 0.
Importer qlinear_conv(FloatOp conv) {
  return [conv](ImportContext &cx) -> Outs {
    expect_inputs(cx, 8, 9);
    Value *x = dequantize(cx, 0, "x", "x_scale", "x_zero_point", true, 1);
    Value *w = dequantize(cx, 3, "w", "w_scale", "w_zero_point", true, 0);
    std::vector<Value *> ins = {x, w};
    if (Value *b = cx.input(8)) {
      if (b->dtype != DType::i32)
        cx.fail(std::string("input 'B' must be int32, not ") + std::string(dtype_name(b->dtype)));
      Value *x_scale = cx.input(1), *w_scale = cx.input(4);
      Value *scale = cx.emit(OpKind::Mul, {x_scale, w_scale}, {}, "/B_scale");
      int64_t n = shape_numel(scale->shape);
      Value *zp = cx.scalar(DType::i32, 0, "/B_zero_point");
      if (n > 1)
        zp = broadcast_to(cx, zp, n, "/B_zero_point");
      Attrs a;
      a.set("axis", int64_t(0));
      ins.push_back(cx.emit(OpKind::DequantizeLinear, {b, scale, zp}, a, "/dq_B"));
    }
    return {quantize(cx, float_op(cx, conv, ins), 6, true, cx.input(0)->dtype)};
  };
}

// (a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point); b's scale and
// zero point are scalars or one per column.
Importer qlinear_matmul(FloatOp matmul) {
  return [matmul](ImportContext &cx) -> Outs {
    expect_inputs(cx, 8, 8);
    int64_t b_rank = static_cast<int64_t>(quantized_input(cx, 3, "b")->shape.size());
    Value *a = dequantize(cx, 0, "a", "a_scale", "a_zero_point", true, 0);
    Value *b = dequantize(cx, 3, "b", "b_scale", "b_zero_point", true, b_rank - 1);
    return {quantize(cx, float_op(cx, matmul, {a, b}), 6, true, a->dtype)};
  };
}

// com.microsoft (A, A_scale, A_zero_point opt, B, B_scale, B_zero_point opt, C_scale,
// C_zero_point opt): QLinearAdd, QLinearMul.
Importer qlinear_binary(FloatOp op) {
  return [op](ImportContext &cx) -> Outs {
    expect_inputs(cx, 7, 8);
    DType t = quantized_input(cx, 0, "A")->dtype;
    Value *a = dequantize(cx, 0, "A", "A_scale", "A_zero_point", false, 0);
    Value *b = dequantize(cx, 3, "B", "B_scale", "B_zero_point", false, 0);
    return {quantize(cx, float_op(cx, op, {a, b}), 6, false, t)};
  };
}

// com.microsoft (X, X_scale, X_zero_point opt, Y_scale, Y_zero_point opt): QLinearSigmoid,
// QLinearLeakyRelu (alpha), QLinearAveragePool (AveragePool's attributes, channels_last 0),
// QLinearGlobalAveragePool (channels_last 0; its zero points are required, the same rule here),
// QLinearSoftmax (axis; opset, the original Softmax's, must give the model's axis meaning).
Importer qlinear_unary(FloatOp op) {
  return [op](ImportContext &cx) -> Outs {
    expect_inputs(cx, 4, 5);
    std::set<std::string> drop;
    if (op.op == "AveragePool" || op.op == "GlobalAveragePool") {
      require_nchw_pool(cx);
      drop.insert("channels_last");
    }
    if (op.op == "Softmax") {
      int64_t opset = cx.attr_i("opset", cx.opset());
      if ((opset < 13) != (cx.opset() < 13))
        cx.unsupported_attr("opset", std::to_string(opset) + " (the model's opset is " +
                                         std::to_string(cx.opset()) +
                                         ", which gives 'axis' another meaning)");
      drop.insert("opset");
    }
    DType t = quantized_input(cx, 0, "X")->dtype;
    Value *x = dequantize(cx, 0, "X", "X_scale", "X_zero_point", false, 0);
    return {quantize(cx, float_op(cx, op, {x}, drop), 3, false, t)};
  };
}

// com.microsoft (Y_scale, Y_zero_point, then X, X_scale, X_zero_point per input) axis.
Importer qlinear_concat(FloatOp concat) {
  return [concat](ImportContext &cx) -> Outs {
    int n = cx.node().input_size();
    if (n < 5 || (n - 2) % 3 != 0)
      cx.fail("expects Y_scale, Y_zero_point and a (X, X_scale, X_zero_point) triple per "
              "input: 2 + 3k inputs, got " +
              std::to_string(n));
    Value *y_zp = param(cx, 1, "Y_zero_point", true);
    std::vector<Value *> ins;
    for (int i = 2; i < n; i += 3)
      ins.push_back(dequantize(cx, i, "X", "X_scale", "X_zero_point", true, 0));
    // quantize() reads its scale and zero point from inputs 0 and 1.
    return {quantize(cx, float_op(cx, concat, ins), 0, true, y_zp->dtype)};
  };
}

} // namespace

void register_qlinear_importers(ImporterTable &t) {
  auto f = [&t](const char *op) { return FloatOp{op, t.at(op)}; };
  t["QLinearConv"] = qlinear_conv(f("Conv"));
  t["QLinearMatMul"] = qlinear_matmul(f("MatMul"));
  const std::string ms = "com.microsoft.";
  t[ms + "QLinearAdd"] = qlinear_binary(f("Add"));
  t[ms + "QLinearMul"] = qlinear_binary(f("Mul"));
  t[ms + "QLinearSigmoid"] = qlinear_unary(f("Sigmoid"));
  t[ms + "QLinearLeakyRelu"] = qlinear_unary(f("LeakyRelu"));
  t[ms + "QLinearSoftmax"] = qlinear_unary(f("Softmax"));
  t[ms + "QLinearAveragePool"] = qlinear_unary(f("AveragePool"));
  t[ms + "QLinearGlobalAveragePool"] = qlinear_unary(f("GlobalAveragePool"));
  t[ms + "QLinearConcat"] = qlinear_concat(f("Concat"));
}

} // namespace kiln::frontend
