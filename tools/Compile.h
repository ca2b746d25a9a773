#pragma once
/// `kiln compile`: compiles a model ahead of time into a self-contained .kiln file.
///
///   kiln compile yolox_nano.onnx -o yolox_nano.kiln --input-shape images=1x3x320x320
#include "tools/SessionFlags.h"

#include <string>

namespace CLI {
class App;
}

namespace kiln {

struct CompileArgs {
  std::string model;
  std::string output; ///< -o: the .kiln file to write
  SessionFlags session;
  bool json = false;
};

/// Registers `compile` and its options on the command line.
CLI::App *add_compile_command(CLI::App &app, CompileArgs &a);
/// Compiles and saves; returns the exit status. Throws kiln::Error for a user error.
int cmd_compile(const CompileArgs &a);

} // namespace kiln
