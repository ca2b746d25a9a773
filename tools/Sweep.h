#pragma once
/// `kiln sweep`: compiles and times every combination of pass pipelines, input shapes and
/// targets in one run, checks each against the reference interpreter, and prints a table
/// (optionally CSV, JSON and an SVG plot of latency against arena size).
///
///   kiln sweep yolov8n.onnx --passes "O0;O1;O2;O3;O3,-fuse" --input-shape
///   "1x3x320x320;1x3x640x640"
#include "ir/Tensor.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

struct SweepArgs {
  std::string model;
  std::string passes = "default"; ///< pipelines separated by ';'
  /// Input-shape sets separated by ';' (one configuration each); within a set, specs joined
  /// by '&'; a spec is NAME=1x3x640x640, or just the dims for a single-input model. May repeat.
  std::vector<std::string> input_shapes;
  std::string targets = "cpu"; ///< separated by ','
  int iterations = 10, warmup = 1, threads = 0;
  uint32_t seed = 0;
  bool check = true;
  bool json = false;
  std::string csv, plot; ///< files to write ("" for none)
};

/// What the sweep borrows from `kiln run`, so that both parse, fill and compare alike.
struct SweepHooks {
  /// "images=1x3x640x640" -> {"images", {1,3,640,640}}; throws kiln::Error when malformed.
  std::function<std::pair<std::string, Shape>(const std::string &)> parse_input_shape;
  /// The random input `kiln run` uses for an input without a file.
  std::function<Tensor(const std::string &name, DType, const Shape &, uint32_t seed)> random_input;
  /// Max |got - want| over all outputs (NaN against non-NaN counts as infinite).
  std::function<double(const std::vector<std::string> &names, const std::vector<Tensor> &got,
                       const std::vector<Tensor> &want)>
      max_abs_err;
};

/// Runs the sweep; returns the process exit status (1 when a configuration failed). Throws
/// kiln::Error for bad arguments (an unknown pass, target or input), before any work.
int cmd_sweep(const SweepArgs &a, const SweepHooks &hooks);

} // namespace kiln
