// Reductions (ReduceMax/Min/Mean/Sum/Prod), ArgMax/ArgMin and TopK. Float reductions
// accumulate in double and round once; integers accumulate exactly in int64.
#include "ir/reference/Kernels.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace kiln::ref {

namespace {

/// f(double{}) for float dtypes, f(int64_t{}) otherwise: the exact type to reduce in.
template <class F> decltype(auto) dispatch_accumulate(DType t, F &&f) {
  if (is_float(t))
    return f(double{});
  return f(int64_t{});
}

struct AxisSplit {
  int64_t outer, len, inner;
};

AxisSplit split_at(const Node &node, const Shape &s, int64_t axis) {
  if (axis < 0 || axis >= static_cast<int64_t>(s.size()))
    throw Error(std::string(op_name(node.op)) + ": axis " + std::to_string(axis) +
                " out of range for rank " + std::to_string(s.size()));
  return {dims_product(s, 0, axis), s[axis], dims_product(s, axis + 1, s.size())};
}

} // namespace

Tensor eval_reduce(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  const auto &axes = node.attrs.ints("axes");
  // Strides of the keepdims-shaped output, zero along reduced axes: every input element
  // finds the output slot it folds into.
  Shape kept = x.shape();
  for (int64_t ax : axes) {
    if (ax < 0 || ax >= x.rank())
      throw Error(std::string(op_name(node.op)) + ": axis " + std::to_string(ax) + " out of range");
    kept[ax] = 1;
  }
  if (shape_numel(kept) != out.numel())
    throw Error(std::string(op_name(node.op)) + ": output shape does not match the axes");
  std::vector<int64_t> st = shape_strides(kept);
  for (int64_t ax : axes)
    st[ax] = 0;
  std::vector<int64_t> dst = strided_offsets(x.shape(), st, 0);
  int64_t count = out.numel() == 0 ? 0 : x.numel() / out.numel();
  const OpKind op = node.op;
  dispatch_accumulate(x.dtype(), [&](auto tag) {
    using A = decltype(tag);
    std::vector<A> xv = load_as<A>(x);
    A init = A(0);
    if (op == OpKind::ReduceMax)
      init = std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::lowest();
    else if (op == OpKind::ReduceMin)
      init = std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::max();
    else if (op == OpKind::ReduceProd)
      init = A(1);
    std::vector<A> acc(static_cast<size_t>(out.numel()), init);
    for (size_t i = 0; i < xv.size(); ++i) {
      A &a = acc[dst[i]];
      A v = xv[i];
      if (op == OpKind::ReduceMax)
        a = v > a ? v : a;
      else if (op == OpKind::ReduceMin)
        a = v < a ? v : a;
      else if (op == OpKind::ReduceProd)
        a *= v;
      else
        a += v; // ReduceSum, ReduceMean
    }
    if (op == OpKind::ReduceMean && count > 0)
      for (A &a : acc)
        a /= static_cast<A>(count);
    store_from(out, acc);
  });
  return out;
}

Tensor eval_arg_reduce(const Node &node, const Inputs &in, bool is_max) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  AxisSplit s = split_at(node, x.shape(), node.attrs.i("axis"));
  bool last = node.attrs.i("select_last_index") != 0;
  if (s.len == 0)
    throw Error(std::string(op_name(node.op)) + ": the reduced axis is empty");
  std::vector<int64_t> res(static_cast<size_t>(s.outer * s.inner));
  dispatch_accumulate(x.dtype(), [&](auto tag) {
    using A = decltype(tag);
    std::vector<A> xv = load_as<A>(x);
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i) {
        const A *p = xv.data() + o * s.len * s.inner + i;
        int64_t best = 0;
        for (int64_t j = 1; j < s.len; ++j) {
          A v = p[j * s.inner], b = p[best * s.inner];
          bool better = is_max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (better)
            best = j;
        }
        res[o * s.inner + i] = best;
      }
  });
  store_from(out, res);
  return out;
}

std::vector<Tensor> eval_topk(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor values = new_output(node, 0), indices = new_output(node, 1);
  AxisSplit s = split_at(node, x.shape(), node.attrs.i("axis"));
  int64_t k = node.attrs.i("k");
  bool largest = node.attrs.i("largest") != 0;
  if (k < 0 || k > s.len)
    throw Error("TopK: k=" + std::to_string(k) + " exceeds the axis size " + std::to_string(s.len));
  std::vector<int64_t> out_idx(static_cast<size_t>(s.outer * k * s.inner));
  dispatch_accumulate(x.dtype(), [&](auto tag) {
    using A = decltype(tag);
    std::vector<A> xv = load_as<A>(x);
    std::vector<int64_t> order(static_cast<size_t>(s.len));
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i) {
        const A *p = xv.data() + o * s.len * s.inner + i;
        std::iota(order.begin(), order.end(), 0);
        // Ties go to the smaller index, so the order is total and the result deterministic.
        auto before = [&](int64_t a, int64_t b) {
          A va = p[a * s.inner], vb = p[b * s.inner];
          if (va != vb)
            return largest ? va > vb : va < vb;
          return a < b;
        };
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t j = 0; j < k; ++j)
          out_idx[(o * k + j) * s.inner + i] = order[j];
      }
  });
  // Values are gathered from the input so they keep their exact stored bits.
  std::vector<int64_t> off(out_idx.size());
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t i = 0; i < s.inner; ++i) {
        int64_t q = (o * k + j) * s.inner + i;
        off[q] = (o * s.len + out_idx[q]) * s.inner + i;
      }
  gather_elements_by_offset(x, values, off);
  store_from(indices, out_idx);
  return {values, indices};
}

std::vector<Tensor> eval_reduce_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Reduce>(node.op)) {
  case ReduceOp::ReduceMax:
  case ReduceOp::ReduceMin:
  case ReduceOp::ReduceMean:
  case ReduceOp::ReduceSum:
  case ReduceOp::ReduceProd: return {eval_reduce(node, in)};
  case ReduceOp::ArgMax: return {eval_arg_reduce(node, in, true)};
  case ReduceOp::ArgMin: return {eval_arg_reduce(node, in, false)};
  case ReduceOp::TopK: return eval_topk(node, in);
  }
  KILN_ASSERT(false, "eval_reduce_family: not a ReduceOp");
}

} // namespace kiln::ref
