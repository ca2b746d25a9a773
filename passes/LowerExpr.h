#pragma once
/// Internal to lowering: the one set of expression helpers every per-op lowering
/// (passes/Lower*.cpp) builds its kernels with: comparisons, min/max/div/mod, typed constants,
/// converting loads and stores, integer ceil_div/round_up, and the "no kernel" error.
///
///   Expr x = load_as(xb, DType::f16, DType::f32, idx, lt(j, imm(w)));  // predicated, widened
///   Expr y = emin(emax(x, zero_of(DType::f32)), imm_of(DType::f32, 6)); // relu6
///   store(yb, idx, store_cast(DType::f16, y));
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/Kernel.h"

#include <string>

namespace kiln::lw {

// ---- integer arithmetic on sizes (non-negative a, positive b) ----

inline constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
/// `a` rounded up to a multiple of `b`.
inline constexpr int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// ---- expression helpers (null predicates mean "always true") ----

inline Expr lt(Expr a, Expr b) { return binary(BinOp::Lt, std::move(a), std::move(b)); }
inline Expr le(Expr a, Expr b) { return binary(BinOp::Le, std::move(a), std::move(b)); }
inline Expr ge(Expr a, Expr b) { return binary(BinOp::Le, std::move(b), std::move(a)); }
inline Expr emin(Expr a, Expr b) { return binary(BinOp::Min, std::move(a), std::move(b)); }
inline Expr emax(Expr a, Expr b) { return binary(BinOp::Max, std::move(a), std::move(b)); }
/// a / b (integer division of indices, or float division).
inline Expr ediv(Expr a, Expr b) { return binary(BinOp::Div, std::move(a), std::move(b)); }
/// a / b for a constant b: `a` itself when b is 1.
inline Expr ediv(Expr a, int64_t b) {
  return b == 1 ? a : binary(BinOp::Div, std::move(a), imm(b));
}
inline Expr emod(Expr a, Expr b) { return binary(BinOp::Mod, std::move(a), std::move(b)); }
inline Expr emod(Expr a, int64_t b) { return binary(BinOp::Mod, std::move(a), imm(b)); }
/// a && b where either may be null (true).
inline Expr land(Expr a, Expr b) {
  if (!a)
    return b;
  if (!b)
    return a;
  return binary(BinOp::And, std::move(a), std::move(b));
}
/// a + b * s for a constant s, leaving out what is zero and the multiply by one.
Expr add_scaled(Expr a, Expr b, int64_t s);

// ---- types and constants ----

/// The type arithmetic runs in: f32 for f32 and the half formats (rounded to storage once, as
/// the reference does), f64 for f64, the type itself for integers and bool.
DType compute_dtype(DType t);
/// The dtype products and sums are accumulated in: f32 for the float types (f16 inputs are
/// widened on load), i32 for 8/16/32-bit integers, i64 for i64.
inline DType acc_dtype(DType t) {
  if (is_float(t))
    return t == DType::f64 ? DType::f64 : DType::f32;
  return t == DType::i64 ? DType::i64 : DType::i32;
}
/// An integer immediate of any integer dtype (imm() is i64 only).
Expr typed_imm(int64_t v, DType t);
/// A scalar constant of type t (floats; integers and bool truncate `v`).
Expr imm_of(DType t, double v);
/// Zero of an accumulator dtype.
inline Expr zero_of(DType t) { return is_float(t) ? fimm(0, t) : typed_imm(0, t); }

// ---- conversions, loads and stores ----

/// `e` converted to t (no-op when it already has t).
inline Expr convert(DType t, Expr e) { return e->type.dtype == t ? e : cast({t, 1}, std::move(e)); }
/// load(buf) of stored dtype `stored`, converted to `to` when they differ.
inline Expr load_as(int buf, DType stored, DType to, Expr index, Expr pred = nullptr) {
  return convert(to, load(buf, {stored, 1}, std::move(index), std::move(pred)));
}
/// `value` converted to the stored dtype `t`.
inline Expr store_cast(DType t, Expr value) { return convert(t, std::move(value)); }

// ---- errors ----

/// The kiln::Error for what cannot be lowered: "node 'x' (Op): no CPU kernel for <what>".
[[noreturn]] void no_kernel(const Node &n, const std::string &what);

} // namespace kiln::lw
