#pragma once
/// What the C++ benchmarks share (bench/conv_bench.cpp, bench/layout_bench.cpp): inputs and
/// best-of timing.
#include "ir/Tensor.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>

namespace kiln::bench {

/// Uniform values in [-1, 1) from `seed`.
inline Tensor random_f32(const Shape &s, uint32_t seed) {
  Tensor t(DType::f32, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = u(rng);
  return t;
}

/// Seconds on the steady clock.
inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// The best of at least 5 runs and at least `min_seconds` (after one untimed run), in seconds.
inline double best_time(const std::function<void()> &run, double min_seconds) {
  run();
  double best = 1e30, start = now();
  for (int n = 0; n < 5 || now() - start < min_seconds; ++n) {
    double t0 = now();
    run();
    best = std::min(best, now() - t0);
  }
  return best;
}

} // namespace kiln::bench
