// Reductions over axes, ArgMax/ArgMin, TopK, Softmax/LogSoftmax. Axis kernels view the input
// as [outer, len, inner] and vectorize across `inner` with lane-wide local accumulators, so the
// common YOLO case (softmax over 16 DFL bins with 33600 inner positions) runs full-width.
//
//   softmax axis=1 of [1,16,4,8400]  ->  softmax_f32: per (outer, 16 inner lanes):
//     mx[l] = max_j x; s[l] = sum_j exp(x - mx[l]); y = exp(x - mx[l]) / s[l]
#include "passes/LowerContext.h"
#include "passes/LowerLoops.h"

#include <cmath>
#include <limits>

namespace kiln {

using namespace lw;

namespace {

int64_t prod(const Shape &s, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e && i < s.size(); ++i)
    p *= s[i];
  return p;
}

/// The largest (or smallest) value of type t: infinities for floats, exact integer limits.
Expr extreme(DType t, bool largest) {
  if (is_float(t))
    return imm_of(t, largest ? INFINITY : -INFINITY);
  int64_t v = dispatch_dtype(t, [&](auto tag) -> int64_t {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>)
      return largest ? static_cast<int64_t>(std::numeric_limits<T>::max())
                     : static_cast<int64_t>(std::numeric_limits<T>::lowest());
    return 0;
  });
  auto e = std::make_shared<ExprNode>();
  e->kind = ExprKind::IntImm;
  e->type = {t, 1};
  e->ival = v;
  return e;
}

/// A lane-wide local of `dtype`: store/load helpers indexed by lane.
struct Local {
  int buf;
  DType dtype;
  Expr get(Expr lane) const { return load(buf, {dtype, 1}, lane); }
  Stmt set(Expr lane, Expr v) const { return store(buf, lane, v); }
};

