// Importers of elementwise ops: activations, arithmetic, comparisons, casts, the variadic
// reductions (Sum, Mean, Min, Max), Identity/Dropout and the quantisation ops.
#include "frontend/ImportContext.h"

#include <limits>

namespace kiln::frontend {

namespace {

using Outs = std::vector<Value *>;

Importer unary(OpKind op) {
  return [op](ImportContext &cx) -> Outs { return {cx.emit(op, {cx.required_input(0, "X")})}; };
}

Importer binary(OpKind op) {
  return [op](ImportContext &cx) -> Outs {
    return {cx.emit(op, {cx.required_input(0, "A"), cx.required_input(1, "B")})};
  };
}

Outs import_leaky_relu(ImportContext &cx) {
  Attrs a;
  a.set("alpha", cx.attr_f("alpha", 0.01));
  return {cx.emit(OpKind::LeakyRelu, {cx.required_input(0, "X")}, a)};
}

Outs import_hard_sigmoid(ImportContext &cx) {
  Attrs a;
  a.set("alpha", cx.attr_f("alpha", 0.2));
  a.set("beta", cx.attr_f("beta", 0.5));
  return {cx.emit(OpKind::HardSigmoid, {cx.required_input(0, "X")}, a)};
}

Outs import_clip(ImportContext &cx) {
  Value *x = cx.required_input(0, "input");
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  if (cx.opset() < 11) {
    lo = cx.attr_f("min", lo);
    hi = cx.attr_f("max", hi);
  } else {
    // Bounds became optional inputs in opset 11; ours are attributes, so they must be known.
    if (const Tensor *t = cx.optional_constant(1, "min"))
      lo = t->numel() ? t->get_f64(0) : lo;
    if (const Tensor *t = cx.optional_constant(2, "max"))
      hi = t->numel() ? t->get_f64(0) : hi;
  }
  Attrs a;
  a.set("min", lo);
  a.set("max", hi);
  return {cx.emit(OpKind::Clip, {x}, a)};
}

DType onnx_dtype_attr(ImportContext &cx, const char *name, int64_t v) {
  std::optional<DType> t = dtype_from_onnx(static_cast<int32_t>(v));
  if (!t)
    cx.unsupported_attr(name, onnx_type_name(static_cast<int32_t>(v)));
  return *t;
}

Outs import_cast(ImportContext &cx) {
  Value *x = cx.required_input(0, "input");
  if (!cx.has_attr("to"))
    cx.fail("attribute 'to' is missing");
  return {cx.cast(x, onnx_dtype_attr(cx, "to", cx.attr_i("to", 0)))};
}

Outs import_cast_like(ImportContext &cx) {
  Value *x = cx.required_input(0, "input");
  return {cx.cast(x, cx.required_input(1, "target_type")->dtype)};
}

Outs import_pow(ImportContext &cx) {
  Value *x = cx.required_input(0, "X");
  Value *y = cx.required_input(1, "Y");
  // ONNX allows an exponent of another type (x^2 with an i64 2); ours shares the base's dtype.
  return {cx.emit(OpKind::Pow, {x, cx.cast(y, x->dtype, "/exponent")})};
}

Outs import_mod(ImportContext &cx) {
  int64_t fmod = cx.attr_i("fmod", 0);
  if (fmod != 0 && fmod != 1)
    cx.unsupported_attr("fmod", std::to_string(fmod));
  Attrs a;
  a.set("fmod", fmod);
  return {cx.emit(OpKind::Mod, {cx.required_input(0, "A"), cx.required_input(1, "B")}, a)};
}

Outs import_where(ImportContext &cx) {
  return {cx.emit(OpKind::Where, {cx.required_input(0, "condition"), cx.required_input(1, "X"),
                                  cx.required_input(2, "Y")})};
}

/// Variadic Min/Max/Sum as a left-to-right chain of binary nodes.
Value *chain(ImportContext &cx, OpKind op) {
  int n = cx.node().input_size();
  Value *acc = cx.required_input(0, "data_0");
  for (int i = 1; i < n; ++i) {
    Value *v = cx.required_input(i, "data");
    std::string suffix = i + 1 == n ? std::string() : "/step" + std::to_string(i);
    acc = cx.emit(op, {acc, v}, {}, suffix);
  }
  return acc;
}

Importer variadic(OpKind op) {
  return [op](ImportContext &cx) -> Outs { return {chain(cx, op)}; };
}

Outs import_mean(ImportContext &cx) {
  int n = cx.node().input_size();
  Value *sum = chain(cx, OpKind::Add);
  if (n == 1)
    return {sum};
  return {cx.emit(OpKind::Div, {sum, cx.scalar(sum->dtype, n, "/count")}, {}, "/mean")};
}

Outs import_identity(ImportContext &cx) { return {cx.required_input(0, "input")}; }

Outs import_dropout(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  // Inference only: Dropout is the identity unless a constant training_mode asks otherwise.
  if (const Tensor *t = cx.optional_constant(2, "training_mode"))
    if (t->numel() && t->get_i64(0) != 0)
      cx.unsupported_attr("training_mode", "1");
  Outs outs = {x};
  if (cx.output_used(1)) {
    Tensor mask(DType::boolean, x->shape);
    std::fill(mask.data<bool>(), mask.data<bool>() + mask.numel(), true);
    outs.push_back(cx.constant(std::move(mask), "/mask"));
  }
  return outs;
}

/// Scale/zero point axis: ONNX defaults to 1 even where a per-tensor scale makes it moot.
int64_t quant_axis(ImportContext &cx, Value *x, Value *scale) {
  if (cx.attr_i("block_size", 0) != 0)
    cx.unsupported_attr("block_size", std::to_string(cx.attr_i("block_size", 0)));
  int64_t axis = cx.attr_i("axis", 1);
  int64_t rank = static_cast<int64_t>(x->shape.size());
  if (shape_numel(scale->shape) == 1 && scale->shape.size() <= 1)
    return axis >= -rank && axis < rank ? (axis < 0 ? axis + rank : axis) : 0;
  return cx.norm_axis(axis, rank);
}

Outs import_quantize(ImportContext &cx) {
  Value *x = cx.required_input(0, "x");
  Value *scale = cx.required_input(1, "y_scale");
  Value *zp = cx.input(2);
  if (!zp) {
    int64_t out_type = cx.attr_i("output_dtype", 0);
    DType t = out_type ? onnx_dtype_attr(cx, "output_dtype", out_type) : DType::u8;
    zp = cx.scalar(t, 0, "/zero_point");
  }
  Attrs a;
  a.set("axis", quant_axis(cx, x, scale));
  return {cx.emit(OpKind::QuantizeLinear, {x, scale, zp}, a)};
}

Outs import_dequantize(ImportContext &cx) {
  Value *x = cx.required_input(0, "x");
  Value *scale = cx.required_input(1, "x_scale");
  Value *zp = cx.input(2);
  if (!zp)
    zp = cx.scalar(x->dtype, 0, "/zero_point");
  Attrs a;
  a.set("axis", quant_axis(cx, x, scale));
  return {cx.emit(OpKind::DequantizeLinear, {x, scale, zp}, a)};
}

Outs import_dynamic_quantize(ImportContext &cx) {
  return cx.emit_all(OpKind::DynamicQuantizeLinear, {cx.required_input(0, "x")}, {});
}

} // namespace

void register_elementwise_importers(ImporterTable &t) {
  const std::pair<const char *, OpKind> unaries[] = {
      {"Relu", OpKind::Relu},
      {"Sigmoid", OpKind::Sigmoid},
      {"Tanh", OpKind::Tanh},
      {"Exp", OpKind::Exp},
      {"Log", OpKind::Log},
      {"Sqrt", OpKind::Sqrt},
      {"Erf", OpKind::Erf},
      {"Neg", OpKind::Neg},
      {"Abs", OpKind::Abs},
      {"Floor", OpKind::Floor},
      {"Ceil", OpKind::Ceil},
      {"Round", OpKind::Round},
      {"Reciprocal", OpKind::Reciprocal},
      {"Softplus", OpKind::Softplus},
      {"HardSwish", OpKind::HardSwish},
      {"Not", OpKind::Not},
  };
  for (const auto &[name, op] : unaries)
    t[name] = unary(op);
  const std::pair<const char *, OpKind> binaries[] = {
      {"Add", OpKind::Add},
      {"Sub", OpKind::Sub},
      {"Mul", OpKind::Mul},
      {"Div", OpKind::Div},
      {"And", OpKind::And},
      {"Or", OpKind::Or},
      {"Equal", OpKind::Equal},
      {"Less", OpKind::Less},
      {"LessOrEqual", OpKind::LessOrEqual},
      {"Greater", OpKind::Greater},
      {"GreaterOrEqual", OpKind::GreaterOrEqual},
  };
  for (const auto &[name, op] : binaries)
    t[name] = binary(op);
  t["Min"] = variadic(OpKind::Min);
  t["Max"] = variadic(OpKind::Max);
  t["Sum"] = variadic(OpKind::Add);
  t["Mean"] = import_mean;
  t["LeakyRelu"] = import_leaky_relu;
  t["HardSigmoid"] = import_hard_sigmoid;
  t["Clip"] = import_clip;
  t["Cast"] = import_cast;
  t["CastLike"] = import_cast_like;
  t["Pow"] = import_pow;
  t["Mod"] = import_mod;
  t["Where"] = import_where;
  t["Identity"] = import_identity;
  t["Dropout"] = import_dropout;
  t["QuantizeLinear"] = import_quantize;
  t["DequantizeLinear"] = import_dequantize;
  t["DynamicQuantizeLinear"] = import_dynamic_quantize;
}

} // namespace kiln::frontend
