#pragma once
/// Vectorisable f32 math in LLVM IR: exp, log, tanh, erf, sigmoid and pow as inline
/// polynomial approximations, so a 16-lane kernel stays 16 lanes wide (a libm call would be
/// scalarised lane by lane). Every function takes and returns `float` or `<N x float>`.
///
/// Accuracy (checked by tests/llvm_backend_test.cpp over wide input ranges):
///   exp, log: <= 2 ulp (1 measured, subnormal results included); tanh: ~6e-8 absolute; sigmoid:
///   ONNX Runtime's own rational approximation, bit for bit (ir/Logistic.h); erf: ~4e-7 absolute
///   (bound 1e-6); pow(x, y) = exp(y * log|x|): relative error grows with |y * log x| (1.6e-6
///   measured for x in [0.01, 100], y in [-4, 4]; worse for results near the f32 range ends, ~1e-7
///   * |y log x| relative). Constant exponents 0.5, 1, 2, 3 are exact. Special cases: y == 0, x ==
///   0, x == 1, negative x with integer y (sign from y's parity) and NaN for negative x with
///   non-integer y.
#include <llvm/IR/IRBuilder.h>

namespace kiln::cpu {

llvm::Value *emit_exp_f32(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_log_f32(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_tanh_f32(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_erf_f32(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_sigmoid_f32(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_pow_f32(llvm::IRBuilder<> &b, llvm::Value *x, llvm::Value *y);

} // namespace kiln::cpu
