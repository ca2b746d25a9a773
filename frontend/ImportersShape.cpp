// Importers of data-movement ops: reshapes, transposes, concat/split, slice, pad, gather,
// expand/tile and Resize. Shape-like operands (ONNX inputs) must be constants and become
// attributes with everything resolved: no 0 / -1 in shapes, full-rank clamped slices.
#include "frontend/ImportContext.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::frontend {

namespace {

using Outs = std::vector<Value *>;

int64_t rank_of(const Value *v) { return static_cast<int64_t>(v->shape.size()); }

/// Normalised axes (from an attribute or a constant input): non-negative, unique.
std::vector<int64_t> norm_axes(ImportContext &cx, const std::vector<int64_t> &axes, int64_t rank) {
  std::vector<int64_t> r;
  for (int64_t a : axes) {
    int64_t n = cx.norm_axis(a, rank, "axes entry");
    if (std::find(r.begin(), r.end(), n) != r.end())
      cx.fail("axes " + ints_str(axes) + " repeat axis " + std::to_string(n));
    r.push_back(n);
  }
  return r;
}

/// The `axes` of Squeeze / Unsqueeze: an attribute before opset 13, an input from 13.
std::optional<std::vector<int64_t>> squeeze_axes(ImportContext &cx) {
  if (cx.opset() < 13) {
    if (!cx.has_attr("axes"))
      return std::nullopt;
    return cx.attr_ints("axes");
  }
  if (const Tensor *t = cx.optional_constant(1, "axes"))
    return t->to_i64_vector();
  return std::nullopt;
}

Outs import_reshape(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  std::vector<int64_t> spec = cx.constant_input(1, "shape").to_i64_vector();
  bool allow_zero = cx.opset() >= 14 && cx.attr_i("allowzero", 0) != 0;
  Shape shape(spec.size());
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == 0 && !allow_zero) {
      if (i >= x->shape.size())
        cx.fail("shape " + ints_str(spec) + " copies dim " + std::to_string(i) + " which input " +
                shape_str(x->shape) + " lacks");
      d = x->shape[i];
    }
    if (d == -1) {
      if (infer_at >= 0)
        cx.fail("shape " + ints_str(spec) + " has more than one -1");
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d < 0)
      cx.fail("shape " + ints_str(spec) + " has a negative dimension");
    shape[i] = d;
    known *= d;
  }
  int64_t n = shape_numel(x->shape);
  if (infer_at >= 0) {
    if (known == 0 || n % known != 0)
      cx.fail("cannot reshape " + shape_str(x->shape) + " to " + ints_str(spec));
    shape[infer_at] = n / known;
  }
  return {cx.reshape(x, shape)};
}

Outs import_flatten(ImportContext &cx) {
  Value *x = cx.required_input(0, "input");
  int64_t r = rank_of(x);
  int64_t axis = cx.attr_i("axis", 1);
  if (axis < -r || axis > r)
    cx.unsupported_attr("axis", std::to_string(axis));
  if (axis < 0)
    axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < r; ++d)
    (d < axis ? outer : inner) *= x->shape[d];
  return {cx.reshape(x, {outer, inner})};
}

Outs import_squeeze(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  int64_t r = rank_of(x);
  std::vector<bool> drop(r, false);
  if (auto axes = squeeze_axes(cx)) {
    for (int64_t a : norm_axes(cx, *axes, r)) {
      if (x->shape[a] != 1)
        cx.fail("cannot squeeze axis " + std::to_string(a) + " of " + shape_str(x->shape));
      drop[a] = true;
    }
  } else {
    for (int64_t d = 0; d < r; ++d)
      drop[d] = x->shape[d] == 1;
  }
  Shape s;
  for (int64_t d = 0; d < r; ++d)
    if (!drop[d])
      s.push_back(x->shape[d]);
  return {cx.reshape(x, s)};
}

Outs import_unsqueeze(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  auto axes = squeeze_axes(cx);
  if (!axes)
    cx.fail("'axes' is missing");
  int64_t out_rank = rank_of(x) + static_cast<int64_t>(axes->size());
  std::vector<bool> added(out_rank, false);
  for (int64_t a : norm_axes(cx, *axes, out_rank))
    added[a] = true;
  Shape s;
  size_t src = 0;
  for (int64_t d = 0; d < out_rank; ++d)
    s.push_back(added[d] ? 1 : x->shape[src++]);
  return {cx.reshape(x, s)};
}

