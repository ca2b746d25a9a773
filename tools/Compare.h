#pragma once
/// `kiln compare`: where a compiled model departs from the reference interpreter (or from
/// ONNX Runtime), value by value in graph order: shape, max abs / rel error, cosine similarity,
/// and the first value past a threshold.
///
/// Intermediate values are compared under their ONNX names. To see them, the model is compiled
/// from a copy in which every value computed from the inputs is also a graph output, so each is
/// materialised: passes run as asked, but a fusion that would hide a value (an elementwise
/// chain, a conv epilogue) keeps it instead. Values the importer folded away are not listed.
#include "tools/SessionFlags.h"

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

struct CompareArgs {
  std::string model;
  SessionFlags session;            ///< --target, --threads, --passes, ...
  std::vector<std::string> inputs; ///< --input NAME=FILE.npy
  std::string image;               ///< --image IMG: letterboxed as `kiln detect` does
  double threshold = 1e-3;         ///< max abs error that marks a value
  bool onnxruntime = false;        ///< compare with ONNX Runtime instead of the interpreter
  std::string ort_python;          ///< Python with onnxruntime ("" = find one)
  bool json = false;
};

CLI::App *add_compare_command(CLI::App &app, CompareArgs &a);

int cmd_compare(const CompareArgs &a);

} // namespace kiln
