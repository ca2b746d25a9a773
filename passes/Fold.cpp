// Constant folding with the reference interpreter: the oracle every kernel is tested against
// is also the one evaluator of compile-time values, so folding cannot disagree with a kernel.
#include "passes/Fold.h"

#include "ir/Reference.h"

#include <algorithm>

namespace kiln {

namespace {

// Folding trades compile time and weight memory for run time: a huge folded tensor (a
// broadcast Expand of a constant, say) would bloat the cache file for little gain.
constexpr int64_t kMaxFoldedElements = int64_t(16) << 20;

bool foldable(const Node &n, const std::vector<bool> &is_output) {
  if (n.inputs.empty())
    return false;
  for (const Value *in : n.inputs)
    if (in && !in->is_constant())
      return false;
  for (const Value *o : n.outputs)
    if (is_output[o->id] || shape_numel(o->shape) > kMaxFoldedElements)
      return false;
  return true;
}

} // namespace

bool fold_constants(Graph &g) {
  std::vector<bool> is_output(g.values().size(), false);
  for (const Value *o : g.outputs())
    is_output[o->id] = true;
  // Snapshot: folding adds constants (values), never nodes, but keep the walk independent of
  // the containers it mutates.
  std::vector<Node *> nodes;
  for (const auto &n : g.nodes())
    nodes.push_back(n.get());
  bool changed = false;
  for (Node *n : nodes) {
    if (!foldable(*n, is_output))
      continue;
    std::vector<Tensor> ins;
    for (const Value *in : n->inputs)
      ins.push_back(in ? *in->constant : Tensor());
    std::vector<Tensor> outs = evaluate_node(*n, ins);
    KILN_ASSERT(outs.size() == n->outputs.size(), "fold: one tensor per output");
    for (size_t i = 0; i < outs.size(); ++i) {
      Value *old = n->outputs[i];
      // The constant takes over the name, so the folded graph reads like the original.
      std::string name = old->name;
      g.set_name(old, g.unique_name(name + ".folded"));
      Value *c = g.add_constant(name, std::move(outs[i]));
      g.replace_uses(old, c);
    }
    changed = true;
  }
  return changed;
}

} // namespace kiln