Outs import_transpose(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  int64_t r = rank_of(x);
  std::vector<int64_t> rev;
  for (int64_t d = r - 1; d >= 0; --d)
    rev.push_back(d);
  std::vector<int64_t> perm = cx.attr_ints("perm", rev);
  if (static_cast<int64_t>(perm.size()) != r)
    cx.unsupported_attr("perm", ints_str(perm));
  Attrs a;
  a.set("perm", norm_axes(cx, perm, r));
  return {cx.emit(OpKind::Transpose, {x}, a)};
}

Outs import_concat(ImportContext &cx) {
  std::vector<Value *> ins;
  for (int i = 0; i < cx.node().input_size(); ++i)
    ins.push_back(cx.required_input(i, "inputs"));
  if (ins.empty())
    cx.fail("has no inputs");
  if (!cx.has_attr("axis"))
    cx.fail("attribute 'axis' is missing");
  Attrs a;
  a.set("axis", cx.norm_axis(cx.attr_i("axis", 0), rank_of(ins[0])));
  if (ins.size() == 1)
    return {ins[0]};
  return {cx.emit(OpKind::Concat, ins, a)};
}

Outs import_split(ImportContext &cx) {
  Value *x = cx.required_input(0, "input");
  int64_t axis = cx.norm_axis(cx.attr_i("axis", 0), rank_of(x));
  int64_t dim = x->shape[axis];
  std::vector<int64_t> parts;
  if (cx.opset() < 13)
    parts = cx.attr_ints("split");
  else if (const Tensor *t = cx.optional_constant(1, "split"))
    parts = t->to_i64_vector();
  if (parts.empty()) {
    // Equal parts; opset 18 names the count (num_outputs) and lets the last part be smaller.
    int64_t n = cx.opset() >= 18 ? cx.attr_i("num_outputs", cx.num_outputs()) : cx.num_outputs();
    if (n < 1 || n != cx.num_outputs())
      cx.unsupported_attr("num_outputs", std::to_string(n));
    int64_t chunk = (dim + n - 1) / n;
    if (cx.opset() < 18 && dim % n != 0)
      cx.fail("axis " + std::to_string(axis) + " of " + shape_str(x->shape) +
              " does not split into " + std::to_string(n) + " equal parts");
    for (int64_t i = 0; i < n; ++i)
      parts.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  }
  if (static_cast<int>(parts.size()) != cx.num_outputs())
    cx.fail("split " + ints_str(parts) + " has " + std::to_string(parts.size()) + " entries for " +
            std::to_string(cx.num_outputs()) + " outputs");
  Attrs a;
  a.set("axis", axis);
  a.set("split", parts);
  return cx.emit_all(OpKind::Split, {x}, a);
}

/// ONNX Slice clamping, per axis: negatives add dim; a positive step clamps start and end to
/// [0, dim]; a negative step clamps start to [0, dim-1] and end to [-1, dim-1].
Outs import_slice(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  int64_t r = rank_of(x);
  std::vector<int64_t> starts, ends, axes, steps;
  if (cx.opset() < 10) {
    starts = cx.attr_ints("starts");
    ends = cx.attr_ints("ends");
    axes = cx.attr_ints("axes");
  } else {
    starts = cx.constant_input(1, "starts").to_i64_vector();
    ends = cx.constant_input(2, "ends").to_i64_vector();
    if (const Tensor *t = cx.optional_constant(3, "axes"))
      axes = t->to_i64_vector();
    if (const Tensor *t = cx.optional_constant(4, "steps"))
      steps = t->to_i64_vector();
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(static_cast<int64_t>(i));
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    cx.fail("starts, ends, axes and steps have different lengths");
  axes = norm_axes(cx, axes, r);

  std::vector<int64_t> fs(r, 0), fe(x->shape.begin(), x->shape.end()), fst(r, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t d = axes[i], dim = x->shape[d], s = starts[i], e = ends[i], st = steps[i];
    if (st == 0)
      cx.fail("steps has a 0 for axis " + std::to_string(d));
    // INT64_MIN + dim cannot overflow; INT64_MAX is only ever clamped.
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
    } else {
      s = std::max<int64_t>(std::min<int64_t>(s, dim - 1), 0);
      s = std::min<int64_t>(s, dim - 1); // dim 0: start -1, an empty slice
      e = std::clamp<int64_t>(e, -1, dim - 1);
    }
    fs[d] = s;
    fe[d] = e;
    fst[d] = st;
  }
  Attrs a;
  a.set("starts", fs);
  a.set("ends", fe);
  a.set("steps", fst);
  return {cx.emit(OpKind::Slice, {x}, a)};
}

