#pragma once
/// Looking at a model's graph without compiling it: `kiln inspect` (per-layer statistics, the
/// torchsummary / TensorRT layer report), `kiln print` (the IR as text), `kiln dot` (Graphviz).
///
///   kiln inspect yolov8n.onnx --json
#include "ir/Graph.h"

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

struct LayerStats {
  const Node *node;
  int64_t parameters = 0; ///< weight and bias elements consumed (Conv*, Gemm, MatMul*)
  int64_t macs = 0;       ///< multiply-accumulates (Conv*, Gemm, MatMul*)
};

struct ModelStats {
  std::vector<LayerStats> layers; ///< one per node, in graph order
  int64_t parameters = 0;
  int64_t macs = 0;
  int64_t weight_bytes = 0; ///< bytes of all constants
};

/// Counts parameters and MACs. A Conv/Gemm/MatMul operand is a parameter when it is computed
/// from constants only (so dequantised QDQ weights count, activations never do).
ModelStats model_stats(const Graph &g);

/// The human-readable report: a per-layer table, an op histogram and totals.
void print_inspect_table(std::ostream &os, const Graph &g, const ModelStats &s,
                         const std::string &model_name);
/// The --json object: parameters, flops, macs, nodes, inputs, outputs, layers, ops.
nlohmann::json inspect_json(const Graph &g, const ModelStats &s, const std::string &model_name);

/// The options of inspect, print and dot (each command sets the ones it offers).
struct GraphArgs {
  std::string model;
  std::vector<std::string> input_shapes; ///< --input-shape NAME=DIMS
  bool json = false;                     ///< inspect --json
  std::string output;                    ///< print/dot -o ("" or "-": stdout)
  int64_t elide = 16;                    ///< print --elide
};

/// The three commands, registered on the command line.
struct GraphCommands {
  CLI::App *inspect, *print, *dot;
};
GraphCommands add_graph_commands(CLI::App &app, GraphArgs &a);

/// Runs whichever of the three was parsed; returns the exit status. Throws kiln::Error.
int cmd_graph(const GraphCommands &c, const GraphArgs &a);

} // namespace kiln
