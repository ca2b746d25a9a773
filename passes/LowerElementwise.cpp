// Elementwise ops: one kernel per node, numpy broadcasting by collapsed strided views.
//
//   %y = Mul(%x[1,64,80,80], %s[1,64,1,1])  ->  kernel mul_bcast_f32: rows = 64 (channel),
//   cols = 6400 contiguous, s read once per row and broadcast across the vectorized columns.
#include "ir/FusedProgram.h"
#include "passes/LowerContext.h"
#include "passes/LowerLoops.h"

#include <cmath>
#include <limits>

namespace kiln {

using namespace lw;

namespace {

/// Smallest and largest value of an integer dtype, as double.
std::pair<double, double> int_range(DType t) {
  return dispatch_dtype(t, [](auto tag) -> std::pair<double, double> {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
      return {static_cast<double>(std::numeric_limits<T>::lowest()),
              static_cast<double>(std::numeric_limits<T>::max())};
    else
      return {-INFINITY, INFINITY};
  });
}

/// Clip: x < lo ? lo : x, then x > hi ? hi : x, with the bounds as the reference casts them.
Expr clip_expr(Expr x, DType c, double lo, double hi) {
  if (is_float(c)) {
    if (lo > -INFINITY)
      x = emax(x, imm_of(c, lo));
    if (hi < INFINITY)
      x = emin(x, imm_of(c, hi));
    return x;
  }
  // Integers: the comparison is against the real bound, the replacement its truncation.
  auto [tmin, tmax] = int_range(c);
  if (lo > tmin && lo <= tmax)
    x = select(lt(x, imm_of(c, std::ceil(lo))), imm_of(c, std::trunc(lo)), x);
  if (hi < tmax && hi >= tmin)
    x = select(lt(imm_of(c, std::floor(hi)), x), imm_of(c, std::trunc(hi)), x);
  return x;
}

Expr unary_expr(const Node &n, Expr x, DType c) {
  auto k = [&](double v) { return imm_of(c, v); };
  switch (n.op) {
  case OpKind::Identity: return x;
  case OpKind::Relu: return emax(x, k(0));
  case OpKind::Sigmoid: return unary(UnOp::Sigmoid, x);
  case OpKind::Tanh: return unary(UnOp::Tanh, x);
  case OpKind::Exp: return unary(UnOp::Exp, x);
  case OpKind::Log: return unary(UnOp::Log, x);
  case OpKind::Sqrt: return unary(UnOp::Sqrt, x);
  case OpKind::Erf: return unary(UnOp::Erf, x);
  case OpKind::Neg: return unary(UnOp::Neg, x);
  case OpKind::Abs: return unary(UnOp::Abs, x);
  case OpKind::Floor: return is_float(c) ? unary(UnOp::Floor, x) : x;
  case OpKind::Ceil: return is_float(c) ? unary(UnOp::Ceil, x) : x;
  case OpKind::Round: return is_float(c) ? unary(UnOp::Round, x) : x;
  case OpKind::Reciprocal: return ediv(k(1), x);
  case OpKind::Softplus: {
    // log(1 + e^x) without overflow: x + log(1 + e^-x) for positive x.
    Expr pos = x + unary(UnOp::Log, k(1) + unary(UnOp::Exp, unary(UnOp::Neg, x)));
    Expr neg = unary(UnOp::Log, k(1) + unary(UnOp::Exp, x));
    return select(lt(k(0), x), pos, neg);
  }
  case OpKind::HardSwish: return x * emax(k(0), emin(k(1), ediv(x, k(6)) + k(0.5)));
  case OpKind::Not: return unary(UnOp::Not, x);
  case OpKind::LeakyRelu: return select(le(k(0), x), x, k(n.attrs.f("alpha")) * x);
  case OpKind::HardSigmoid:
    return emax(k(0), emin(k(1), k(n.attrs.f("alpha")) * x + k(n.attrs.f("beta"))));
  case OpKind::Clip: return clip_expr(x, c, n.attrs.f("min"), n.attrs.f("max"));
  default: break;
  }
  no_kernel(n, "this unary op");
}

/// Python-style modulo (sign of the divisor): r = a % b, plus b when r and b differ in sign.
Expr floor_mod(Expr a, Expr b, DType c) {
  Expr r = emod(a, b);
  Expr zero = imm_of(c, 0);
  Expr differ = binary(BinOp::Or, binary(BinOp::And, lt(r, zero), lt(zero, b)),
                       binary(BinOp::And, lt(zero, r), lt(b, zero)));
  return select(differ, r + b, r);
}

Expr binary_expr(const Node &n, Expr a, Expr b, DType c) {
  bool flt = is_float(c);
  // Integer division by zero would trap; the reference rejects it, the kernel must not crash.
  auto safe = [&](Expr d) {
    return flt ? d : select(binary(BinOp::Eq, d, imm_of(c, 0)), imm_of(c, 1), d);
  };
  switch (n.op) {
  case OpKind::Add: return a + b;
  case OpKind::Sub: return a - b;
  case OpKind::Mul: return a * b;
  case OpKind::Div: return ediv(a, safe(b));
  case OpKind::Pow:
    if (flt)
      return binary(BinOp::Pow, a, b);
    // Integers: pow in double, truncated through int64 as the reference does.
    return convert(
        c, convert(DType::i64, binary(BinOp::Pow, convert(DType::f64, a), convert(DType::f64, b))));
  case OpKind::Mod:
    if (n.attrs.i("fmod") != 0)
      return emod(a, safe(b));
    return floor_mod(a, safe(b), c);
  case OpKind::Min: return select(lt(b, a), b, a);
  case OpKind::Max: return select(lt(a, b), b, a);
  case OpKind::And: return binary(BinOp::And, a, b);
  case OpKind::Or: return binary(BinOp::Or, a, b);
  case OpKind::Equal: return binary(BinOp::Eq, a, b);
  case OpKind::Less: return lt(a, b);
  case OpKind::LessOrEqual: return le(a, b);
  case OpKind::Greater: return lt(b, a);
  case OpKind::GreaterOrEqual: return le(b, a);
  default: break;
  }
  no_kernel(n, "this binary op");
}

/// ONNX Cast of one element: half formats and integers go through f32 / i64 exactly like
/// Tensor::cast, so the kernel rounds the same way.
Expr cast_expr(Expr x, DType from, DType to) {
  if (to == DType::boolean)
    return binary(BinOp::Ne, x, imm_of(from, 0));
  if (from == DType::boolean)
    return convert(to, x);
  if (to == DType::f16 || to == DType::bf16)
    return convert(to, convert(DType::f32, x));
  if (is_float(from) && is_integer(to)) {
    // Truncate through a wide integer, then wrap, like the reference's (T)(int64)v. For targets
    // of 32 bits or less i32 is the wide type: LLVM scalarises vector f32 -> i64 -> i8 but not
    // f32 -> i32 -> i8 (differs only beyond the i32 range, where ONNX leaves it undefined).
    Expr v = from == DType::f32 || from == DType::f64 ? x : convert(DType::f32, x);
    DType wide = to == DType::i64 ? DType::i64 : DType::i32;
    return convert(to, convert(wide, v));
  }
  if ((from == DType::f16 || from == DType::bf16) && to == DType::f64)
    return convert(to, convert(DType::f32, x));
  return convert(to, x);
}

} // namespace

void lower_elementwise(LowerContext &cx, const Node &n) {
  const Value *out = n.outputs[0];
  std::vector<const Value *> ins;
  for (const Value *v : n.inputs) {
    if (!v)
      no_kernel(n, "an absent input");
    ins.push_back(v);
  }

  // The element walk: operands' strides over the output shape, collapsed.
  StridedView view;
  view.dims = out->shape;
  view.strides.push_back(shape_strides(out->shape));
  for (const Value *v : ins)
    view.strides.push_back(broadcast_strides(v->shape, out->shape));
  view = collapse(std::move(view));
  int64_t cols = view.dims.empty() ? 1 : view.dims.back();
  Shape outer_dims(view.dims.begin(), view.dims.end() - (view.dims.empty() ? 0 : 1));
  int64_t rows = shape_numel(outer_dims);

  bool same = true, scalar_or_same = true;
  for (const Value *v : ins) {
    same = same && v->shape == out->shape;
    scalar_or_same = scalar_or_same && (v->shape == out->shape || shape_numel(v->shape) == 1);
  }
  DType in_t = n.op == OpKind::Where ? ins[1]->dtype : ins[0]->dtype; // Where: x's type
  std::string detail = same ? "" : scalar_or_same ? "scalar" : "bcast";
  if (n.op == OpKind::Cast)
    detail = std::string(dtype_name(in_t));
  DType name_t = n.op == OpKind::Cast ? out->dtype : in_t;

  // FusedElementwise: one stand-in node per step for unary_expr / binary_expr.
  std::vector<FusedStep> steps;
  std::vector<Node> step_nodes;
  std::string name = kernel_name(n.op, detail, name_t);
  if (n.op == OpKind::FusedElementwise) {
    steps = parse_fused_program(n.attrs.s("program"), ins.size());
    std::string ops;
    for (size_t k = 0; k < steps.size(); ++k) {
      Node sn;
      sn.op = steps[k].op;
      sn.name = n.name;
      sn.attrs = steps[k].attrs;
      step_nodes.push_back(std::move(sn));
      if (k < 6)
        ops += "_" + snake(op_name(steps[k].op));
    }
    if (steps.size() > 6)
      ops += "_etc";
    name = "fused" + ops + (detail.empty() ? "" : "_" + detail) + "_" +
           std::string(dtype_name(name_t));
  }

  KernelBuilder kb(name);
  kb.no_fp_contract(); // memory-bound: FMA buys nothing, and ONNX Runtime rounds every op
  std::vector<int> bufs;
  for (const Value *v : ins)
    bufs.push_back(kb.param(cx.prog, cx.buffer(v), false));
  int ob = kb.param(cx.prog, cx.buffer(out), true);

  DType c = compute_dtype(ins[0]->dtype);
  auto body = [&](Expr row, Expr col) -> Stmt {
    std::vector<Expr> xs;
    for (size_t k = 0; k < ins.size(); ++k) {
      const std::vector<int64_t> &st = view.strides[k + 1];
      Expr idx = unravel_offset(row, outer_dims,
                                std::vector<int64_t>(st.begin(), st.end() - (st.empty() ? 0 : 1)));
      idx = add_scaled(idx, col, st.empty() ? 0 : st.back());
      xs.push_back(load(bufs[k], {ins[k]->dtype, 1}, idx));
    }
    Expr y;
    if (n.op == OpKind::FusedElementwise) {
      std::vector<Expr> ts;
      for (size_t k = 0; k < steps.size(); ++k) {
        auto arg = [&](int a) { return a >= 0 ? convert(c, xs[a]) : ts[-a - 1]; };
        const std::vector<int> &as = steps[k].args;
        ts.push_back(as.size() == 1 ? unary_expr(step_nodes[k], arg(as[0]), c)
                                    : binary_expr(step_nodes[k], arg(as[0]), arg(as[1]), c));
      }
      y = ts.back();
    } else if (n.op == OpKind::Where)
      y = select(xs[0], xs[1], xs[2]);
    else if (n.op == OpKind::Cast)
      y = cast_expr(xs[0], ins[0]->dtype, out->dtype);
    else if (ins.size() == 1)
      y = unary_expr(n, convert(c, xs[0]), c);
    else
      y = binary_expr(n, convert(c, xs[0]), convert(c, xs[1]), c);
    Expr oidx = rows == 1 ? col : row * imm(cols) + col;
    return store(ob, oidx, convert(out->dtype, y));
  };
  emit(cx, n, kb, emit_rows(kb, cx.task_elems(), rows, cols, cx.opt.vector_lanes_f32, true, body));
}

} // namespace kiln
