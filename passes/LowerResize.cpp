// Resize: per-axis source indices (and linear weights) are computed at lowering time with the
// shared coordinate code of ir/ResizeCoords.h, so nearest-mode ties land on the same pixel. An
// axis whose map is the identity or an integer upscale (x -> x / s) is indexed arithmetically;
// any other map reads a small constant table.
//
//   %y = Resize(%x[1,256,20,20]) nearest asymmetric floor scales=[1,1,2,2]
//     -> resize_nearest2x_f32: row (n,c,h) reads input row h/2; each input element is stored
//        to two adjacent outputs.
#include "passes/LowerContext.h"
#include "passes/LowerLoops.h"

#include "ir/ResizeCoords.h"

#include <algorithm>
#include <cmath>

namespace kiln {

using namespace lw;

namespace {

/// One axis: where each output coordinate reads from.
struct AxisMap {
  enum Kind { Identity, Upscale, Table } kind = Identity;
  int64_t factor = 1;          ///< Upscale: source = o / factor
  std::vector<int64_t> i0, i1; ///< per output coordinate
  std::vector<float> w0, w1;   ///< linear weights (w1 == 0 where one tap suffices)
  bool interpolated = false;   ///< linear with two taps somewhere
  int tab_i0 = -1, tab_i1 = -1, tab_w0 = -1, tab_w1 = -1; ///< kernel buffer ids of the tables
};

AxisMap build_axis(const Node &n, int64_t in_len, int64_t out_len, float scale) {
  const Attrs &a = n.attrs;
  const std::string &mode = a.s("mode"), &ctm = a.s("coordinate_transformation_mode");
  AxisMap m;
  m.i0.resize(out_len), m.i1.resize(out_len), m.w0.assign(out_len, 1.0f),
      m.w1.assign(out_len, 0.0f);
  for (int64_t o = 0; o < out_len; ++o) {
    float xo = resize_original_coordinate(ctm, static_cast<float>(o), scale, in_len, out_len);
    if (mode == "nearest") {
      m.i0[o] = m.i1[o] =
          std::clamp<int64_t>(resize_nearest_index(a.s("nearest_mode"), xo), 0, in_len - 1);
      continue;
    }
    xo = std::clamp(xo, 0.0f, static_cast<float>(in_len - 1));
    int64_t i0 = std::min(static_cast<int64_t>(xo), in_len - 1);
    int64_t i1 = std::min(i0 + 1, in_len - 1);
    float w1 = xo - static_cast<float>(i0);
    m.i0[o] = m.i1[o] = i0;
    if (i1 != i0 && w1 != 0.0f) {
      m.i1[o] = i1, m.w0[o] = 1.0f - w1, m.w1[o] = w1;
      m.interpolated = true;
    }
  }
  if (m.interpolated) {
    m.kind = AxisMap::Table;
    return m;
  }
  bool ident = in_len == out_len, up = in_len > 0 && out_len % in_len == 0;
  int64_t f = up ? out_len / in_len : 1;
  for (int64_t o = 0; o < out_len; ++o) {
    ident = ident && m.i0[o] == o;
    up = up && m.i0[o] == o / f;
  }
  m.kind = ident ? AxisMap::Identity : up ? AxisMap::Upscale : AxisMap::Table;
  m.factor = f;
  return m;
}

int add_table(LowerContext &cx, const Node &n, const std::string &what, Tensor t) {
  int id = cx.add_buffer(n.name + ":" + what, t.dtype(), t.shape(), false);
  BufferDecl &b = cx.prog.buffers[id];
  b.kind = BufferDecl::Kind::Constant;
  b.constant = std::move(t);
  return id;
}

/// The source coordinate of one axis for output coordinate `o` (tap 0).
Expr source_index(const AxisMap &m, Expr o) {
  switch (m.kind) {
  case AxisMap::Identity: return o;
  case AxisMap::Upscale: return ediv(o, imm(m.factor));
  case AxisMap::Table: return load(m.tab_i0, {DType::i64, 1}, o);
  }
  __builtin_unreachable();
}

/// Row-major coordinates of `flat` in `dims`.
std::vector<Expr> coords(Expr flat, const Shape &dims) {
  std::vector<Expr> c(dims.size());
  int64_t below = 1;
  for (size_t d = dims.size(); d-- > 0;) {
    Expr e = below == 1 ? flat : ediv(flat, imm(below));
    c[d] = d == 0 ? e : emod(e, imm(dims[d]));
    below *= dims[d];
  }
  return c;
}

} // namespace

void lower_resize(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const Attrs &a = n.attrs;
  const std::string &mode = a.s("mode");
  const auto &scales = a.floats("scales");
  const size_t r = in->shape.size();
  if (mode != "nearest" && mode != "linear")
    no_kernel(n, "resize mode '" + mode + "'");
  if (r == 0 || scales.size() != r)
    no_kernel(n, "a resize without one scale per axis");
  bool linear = mode == "linear";
  if (linear && !is_float(in->dtype))
    no_kernel(n, "linear resize of " + std::string(dtype_name(in->dtype)));

  std::vector<AxisMap> maps;
  bool twice = true, any_interp = false;
  for (size_t d = 0; d < r; ++d) {
    maps.push_back(build_axis(n, in->shape[d], out->shape[d], static_cast<float>(scales[d])));
    const AxisMap &m = maps.back();
    twice = twice && (m.kind == AxisMap::Identity || (m.kind == AxisMap::Upscale && m.factor == 2));
    any_interp = any_interp || m.interpolated;
  }
  std::string detail = any_interp ? "linear" : twice ? "nearest2x" : "nearest";

  // Buffers: tables first (they are program constants), then the kernel's parameters.
  std::vector<int> tab_bufs[4];
  for (size_t d = 0; d < r; ++d) {
    AxisMap &m = maps[d];
    if (m.kind != AxisMap::Table)
      continue;
    std::string ax = std::to_string(d);
    tab_bufs[0].push_back(
        add_table(cx, n, "i0_" + ax, Tensor::from_vector(m.i0, {(int64_t)m.i0.size()})));
    if (m.interpolated) {
      tab_bufs[1].push_back(
          add_table(cx, n, "i1_" + ax, Tensor::from_vector(m.i1, {(int64_t)m.i1.size()})));
      tab_bufs[2].push_back(
          add_table(cx, n, "w0_" + ax, Tensor::from_vector(m.w0, {(int64_t)m.w0.size()})));
      tab_bufs[3].push_back(
          add_table(cx, n, "w1_" + ax, Tensor::from_vector(m.w1, {(int64_t)m.w1.size()})));
    }
  }
  KernelBuilder kb(kernel_name(n.op, detail, in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  size_t ti = 0, li = 0;
  for (size_t d = 0; d < r; ++d) {
    AxisMap &m = maps[d];
    if (m.kind != AxisMap::Table)
      continue;
    m.tab_i0 = kb.param(cx.prog, tab_bufs[0][ti++], false);
    if (m.interpolated) {
      m.tab_i1 = kb.param(cx.prog, tab_bufs[1][li], false);
      m.tab_w0 = kb.param(cx.prog, tab_bufs[2][li], false);
      m.tab_w1 = kb.param(cx.prog, tab_bufs[3][li], false);
      ++li;
    }
  }

  std::vector<int64_t> st = shape_strides(in->shape);
  Shape outer(out->shape.begin(), out->shape.end() - 1);
  int64_t rows = shape_numel(outer), w_out = out->shape.back(), w_in = in->shape.back();
  const AxisMap &last = maps.back();
  int lanes = cx.opt.vector_lanes_f32;

  if (!any_interp) {
    // Nearest: one source row per output row.
    auto row_src = [&](Expr row) {
      std::vector<Expr> c = coords(row, outer);
      Expr src;
      for (size_t d = 0; d + 1 < r; ++d)
        if (in->shape[d] != 1) // a length-1 source axis always reads index 0
          src = add_scaled(src, source_index(maps[d], c[d]), st[d]);
      return src ? src : imm(0);
    };
    if (last.kind == AxisMap::Upscale) {
      // Each input element of the row is stored `factor` times side by side.
      auto body = [&](Expr row, Expr col) {
        Expr v = load(ib, {in->dtype, 1}, row_src(row) + col);
        Expr base = row * imm(w_out) + col * imm(last.factor);
        std::vector<Stmt> s;
        for (int64_t j = 0; j < last.factor; ++j)
          s.push_back(store(ob, j ? base + imm(j) : base, v));
        return block(std::move(s));
      };
      return emit(cx, n, kb, emit_rows(kb, cx.task_elems(), rows, w_in, lanes, false, body));
    }
    auto body = [&](Expr row, Expr col) {
      Expr v = load(ib, {in->dtype, 1}, row_src(row) + source_index(last, col));
      return store(ob, row * imm(w_out) + col, v);
    };
    return emit(
        cx, n, kb,
        emit_rows(kb, cx.task_elems(), rows, w_out, lanes, last.kind == AxisMap::Identity, body));
  }

  // Linear: sum over the 2^k corners of the interpolated axes, in the reference's order (the
  // first interpolated axis is the lowest bit) so the float sums round identically.
  DType c = compute_dtype(in->dtype);
  std::vector<size_t> interp;
  for (size_t d = 0; d < r; ++d)
    if (maps[d].interpolated)
      interp.push_back(d);
  auto body = [&](Expr row, Expr col) {
    std::vector<Expr> co = coords(row, outer);
    co.push_back(col);
    Expr base; // offset from the single-tap axes
    for (size_t d = 0; d < r; ++d)
      if (!maps[d].interpolated && in->shape[d] != 1)
        base = add_scaled(base, source_index(maps[d], co[d]), st[d]);
    Expr acc = imm_of(c, 0);
    for (int combo = 0; combo < (1 << interp.size()); ++combo) {
      Expr off = base, w;
      for (size_t b = 0; b < interp.size(); ++b) {
        const AxisMap &m = maps[interp[b]];
        bool pick = (combo >> b) & 1;
        Expr i = load(pick ? m.tab_i1 : m.tab_i0, {DType::i64, 1}, co[interp[b]]);
        Expr wt = convert(c, load(pick ? m.tab_w1 : m.tab_w0, {DType::f32, 1}, co[interp[b]]));
        off = add_scaled(off, i, st[interp[b]]);
        w = w ? w * wt : wt;
      }
      acc = acc + w * convert(c, load(ib, {in->dtype, 1}, off));
    }
    return store(ob, row * imm(w_out) + col, convert(out->dtype, acc));
  };
  emit(cx, n, kb, emit_rows(kb, cx.task_elems(), rows, w_out, lanes, false, body));
}

} // namespace kiln
