#pragma once
/// Per-layer statistics of a model, for `kiln inspect`: the torchsummary / TensorRT layer report.
#include "ir/Graph.h"

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

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

} // namespace kiln