/// Reduce{Max,Min,Mean,Sum,Prod}: floats accumulate in f64 (max/min in their own type), ints
/// in i64, as the reference does.
void lower_reduce_axes(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const auto &axes = n.attrs.ints("axes");
  const Shape &s = in->shape;
  OpKind op = n.op;
  bool minmax = op == OpKind::ReduceMax || op == OpKind::ReduceMin;
  DType acc_t = is_float(in->dtype) ? (minmax ? compute_dtype(in->dtype) : DType::f64) : DType::i64;
  Expr init = op == OpKind::ReduceMax    ? extreme(acc_t, false)
              : op == OpKind::ReduceMin  ? extreme(acc_t, true)
              : op == OpKind::ReduceProd ? imm_of(acc_t, 1)
                                         : imm_of(acc_t, 0);
  int64_t count = 1;
  for (int64_t a : axes)
    count *= s[a];
  auto fold = [&](Expr a, Expr v) -> Expr {
    switch (op) {
    case OpKind::ReduceMax: return select(lt(a, v), v, a);
    case OpKind::ReduceMin: return select(lt(v, a), v, a);
    case OpKind::ReduceProd: return a * v;
    default: return a + v;
    }
  };
  auto finish = [&](Expr a) {
    if (op == OpKind::ReduceMean && count > 0)
      a = ediv(a, imm_of(acc_t, static_cast<double>(count)));
    return convert(out->dtype, a);
  };
  KernelBuilder kb(kernel_name(op, "", in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  auto x_at = [&](Expr idx) { return convert(acc_t, load(ib, {in->dtype, 1}, idx)); };

  bool contiguous = true;
  for (size_t i = 1; i < axes.size(); ++i)
    contiguous = contiguous && axes[i] == axes[i - 1] + 1;
  int lanes = cx.opt.vector_lanes_f32;
  if (contiguous) {
    int64_t outer = prod(s, 0, axes.front()), inner = prod(s, axes.back() + 1, s.size());
    int64_t len = count;
    auto body = [&](Expr o, const LaneSpan &sp) {
      Local acc{kb.new_local(), acc_t};
      int j = kb.new_var();
      Stmt st = block({over_lanes(kb, sp, [&](Expr, Expr l) { return acc.set(l, init); }),
                       for_loop(j, imm(0), imm(len), ForKind::Serial,
                                over_lanes(kb, sp,
                                           [&](Expr i, Expr l) {
                                             Expr idx = (o * imm(len) + var(j)) * imm(inner) + i;
                                             return acc.set(l, fold(acc.get(l), x_at(idx)));
                                           })),
                       over_lanes(kb, sp, [&](Expr i, Expr l) {
                         return store(ob, o * imm(inner) + i, finish(acc.get(l)));
                       })});
      return allocate(acc.buf, acc_t, lanes, st);
    };
    return emit(cx, n, kb, emit_lanes(kb, cx.task_elems(), outer, len, inner, lanes, body));
  }
  // Scattered axes: one output element at a time, walking the reduced axes by index math.
  Shape kept, red;
  std::vector<int64_t> kept_st, red_st, st = shape_strides(s);
  for (size_t d = 0, a = 0; d < s.size(); ++d) {
    if (a < axes.size() && axes[a] == static_cast<int64_t>(d)) {
      red.push_back(s[d]), red_st.push_back(st[d]), ++a;
    } else {
      kept.push_back(s[d]), kept_st.push_back(st[d]);
    }
  }
  auto body = [&](Expr e) {
    Local acc{kb.new_local(), acc_t};
    int j = kb.new_var();
    Expr base = unravel_offset(e, kept, kept_st);
    Stmt st2 =
        block({acc.set(imm(0), init),
               for_loop(j, imm(0), imm(count), ForKind::Serial,
                        acc.set(imm(0), fold(acc.get(imm(0)),
                                             x_at(base + unravel_offset(var(j), red, red_st))))),
               store(ob, e, finish(acc.get(imm(0))))});
    return allocate(acc.buf, acc_t, 1, st2);
  };
  emit(cx, n, kb, emit_items(kb, cx.task_elems(), shape_numel(out->shape), count, body));
}

void lower_arg(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const Shape &s = in->shape;
  int64_t axis = n.attrs.i("axis");
  bool is_max = n.op == OpKind::ArgMax, last = n.attrs.i("select_last_index") != 0;
  int64_t outer = prod(s, 0, axis), len = s[axis], inner = prod(s, axis + 1, s.size());
  DType c = compute_dtype(in->dtype);
  KernelBuilder kb(kernel_name(n.op, "", in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  int lanes = cx.opt.vector_lanes_f32;
  auto body = [&](Expr o, const LaneSpan &sp) {
    Local bv{kb.new_local(), c}, bi{kb.new_local(), DType::i64};
    auto x_at = [&](Expr j, Expr i) {
      return convert(c, load(ib, {in->dtype, 1}, (o * imm(len) + j) * imm(inner) + i));
    };
    int j = kb.new_var();
    Stmt scan = for_loop(
        j, imm(1), imm(len - 1), ForKind::Serial, over_lanes(kb, sp, [&](Expr i, Expr l) {
          Expr v = x_at(var(j), i), b = bv.get(l);
          Expr better = is_max ? (last ? le(b, v) : lt(b, v)) : (last ? le(v, b) : lt(v, b));
          return block(
              {bi.set(l, select(better, var(j), bi.get(l))), bv.set(l, select(better, v, b))});
        }));
    Stmt st = block({over_lanes(kb, sp,
                                [&](Expr i, Expr l) {
                                  return block({bv.set(l, x_at(imm(0), i)), bi.set(l, imm(0))});
                                }),
                     scan, over_lanes(kb, sp, [&](Expr i, Expr l) {
                       return store(ob, o * imm(inner) + i, bi.get(l));
                     })});
    return allocate(bv.buf, c, lanes, allocate(bi.buf, DType::i64, lanes, st));
  };
  emit(cx, n, kb, emit_lanes(kb, cx.task_elems(), outer, len, inner, lanes, body));
}

void lower_softmax(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *out = n.outputs[0];
  const Shape &s = in->shape;
  int64_t axis = n.attrs.i("axis");
  bool log = n.op == OpKind::LogSoftmax;
  if (!is_float(in->dtype))
    no_kernel(n, std::string(dtype_name(in->dtype)) + " input");
  int64_t outer = prod(s, 0, axis), len = s[axis], inner = prod(s, axis + 1, s.size());
  DType c = compute_dtype(in->dtype);
  KernelBuilder kb(kernel_name(n.op, "", in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int ob = kb.param(cx.prog, cx.buffer(out), true);
  int lanes = cx.opt.vector_lanes_f32;
  auto body = [&](Expr o, const LaneSpan &sp) {
    Local mx{kb.new_local(), c}, sum{kb.new_local(), c};
    auto idx = [&](Expr j, Expr i) { return (o * imm(len) + j) * imm(inner) + i; };
    auto x_at = [&](Expr j, Expr i) { return convert(c, load(ib, {in->dtype, 1}, idx(j, i))); };
    int j1 = kb.new_var(), j2 = kb.new_var(), j3 = kb.new_var();
    std::vector<Stmt> st;
    st.push_back(over_lanes(kb, sp, [&](Expr, Expr l) {
      return block({mx.set(l, imm_of(c, -INFINITY)), sum.set(l, imm_of(c, 0))});
    }));
    // Subtract the max so exp never overflows.
    st.push_back(
        for_loop(j1, imm(0), imm(len), ForKind::Serial, over_lanes(kb, sp, [&](Expr i, Expr l) {
                   Expr v = x_at(var(j1), i), m = mx.get(l);
                   return mx.set(l, select(lt(m, v), v, m));
                 })));
    // Softmax keeps exp(x - max) in the output (when it is f32) so the last pass only scales.
    bool keep = !log && out->dtype == c;
    st.push_back(
        for_loop(j2, imm(0), imm(len), ForKind::Serial, over_lanes(kb, sp, [&](Expr i, Expr l) {
                   Expr e = unary(UnOp::Exp, x_at(var(j2), i) - mx.get(l));
                   Stmt acc = sum.set(l, sum.get(l) + e);
                   if (!keep)
                     return acc;
                   return block({store(ob, idx(var(j2), i), e),
                                 sum.set(l, sum.get(l) + load(ob, {c, 1}, idx(var(j2), i)))});
                 })));
    st.push_back(for_loop(
        j3, imm(0), imm(len), ForKind::Serial, over_lanes(kb, sp, [&](Expr i, Expr l) {
          if (keep)
            return store(ob, idx(var(j3), i), ediv(load(ob, {c, 1}, idx(var(j3), i)), sum.get(l)));
          Expr d = x_at(var(j3), i) - mx.get(l);
          Expr y = log ? d - unary(UnOp::Log, sum.get(l)) : ediv(unary(UnOp::Exp, d), sum.get(l));
          return store(ob, idx(var(j3), i), convert(out->dtype, y));
        })));
    return allocate(mx.buf, c, lanes, allocate(sum.buf, c, lanes, block(std::move(st))));
  };
  emit(cx, n, kb, emit_lanes(kb, cx.task_elems(), outer, len, inner, lanes, body));
}

/// TopK for large k: a serial selection per line; pick p is the best element strictly after
/// pick p-1 in the total order (value, then smaller index first), so no marks are needed.
void lower_topk_select(LowerContext &cx, const Node &n) {
  const Value *in = n.inputs[0], *vals = n.outputs[0], *inds = n.outputs[1];
  const Shape &s = in->shape;
  int64_t axis = n.attrs.i("axis"), k = n.attrs.i("k");
  bool largest = n.attrs.i("largest") != 0;
  int64_t outer = prod(s, 0, axis), len = s[axis], inner = prod(s, axis + 1, s.size());
  DType c = compute_dtype(in->dtype);
  KernelBuilder kb(kernel_name(n.op, largest ? "largest" : "smallest", in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int vb = kb.param(cx.prog, cx.buffer(vals), true);
  int xb = kb.param(cx.prog, cx.buffer(inds), true);
  auto body = [&](Expr line) {
    Expr o = inner == 1 ? line : ediv(line, imm(inner));
    Expr i = inner == 1 ? imm(0) : emod(line, imm(inner));
    Local pv{kb.new_local(), c}, pi{kb.new_local(), DType::i64};
    Local bv{kb.new_local(), c}, bi{kb.new_local(), DType::i64};
    Expr z = imm(0);
    int p = kb.new_var(), j = kb.new_var();
    auto src = [&](Expr jj) { return (o * imm(len) + jj) * imm(inner) + i; };
    Expr v = convert(c, load(ib, {in->dtype, 1}, src(var(j))));
    Expr prev = pv.get(z),
         after_prev = binary(BinOp::And, binary(BinOp::Eq, v, prev), lt(pi.get(z), var(j)));
    Expr eligible = binary(BinOp::Or, largest ? lt(v, prev) : lt(prev, v), after_prev);
    Expr better =
        binary(BinOp::Or, lt(bi.get(z), z), largest ? lt(bv.get(z), v) : lt(v, bv.get(z)));
    Stmt scan = for_loop(
        j, imm(0), imm(len), ForKind::Serial,
        if_then(binary(BinOp::And, eligible, better), block({bv.set(z, v), bi.set(z, var(j))})));
    Expr dst = (o * imm(k) + var(p)) * imm(inner) + i;
    Stmt pick =
        block({bi.set(z, imm(-1)), bv.set(z, imm_of(c, 0)), scan,
               store(vb, dst,
                     load(ib, {in->dtype, 1}, src(emax(bi.get(z), z)))), // no pick (NaNs): index 0
               store(xb, dst, bi.get(z)), pv.set(z, bv.get(z)), pi.set(z, bi.get(z))});
    Stmt st = block({pv.set(z, extreme(c, largest)), pi.set(z, imm(-1)),
                     for_loop(p, imm(0), imm(k), ForKind::Serial, pick)});
    return allocate(pv.buf, c, 1,
                    allocate(pi.buf, DType::i64, 1,
                             allocate(bv.buf, c, 1, allocate(bi.buf, DType::i64, 1, st))));
  };
  emit(cx, n, kb, emit_items(kb, cx.task_elems(), outer * inner, len * k, body));
}

/// Largest k for which the insertion kernel keeps its sorted list in locals (on the stack).
constexpr int64_t kTopKLocalMax = 4096;

/// TopK: per line, a best-first list of k (value, index) kept by insertion. An element enters
/// when the list is not full or it beats the last entry; equal values stay in index order (a
/// later element goes after its equals). Mostly O(len) for the YOLO shapes (k=300 of 8400).
void lower_topk(LowerContext &cx, const Node &n) {
  int64_t k = n.attrs.i("k");
  if (k > kTopKLocalMax)
    return lower_topk_select(cx, n);
  const Value *in = n.inputs[0], *vals = n.outputs[0], *inds = n.outputs[1];
  const Shape &s = in->shape;
  int64_t axis = n.attrs.i("axis");
  bool largest = n.attrs.i("largest") != 0;
  int64_t outer = prod(s, 0, axis), len = s[axis], inner = prod(s, axis + 1, s.size());
  DType c = compute_dtype(in->dtype);
  KernelBuilder kb(kernel_name(n.op, largest ? "largest" : "smallest", in->dtype));
  int ib = kb.param(cx.prog, cx.buffer(in), false);
  int vb = kb.param(cx.prog, cx.buffer(vals), true);
  int xb = kb.param(cx.prog, cx.buffer(inds), true);
  // a ranks strictly before b (for equal values the earlier index is already in the list).
  auto before = [&](Expr a, Expr b) { return largest ? lt(b, a) : lt(a, b); };
  auto body = [&](Expr line) {
    Expr o = inner == 1 ? line : ediv(line, imm(inner));
    Expr i = inner == 1 ? imm(0) : emod(line, imm(inner));
    Local lv{kb.new_local(), c}, li{kb.new_local(), DType::i64}, st{kb.new_local(), DType::i64};
    Expr z = imm(0), cnt = st.get(imm(0)), ins = st.get(imm(1));
    int j = kb.new_var(), q = kb.new_var(), m = kb.new_var(), p = kb.new_var();
    auto src = [&](Expr jj) { return (o * imm(len) + jj) * imm(inner) + i; };
    Expr v = convert(c, load(ib, {in->dtype, 1}, src(var(j))));
    // Insertion point: the number of entries that rank before or equal to v.
    Stmt find =
        block({st.set(imm(1), z), for_loop(q, z, cnt, ForKind::Serial,
                                           if_then(unary(UnOp::Not, before(v, lv.get(var(q)))),
                                                   st.set(imm(1), ins + imm(1))))});
    // Shift entries [ins, last) one down, dropping the last one when the list is full.
    Expr last = emin(cnt, imm(k - 1));
    Expr pos = last - var(m);
    Stmt shift =
        for_loop(m, z, last - ins, ForKind::Serial,
                 block({lv.set(pos, lv.get(pos - imm(1))), li.set(pos, li.get(pos - imm(1)))}));
    Stmt insert = block({find, shift, lv.set(ins, v), li.set(ins, var(j)),
                         st.set(imm(0), emin(cnt + imm(1), imm(k)))});
    Expr enters = binary(BinOp::Or, lt(cnt, imm(k)), before(v, lv.get(imm(k - 1))));
    Stmt scan = for_loop(j, z, imm(len), ForKind::Serial, if_then(enters, insert));
    Expr dst = (o * imm(k) + var(p)) * imm(inner) + i;
    Stmt out = for_loop(p, z, imm(k), ForKind::Serial,
                        block({store(vb, dst, load(ib, {in->dtype, 1}, src(li.get(var(p))))),
                               store(xb, dst, li.get(var(p)))}));
    int init = kb.new_var();
    Stmt zero = for_loop(init, z, imm(k), ForKind::Serial,
                         block({lv.set(var(init), imm_of(c, 0)), li.set(var(init), z)}));
    Stmt all = block({zero, st.set(z, z), scan, out});
    return allocate(lv.buf, c, k,
                    allocate(li.buf, DType::i64, k, allocate(st.buf, DType::i64, 2, all)));
  };
  emit(cx, n, kb, emit_items(kb, cx.task_elems(), outer * inner, len * 8, body));
}

} // namespace

void lower_reduce(LowerContext &cx, const Node &n) {
  switch (n.op) {
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
  case OpKind::ReduceMean:
  case OpKind::ReduceSum:
  case OpKind::ReduceProd: return lower_reduce_axes(cx, n);
  case OpKind::ArgMax:
  case OpKind::ArgMin: return lower_arg(cx, n);
  case OpKind::TopK: return lower_topk(cx, n);
  case OpKind::Softmax:
  case OpKind::LogSoftmax: return lower_softmax(cx, n);
  default: break;
  }
  no_kernel(n, "this reduction");
}

} // namespace kiln
