#include "codegen/llvm/MathEmitter.h"

#include "ir/Logistic.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <cmath>
#include <initializer_list>
#include <limits>

namespace kiln::cpu {
namespace {

using llvm::Value;

Value *fconst(Value *like, double v) { return llvm::ConstantFP::get(like->getType(), v); }

/// i32 with the lanes of the f32 value `like`.
llvm::Type *int_type_like(Value *like) {
  llvm::Type *i32 = llvm::Type::getInt32Ty(like->getContext());
  if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(like->getType()))
    return llvm::FixedVectorType::get(i32, vt->getNumElements());
  return i32;
}

Value *iconst(llvm::Type *t, int64_t v) { return llvm::ConstantInt::get(t, v, /*IsSigned=*/true); }

/// a * b + c, fused where the target has FMA (all AVX2 parts do).
Value *mul_add(llvm::IRBuilder<> &b, Value *a, Value *m, Value *c) {
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {a->getType()}, {a, m, c});
}

/// Horner evaluation; coefficients from the highest degree down.
Value *poly(llvm::IRBuilder<> &b, Value *x, std::initializer_list<double> coeffs) {
  auto it = coeffs.begin();
  Value *p = fconst(x, *it++);
  for (; it != coeffs.end(); ++it)
    p = mul_add(b, p, x, fconst(x, *it));
  return p;
}

/// Clamps with compare+select (one vminps/vmaxps each); NaN comes out as a bound, so callers
/// that must propagate NaN restore it at the end.
Value *clamp(llvm::IRBuilder<> &b, Value *x, double lo, double hi) {
  Value *t = b.CreateSelect(b.CreateFCmpOLT(x, fconst(x, hi)), x, fconst(x, hi));
  return b.CreateSelect(b.CreateFCmpOGT(t, fconst(x, lo)), t, fconst(x, lo));
}

Value *keep_nan(llvm::IRBuilder<> &b, Value *x, Value *r) {
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, r);
}

/// 2^n for an i32 n in [-126, 127], built directly in the exponent field.
Value *pow2i(llvm::IRBuilder<> &b, Value *n, Value *like) {
  Value *bits = b.CreateShl(b.CreateAdd(n, iconst(n->getType(), 127)), 23);
  return b.CreateBitCast(bits, like->getType());
}

} // namespace

llvm::Value *emit_exp_f32(llvm::IRBuilder<> &b, llvm::Value *x) {
  // Below -104 every result rounds to 0; above ln(FLT_MAX) it is inf. Clamping keeps n in
  // [-150, 128], which two exponent-field scalings cover, so subnormal results stay accurate.
  constexpr double hi = 88.72283935546875, lo = -104.0;
  Value *xc = clamp(b, x, lo, hi);
  // n = round(x / ln2) by the 1.5*2^23 trick (no rounding intrinsic needed), then Cody-Waite:
  // r = x - n*ln2 in two parts so r is exact to ~2^-33.
  Value *shifter = fconst(x, 12582912.0);
  Value *n = b.CreateFSub(mul_add(b, xc, fconst(x, 1.44269504088896341), shifter), shifter);
  Value *r = mul_add(b, n, fconst(x, -0.693359375), xc);
  r = mul_add(b, n, fconst(x, 2.12194440e-4), r);
  // e^r on [-ln2/2, ln2/2] (Cephes expf coefficients, ~1 ulp).
  Value *p = poly(b, r,
                  {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                   1.6666665459e-1, 5.0000001201e-1});
  Value *y = b.CreateFAdd(mul_add(b, p, b.CreateFMul(r, r), r), fconst(x, 1.0));
  // Scale by 2^n as 2^(n/2) * 2^(n - n/2): each factor is a normal float for n in [-150, 128].
  Value *ni = b.CreateFPToSI(n, int_type_like(x));
  Value *n1 = b.CreateAShr(ni, 1);
  Value *n2 = b.CreateSub(ni, n1);
  y = b.CreateFMul(b.CreateFMul(y, pow2i(b, n1, x)), pow2i(b, n2, x));
  y = b.CreateSelect(b.CreateFCmpOGT(x, fconst(x, hi)),
                     fconst(x, std::numeric_limits<double>::infinity()), y);
  return keep_nan(b, x, y);
}

llvm::Value *emit_log_f32(llvm::IRBuilder<> &b, llvm::Value *x) {
  llvm::Type *it = int_type_like(x);
  // Subnormal inputs: scale into the normal range first so the exponent field is meaningful.
  Value *sub = b.CreateFCmpOLT(x, fconst(x, 0x1p-126));
  Value *xs = b.CreateSelect(sub, b.CreateFMul(x, fconst(x, 0x1p23)), x);
  Value *bits = b.CreateBitCast(xs, it);
  Value *e = b.CreateSub(b.CreateLShr(bits, 23), iconst(it, 126));
  e = b.CreateSub(e, b.CreateSelect(sub, iconst(it, 23), iconst(it, 0)));
  // Mantissa in [0.5, 1); below sqrt(1/2) double it so m - 1 lies in [-0.29, 0.41].
  Value *m = b.CreateBitCast(
      b.CreateOr(b.CreateAnd(bits, iconst(it, 0x007fffff)), iconst(it, 0x3f000000)), x->getType());
  Value *small = b.CreateFCmpOLT(m, fconst(x, 0.707106781186547524));
  e = b.CreateSub(e, b.CreateZExt(small, it));
  m = b.CreateFSub(b.CreateSelect(small, b.CreateFAdd(m, m), m), fconst(x, 1.0));
  Value *fe = b.CreateSIToFP(e, x->getType());
  // log(1+m) = m - m^2/2 + m^3 P(m) (Cephes logf coefficients), plus e*ln2 in two parts.
  Value *z = b.CreateFMul(m, m);
  Value *p =
      poly(b, m,
           {7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
            -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1});
  Value *y = b.CreateFMul(b.CreateFMul(p, m), z);
  y = mul_add(b, fe, fconst(x, -2.12194440e-4), y);
  y = mul_add(b, z, fconst(x, -0.5), y);
  Value *r = b.CreateFAdd(m, y);
  r = mul_add(b, fe, fconst(x, 0.693359375), r);
  constexpr double inf = std::numeric_limits<double>::infinity();
  r = b.CreateSelect(b.CreateFCmpOEQ(x, fconst(x, inf)), fconst(x, inf), r);
  r = b.CreateSelect(b.CreateFCmpOEQ(x, fconst(x, 0.0)), fconst(x, -inf), r);
  // Negative or NaN input: NaN.
  return b.CreateSelect(b.CreateFCmpULT(x, fconst(x, 0.0)),
                        fconst(x, std::numeric_limits<double>::quiet_NaN()), r);
}

