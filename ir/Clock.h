#pragma once
/// Wall-clock milliseconds on the steady clock: the one helper that pass timings, session stats
/// and the command line's timings all use.
#include <chrono>

namespace kiln {

/// Milliseconds from `a` to `b`.
inline double ms_between(std::chrono::steady_clock::time_point a,
                         std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// Milliseconds from `t0` to now.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return ms_between(t0, std::chrono::steady_clock::now());
}

} // namespace kiln
