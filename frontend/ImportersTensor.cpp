// Importers of ops that make tensors (Constant, Shape, Size, ConstantOfShape, Range: always
// constants, since shapes are static) and of reductions and selection (Reduce*, ArgMax/ArgMin,
// TopK).
#include "frontend/ImportContext.h"

#include <algorithm>
#include <cmath>

namespace kiln::frontend {

namespace {

using Outs = std::vector<Value *>;

int64_t rank_of(const Value *v) { return static_cast<int64_t>(v->shape.size()); }

Tensor i64_tensor(const std::vector<int64_t> &v, Shape shape) {
  return Tensor::from_vector<int64_t>(v, std::move(shape));
}

Outs import_constant(ImportContext &cx) {
  const auto &attrs = cx.node().attribute();
  if (attrs.size() != 1)
    cx.fail("expects exactly one value attribute, has " + std::to_string(attrs.size()));
  const onnx::AttributeProto &a = attrs.Get(0);
  const std::string &n = a.name();
  if (n == "value")
    return {cx.constant(
        tensor_from_onnx(a.t(), cx.model_dir(), "node '" + cx.node_name() + "' (Constant)"))};
  if (n == "value_float")
    return {cx.constant(Tensor::from_vector<float>({static_cast<float>(cx.attr_f(n, 0))}, {}))};
  if (n == "value_floats") {
    std::vector<float> v;
    for (double f : cx.attr_floats(n))
      v.push_back(static_cast<float>(f));
    return {cx.constant(Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())}))};
  }
  if (n == "value_int")
    return {cx.constant(i64_tensor({cx.attr_i(n, 0)}, {}))};
  if (n == "value_ints") {
    std::vector<int64_t> v = cx.attr_ints(n);
    return {cx.constant(i64_tensor(v, {static_cast<int64_t>(v.size())}))};
  }
  cx.fail("attribute '" + n +
          "' is not supported (sparse and string constants cannot be imported)");
}

/// Shape: the static shape as a 1-D i64 constant; opset 15 start/end slice it.
Outs import_shape(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  int64_t r = rank_of(x);
  auto clamp_dim = [r](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + r : v, 0, r); };
  int64_t start = clamp_dim(cx.attr_i("start", 0)), end = clamp_dim(cx.attr_i("end", r));
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(x->shape[d]);
  return {cx.constant(i64_tensor(dims, {static_cast<int64_t>(dims.size())}))};
}

Outs import_size(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  return {cx.constant(i64_tensor({shape_numel(x->shape)}, {}))};
}

Outs import_constant_of_shape(ImportContext &cx) {
  const Tensor &st = cx.constant_input(0, "input");
  if (st.rank() != 1)
    cx.fail("input 'input' must be 1-D, is " + shape_str(st.shape()));
  Shape shape = st.to_i64_vector();
  for (int64_t d : shape)
    if (d < 0)
      cx.fail("shape " + ints_str(shape) + " has a negative dimension");
  Tensor fill = Tensor::from_vector<float>({0.0f}, {1});
  if (const auto *a = cx.attr("value")) {
    fill = tensor_from_onnx(a->t(), cx.model_dir(), "node '" + cx.node_name() + "' value");
    if (fill.numel() != 1)
      cx.fail("attribute 'value' must hold one element, holds " + std::to_string(fill.numel()));
  }
  Tensor out(fill.dtype(), shape);
  // Copy the element's bytes: exact for every dtype, halves included.
  size_t es = dtype_size(fill.dtype());
  auto *dst = static_cast<std::byte *>(out.raw());
  for (int64_t i = 0; i < out.numel(); ++i)
    std::memcpy(dst + i * es, fill.raw(), es);
  return {cx.constant(std::move(out))};
}

