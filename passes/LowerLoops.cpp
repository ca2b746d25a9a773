// Loop-nest helpers for the simple op families (see passes/LowerLoops.h).
#include "passes/LowerLoops.h"

#include <algorithm>
#include <cctype>

namespace kiln {

int64_t LowerContext::task_elems() const {
  return opt.task_elems > 0 ? opt.task_elems : lw::kTaskElems;
}

namespace lw {

std::string snake(std::string_view name) {
  std::string s;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0)
        s += '_';
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      s += c;
    }
  }
  return s;
}

std::string kernel_name(OpKind op, const std::string &detail, DType t) {
  std::string s = snake(op_name(op));
  if (!detail.empty())
    s += "_" + detail;
  return s + "_" + std::string(dtype_name(t));
}

std::string window_detail(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw) {
  std::string s = std::to_string(kh) + "x" + std::to_string(kw) + "s" + std::to_string(sh);
  if (sw != sh)
    s += "x" + std::to_string(sw);
  if (dh != 1 || dw != 1)
    s += "d" + std::to_string(dh) + (dw != dh ? "x" + std::to_string(dw) : "");
  return s;
}

std::vector<int64_t> broadcast_strides(const Shape &in, const Shape &out) {
  std::vector<int64_t> in_st = shape_strides(in);
  std::vector<int64_t> st(out.size(), 0);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    st[lead + i] = in[i] == 1 ? 0 : in_st[i];
  return st;
}

StridedView collapse(StridedView v) {
  StridedView out;
  out.strides.resize(v.strides.size());
  for (size_t d = 0; d < v.dims.size(); ++d) {
    if (v.dims[d] == 1)
      continue; // any stride walks a single position
    // Merge into the previous kept axis when every operand continues contiguously from it.
    bool merge = !out.dims.empty();
    for (size_t k = 0; merge && k < v.strides.size(); ++k)
      merge = out.strides[k].back() == v.strides[k][d] * v.dims[d];
    if (merge) {
      out.dims.back() *= v.dims[d];
      for (size_t k = 0; k < v.strides.size(); ++k)
        out.strides[k].back() = v.strides[k][d];
      continue;
    }
    out.dims.push_back(v.dims[d]);
    for (size_t k = 0; k < v.strides.size(); ++k)
      out.strides[k].push_back(v.strides[k][d]);
  }
  return out;
}

Expr unravel_offset(Expr flat, const Shape &dims, const std::vector<int64_t> &strides,
                    const std::vector<int64_t> &mods) {
  Expr off;
  size_t first = 0; // the outermost axis of size > 1 needs no modulo: flat stays below its end
  while (first < dims.size() && dims[first] == 1)
    ++first;
  int64_t below = 1; // product of the dims inside d
  for (size_t d = dims.size(); d-- > 0;) {
    int64_t st = strides[d];
    int64_t m = mods.empty() ? 0 : mods[d];
    if (dims[d] != 1 && st != 0 && m != 1) {
      Expr c = below == 1 ? flat : ediv(flat, imm(below));
      if (d != first)
        c = emod(c, imm(dims[d]));
      if (m > 0 && m != dims[d])
        c = emod(c, imm(m));
      off = add_scaled(off, c, st);
    }
    below *= dims[d];
  }
  return off ? off : imm(0);
}

namespace {

/// One row's columns [c0, c0 + len): vector chunks then a scalar tail. len is constant when
/// `const_len` >= 0, else the expression `len`.
Stmt row_cols(KernelBuilder &kb, Expr row, Expr c0, int64_t const_len, Expr len, int lanes,
              bool vector, const std::function<Stmt(Expr, Expr)> &body) {
  auto at = [&](Expr off) { return c0 ? (off ? c0 + off : c0) : (off ? off : imm(0)); };
  std::vector<Stmt> out;
  if (!vector || lanes <= 1) {
    int j = kb.new_var();
    Expr ext = const_len >= 0 ? imm(const_len) : len;
    out.push_back(for_loop(j, at(nullptr), ext, ForKind::Serial, body(row, var(j))));
    return block(std::move(out));
  }
  Expr nvec = const_len >= 0 ? imm(const_len / lanes) : ediv(len, imm(lanes));
  if (const_len < 0 || const_len >= lanes) {
    int l = kb.new_var();
    if (const_len == lanes) { // one chunk: no chunk loop
      out.push_back(
          for_loop(l, imm(0), imm(lanes), ForKind::Vectorized, body(row, at(nullptr) + var(l))));
    } else {
      int v = kb.new_var();
      Expr base = at(var(v) * imm(lanes));
      Stmt inner = for_loop(l, imm(0), imm(lanes), ForKind::Vectorized, body(row, base + var(l)));
      out.push_back(for_loop(v, imm(0), nvec, ForKind::Serial, inner));
    }
  }
  int64_t const_tail = const_len >= 0 ? const_len % lanes : -1;
  if (const_tail != 0) {
    int j = kb.new_var();
    Expr start = at(nvec * imm(lanes));
    Expr ext = const_tail > 0 ? imm(const_tail) : len - nvec * imm(lanes);
    out.push_back(for_loop(j, start, ext, ForKind::Serial, body(row, var(j))));
  }
  return out.size() == 1 ? out[0] : block(std::move(out));
}

} // namespace

