// 2-D NCHW convolution and pooling, plus inference BatchNormalization (Conv and MaxPool on the
// channel-blocked layout of ops.def convert to NCHW, run the same code and convert back). Conv
// is written so the innermost loop runs over a contiguous output row with its valid range
// precomputed (no branch, auto-vectorisable): whole YOLO models go through it.
#include "ir/Logistic.h"
#include "ir/Reference.h"
#include "ir/reference/Kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::ref {

namespace {

struct Conv2d {
  int64_t n, c, h, w;     // input
  int64_t m, oh, ow;      // output channels and spatial size
  int64_t kh, kw, group;  // kernel
  int64_t sh, sw, dh, dw; // strides, dilations
  int64_t pt, pl;         // leading pads
};

Conv2d conv_geometry(const Node &node, const Tensor &x, const Tensor &w, const Shape &out) {
  if (x.rank() != 4 || w.rank() != 4 || out.size() != 4)
    throw Error(std::string(op_name(node.op)) + ": only 2-D (NCHW) is supported");
  const Attrs &a = node.attrs;
  const auto &st = a.ints("strides"), &dil = a.ints("dilations"), &pads = a.ints("pads");
  Conv2d g;
  g.n = x.shape()[0], g.c = x.shape()[1], g.h = x.shape()[2], g.w = x.shape()[3];
  g.m = out[1], g.oh = out[2], g.ow = out[3];
  g.kh = w.shape()[2], g.kw = w.shape()[3];
  g.group = a.i("group");
  g.sh = st[0], g.sw = st[1], g.dh = dil[0], g.dw = dil[1];
  g.pt = pads[0], g.pl = pads[1];
  return g;
}

// Output positions o in [lo, hi) whose input position o*stride - pad + k*dil lies in [0, len).
void valid_range(int64_t len, int64_t out_len, int64_t stride, int64_t pad, int64_t koff,
                 int64_t &lo, int64_t &hi) {
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  lo = std::max<int64_t>(0, ceil_div(pad - koff, stride));
  hi = std::min<int64_t>(out_len, floor_div(len - 1 + pad - koff, stride) + 1);
  if (hi < lo)
    hi = lo;
}

// Y[n, oc] += sum over ic, kh, kw of W[oc, ic, kh, kw] * X[n, g*cg + ic, ...], for any element
// types: Acc is the accumulator, `xv`/`wv` map stored values (e.g. subtracting zero points).
template <class Acc, class XF, class WF>
void conv_accumulate(const Conv2d &g, Acc *y, XF xv, WF wv) {
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  std::vector<int64_t> lo(g.kw), hi(g.kw);
  for (int64_t j = 0; j < g.kw; ++j)
    valid_range(g.w, g.ow, g.sw, g.pl, j * g.dw, lo[j], hi[j]);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oc = 0; oc < g.m; ++oc) {
      Acc *plane = y + (n * g.m + oc) * g.oh * g.ow;
      int64_t gi = oc / mg;
      for (int64_t ic = 0; ic < cg; ++ic) {
        int64_t xbase = (n * g.c + gi * cg + ic) * g.h * g.w;
        for (int64_t i = 0; i < g.kh; ++i) {
          int64_t oh_lo, oh_hi;
          valid_range(g.h, g.oh, g.sh, g.pt, i * g.dh, oh_lo, oh_hi);
          for (int64_t j = 0; j < g.kw; ++j) {
            const Acc wk = wv(((oc * cg + ic) * g.kh + i) * g.kw + j, oc);
            for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
              int64_t ih = oh * g.sh - g.pt + i * g.dh;
              int64_t row = xbase + ih * g.w - g.pl + j * g.dw;
              Acc *dst = plane + oh * g.ow;
              const int64_t l = lo[j], h = hi[j], s = g.sw;
              for (int64_t ow = l; ow < h; ++ow)
                dst[ow] += wk * xv(row + ow * s);
            }
          }
        }
      }
    }
}