/// Range: n = max(ceil((limit - start) / delta), 0), out[i] = start + i * delta.
Outs import_range(ImportContext &cx) {
  const Tensor &start = cx.constant_input(0, "start");
  const Tensor &limit = cx.constant_input(1, "limit");
  const Tensor &delta = cx.constant_input(2, "delta");
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1)
    cx.fail("start, limit and delta must be scalars");
  DType dt = start.dtype();
  if (limit.dtype() != dt || delta.dtype() != dt)
    cx.fail("start, limit and delta must share one dtype");
  bool integral = is_integer(dt);
  double s = start.get_f64(0), l = limit.get_f64(0), d = delta.get_f64(0);
  if (d == 0)
    cx.fail("delta is 0");
  int64_t n;
  if (integral) {
    int64_t si = start.get_i64(0), li = limit.get_i64(0), di = delta.get_i64(0);
    int64_t diff = li - si;
    n = di > 0 ? (diff > 0 ? (diff + di - 1) / di : 0) : (diff < 0 ? (-diff - di - 1) / -di : 0);
  } else {
    n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((l - s) / d)));
  }
  Tensor out(dt, {n});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T *p = static_cast<T *>(out.raw());
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_integral_v<T>)
        p[i] = static_cast<T>(start.get_i64(0) + i * delta.get_i64(0));
      else
        p[i] = from_f64<T>(s + static_cast<double>(i) * d);
    }
  });
  return {cx.constant(std::move(out))};
}

/// Reduce*: axes is an attribute until `input_from`, then an optional input; empty axes mean
/// all axes unless noop_with_empty_axes, which makes the op the identity.
Importer reduce(OpKind op, int64_t input_from) {
  return [op, input_from](ImportContext &cx) -> Outs {
    Value *x = cx.required_input(0, "data");
    int64_t r = rank_of(x);
    std::vector<int64_t> axes;
    if (cx.opset() >= input_from) {
      if (const Tensor *t = cx.optional_constant(1, "axes"))
        axes = t->to_i64_vector();
    } else {
      axes = cx.attr_ints("axes");
    }
    int64_t keepdims = cx.attr_i("keepdims", 1);
    if (keepdims != 0 && keepdims != 1)
      cx.unsupported_attr("keepdims", std::to_string(keepdims));
    if (axes.empty()) {
      if (cx.attr_i("noop_with_empty_axes", 0) != 0)
        return {x};
      for (int64_t d = 0; d < r; ++d)
        axes.push_back(d);
    }
    for (int64_t &a : axes)
      a = cx.norm_axis(a, r, "axes entry");
    std::sort(axes.begin(), axes.end());
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
    if (axes.empty()) // rank 0: nothing to reduce
      return {x};
    Attrs a;
    a.set("axes", axes);
    a.set("keepdims", keepdims);
    return {cx.emit(op, {x}, a)};
  };
}

Importer arg_reduce(OpKind op) {
  return [op](ImportContext &cx) -> Outs {
    Value *x = cx.required_input(0, "data");
    Attrs a;
    a.set("axis", cx.norm_axis(cx.attr_i("axis", 0), rank_of(x)));
    a.set("keepdims", cx.attr_i("keepdims", 1));
    a.set("select_last_index", cx.attr_i("select_last_index", 0));
    return {cx.emit(op, {x}, a)};
  };
}

Outs import_topk(ImportContext &cx) {
  Value *x = cx.required_input(0, "X");
  int64_t k;
  if (cx.opset() < 10) {
    k = cx.attr_i("k", 0);
  } else {
    const Tensor &kt = cx.constant_input(1, "K");
    if (kt.numel() != 1)
      cx.fail("input 'K' must hold one value, has shape " + shape_str(kt.shape()));
    k = kt.get_i64(0);
  }
  Attrs a;
  a.set("axis", cx.norm_axis(cx.attr_i("axis", -1), rank_of(x)));
  a.set("k", k);
  a.set("largest", cx.attr_i("largest", 1));
  a.set("sorted", cx.attr_i("sorted", 1));
  return cx.emit_all(OpKind::TopK, {x}, a);
}

} // namespace

void register_tensor_importers(ImporterTable &t) {
  t["Constant"] = import_constant;
  t["Shape"] = import_shape;
  t["Size"] = import_size;
  t["ConstantOfShape"] = import_constant_of_shape;
  t["Range"] = import_range;
  t["ReduceSum"] = reduce(OpKind::ReduceSum, 13);
  t["ReduceMax"] = reduce(OpKind::ReduceMax, 18);
  t["ReduceMin"] = reduce(OpKind::ReduceMin, 18);
  t["ReduceMean"] = reduce(OpKind::ReduceMean, 18);
  t["ReduceProd"] = reduce(OpKind::ReduceProd, 18);
  t["ArgMax"] = arg_reduce(OpKind::ArgMax);
  t["ArgMin"] = arg_reduce(OpKind::ArgMin);
  t["TopK"] = import_topk;
}

} // namespace kiln::frontend
