// Data movement: copies whose innermost run is contiguous become vectorized row copies;
// everything else is a strided or gathered scalar loop the LLVM vectorizer may still take.
//
//   %y = Concat(%a[1,64,40,40], %b[1,128,40,40]) axis=1  ->  concat_copy_f32 (a -> y[:, 0:64]),
//   concat_copy_f32 (b -> y[:, 64:192]): each one contiguous run per outer index.
#include "passes/LowerContext.h"
#include "passes/LowerLoops.h"

#include <algorithm>

namespace kiln {

using namespace lw;

namespace {

/// Marks the launch just emitted as a plain row copy (see CopyDesc) for program passes.
void mark_copy(LowerContext &cx, const Value *src, const Value *dst, int64_t rows, int64_t len,
               int64_t src_row, int64_t src_at, int64_t dst_row, int64_t dst_at) {
  cx.prog.launches.back().copy =
      CopyDesc{cx.buffer(src), cx.buffer(dst), rows, len, src_row, src_at, dst_row, dst_at};
}

int64_t prod(const Shape &s, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e && i < s.size(); ++i)
    p *= s[i];
  return p;
}

/// Row-major coordinates of `flat` in `dims` (the outermost one without a modulo).
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

/// out = in walked over out's shape with source strides `st` from `base`.
void strided_copy(LowerContext &cx, const Node &n, const Value *in, const Value *out,
                  const std::vector<int64_t> &st, int64_t base) {
  StridedView v = collapse({out->shape, {shape_strides(out->shape), st}});
  int64_t cols = v.dims.empty() ? 1 : v.dims.back();
  int64_t inner_st = v.dims.empty() ? 0 : v.strides[1].back();
  Shape outer(v.dims.begin(), v.dims.end() - (v.dims.empty() ? 0 : 1));
  std::vector<int64_t> outer_st(v.strides[1].begin(), v.strides[1].begin() + outer.size());
  int64_t rows = shape_numel(outer);

  KernelBuilder kb(kernel_name(n.op, "", out->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  auto body = [&](Expr row, Expr col) {
    Expr src = unravel_offset(row, outer, outer_st);
    if (base != 0)
      src = src + imm(base);
    src = add_scaled(src, col, inner_st);
    Expr dst = rows == 1 ? col : row * imm(cols) + col;
    return store(ob, dst, load(ib, {in->dtype, 1}, src));
  };
  bool vector = inner_st == 0 || inner_st == 1;
  emit(cx, n, kb,
       emit_rows(kb, cx.task_elems(), rows, cols, cx.opt.vector_lanes_f32, vector, body));
  // One contiguous run (a Slice of a contiguous range): a view candidate.
  if (rows == 1 && (inner_st == 1 || cols == 1) && in->dtype == out->dtype)
    mark_copy(cx, in, out, 1, cols, cols, base, cols, 0);
}

/// Flat copy (Identity, Reshape: a buffer-to-buffer copy until aliasing lands).
void flat_copy(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  KernelBuilder kb(kernel_name(n.op, "copy", out->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  emit(cx, n, kb,
       emit_rows(kb, cx.task_elems(), 1, shape_numel(out->shape), cx.opt.vector_lanes_f32, true,
                 [&](Expr, Expr col) {
                   return store(ob, col, load(ib, {in->dtype, 1}, col));
                 }));
  int64_t numel = shape_numel(out->shape);
  if (in->dtype == out->dtype && shape_numel(in->shape) == numel)
    mark_copy(cx, in, out, 1, numel, numel, 0, numel, 0);
}

/// Copies rows of `len` elements: dst[row*dst_row + dst_at + j] = src[row*src_row + src_at + j].
void row_copy(LowerContext &cx, const Node &n, const std::string &detail, const Value *src,
              const Value *dst, int64_t rows, int64_t len, int64_t src_row, int64_t src_at,
              int64_t dst_row, int64_t dst_at) {
  if (rows * len == 0)
    return;
  KernelBuilder kb(kernel_name(n.op, detail, dst->dtype));
  int ib = kb.param(cx.prog, cx.buffer(src), false);
  int ob = kb.param(cx.prog, cx.buffer(dst), true);
  auto at = [](Expr row, int64_t stride, int64_t off, Expr col) {
    Expr e = row && stride ? row * imm(stride) : nullptr;
    if (off)
      e = e ? e + imm(off) : imm(off);
    return e ? e + col : col;
  };
  auto body = [&](Expr row, Expr col) {
    Expr r = rows == 1 ? nullptr : row;
    return store(ob, at(r, dst_row, dst_at, col),
                 load(ib, {src->dtype, 1}, at(r, src_row, src_at, col)));
  };
  emit(cx, n, kb, emit_rows(kb, cx.task_elems(), rows, len, cx.opt.vector_lanes_f32, true, body));
  mark_copy(cx, src, dst, rows, len, src_row, src_at, dst_row, dst_at);
}

void lower_concat(LowerContext &cx, const Node &n) {
  const Value *out = n.outputs[0];
  int64_t axis = n.attrs.i("axis");
  int64_t outer = prod(out->shape, 0, axis), inner = prod(out->shape, axis + 1, out->shape.size());
  int64_t out_row = out->shape[axis] * inner, at = 0;
  for (const Value *in : n.inputs) {
    int64_t row = in->shape[axis] * inner;
    row_copy(cx, n, "copy", in, out, outer, row, row, 0, out_row, at);
    at += row;
  }
}

void lower_split(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0];
  int64_t axis = n.attrs.i("axis");
  int64_t outer = prod(in->shape, 0, axis), inner = prod(in->shape, axis + 1, in->shape.size());
  int64_t in_row = in->shape[axis] * inner, at = 0;
  for (const Value *out : n.outputs) {
    int64_t row = out->shape[axis] * inner;
    row_copy(cx, n, "copy", in, out, outer, row, in_row, at, row, 0);
    at += row;
  }
}

void lower_slice(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const auto &starts = n.attrs.ints("starts"), &steps = n.attrs.ints("steps");
  std::vector<int64_t> in_st = shape_strides(in->shape), st(in_st.size());
  int64_t base = 0;
  for (size_t d = 0; d < in_st.size(); ++d) {
    int64_t last = starts[d] + (out->shape[d] - 1) * steps[d];
    if (starts[d] < 0 || starts[d] >= in->shape[d] || last < 0 || last >= in->shape[d])
      no_kernel(n, "a slice reading outside its input along axis " + std::to_string(d));
    base += starts[d] * in_st[d];
    st[d] = steps[d] * in_st[d];
  }
  strided_copy(cx, n, in, out, st, base);
}

/// Source rows one output row of a 2-D transpose may read before they stop fitting in L1 (a
/// cache line each, next to the output's): past this a row-by-row copy re-reads them from L2.
constexpr int64_t kL1Rows = 256;

/// A transpose whose collapsed view ends in [P, Q] with source strides [1, sq != 1] (out[p][q]
/// = in[q*sq + p]: a 2-D transpose per outer index), with Q > kL1Rows, such as the blocked
/// layout's conversion back [N,C/b,HW,b] -> [N,C/b,b,HW] (Q = HW). The row-by-row strided copy
/// walks Q source rows for every output row and they no longer stay in cache between rows;
/// here each work item is a tile of Tp rows by Tq columns, vectorised along q (contiguous
/// stores, strided loads), so the Tq source rows a tile reads stay in L1 while its p loop
/// walks along them. (The other direction, Q = b, is already fast row by row.) False when the
/// view is not one.
///
///   transpose_tiled_f32: parallel for (outer, p tile, q tile):
///     for p in tile: for q in tile vectorized: out[o][p][q] = in[o + q*sq + p]
bool tiled_transpose(LowerContext &cx, const Node &n, const std::vector<int64_t> &st) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  if (cx.opt.gpu) // a CPU cache schedule: work items on a GPU want the plain copy
    return false;
  StridedView v = collapse({out->shape, {shape_strides(out->shape), st}});
  const size_t r = v.dims.size();
  if (r < 2 || v.strides[1][r - 2] != 1 || v.strides[1][r - 1] == 1 || v.strides[1][r - 1] == 0)
    return false;
  const int64_t np = v.dims[r - 2], nq = v.dims[r - 1], sq = v.strides[1][r - 1];
  if (nq <= kL1Rows)
    return false;
  const Shape outer(v.dims.begin(), v.dims.end() - 2);
  const std::vector<int64_t> outer_st(v.strides[1].begin(), v.strides[1].end() - 2);
  const int64_t lanes = cx.opt.vector_lanes_f32;
  const int64_t tq = std::min(nq, lanes), tp = std::min(np, 2 * lanes);
  const int64_t qtiles = ceil_div(nq, tq), ptiles = ceil_div(np, tp);
  const bool q_tail = nq % tq != 0, p_tail = np % tp != 0;

  KernelBuilder kb(kernel_name(n.op, "tiled", out->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  const int64_t items = shape_numel(outer) * ptiles * qtiles;
  emit(cx, n, kb, emit_items(kb, cx.task_elems(), items, tp * tq, [&](Expr item) {
         Expr o = ediv(item, ptiles * qtiles);
         Expr pt = ptiles == 1 ? imm(0) : emod(ediv(item, qtiles), ptiles);
         Expr qt = qtiles == 1 ? imm(0) : emod(item, qtiles);
         Expr src_o = unravel_offset(o, outer, outer_st);
         Stmt rows = loop(kb, tp, ForKind::Serial, [&](Expr pi) {
           Expr p = pt * imm(tp) + pi;
           Stmt row = loop(kb, tq, ForKind::Vectorized, [&](Expr qi) {
             Expr q = qt * imm(tq) + qi, pred = q_tail ? lt(q, imm(nq)) : nullptr;
             Expr src = add_scaled(src_o ? src_o + p : p, q, sq);
             return store(ob, (o * imm(np) + p) * imm(nq) + q, load(ib, {in->dtype, 1}, src, pred),
                          pred);
           });
           return p_tail ? if_then(lt(p, imm(np)), row) : row;
         });
         return rows;
       }));
  return true;
}

void lower_transpose(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const auto &perm = n.attrs.ints("perm");
  std::vector<int64_t> in_st = shape_strides(in->shape), st(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    st[i] = in_st[perm[i]];
  if (tiled_transpose(cx, n, st))
    return;
  strided_copy(cx, n, in, out, st, 0);
}

/// Pad: each output coordinate maps to a source coordinate per axis (mode formula), constant
/// mode marks the positions outside the source as fill.
void lower_pad(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const auto &pads = n.attrs.ints("pads");
  const std::string &mode = n.attrs.s("mode");
  const size_t r = in->shape.size();
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    no_kernel(n, "pad mode '" + mode + "'");
  bool constant = mode == "constant";
  std::vector<int64_t> in_st = shape_strides(in->shape);

  // Source coordinate (always in range, so loads are safe) and validity of one axis.
  auto map_axis = [&](size_t d, Expr o, Expr &valid) -> Expr {
    int64_t pb = pads[d], pe = pads[d + r];
    int64_t lo = std::max<int64_t>(0, -pb);
    int64_t len = in->shape[d] - lo - std::max<int64_t>(0, -pe);
    int64_t shift = std::max<int64_t>(0, pb);
    if (pb <= 0 && pe <= 0)
      return lo ? o + imm(lo) : o; // cropped or untouched: in range by construction
    if (len <= 0) {
      if (!constant)
        no_kernel(n, "pad mode '" + mode + "' of an empty axis " + std::to_string(d));
      valid = imm_of(DType::boolean, 0);
      return imm(0);
    }
    Expr p = shift ? o - imm(shift) : o;
    Expr m;
    if (constant) {
      Expr ok = binary(BinOp::And, binary(BinOp::Le, imm(0), p), lt(p, imm(len)));
      valid = valid ? binary(BinOp::And, valid, ok) : ok;
      m = emin(emax(p, imm(0)), imm(len - 1));
    } else if (mode == "edge") {
      m = emin(emax(p, imm(0)), imm(len - 1));
    } else if (mode == "wrap") {
      m = emod(emod(p, imm(len)) + imm(len), imm(len));
    } else if (len == 1) {
      m = imm(0);
    } else { // reflect
      int64_t period = 2 * (len - 1);
      Expr q = emod(emod(p, imm(period)) + imm(period), imm(period));
      m = select(lt(q, imm(len)), q, imm(period) - q);
    }
    return lo ? m + imm(lo) : m;
  };

  Shape outer(out->shape.begin(), out->shape.end() - (r ? 1 : 0));
  int64_t rows = shape_numel(outer), cols = r ? out->shape.back() : 1;
  bool inner_plain = r == 0 || (pads[r - 1] <= 0 && pads[2 * r - 1] <= 0);
  KernelBuilder kb(kernel_name(n.op, mode, in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  double fill_v = n.attrs.f("value");
  auto body = [&](Expr row, Expr col) {
    Expr valid, src;
    std::vector<Expr> c = coords(row, outer);
    for (size_t d = 0; d < outer.size(); ++d)
      src = add_scaled(src, map_axis(d, c[d], valid), in_st[d]);
    if (r)
      src = add_scaled(src, map_axis(r - 1, col, valid), 1);
    Expr v = load(ib, {in->dtype, 1}, src ? src : imm(0));
    if (valid) {
      Expr fill = in->dtype == DType::f16 || in->dtype == DType::bf16
                      ? convert(in->dtype, fimm(fill_v))
                      : imm_of(in->dtype, fill_v);
      v = select(valid, v, fill);
    }
    return store(ob, rows == 1 ? col : row * imm(cols) + col, v);
  };
  emit(cx, n, kb,
       emit_rows(kb, cx.task_elems(), rows, cols, cx.opt.vector_lanes_f32, inner_plain, body));
}

/// Tile: out viewed as [outer..., repeats_last, W_in]: every row copies one contiguous input row.
void lower_tile(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const size_t r = in->shape.size();
  if (r == 0)
    return flat_copy(cx, n);
  int64_t w = in->shape.back(), reps = out->shape.back() / std::max<int64_t>(w, 1);
  Shape outer(out->shape.begin(), out->shape.end() - 1);
  std::vector<int64_t> in_st = shape_strides(in->shape);
  std::vector<int64_t> st(in_st.begin(), in_st.end() - 1);
  std::vector<int64_t> mods(in->shape.begin(), in->shape.end() - 1);
  KernelBuilder kb(kernel_name(n.op, "", in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  int64_t rows = shape_numel(outer) * reps;
  auto body = [&](Expr row, Expr col) {
    Expr orow = reps == 1 ? row : ediv(row, imm(reps));
    Expr src = unravel_offset(orow, outer, st, mods) + col;
    return store(ob, row * imm(w) + col, load(ib, {in->dtype, 1}, src));
  };
  emit(cx, n, kb, emit_rows(kb, cx.task_elems(), rows, w, cx.opt.vector_lanes_f32, true, body));
}

/// Gather: data [outer, len, inner] x indices [ni] -> [outer, ni, inner]; one row per
/// (outer, index), a contiguous copy of `inner` elements.
void lower_gather(LowerContext &cx, const Node &n) {
  const Value *data = n.inputs[0], *idx = n.inputs[1], *out = n.outputs[0];
  int64_t axis = n.attrs.i("axis");
  int64_t outer = prod(data->shape, 0, axis), len = data->shape[axis];
  int64_t inner = prod(data->shape, axis + 1, data->shape.size());
  int64_t ni = shape_numel(idx->shape);
  if (!is_integer(idx->dtype))
    no_kernel(n, "non-integer indices");
  KernelBuilder kb(kernel_name(n.op, "", data->dtype));
  int db = kb.param(cx.prog, cx.buffer(data), false);
  int xb = kb.param(cx.prog, cx.buffer(idx), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  auto body = [&](Expr row, Expr col) {
    Expr o = ni == 1 ? row : ediv(row, imm(ni));
    Expr j = ni == 1 ? imm(0) : emod(row, imm(ni));
    Expr k = convert(DType::i64, load(xb, {idx->dtype, 1}, j));
    k = select(lt(k, imm(0)), k + imm(len), k);
    k = emin(emax(k, imm(0)), imm(len - 1)); // out-of-range indices must not read wild memory
    Expr src = (o * imm(len) + k) * imm(inner) + col;
    return store(ob, row * imm(inner) + col, load(db, {data->dtype, 1}, src));
  };
  emit(cx, n, kb,
       emit_rows(kb, cx.task_elems(), outer * ni, inner, cx.opt.vector_lanes_f32, true, body));
}

void lower_gather_elements(LowerContext &cx, const Node &n) {
  const Value *data = n.inputs[0], *idx = n.inputs[1], *out = n.outputs[0];
  int64_t axis = n.attrs.i("axis");
  const size_t r = idx->shape.size();
  int64_t len = data->shape[axis];
  std::vector<int64_t> st = shape_strides(data->shape), walk = st;
  walk[axis] = 0;
  Shape outer(idx->shape.begin(), idx->shape.end() - 1);
  int64_t rows = shape_numel(outer), cols = idx->shape.back();
  KernelBuilder kb(kernel_name(n.op, "", data->dtype));
  int db = kb.param(cx.prog, cx.buffer(data), false);
  int xb = kb.param(cx.prog, cx.buffer(idx), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  auto body = [&](Expr row, Expr col) {
    Expr flat = row * imm(cols) + col;
    Expr k = convert(DType::i64, load(xb, {idx->dtype, 1}, flat));
    k = select(lt(k, imm(0)), k + imm(len), k);
    k = emin(emax(k, imm(0)), imm(len - 1));
    Expr src = unravel_offset(row, outer, std::vector<int64_t>(walk.begin(), walk.end() - 1));
    src = add_scaled(src, col, walk[r - 1]);
    src = add_scaled(src, k, st[axis]);
    return store(ob, flat, load(db, {data->dtype, 1}, src));
  };
  emit(cx, n, kb, emit_rows(kb, cx.task_elems(), rows, cols, cx.opt.vector_lanes_f32, false, body));
}

} // namespace

void lower_movement(LowerContext &cx, const Node &n) {
  switch (n.op) {
  case OpKind::Identity:
  case OpKind::Reshape: return flat_copy(cx, n);
  case OpKind::Concat: return lower_concat(cx, n);
  case OpKind::Split: return lower_split(cx, n);
  case OpKind::Slice: return lower_slice(cx, n);
  case OpKind::Transpose: return lower_transpose(cx, n);
  case OpKind::Expand:
    return strided_copy(cx, n, n.inputs[0], n.outputs[0],
                        broadcast_strides(n.inputs[0]->shape, n.outputs[0]->shape), 0);
  case OpKind::Pad: return lower_pad(cx, n);
  case OpKind::Tile: return lower_tile(cx, n);
  case OpKind::Gather: return lower_gather(cx, n);
  case OpKind::GatherElements: return lower_gather_elements(cx, n);
  default: break;
  }
  no_kernel(n, "this movement op");
}

} // namespace kiln
