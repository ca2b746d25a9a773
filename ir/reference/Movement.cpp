// Data movement: every op here only rearranges elements, so it works on raw element words and
// serves every dtype with one code path.
#include "ir/reference/Kernels.h"

#include <algorithm>
#include <cstring>

namespace kiln::ref {

namespace {

// For each output element, source offset sum_d map[d][o_d] * st[d]; -1 where any axis maps to
// -1 (a constant-padded position).
std::vector<int64_t> axis_map_offsets(const Shape &out,
                                      const std::vector<std::vector<int64_t>> &map,
                                      const std::vector<int64_t> &st) {
  int64_t n = shape_numel(out);
  std::vector<int64_t> off(static_cast<size_t>(n));
  std::vector<int64_t> idx(out.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < out.size(); ++d) {
      int64_t s = map[d][idx[d]];
      if (s < 0) {
        o = -1;
        break;
      }
      o += s * st[d];
    }
    off[i] = o;
    for (size_t d = out.size(); d-- > 0;) {
      if (++idx[d] < out[d])
        break;
      idx[d] = 0;
    }
  }
  return off;
}

int64_t norm_axis(const Node &node, int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    throw Error(std::string(op_name(node.op)) + ": axis " + std::to_string(axis) +
                " out of range for rank " + std::to_string(rank));
  return axis;
}

} // namespace

Tensor eval_concat(const Node &node, const Inputs &in) {
  Tensor out = new_output(node, 0);
  int64_t axis = norm_axis(node, node.attrs.i("axis"), out.rank());
  const size_t es = dtype_size(out.dtype());
  int64_t outer = dims_product(out.shape(), 0, axis);
  int64_t inner = dims_product(out.shape(), axis + 1, out.shape().size());
  int64_t out_row = out.shape()[axis] * inner;
  int64_t at = 0; // running offset along the concat axis, in elements of one outer row
  for (const Tensor &t : in) {
    if (t.dtype() != out.dtype())
      throw Error("Concat: operand dtypes differ");
    int64_t row = t.shape()[axis] * inner;
    auto *dst = static_cast<std::byte *>(out.raw());
    auto *src = static_cast<const std::byte *>(t.raw());
    for (int64_t o = 0; o < outer; ++o)
      if (row > 0)
        std::memcpy(dst + (o * out_row + at) * es, src + o * row * es, row * es);
    at += row;
  }
  return out;
}

std::vector<Tensor> eval_split(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  int64_t axis = norm_axis(node, node.attrs.i("axis"), x.rank());
  const size_t es = dtype_size(x.dtype());
  int64_t outer = dims_product(x.shape(), 0, axis);
  int64_t inner = dims_product(x.shape(), axis + 1, x.shape().size());
  int64_t in_row = x.shape()[axis] * inner;
  std::vector<Tensor> outs;
  int64_t at = 0;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    Tensor t = new_output(node, i);
    int64_t row = t.shape()[axis] * inner;
    if (at + row > in_row)
      throw Error("Split: parts exceed the input along the axis");
    auto *dst = static_cast<std::byte *>(t.raw());
    auto *src = static_cast<const std::byte *>(x.raw());
    for (int64_t o = 0; o < outer; ++o)
      if (row > 0)
        std::memcpy(dst + o * row * es, src + (o * in_row + at) * es, row * es);
    at += row;
    outs.push_back(std::move(t));
  }
  return outs;
}

Tensor eval_slice(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  const auto &starts = node.attrs.ints("starts"), &steps = node.attrs.ints("steps");
  if (static_cast<int64_t>(starts.size()) != x.rank() ||
      static_cast<int64_t>(steps.size()) != x.rank() || out.rank() != x.rank())
    throw Error("Slice: expects one start and step per axis");
  if (out.numel() == 0)
    return out;
  std::vector<int64_t> in_st = shape_strides(x.shape()), st(in_st.size());
  int64_t base = 0;
  for (size_t d = 0; d < in_st.size(); ++d) {
    int64_t last = starts[d] + (out.shape()[d] - 1) * steps[d];
    if (starts[d] < 0 || starts[d] >= x.shape()[d] || last < 0 || last >= x.shape()[d])
      throw Error("Slice: axis " + std::to_string(d) + " reads outside the input");
    base += starts[d] * in_st[d];
    st[d] = steps[d] * in_st[d];
  }
  strided_copy(x, out, st, base);
  return out;
}

Tensor eval_reshape(const Node &node, const Inputs &in) {
  const Shape &s = node.outputs[0]->shape;
  if (shape_numel(s) != in[0].numel())
    throw Error("Reshape: cannot reshape " + shape_str(in[0].shape()) + " to " + shape_str(s));
  return in[0].reshaped(s);
}

