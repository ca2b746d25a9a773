// Resize: nearest and (multi)linear, with the coordinate transforms of the ONNX spec. The
// transform is computed in float, as ONNX Runtime does, so nearest-mode ties land on the same
// source pixel.
#include "ir/reference/Kernels.h"

#include "ir/ResizeCoords.h"

#include <algorithm>
#include <cmath>

namespace kiln::ref {

namespace {

// Up to two source positions and weights for one output coordinate of one axis.
struct Taps {
  int64_t idx[2] = {0, 0};
  float w[2] = {1.0f, 0.0f};
  int n = 1;
};

} // namespace

Tensor eval_resize(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  const Attrs &a = node.attrs;
  const std::string &mode = a.s("mode"), &ctm = a.s("coordinate_transformation_mode");
  const std::string &nearest_mode = a.s("nearest_mode");
  const auto &scales = a.floats("scales");
  const size_t r = x.shape().size();
  if (scales.size() != r || out.shape().size() != r)
    throw Error("Resize: expects one scale per axis");
  if (mode != "nearest" && mode != "linear")
    throw Error("Resize: mode '" + mode + "' is not supported");
  if (out.numel() == 0)
    return out;

  std::vector<std::vector<Taps>> taps(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t in_len = x.shape()[d], out_len = out.shape()[d];
    float scale = static_cast<float>(scales[d]);
    taps[d].resize(out_len);
    for (int64_t o = 0; o < out_len; ++o) {
      float xo = resize_original_coordinate(ctm, static_cast<float>(o), scale, in_len, out_len);
      Taps &t = taps[d][o];
      if (mode == "nearest") {
        t.idx[0] = std::clamp<int64_t>(resize_nearest_index(nearest_mode, xo), 0, in_len - 1);
        continue;
      }
      // Clamping the coordinate first equals the spec's edge padding of the neighbours.
      xo = std::clamp(xo, 0.0f, static_cast<float>(in_len - 1));
      int64_t i0 = std::min(static_cast<int64_t>(xo), in_len - 1);
      int64_t i1 = std::min(i0 + 1, in_len - 1);
      float w1 = xo - static_cast<float>(i0);
      t.idx[0] = i0;
      if (i1 != i0 && w1 != 0.0f) {
        t.idx[1] = i1, t.w[0] = 1.0f - w1, t.w[1] = w1, t.n = 2;
      }
    }
  }

  std::vector<int64_t> st = shape_strides(x.shape());
  if (mode == "nearest") {
    std::vector<int64_t> off(static_cast<size_t>(out.numel()));
    std::vector<int64_t> idx(r, 0);
    for (int64_t i = 0; i < out.numel(); ++i) {
      int64_t o = 0;
      for (size_t d = 0; d < r; ++d)
        o += taps[d][idx[d]].idx[0] * st[d];
      off[i] = o;
      for (size_t d = r; d-- > 0;) {
        if (++idx[d] < out.shape()[d])
          break;
        idx[d] = 0;
      }
    }
    gather_elements_by_offset(x, out, off);
    return out;
  }

  dispatch_float(x.dtype(), "Resize", [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> xv = load_as<C>(x);
    std::vector<C> y(static_cast<size_t>(out.numel()));
    std::vector<int64_t> idx(r, 0);
    std::vector<const Taps *> cur(r);
    for (int64_t i = 0; i < out.numel(); ++i) {
      int combos = 1;
      for (size_t d = 0; d < r; ++d) {
        cur[d] = &taps[d][idx[d]];
        combos *= cur[d]->n;
      }
      // Sum over the corners of the interpolation cell (2^k for k interpolated axes).
      C acc = C(0);
      for (int c = 0; c < combos; ++c) {
        int64_t o = 0;
        C w = C(1);
        int rest = c;
        for (size_t d = 0; d < r; ++d) {
          int pick = 0;
          if (cur[d]->n == 2) {
            pick = rest & 1;
            rest >>= 1;
          }
          o += cur[d]->idx[pick] * st[d];
          w *= static_cast<C>(cur[d]->w[pick]);
        }
        acc += w * xv[o];
      }
      y[i] = acc;
      for (size_t d = r; d-- > 0;) {
        if (++idx[d] < out.shape()[d])
          break;
        idx[d] = 0;
      }
    }
    store_from(out, y);
  });
  return out;
}

} // namespace kiln::ref