/// The fused epilogue of Conv (ops.def): y = act(y) + residual, in the compute type, with the
/// same formulas as the standalone ops so fused and unfused graphs agree.
template <class C> void apply_conv_epilogue(const Node &node, const Inputs &in, std::vector<C> &y) {
  const Attrs &a = node.attrs;
  const std::string act = a.has("activation") ? a.s("activation") : "none";
  if (act == "relu") {
    for (C &v : y)
      v = std::max(v, C(0));
  } else if (act == "sigmoid") {
    for (C &v : y)
      v = logistic::sigmoid(v);
  } else if (act == "silu") {
    for (C &v : y)
      v = v * logistic::sigmoid(v);
  } else if (act == "leaky_relu") {
    C alpha = static_cast<C>(a.f("alpha"));
    for (C &v : y)
      v = v >= C(0) ? v : alpha * v;
  } else if (act == "hardswish") {
    for (C &v : y)
      v = v * std::max(C(0), std::min(C(1), v / C(6) + C(0.5)));
  } else if (act != "none") {
    throw Error("Conv: unsupported activation '" + act + "'");
  }
  if (in.size() > 3 && in[3].defined()) {
    std::vector<C> r = load_as<C>(in[3]);
    for (size_t i = 0; i < y.size(); ++i)
      y[i] += r[i];
  }
}

void check_groups(const Node &node, const Conv2d &g, int64_t w_in_ch) {
  if (g.group <= 0 || g.c % g.group != 0 || g.m % g.group != 0 || g.c / g.group != w_in_ch)
    throw Error(std::string(op_name(node.op)) + ": channels do not match weights and group");
}

/// A channel-block attribute (ops.def): absent or 0 is NCHW.
int64_t block_of(const Node &node, const char *name) {
  return node.attrs.has(name) ? node.attrs.i(name) : 0;
}

/// The logical NCHW shape of a blocked [N, C/b, H, W, b].
Shape unblocked_shape(const Shape &s) { return {s[0], s[1] * s[4], s[2], s[3]}; }

/// Conv on NCHW inputs into `out` (NCHW, the node's output dtype).
void conv_nchw(const Node &node, const Inputs &in, Tensor &out) {
  const Tensor &x = in[0], &w = in[1];
  Conv2d g = conv_geometry(node, x, w, out.shape());
  check_groups(node, g, w.shape()[1]);
  dispatch_float(x.dtype(), "Conv", [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> xv = load_as<C>(x), wv = load_as<C>(w);
    std::vector<C> y(static_cast<size_t>(out.numel()), C(0));
    if (in.size() > 2 && in[2].defined()) {
      std::vector<C> b = load_as<C>(in[2]);
      int64_t plane = g.oh * g.ow;
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t oc = 0; oc < g.m; ++oc)
          std::fill_n(y.data() + (n * g.m + oc) * plane, plane, b[oc]);
    }
    const C *xp = xv.data(), *wp = wv.data();
    conv_accumulate<C>(
        g, y.data(), [xp](int64_t i) { return xp[i]; }, [wp](int64_t i, int64_t) { return wp[i]; });
    apply_conv_epilogue<C>(node, in, y);
    store_from(out, y);
  });
}

} // namespace

Tensor eval_conv(const Node &node, const Inputs &in) {
  Tensor out = new_output(node, 0);
  const int64_t xb = block_of(node, "x_block"), yb = block_of(node, "y_block");
  if (xb == 0 && yb == 0) {
    conv_nchw(node, in, out);
    return out;
  }
  // The blocked layout: the NCHW code between conversions (X, and the residual of Y's shape).
  Inputs nchw = in;
  if (xb)
    nchw[0] = unblock_channels(in[0]);
  if (yb && in.size() > 3 && in[3].defined())
    nchw[3] = unblock_channels(in[3]);
  if (!yb) {
    conv_nchw(node, nchw, out);
    return out;
  }
  Tensor y(out.dtype(), unblocked_shape(out.shape()));
  conv_nchw(node, nchw, y);
  return block_channels(y, yb);
}

