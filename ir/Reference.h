#pragma once
/// The reference interpreter: plain C++ for every op, written for clarity, not speed. It is the
/// oracle that every generated kernel is tested against.
#include "ir/Graph.h"

#include <functional>
#include <vector>

namespace kiln {

/// Evaluates one node. `inputs` has one entry per node input (an undefined Tensor for an
/// absent optional input); returns one tensor per node output, with the types infer_types
/// gives.
std::vector<Tensor> evaluate_node(const Node &node, const std::vector<Tensor> &inputs);

/// Runs the whole graph; `inputs` are in Graph::inputs() order and must match their types
/// (checked: kiln::Error names the input). Returns tensors in Graph::outputs() order.
/// Intermediate tensors are freed after their last use. `on_node`, when set, is called after
/// each node with its index and the node (for progress output).
std::vector<Tensor> run_reference(const Graph &g, const std::vector<Tensor> &inputs,
                                  const std::function<void(size_t, const Node &)> &on_node = {});

/// NCHW `x` [N, C, H, W] in the channel-blocked layout with block `b` (docs/DESIGN.md, "Blocked
/// layout"): [N, C/b, H, W, b]. Throws kiln::Error unless x has rank 4 and C % b == 0.
Tensor block_channels(const Tensor &x, int64_t b);
/// The inverse of block_channels: a blocked [N, C/b, H, W, b] back to NCHW [N, C, H, W].
Tensor unblock_channels(const Tensor &x);

} // namespace kiln
