#pragma once
/// `kiln run`: runs a model (.onnx or .kiln) on a target or the reference interpreter, times
/// the replays, checks against the reference (--check), profiles launches (--profile) and
/// writes the outputs as .npy files.
///
///   kiln run yolox_nano.onnx --target cpu --iterations 20 --check --json
#include "tools/SessionFlags.h"

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

struct RunArgs {
  std::string model;
  SessionFlags session;
  std::vector<std::string> inputs; ///< --input NAME=FILE.npy
  std::string output_dir;
  bool json = false;
  uint32_t seed = 0;
  int warmup = 1;
  int iterations = 10;
  bool check = false;
  bool profile = false;
  std::string trace; ///< --trace FILE.json: the profile as a Chrome trace
};

/// Registers `run` and its options on the command line.
CLI::App *add_run_command(CLI::App &app, RunArgs &a);
/// Runs the command; returns the exit status. Throws kiln::Error for a user error.
int cmd_run(const RunArgs &a);

} // namespace kiln