Tensor eval_conv_integer(const Node &node, const Inputs &in) {
  const Tensor &x = in[0], &w = in[1];
  Tensor out = new_output(node, 0);
  Conv2d g = conv_geometry(node, x, w, out.shape());
  check_groups(node, g, w.shape()[1]);
  std::vector<int32_t> xv = load_as<int32_t>(x), wv = load_as<int32_t>(w);
  int32_t xzp = in.size() > 2 && in[2].defined() ? static_cast<int32_t>(in[2].get_i64(0)) : 0;
  // The weight zero point is one scalar or one per output channel.
  std::vector<int32_t> wzp(static_cast<size_t>(g.m), 0);
  if (in.size() > 3 && in[3].defined()) {
    const Tensor &z = in[3];
    if (z.numel() != 1 && z.numel() != g.m)
      throw Error("ConvInteger: w_zero_point must be a scalar or have one entry per channel");
    for (int64_t oc = 0; oc < g.m; ++oc)
      wzp[oc] = static_cast<int32_t>(z.get_i64(z.numel() == 1 ? 0 : oc));
  }
  // Subtract zero points once up front so the accumulation loop stays a plain multiply-add.
  for (auto &e : xv)
    e -= xzp;
  const int64_t per_oc = w.numel() / g.m;
  for (int64_t i = 0; i < w.numel(); ++i)
    wv[i] -= wzp[i / per_oc];
  std::vector<int32_t> y(static_cast<size_t>(out.numel()), 0);
  const int32_t *xp = xv.data(), *wp = wv.data();
  conv_accumulate<int32_t>(
      g, y.data(), [xp](int64_t i) { return xp[i]; }, [wp](int64_t i, int64_t) { return wp[i]; });
  store_from(out, y);
  return out;
}

Tensor eval_qlinear_conv(const Node &node, const Inputs &in) {
  const Tensor &x = in[0], &w = in[3];
  Tensor out = new_output(node, 0);
  Conv2d g = conv_geometry(node, x, w, out.shape());
  check_groups(node, g, w.shape()[1]);
  auto per_oc = [&](size_t i) {
    const Tensor &t = in[i];
    std::vector<double> v(static_cast<size_t>(g.m));
    for (int64_t oc = 0; oc < g.m; ++oc)
      v[oc] = t.dtype() == DType::f32 ? t.get_f64(t.numel() == 1 ? 0 : oc)
                                      : static_cast<double>(t.get_i64(t.numel() == 1 ? 0 : oc));
    return v;
  };
  const std::vector<double> ws = per_oc(4), wz = per_oc(5);
  const float xs = static_cast<float>(in[1].get_f64(0)), ys = static_cast<float>(in[6].get_f64(0));
  const int32_t xz = static_cast<int32_t>(in[2].get_i64(0));
  const int32_t yz = static_cast<int32_t>(in[7].get_i64(0));
  std::vector<int32_t> xv = load_as<int32_t>(x), wv = load_as<int32_t>(w);
  for (auto &e : xv)
    e -= xz;
  const int64_t per = w.numel() / g.m;
  for (int64_t i = 0; i < w.numel(); ++i)
    wv[i] -= static_cast<int32_t>(wz[i / per]);
  std::vector<int32_t> acc(static_cast<size_t>(out.numel()), 0);
  if (in.size() > 8 && in[8].defined()) {
    std::vector<int32_t> b = load_as<int32_t>(in[8]);
    const int64_t plane = g.oh * g.ow;
    for (int64_t i = 0; i < out.numel(); ++i)
      acc[i] = b[(i / plane) % g.m];
  }
  const int32_t *xp = xv.data(), *wp = wv.data();
  conv_accumulate<int32_t>(
      g, acc.data(), [xp](int64_t i) { return xp[i]; }, [wp](int64_t i, int64_t) { return wp[i]; });
  // ONNX Runtime's requantisation: the scale in float as x_scale * w_scale / y_scale, the
  // product rounded half to even, the zero point added, saturated.
  const bool is_u8 = out.dtype() == DType::u8;
  const float lo = is_u8 ? 0.0f : -128.0f, hi = is_u8 ? 255.0f : 127.0f;
  const int64_t plane = g.oh * g.ow;
  std::vector<int32_t> y(acc.size());
  const bool silu = node.attrs.has("activation") && node.attrs.s("activation") == "silu";
  const float as = silu ? static_cast<float>(in[9].get_f64(0)) : 1.0f;
  const float az = silu ? static_cast<float>(in[10].get_i64(0)) : 0.0f;
  const float ylo = in[7].dtype() == DType::u8 ? 0.0f : -128.0f, yhi = ylo + 255.0f;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const float scale = xs * static_cast<float>(ws[(i / plane) % g.m]) / ys;
    float q = std::nearbyint(static_cast<float>(acc[i]) * scale) + static_cast<float>(yz);
    if (silu) { // DequantizeLinear, x * Sigmoid(x), QuantizeLinear
      const float v = (std::clamp(q, ylo, yhi) - static_cast<float>(yz)) * ys;
      q = std::nearbyint(v * (1.0f / (1.0f + std::exp(-v))) / as) + az;
    }
    y[i] = static_cast<int32_t>(std::clamp(q, lo, hi));
  }
  store_from(out, y);
  return out;
}

