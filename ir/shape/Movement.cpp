// Shape inference of the Movement family: copies, views and gathers.
#include "ir/shape/Infer.h"

namespace kiln::shape {

namespace {

void concat(Infer &c) {
  c.arity(1, kMany);
  const Value &x0 = c.in(0);
  int64_t axis = c.axis("axis", x0.shape.size());
  Shape out = x0.shape;
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    const Value &x = c.in(i);
    c.same_dtype(x, ("input " + std::to_string(i)).c_str(), x0, "input 0");
    bool ok = x.shape.size() == out.size();
    for (size_t d = 0; ok && d < out.size(); ++d)
      ok = static_cast<int64_t>(d) == axis || x.shape[d] == out[d];
    if (!ok)
      c.fail("input " + std::to_string(i) + " has shape " + shape_str(x.shape) +
             " which does not match " + shape_str(x0.shape) + " outside axis " +
             std::to_string(axis));
    out[axis] = c.add(out[axis], x.shape[axis]);
  }
  c.out(x0.dtype, out);
}

void split(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  int64_t axis = c.axis("axis", x.shape.size());
  const auto &parts = c.ints("split");
  if (parts.empty())
    c.fail("attribute 'split' is empty");
  int64_t total = 0;
  for (int64_t p : parts) {
    if (p < 0)
      c.fail("split " + ints_str(parts) + " has a negative entry");
    total = c.add(total, p);
  }
  if (total != x.shape[axis])
    c.fail("split " + ints_str(parts) + " sums to " + std::to_string(total) + " but axis " +
           std::to_string(axis) + " of " + shape_str(x.shape) + " is " +
           std::to_string(x.shape[axis]));
  for (int64_t p : parts) {
    Shape s = x.shape;
    s[axis] = p;
    c.out(x.dtype, s);
  }
}

void slice(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  size_t r = x.shape.size();
  const auto &starts = c.ints("starts", r), &ends = c.ints("ends", r), &steps = c.ints("steps", r);
  Shape out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t dim = x.shape[d], s = starts[d], e = ends[d], st = steps[d];
    std::string where = " on axis " + std::to_string(d) + " of " + shape_str(x.shape);
    if (st == 0)
      c.fail("step is 0" + where);
    // Clamped values lie in [-1, dim]; the bound also keeps e - s from overflowing.
    if (s < -1 || s > dim || e < -1 || e > dim)
      c.fail("starts " + std::to_string(s) + " / ends " + std::to_string(e) + " are not clamped" +
             where);
    int64_t diff = e - s;
    int64_t n =
        st > 0 ? (diff > 0 ? (diff + st - 1) / st : 0) : (diff < 0 ? (-diff + -st - 1) / -st : 0);
    // Every element read must lie inside the input.
    int64_t last = s + (n - 1) * st;
    if (n > 0 && (s < 0 || s >= dim || last < 0 || last >= dim))
      c.fail("start " + std::to_string(s) + " step " + std::to_string(st) +
             " reads outside the input" + where);
    out[d] = n;
  }
  c.out(x.dtype, out);
}

void reshape(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  const auto &shape = c.ints("shape");
  for (int64_t d : shape)
    if (d < 0)
      c.fail("shape " + ints_str(shape) + " has an unresolved or negative dimension");
  int64_t n = shape_numel(shape, "Reshape: target shape");
  if (n != shape_numel(x.shape))
    c.fail("cannot reshape " + shape_str(x.shape) + " to " + shape_str(shape));
  c.out(x.dtype, shape);
}

void transpose(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  size_t r = x.shape.size();
  const auto &perm = c.ints("perm", r);
  std::vector<bool> seen(r, false);
  Shape out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t p = perm[d];
    if (p < 0 || p >= static_cast<int64_t>(r) || seen[p])
      c.fail("perm " + ints_str(perm) + " is not a permutation of rank " + std::to_string(r));
    seen[p] = true;
    out[d] = x.shape[p];
  }
  c.out(x.dtype, out);
}