Outs import_expand(ImportContext &cx) {
  Value *x = cx.required_input(0, "input");
  std::vector<int64_t> want = cx.constant_input(1, "shape").to_i64_vector();
  // The output is the broadcast of the input's shape and the given one (either may be 1).
  size_t r = std::max(x->shape.size(), want.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t a = i < r - x->shape.size() ? 1 : x->shape[i - (r - x->shape.size())];
    int64_t b = i < r - want.size() ? 1 : want[i - (r - want.size())];
    if (a != b && a != 1 && b != 1)
      cx.fail("input " + shape_str(x->shape) + " does not broadcast to shape " + ints_str(want));
    out[i] = a == 1 ? b : a;
  }
  Attrs at;
  at.set("shape", out);
  return {cx.emit(OpKind::Expand, {x}, at)};
}

Outs import_tile(ImportContext &cx) {
  Value *x = cx.required_input(0, "input");
  Attrs a;
  a.set("repeats", cx.constant_input(1, "repeats").to_i64_vector());
  return {cx.emit(OpKind::Tile, {x}, a)};
}

Importer gather(OpKind op) {
  return [op](ImportContext &cx) -> Outs {
    Value *data = cx.required_input(0, "data");
    Value *idx = cx.required_input(1, "indices");
    Attrs a;
    a.set("axis", cx.norm_axis(cx.attr_i("axis", 0), rank_of(data)));
    return {cx.emit(op, {data, idx}, a)};
  };
}

