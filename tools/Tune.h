#pragma once
/// `kiln tune`: times candidate conv tiles for every distinct conv layer shape of a model on
/// this machine and stores the winners in the tuning database that compiles read (by layer
/// shape, dtype, target and CPU: a shape tuned for one model serves every model).
///
///   kiln tune yolov8n.onnx --budget 120 --threads 2      # then: kiln run yolov8n.onnx ...
#include "tools/SessionFlags.h"

#include <string>

namespace CLI {
class App;
}

namespace kiln {

struct TuneArgs {
  std::string model;
  double budget_s = 60; ///< --budget: seconds for the whole model, shared by its layers
  std::string db;       ///< --db ("": tuning.json in the cache folder)
  bool retune = false;  ///< --retune: time shapes the database already has again
  /// -O/--passes/--disable, --input-shape, --threads, --cache-dir: as for compile and run, so
  /// the convs tuned are the ones those compile.
  SessionFlags session;
};

/// Registers `tune` and its options on the command line.
CLI::App *add_tune_command(CLI::App &app, TuneArgs &a);

/// Tunes and writes the database; prints a table (layer, default ms, tuned ms, speed-up).
/// Returns the exit status; throws kiln::Error for a user error (bad flags, a corrupt
/// database, a pipeline whose conv tiles are fixed).
int cmd_tune(const TuneArgs &a);

} // namespace kiln