void expand(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  const auto &shape = c.ints("shape");
  Shape bc;
  if (!broadcast_into(x.shape, shape, bc) || bc != shape)
    c.fail("shape " + ints_str(shape) + " is not the broadcast of input " + shape_str(x.shape) +
           " and itself");
  c.out(x.dtype, shape);
}

void pad(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  size_t r = x.shape.size();
  const auto &pads = c.ints("pads", 2 * r);
  const std::string &mode = c.choice("mode", {"constant", "reflect", "edge", "wrap"});
  c.f("value");
  Shape out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t dim = x.shape[d], b = pads[d], e = pads[d + r];
    out[d] = c.add(c.add(dim, b), e);
    if (out[d] < 0)
      c.fail("pads " + ints_str(pads) + " crop axis " + std::to_string(d) + " of " +
             shape_str(x.shape) + " below zero");
    // reflect mirrors without repeating the edge, so it needs pad <= dim - 1.
    if (mode == "reflect" && std::max(b, e) > std::max<int64_t>(dim - 1, 0))
      c.fail("reflect pads " + ints_str(pads) + " exceed axis " + std::to_string(d) + " of " +
             shape_str(x.shape) + " minus one");
    if ((mode == "edge" || mode == "wrap") && std::max(b, e) > 0 && dim == 0)
      c.fail(mode + " padding of empty axis " + std::to_string(d));
  }
  c.out(x.dtype, out);
}

void tile(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  const auto &reps = c.ints("repeats", x.shape.size());
  Shape out(x.shape.size());
  for (size_t d = 0; d < out.size(); ++d) {
    if (reps[d] < 0)
      c.fail("repeats " + ints_str(reps) + " has a negative entry");
    out[d] = c.mul(x.shape[d], reps[d]);
  }
  c.out(x.dtype, out);
}

/// Constant indices must lie in [-dim, dim); runtime indices are the kernel's concern.
void check_constant_indices(Infer &c, const Value &idx, int64_t dim) {
  if (!idx.is_constant())
    return;
  const Tensor &t = *idx.constant;
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v = t.get_i64(i);
    if (v < -dim || v >= dim)
      c.fail("index " + std::to_string(v) + " is out of range for axis size " +
             std::to_string(dim));
  }
}

void gather(Infer &c) {
  c.arity(2, 2);
  const Value &data = c.in(0), &idx = c.in(1);
  c.dtype_in(idx, "indices", {DType::i64, DType::i32});
  c.min_rank(data, "data", 1);
  int64_t axis = c.axis("axis", data.shape.size());
  check_constant_indices(c, idx, data.shape[axis]);
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  c.out(data.dtype, out);
}

void gather_elements(Infer &c) {
  c.arity(2, 2);
  const Value &data = c.in(0), &idx = c.in(1);
  c.dtype_in(idx, "indices", {DType::i64, DType::i32});
  c.min_rank(data, "data", 1);
  int64_t axis = c.axis("axis", data.shape.size());
  bool ok = idx.shape.size() == data.shape.size();
  for (size_t d = 0; ok && d < data.shape.size(); ++d)
    ok = static_cast<int64_t>(d) == axis || idx.shape[d] <= data.shape[d];
  if (!ok)
    c.fail("indices " + shape_str(idx.shape) + " do not fit data " + shape_str(data.shape) +
           " outside axis " + std::to_string(axis));
  check_constant_indices(c, idx, data.shape[axis]);
  c.out(data.dtype, idx.shape);
}

} // namespace

void infer_movement(Infer &c) {
  switch (family_op<OpFamily::Movement>(c.op())) {
  case MovementOp::Identity: {
    c.arity(1, 1);
    const Value &x = c.in(0);
    return c.out(x.dtype, x.shape);
  }
  case MovementOp::Concat: return concat(c);
  case MovementOp::Split: return split(c);
  case MovementOp::Slice: return slice(c);
  case MovementOp::Reshape: return reshape(c);
  case MovementOp::Transpose: return transpose(c);
  case MovementOp::Expand: return expand(c);
  case MovementOp::Pad: return pad(c);
  case MovementOp::Tile: return tile(c);
  case MovementOp::Gather: return gather(c);
  case MovementOp::GatherElements: return gather_elements(c);
  }
}

} // namespace kiln::shape