Outs import_pad(ImportContext &cx) {
  Value *x = cx.required_input(0, "data");
  int64_t r = rank_of(x);
  std::string mode = cx.attr_s("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    cx.unsupported_attr("mode", "'" + mode + "'");
  std::vector<int64_t> pads, axes;
  double value = 0;
  if (cx.opset() < 11) {
    pads = cx.attr_ints("pads");
    value = cx.attr_f("value", 0.0);
  } else {
    pads = cx.constant_input(1, "pads").to_i64_vector();
    if (const Tensor *t = cx.optional_constant(2, "constant_value"))
      value = t->numel() ? t->get_f64(0) : 0.0;
    if (const Tensor *t = cx.optional_constant(3, "axes"))
      axes = norm_axes(cx, t->to_i64_vector(), r);
  }
  if (axes.empty())
    for (int64_t d = 0; d < r; ++d)
      axes.push_back(d);
  size_t n = axes.size();
  if (pads.size() != 2 * n)
    cx.fail("pads " + ints_str(pads) + " needs " + std::to_string(2 * n) + " entries");
  std::vector<int64_t> full(2 * r, 0);
  for (size_t i = 0; i < n; ++i) {
    full[axes[i]] = pads[i];
    full[axes[i] + r] = pads[i + n];
  }
  Attrs a;
  a.set("pads", full);
  a.set("mode", mode);
  a.set("value", value);
  return {cx.emit(OpKind::Pad, {x}, a)};
}

/// A Resize input that may be given as "" or as an empty tensor, both meaning absent.
const Tensor *resize_operand(ImportContext &cx, int i, const char *what) {
  const Tensor *t = cx.optional_constant(i, what);
  return t && t->numel() > 0 ? t : nullptr;
}

Outs import_resize(ImportContext &cx) {
  Value *x = cx.required_input(0, "X");
  int64_t r = rank_of(x);
  std::string mode = cx.attr_s("mode", "nearest");
  if (mode != "nearest" && mode != "linear")
    cx.unsupported_attr("mode", "'" + mode + "'");
  std::string ctm = cx.attr_s("coordinate_transformation_mode", "half_pixel");
  if (ctm == "tf_crop_and_resize" || ctm == "tf_half_pixel_for_nn")
    cx.unsupported_attr("coordinate_transformation_mode", "'" + ctm + "'");
  if (cx.attr_i("antialias", 0) != 0)
    cx.unsupported_attr("antialias", std::to_string(cx.attr_i("antialias", 0)));

  // Opset 10 had (X, scales); 11+ has (X, roi, scales, sizes).
  const Tensor *scales_t = resize_operand(cx, cx.opset() < 11 ? 1 : 2, "scales");
  const Tensor *sizes_t = cx.opset() < 11 ? nullptr : resize_operand(cx, 3, "sizes");
  if (!scales_t == !sizes_t)
    cx.fail("exactly one of 'scales' and 'sizes' must be given");

  std::vector<int64_t> axes;
  if (cx.opset() >= 18)
    axes = norm_axes(cx, cx.attr_ints("axes"), r);
  if (axes.empty())
    for (int64_t d = 0; d < r; ++d)
      axes.push_back(d);
  size_t given = scales_t ? scales_t->numel() : sizes_t->numel();
  if (given != axes.size())
    cx.fail(std::string(scales_t ? "scales" : "sizes") + " has " + std::to_string(given) +
            " entries for " + std::to_string(axes.size()) + " axes");

  std::vector<double> scales(r, 1.0);
  std::vector<int64_t> sizes(x->shape.begin(), x->shape.end());
  if (scales_t) {
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t d = axes[i];
      scales[d] = scales_t->get_f64(static_cast<int64_t>(i));
      if (!(scales[d] > 0))
        cx.fail("scales entry " + std::to_string(scales[d]) + " is not positive");
      sizes[d] = static_cast<int64_t>(std::floor(x->shape[d] * scales[d]));
    }
  } else {
    std::string policy = cx.attr_s("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
      cx.unsupported_attr("keep_aspect_ratio_policy", "'" + policy + "'");
    double keep = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t d = axes[i];
      sizes[d] = sizes_t->get_i64(static_cast<int64_t>(i));
      if (x->shape[d] == 0 || sizes[d] < 1)
        cx.fail("sizes " + ints_str(sizes_t->to_i64_vector()) + " must be >= 1");
      double s = static_cast<double>(sizes[d]) / static_cast<double>(x->shape[d]);
      keep = policy == "not_larger" ? std::min(keep, s) : std::max(keep, s);
      scales[d] = s;
    }
    if (policy != "stretch") {
      // One scale for every resized axis; the sizes follow from it (rounded half up).
      for (int64_t d : axes) {
        scales[d] = keep;
        sizes[d] = static_cast<int64_t>(std::floor(keep * x->shape[d] + 0.5));
      }
    }
  }

  Attrs a;
  a.set("mode", mode);
  a.set("coordinate_transformation_mode", ctm);
  a.set("nearest_mode", cx.attr_s("nearest_mode", "round_prefer_floor"));
  a.set("scales", scales);
  a.set("sizes", sizes);
  a.set("extrapolation_value", cx.attr_f("extrapolation_value", 0.0));
  a.set("exclude_outside", cx.attr_i("exclude_outside", 0));
  return {cx.emit(OpKind::Resize, {x}, a)};
}

} // namespace

void register_shape_importers(ImporterTable &t) {
  t["Reshape"] = import_reshape;
  t["Flatten"] = import_flatten;
  t["Squeeze"] = import_squeeze;
  t["Unsqueeze"] = import_unsqueeze;
  t["Transpose"] = import_transpose;
  t["Concat"] = import_concat;
  t["Split"] = import_split;
  t["Slice"] = import_slice;
  t["Expand"] = import_expand;
  t["Tile"] = import_tile;
  t["Gather"] = gather(OpKind::Gather);
  t["GatherElements"] = gather(OpKind::GatherElements);
  t["Pad"] = import_pad;
  t["Resize"] = import_resize;
}

} // namespace kiln::frontend
