#pragma once
/// `kiln sweep`: compiles and times every combination of pass pipelines, tuned or untuned conv
/// tiles, precisions, input shapes and targets in one run, checks each against the (f32)
/// reference interpreter, and
/// prints a table (optionally CSV, JSON and an SVG plot of latency against arena size).
///
///   kiln sweep yolov8n.onnx --passes "O0;O1;O2;O3;O3,-fuse" --input-shape
///   "1x3x320x320;1x3x640x640"
///   kiln sweep yolov8n.onnx --tuning "untuned;tuned"          # after kiln tune yolov8n.onnx
///   kiln sweep yolov8n.onnx --precision f32,f16,bf16
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

struct SweepArgs {
  std::string model;
  std::string passes = "default"; ///< pipelines separated by ';'
  /// Input-shape sets separated by ';' (one configuration each); within a set, specs joined
  /// by '&'; a spec is NAME=1x3x640x640, or just the dims for a single-input model. May repeat.
  std::vector<std::string> input_shapes;
  std::string targets = "cpu"; ///< separated by ','
  /// Conv tiling variants separated by ';': "tuned" (the tuning database, `kiln tune`) and
  /// "untuned" (the cost model). Empty: tuned, with no tuning column in the table.
  std::string tuning;
  /// What the conv network computes in, separated by ',' (f32, f16, bf16). Empty: f32, with
  /// no precision column in the table.
  std::string precisions;
  std::string tuning_db; ///< --tuning-db ("": tuning.json in the cache folder)
  int iterations = 10, warmup = 1, threads = 0;
  uint32_t seed = 0;
  bool no_check = false; ///< skip the reference interpreter
  bool json = false;
  std::string csv, plot; ///< files to write ("" for none)
};

/// Registers `sweep` and its options on the command line.
CLI::App *add_sweep_command(CLI::App &app, SweepArgs &a);

/// Runs the sweep; returns the process exit status (1 when a configuration failed). Throws
/// kiln::Error for bad arguments (an unknown pass, target or input), before any work. Inputs,
/// session options and output checks are `kiln run`'s (Inputs.h, SessionFlags.h).
int cmd_sweep(const SweepArgs &a);

} // namespace kiln