Tensor eval_conv_transpose(const Node &node, const Inputs &in) {
  const Tensor &x = in[0], &w = in[1];
  Tensor out = new_output(node, 0);
  if (x.rank() != 4 || w.rank() != 4)
    throw Error("ConvTranspose: only 2-D (NCHW) is supported");
  const Attrs &a = node.attrs;
  const auto &st = a.ints("strides"), &dil = a.ints("dilations"), &pads = a.ints("pads");
  const int64_t n_ = x.shape()[0], c = x.shape()[1], h = x.shape()[2], wd = x.shape()[3];
  const int64_t m = out.shape()[1], oh_ = out.shape()[2], ow_ = out.shape()[3];
  const int64_t kh = w.shape()[2], kw = w.shape()[3], group = a.i("group");
  if (group <= 0 || c % group != 0 || m % group != 0 || w.shape()[0] != c ||
      w.shape()[1] != m / group)
    throw Error("ConvTranspose: channels do not match weights and group");
  const int64_t cg = c / group, mg = m / group;
  dispatch_float(x.dtype(), "ConvTranspose", [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> xv = load_as<C>(x), wv = load_as<C>(w);
    std::vector<C> y(static_cast<size_t>(out.numel()), C(0));
    if (in.size() > 2 && in[2].defined()) {
      std::vector<C> b = load_as<C>(in[2]);
      for (int64_t n = 0; n < n_; ++n)
        for (int64_t oc = 0; oc < m; ++oc)
          std::fill_n(y.data() + (n * m + oc) * oh_ * ow_, oh_ * ow_, b[oc]);
    }
    // Scatter form: every input pixel adds its kernel-weighted footprint to the output.
    for (int64_t n = 0; n < n_; ++n)
      for (int64_t ic = 0; ic < c; ++ic) {
        int64_t gi = ic / cg;
        const C *xplane = xv.data() + (n * c + ic) * h * wd;
        for (int64_t k = 0; k < mg; ++k) {
          int64_t oc = gi * mg + k;
          C *yplane = y.data() + (n * m + oc) * oh_ * ow_;
          const C *wk = wv.data() + (ic * mg + k) * kh * kw;
          for (int64_t ih = 0; ih < h; ++ih)
            for (int64_t i = 0; i < kh; ++i) {
              int64_t oh = ih * st[0] - pads[0] + i * dil[0];
              if (oh < 0 || oh >= oh_)
                continue;
              for (int64_t iw = 0; iw < wd; ++iw) {
                C xval = xplane[ih * wd + iw];
                for (int64_t j = 0; j < kw; ++j) {
                  int64_t ow = iw * st[1] - pads[1] + j * dil[1];
                  if (ow >= 0 && ow < ow_)
                    yplane[oh * ow_ + ow] += xval * wk[i * kw + j];
                }
              }
            }
        }
      }
    store_from(out, y);
  });
  return out;
}

