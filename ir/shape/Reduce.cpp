// Shape inference of the Reduce family: reductions over axes, Arg*, TopK.
#include "ir/shape/Infer.h"

namespace kiln::shape {

namespace {

void reduce(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  const auto &axes = c.ints("axes");
  bool keep = c.flag("keepdims");
  int64_t r = static_cast<int64_t>(x.shape.size());
  bool ok = !axes.empty();
  for (size_t i = 0; ok && i < axes.size(); ++i)
    ok = axes[i] >= 0 && axes[i] < r && (i == 0 || axes[i] > axes[i - 1]);
  if (!ok)
    c.fail("axes " + ints_str(axes) + " must be non-empty, sorted, unique and within rank " +
           std::to_string(r));
  Shape out;
  for (int64_t d = 0; d < r; ++d) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), d);
    if (!reduced)
      out.push_back(x.shape[d]);
    else if (keep)
      out.push_back(1);
  }
  c.out(x.dtype, out);
}

void arg_reduce(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  c.min_rank(x, "input", 1);
  int64_t axis = c.axis("axis", x.shape.size());
  bool keep = c.flag("keepdims");
  c.flag("select_last_index");
  if (x.shape[axis] == 0)
    c.fail("cannot reduce empty axis " + std::to_string(axis) + " of " + shape_str(x.shape));
  Shape out = x.shape;
  if (keep)
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  c.out(DType::i64, out);
}

void topk(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  c.min_rank(x, "input", 1);
  int64_t axis = c.axis("axis", x.shape.size());
  int64_t k = c.i("k");
  c.flag("largest");
  c.flag("sorted");
  if (k < 0 || k > x.shape[axis])
    c.fail("k " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) + " of " +
           shape_str(x.shape));
  Shape out = x.shape;
  out[axis] = k;
  c.out(x.dtype, out);
  c.out(DType::i64, out);
}

} // namespace

void infer_reduce(Infer &c) {
  switch (family_op<OpFamily::Reduce>(c.op())) {
  case ReduceOp::ReduceMax:
  case ReduceOp::ReduceMin:
  case ReduceOp::ReduceMean:
  case ReduceOp::ReduceSum:
  case ReduceOp::ReduceProd: return reduce(c);
  case ReduceOp::ArgMax:
  case ReduceOp::ArgMin: return arg_reduce(c);
  case ReduceOp::TopK: return topk(c);
  }
}

} // namespace kiln::shape
