#pragma once
/// ONNX import: ModelProto -> graph IR with static shapes, one small importer per ONNX op.
#include "ir/Graph.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct ImportOptions {
  /// Overrides of graph input shapes by input name (e.g. images -> {1,3,320,320}). A symbolic
  /// or dynamic dimension without an override is an error naming the input.
  std::map<std::string, Shape> input_shapes;
};

/// Imports an ONNX file. External-data tensors are read relative to the model's folder and
/// may not escape it. Throws kiln::Error with a one-line message naming the file, node, op
/// type, domain and opset as relevant.
std::unique_ptr<Graph> import_onnx(const std::string &path, const ImportOptions &opt = {});

/// Imports a serialized ModelProto. `model_dir` resolves external data ("" forbids it);
/// `what` names the model in messages.
std::unique_ptr<Graph> import_onnx_bytes(const std::string &bytes, const std::string &model_dir,
                                         const std::string &what, const ImportOptions &opt = {});

/// The ONNX file at `path`, serialized again with `names` appended to its graph outputs (names
/// that are not node outputs, or already outputs, are skipped; no type information is added):
/// what `kiln compare` compiles to see intermediate values. Throws like import_onnx.
std::string onnx_with_outputs(const std::string &path, const std::vector<std::string> &names);

/// The ONNX op types (default domain) the importer handles, sorted.
std::vector<std::string> supported_onnx_ops();

} // namespace kiln