llvm::Value *emit_tanh_f32(llvm::IRBuilder<> &b, llvm::Value *x) {
  // |x| >= 0.625: tanh|x| = (1 - e) / (1 + e) with e = exp(-2|x|) in (0, 1]: no overflow and
  // no cancellation. Below, an odd polynomial keeps the relative error small near 0.
  Value *ax = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  Value *e = emit_exp_f32(b, b.CreateFMul(ax, fconst(x, -2.0)));
  Value *big = b.CreateFDiv(b.CreateFSub(fconst(x, 1.0), e), b.CreateFAdd(fconst(x, 1.0), e));
  big = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, big, x);
  Value *z = b.CreateFMul(x, x);
  Value *p = poly(b, z,
                  {-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
                   -3.33332819422e-1});
  Value *small = mul_add(b, b.CreateFMul(p, z), x, x);
  return b.CreateSelect(b.CreateFCmpOLT(ax, fconst(x, 0.625)), small, big);
}

llvm::Value *emit_erf_f32(llvm::IRBuilder<> &b, llvm::Value *x) {
  // erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (the rational approximation of Eigen/XLA); outside,
  // erf rounds to +-1 in f32.
  Value *xc = clamp(b, x, -4.0, 4.0);
  Value *x2 = b.CreateFMul(xc, xc);
  Value *p = poly(b, x2,
                  {-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                   -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                   -1.60960333262415e-02});
  Value *q = poly(b, x2,
                  {-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
                   -7.37332916720468e-03, -1.42647390514189e-02});
  return keep_nan(b, x, b.CreateFDiv(b.CreateFMul(xc, p), q));
}

llvm::Value *emit_sigmoid_f32(llvm::IRBuilder<> &b, llvm::Value *x) {
  // ONNX Runtime's rational form, operation for operation (ir/Logistic.h): true FMAs (not
  // fmuladd, which may split), so that the result is bit-identical to ONNX Runtime's.
  auto fma = [&](Value *a, Value *m, Value *c) {
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()}, {a, m, c});
  };
  Value *xc = clamp(b, x, logistic::kLower, logistic::kUpper);
  Value *x2 = b.CreateFMul(xc, xc);
  Value *p = fconst(x, logistic::kAlpha[0]), *q = fconst(x, logistic::kBeta[0]);
  for (size_t i = 1; i < std::size(logistic::kAlpha); ++i)
    p = fma(x2, p, fconst(x, logistic::kAlpha[i]));
  for (size_t i = 1; i < std::size(logistic::kBeta); ++i)
    q = fma(x2, q, fconst(x, logistic::kBeta[i]));
  Value *r = b.CreateFAdd(b.CreateFDiv(b.CreateFMul(xc, p), q), fconst(x, 0.5));
  r = b.CreateSelect(b.CreateFCmpOLT(r, fconst(x, 0.0)), fconst(x, 0.0), r);
  return keep_nan(b, x, r);
}

llvm::Value *emit_pow_f32(llvm::IRBuilder<> &b, llvm::Value *x, llvm::Value *y) {
  Value *ax = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  Value *r = emit_exp_f32(b, b.CreateFMul(y, emit_log_f32(b, ax)));
  // Negative bases: defined for integer y only, negative for odd y. |y| >= 2^24 is even.
  Value *y_int = b.CreateFCmpOEQ(b.CreateUnaryIntrinsic(llvm::Intrinsic::floor, y), y);
  Value *half_y = b.CreateFMul(y, fconst(y, 0.5));
  Value *y_odd = b.CreateAnd(
      y_int, b.CreateFCmpUNE(b.CreateUnaryIntrinsic(llvm::Intrinsic::floor, half_y), half_y));
  Value *neg = b.CreateFCmpOLT(x, fconst(x, 0.0));
  r = b.CreateSelect(b.CreateAnd(neg, y_odd), b.CreateFNeg(r), r);
  r = b.CreateSelect(b.CreateAnd(neg, b.CreateNot(y_int)),
                     fconst(x, std::numeric_limits<double>::quiet_NaN()), r);
  // pow(x, 0) == pow(1, y) == 1, NaN included (C and ONNX Runtime agree).
  Value *one = b.CreateOr(b.CreateFCmpOEQ(y, fconst(y, 0.0)), b.CreateFCmpOEQ(x, fconst(x, 1.0)));
  return b.CreateSelect(one, fconst(x, 1.0), r);
}

} // namespace kiln::cpu