Tensor eval_transpose(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  const auto &perm = node.attrs.ints("perm");
  if (static_cast<int64_t>(perm.size()) != x.rank())
    throw Error("Transpose: perm has the wrong length");
  std::vector<int64_t> in_st = shape_strides(x.shape()), st(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    st[i] = in_st[norm_axis(node, perm[i], x.rank())];
  strided_copy(x, out, st, 0);
  return out;
}

Tensor eval_expand(const Node &node, const Inputs &in) {
  Tensor out = new_output(node, 0);
  strided_copy(in[0], out, broadcast_strides(in[0].shape(), out.shape()), 0);
  return out;
}

Tensor eval_tile(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  std::vector<std::vector<int64_t>> map(out.shape().size());
  for (size_t d = 0; d < map.size(); ++d) {
    map[d].resize(out.shape()[d]);
    for (int64_t o = 0; o < out.shape()[d]; ++o)
      map[d][o] = o % x.shape()[d];
  }
  gather_elements_by_offset(x, out, axis_map_offsets(out.shape(), map, shape_strides(x.shape())));
  return out;
}

Tensor eval_pad(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  const auto &pads = node.attrs.ints("pads");
  const std::string &mode = node.attrs.s("mode");
  const size_t r = x.shape().size();
  if (pads.size() != 2 * r)
    throw Error("Pad: pads must have 2 * rank entries");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    throw Error("Pad: unsupported mode '" + mode + "'");
  std::vector<std::vector<int64_t>> map(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t pb = pads[d], pe = pads[d + r];
    // Negative pads crop first (as ONNX Runtime does); the other modes then see only the
    // cropped extent [lo, lo + len).
    int64_t lo = std::max<int64_t>(0, -pb);
    int64_t len = x.shape()[d] - lo - std::max<int64_t>(0, -pe);
    map[d].resize(out.shape()[d]);
    for (int64_t o = 0; o < out.shape()[d]; ++o) {
      int64_t p = o - std::max<int64_t>(0, pb);
      if (p < 0 || p >= len) {
        if (mode == "constant") {
          p = -1;
        } else if (len <= 0) {
          throw Error("Pad: mode '" + mode + "' needs a non-empty input along axis " +
                      std::to_string(d));
        } else if (mode == "edge") {
          p = std::clamp<int64_t>(p, 0, len - 1);
        } else if (mode == "wrap") {
          p = ((p % len) + len) % len;
        } else if (len == 1) {
          p = 0; // reflect of one element
        } else {
          int64_t period = 2 * (len - 1);
          p = ((p % period) + period) % period;
          if (p >= len)
            p = period - p;
        }
      }
      map[d][o] = p < 0 ? -1 : lo + p;
    }
  }
  std::vector<int64_t> off = axis_map_offsets(out.shape(), map, shape_strides(x.shape()));
  double value = node.attrs.f("value");
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *src = x.data<T>();
    T *dst = out.data<T>();
    T fill = from_compute<T>(value);
    for (size_t i = 0; i < off.size(); ++i)
      dst[i] = off[i] < 0 ? fill : src[off[i]];
  });
  return out;
}

Tensor eval_gather(const Node &node, const Inputs &in) {
  const Tensor &data = in[0], &idx = in[1];
  Tensor out = new_output(node, 0);
  int64_t axis = norm_axis(node, node.attrs.i("axis"), data.rank());
  if (!is_integer(idx.dtype()))
    throw Error("Gather: indices must be integers");
  const size_t es = dtype_size(data.dtype());
  int64_t outer = dims_product(data.shape(), 0, axis), len = data.shape()[axis];
  int64_t inner = dims_product(data.shape(), axis + 1, data.shape().size());
  int64_t ni = idx.numel();
  auto *dst = static_cast<std::byte *>(out.raw());
  auto *src = static_cast<const std::byte *>(data.raw());
  for (int64_t j = 0; j < ni; ++j) {
    int64_t k = idx.get_i64(j);
    if (k < -len || k >= len)
      throw Error("Gather: index " + std::to_string(k) + " is out of range for axis " +
                  std::to_string(axis) + " of size " + std::to_string(len));
    if (k < 0)
      k += len;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + ((o * ni + j) * inner) * es, src + ((o * len + k) * inner) * es,
                  inner * es);
  }
  return out;
}

Tensor eval_gather_elements(const Node &node, const Inputs &in) {
  const Tensor &data = in[0], &idx = in[1];
  Tensor out = new_output(node, 0);
  int64_t axis = norm_axis(node, node.attrs.i("axis"), data.rank());
  if (idx.rank() != data.rank())
    throw Error("GatherElements: data and indices ranks differ");
  std::vector<int64_t> st = shape_strides(data.shape());
  int64_t axis_stride = st[axis], len = data.shape()[axis];
  // The offset of each index position with its axis coordinate zeroed; the index adds it back.
  std::vector<int64_t> walk = st;
  walk[axis] = 0;
  std::vector<int64_t> off = strided_offsets(idx.shape(), walk, 0);
  for (int64_t i = 0; i < idx.numel(); ++i) {
    int64_t k = idx.get_i64(i);
    if (k < -len || k >= len)
      throw Error("GatherElements: index " + std::to_string(k) + " is out of range for axis " +
                  std::to_string(axis) + " of size " + std::to_string(len));
    off[i] += (k < 0 ? k + len : k) * axis_stride;
  }
  gather_elements_by_offset(data, out, off);
  return out;
}

std::vector<Tensor> eval_movement_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Movement>(node.op)) {
  case MovementOp::Identity: return {in[0]};
  case MovementOp::Concat: return {eval_concat(node, in)};
  case MovementOp::Split: return eval_split(node, in);
  case MovementOp::Slice: return {eval_slice(node, in)};
  case MovementOp::Reshape: return {eval_reshape(node, in)};
  case MovementOp::Transpose: return {eval_transpose(node, in)};
  case MovementOp::Expand: return {eval_expand(node, in)};
  case MovementOp::Pad: return {eval_pad(node, in)};
  case MovementOp::Tile: return {eval_tile(node, in)};
  case MovementOp::Gather: return {eval_gather(node, in)};
  case MovementOp::GatherElements: return {eval_gather_elements(node, in)};
  }
  KILN_ASSERT(false, "eval_movement_family: not a MovementOp");
}

} // namespace kiln::ref
