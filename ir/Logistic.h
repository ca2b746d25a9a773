#pragma once
/// Sigmoid for f32 as ONNX Runtime's CPU kernel computes it (MLAS's FMA3 logistic kernel, which
/// uses Eigen's rational approximation), so that a value quantized after a SiLU rounds to the
/// same integer as in ONNX Runtime. x is clamped to [-18, 18], then
///   sigmoid(x) = max(0, x * p(x^2) / q(x^2) + 0.5)
/// with p and q evaluated by Horner's rule in fused multiply-adds (one rounding each). Accuracy:
/// within 1e-7 absolute of 1 / (1 + e^-x); for x < -18 the result stays at sigmoid(-18)
/// (1.5e-8). NaN propagates. The LLVM backend emits the same operations
/// (codegen/llvm/MathEmitter.cpp); tests/core_test.cpp pins values to ONNX Runtime's.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <type_traits>

namespace kiln::logistic {

constexpr float kLower = -18.0f, kUpper = 18.0f;
/// p(x2) and q(x2) coefficients, highest degree first.
constexpr float kAlpha[] = {4.37031012579801e-11f, 1.15627324459942e-07f, 6.08574864600143e-05f,
                            8.51377133304701e-03f, 2.48287947061529e-01f};
constexpr float kBeta[] = {6.10247389755681e-13f, 5.76102136993427e-09f, 6.29106785017040e-06f,
                           1.70198817374094e-03f, 1.16817656904453e-01f, 9.93151921023180e-01f};

inline float sigmoid_f32(float x) {
  if (std::isnan(x))
    return x;
  x = std::min(kUpper, std::max(kLower, x));
  float x2 = x * x;
  float p = kAlpha[0], q = kBeta[0];
  for (size_t i = 1; i < std::size(kAlpha); ++i)
    p = std::fma(x2, p, kAlpha[i]);
  for (size_t i = 1; i < std::size(kBeta); ++i)
    q = std::fma(x2, q, kBeta[i]);
  return std::max(0.0f, x * p / q + 0.5f);
}

/// The reference interpreter's sigmoid: sigmoid_f32 for float, 1 / (1 + e^-x) for double.
template <class C> C sigmoid(C x) {
  if constexpr (std::is_same_v<C, float>)
    return sigmoid_f32(x);
  else
    return C(1) / (C(1) + std::exp(-x));
}

} // namespace kiln::logistic
