#pragma once
/// Wall-clock helpers of the command line's timings (run, sweep, detect, validate).
///
///   auto t0 = std::chrono::steady_clock::now();
///   times.push_back(ms_between(t0, std::chrono::steady_clock::now()));
///   std::sort(times.begin(), times.end());
///   double median = percentile(times, 0.5);
#include "ir/Clock.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace kiln {

/// Seconds on the steady clock from an arbitrary start: only differences mean something.
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// The p-quantile (p in [0, 1]) of ascending `sorted` by nearest rank; `sorted` not empty.
inline double percentile(const std::vector<double> &sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5))];
}

} // namespace kiln