namespace {

struct Pool2d {
  int64_t nc, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
};

Pool2d pool_geometry(const Node &node, const Tensor &x, const Shape &out) {
  if (x.rank() != 4)
    throw Error(std::string(op_name(node.op)) + ": only 2-D (NCHW) is supported");
  const Attrs &a = node.attrs;
  const auto &k = a.ints("kernel"), &st = a.ints("strides"), &pads = a.ints("pads");
  Pool2d p;
  p.nc = x.shape()[0] * x.shape()[1], p.h = x.shape()[2], p.w = x.shape()[3];
  p.oh = out[2], p.ow = out[3];
  p.kh = k[0], p.kw = k[1], p.sh = st[0], p.sw = st[1];
  p.dh = 1, p.dw = 1;
  if (a.has("dilations"))
    p.dh = a.ints("dilations")[0], p.dw = a.ints("dilations")[1];
  p.pt = pads[0], p.pl = pads[1], p.pb = pads[2], p.pr = pads[3];
  return p;
}

/// MaxPool of NCHW `x` into outs[0] (and the flat indices into outs[1] when present).
void max_pool_nchw(const Node &node, const Tensor &x, std::vector<Tensor> &outs) {
  bool want_indices = outs.size() > 1;
  Pool2d p = pool_geometry(node, x, outs[0].shape());
  // Padded positions never win: only real input pixels take part in the max.
  dispatch_compute(x.dtype(), [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> xv = load_as<C>(x);
    std::vector<C> y(static_cast<size_t>(outs[0].numel()));
    std::vector<int64_t> idx(want_indices ? y.size() : 0);
    for (int64_t nc = 0; nc < p.nc; ++nc)
      for (int64_t oh = 0; oh < p.oh; ++oh)
        for (int64_t ow = 0; ow < p.ow; ++ow) {
          C best = std::numeric_limits<C>::lowest();
          int64_t best_i = -1;
          for (int64_t i = 0; i < p.kh; ++i) {
            int64_t ih = oh * p.sh - p.pt + i * p.dh;
            if (ih < 0 || ih >= p.h)
              continue;
            for (int64_t j = 0; j < p.kw; ++j) {
              int64_t iw = ow * p.sw - p.pl + j * p.dw;
              if (iw < 0 || iw >= p.w)
                continue;
              int64_t xi = (nc * p.h + ih) * p.w + iw;
              if (best_i < 0 || xv[xi] > best) {
                best = xv[xi];
                best_i = xi;
              }
            }
          }
          int64_t o = (nc * p.oh + oh) * p.ow + ow;
          y[o] = best;
          if (want_indices)
            idx[o] = best_i;
        }
    store_from(outs[0], y);
    if (want_indices)
      store_from(outs[1], idx);
  });
}

} // namespace

std::vector<Tensor> eval_max_pool(const Node &node, const Inputs &in) {
  // The blocked layout (ops.def `block`): the NCHW code between conversions.
  if (int64_t b = block_of(node, "block")) {
    Tensor out = new_output(node, 0);
    std::vector<Tensor> outs = {Tensor(out.dtype(), unblocked_shape(out.shape()))};
    max_pool_nchw(node, unblock_channels(in[0]), outs);
    return {block_channels(outs[0], b)};
  }
  std::vector<Tensor> outs;
  outs.push_back(new_output(node, 0));
  if (node.outputs.size() > 1)
    outs.push_back(new_output(node, 1));
  max_pool_nchw(node, in[0], outs);
  return outs;
}