Loops emit_rows(KernelBuilder &kb, int64_t task, int64_t rows, int64_t cols, int lanes, bool vector,
                const std::function<Stmt(Expr row, Expr col)> &body) {
  int t = kb.new_var();
  Expr tv = var(t);
  if (cols >= 2 * task) {
    // Long rows: each task takes one block of a row.
    int64_t cb = (task + lanes - 1) / lanes * lanes;
    int64_t nb = (cols + cb - 1) / cb;
    Expr row = rows == 1 ? imm(0) : ediv(tv, imm(nb));
    Expr c0 = (rows == 1 ? tv : emod(tv, imm(nb))) * imm(cb);
    Expr len = emin(imm(cb), imm(cols) - c0);
    Stmt s = row_cols(kb, row, c0, cols % cb == 0 ? cb : -1, len, lanes, vector, body);
    return {for_loop(t, imm(0), imm(rows * nb), ForKind::Parallel, s), rows * nb};
  }
  // Short rows: each task takes a group of whole rows.
  int64_t rpt = std::max<int64_t>(1, task / std::max<int64_t>(cols, 1));
  int64_t tasks = (rows + rpt - 1) / rpt;
  if (tasks <= 1) {
    rpt = rows;
    tasks = 1;
  }
  Stmt s;
  if (rpt == 1) {
    s = row_cols(kb, tv, nullptr, cols, nullptr, lanes, vector, body);
  } else {
    int r = kb.new_var();
    Stmt inner = row_cols(kb, var(r), nullptr, cols, nullptr, lanes, vector, body);
    Expr r0 = tasks == 1 ? imm(0) : tv * imm(rpt);
    Expr ext = rows % rpt == 0 ? imm(rpt) : emin(imm(rpt), imm(rows) - r0);
    s = for_loop(r, r0, ext, ForKind::Serial, inner);
  }
  return {for_loop(t, imm(0), imm(tasks), ForKind::Parallel, s), tasks};
}

Loops emit_items(KernelBuilder &kb, int64_t task, int64_t items, int64_t item_cost,
                 const std::function<Stmt(Expr item)> &body) {
  int t = kb.new_var();
  int64_t per = std::max<int64_t>(1, task / std::max<int64_t>(item_cost, 1));
  int64_t tasks = (items + per - 1) / per;
  if (tasks <= 1) {
    per = items;
    tasks = 1;
  }
  if (per == 1)
    return {for_loop(t, imm(0), imm(tasks), ForKind::Parallel, body(var(t))), tasks};
  int i = kb.new_var();
  Expr i0 = tasks == 1 ? imm(0) : var(t) * imm(per);
  Expr ext = items % per == 0 ? imm(per) : emin(imm(per), imm(items) - i0);
  Stmt s = for_loop(i, i0, ext, ForKind::Serial, body(var(i)));
  return {for_loop(t, imm(0), imm(tasks), ForKind::Parallel, s), tasks};
}

Stmt over_lanes(KernelBuilder &kb, const LaneSpan &span,
                const std::function<Stmt(Expr inner, Expr lane)> &body) {
  int l = kb.new_var();
  return for_loop(l, imm(0), imm(span.count), span.kind, body(span.base + var(l), var(l)));
}

Loops emit_lanes(KernelBuilder &kb, int64_t task, int64_t outer, int64_t len, int64_t inner,
                 int lanes, const std::function<Stmt(Expr o, const LaneSpan &span)> &body) {
  int64_t nfull = inner / lanes, tail = inner % lanes;
  int64_t per_outer = nfull + (tail ? 1 : 0);
  return emit_items(kb, task, outer * per_outer, len * lanes, [&](Expr item) {
    Expr o = per_outer == 1 ? item : ediv(item, imm(per_outer));
    Expr blk = per_outer == 1 ? imm(0) : emod(item, imm(per_outer));
    ForKind vk = lanes > 1 ? ForKind::Vectorized : ForKind::Serial;
    if (nfull > 0 && tail == 0)
      return body(o, LaneSpan{blk * imm(lanes), lanes, vk});
    if (nfull == 0)
      return body(o, LaneSpan{imm(0), tail, ForKind::Serial});
    return if_then(binary(BinOp::Lt, blk, imm(nfull)),
                   body(o, LaneSpan{blk * imm(lanes), lanes, vk}),
                   body(o, LaneSpan{imm(nfull * lanes), tail, ForKind::Serial}));
  });
}

Stmt split_parallel(KernelBuilder &kb, Expr p, const std::vector<int64_t> &extents,
                    const std::function<Stmt(const std::vector<Expr> &)> &body) {
  std::vector<Expr> coords(extents.size());
  std::vector<std::pair<int, Expr>> lets;
  int64_t inner = 1;
  for (size_t i = extents.size(); i-- > 0;) {
    if (extents[i] == 1) {
      coords[i] = imm(0);
      continue;
    }
    Expr c = ediv(p, inner);
    // The outermost non-trivial coordinate needs no wrap-around.
    bool outermost = true;
    for (size_t j = 0; j < i; ++j)
      outermost = outermost && extents[j] == 1;
    if (!outermost)
      c = emod(c, extents[i]);
    int v = kb.new_var();
    coords[i] = var(v);
    lets.emplace_back(v, c);
    inner *= extents[i];
  }
  Stmt s = body(coords);
  for (auto &[v, value] : lets)
    s = let(v, value, s);
  return s;
}

void emit(LowerContext &cx, const Node &n, KernelBuilder &kb, Loops l) {
  bool weight = true;
  for (const Value *v : n.inputs)
    if (v && !cx.is_weight(v))
      weight = false;
  Kernel k = kb.finish(l.body, l.parallel_extent);
  std::vector<int> args = kb.args();
  cx.launch(std::move(k), std::move(args), weight, n);
}

} // namespace lw
} // namespace kiln