Tensor eval_average_pool(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  Pool2d p = pool_geometry(node, x, out.shape());
  bool include_pad = node.attrs.i("count_include_pad") != 0;
  dispatch_float(x.dtype(), "AveragePool", [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> xv = load_as<C>(x);
    std::vector<C> y(static_cast<size_t>(out.numel()));
    for (int64_t nc = 0; nc < p.nc; ++nc)
      for (int64_t oh = 0; oh < p.oh; ++oh)
        for (int64_t ow = 0; ow < p.ow; ++ow) {
          // As ONNX Runtime: the window is first clipped to the padded input (so ceil_mode's
          // overhang never counts), then to the real input for the sum.
          int64_t hs = oh * p.sh - p.pt, ws = ow * p.sw - p.pl;
          int64_t he = std::min(hs + p.kh, p.h + p.pb), we = std::min(ws + p.kw, p.w + p.pr);
          int64_t padded_count = (he - hs) * (we - ws);
          hs = std::max<int64_t>(hs, 0), ws = std::max<int64_t>(ws, 0);
          he = std::min(he, p.h), we = std::min(we, p.w);
          C sum = C(0);
          for (int64_t ih = hs; ih < he; ++ih)
            for (int64_t iw = ws; iw < we; ++iw)
              sum += xv[(nc * p.h + ih) * p.w + iw];
          int64_t count = include_pad ? padded_count : (he - hs) * (we - ws);
          y[(nc * p.oh + oh) * p.ow + ow] = count > 0 ? sum / C(count) : C(0);
        }
    store_from(out, y);
  });
  return out;
}

Tensor eval_global_pool(const Node &node, const Inputs &in, bool is_max) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  if (x.rank() < 3)
    throw Error(std::string(op_name(node.op)) + ": input rank must be at least 3");
  int64_t nc = x.shape()[0] * x.shape()[1];
  int64_t spatial = nc == 0 ? 0 : x.numel() / nc;
  dispatch_float(x.dtype(), op_name(node.op).data(), [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> xv = load_as<C>(x);
    std::vector<C> y(static_cast<size_t>(nc));
    for (int64_t i = 0; i < nc; ++i) {
      const C *p = xv.data() + i * spatial;
      if (is_max) {
        C best = std::numeric_limits<C>::lowest();
        for (int64_t j = 0; j < spatial; ++j)
          best = std::max(best, p[j]);
        y[i] = best;
      } else {
        double sum = 0; // the mean of a large plane: accumulate in double
        for (int64_t j = 0; j < spatial; ++j)
          sum += p[j];
        y[i] = static_cast<C>(sum / static_cast<double>(spatial));
      }
    }
    store_from(out, y);
  });
  return out;
}

Tensor eval_batch_norm(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  if (x.rank() < 2)
    throw Error("BatchNormalization: input rank must be at least 2");
  int64_t n = x.shape()[0], c = x.shape()[1];
  int64_t inner = dims_product(x.shape(), 2, x.shape().size());
  double eps = node.attrs.f("epsilon");
  dispatch_float(x.dtype(), "BatchNormalization", [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> xv = load_as<C>(x);
    std::vector<C> scale = load_as<C>(in[1]), bias = load_as<C>(in[2]);
    std::vector<C> mean = load_as<C>(in[3]), var = load_as<C>(in[4]);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t ch = 0; ch < c; ++ch) {
        C s = scale[ch] / std::sqrt(var[ch] + static_cast<C>(eps));
        C *p = xv.data() + (b * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i)
          p[i] = (p[i] - mean[ch]) * s + bias[ch];
      }
    store_from(out, xv);
  });
  return out;
}

std::vector<Tensor> eval_conv_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Conv>(node.op)) {
  case ConvOp::Conv: return {eval_conv(node, in)};
  case ConvOp::ConvTranspose: return {eval_conv_transpose(node, in)};
  case ConvOp::ConvInteger: return {eval_conv_integer(node, in)};
  case ConvOp::QLinearConv: return {eval_qlinear_conv(node, in)};
  }
  KILN_ASSERT(false, "eval_conv_family: not a ConvOp");
}

std::vector<Tensor> eval_pool_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Pool>(node.op)) {
  case PoolOp::MaxPool: return eval_max_pool(node, in);
  case PoolOp::AveragePool: return {eval_average_pool(node, in)};
  case PoolOp::GlobalAveragePool: return {eval_global_pool(node, in, false)};
  case PoolOp::GlobalMaxPool: return {eval_global_pool(node, in, true)};
  }
  KILN_ASSERT(false, "eval_pool_family: not a PoolOp");
}

std::vector<Tensor> eval_norm_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Norm>(node.op)) {
  case NormOp::BatchNormalization: return {eval_batch_norm(node, in)};
  }
  KILN_ASSERT(false, "eval_norm_family: not a NormOp");
}

} // namespace kiln::ref
