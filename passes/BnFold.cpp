// BatchNormalization folding into the preceding Conv's weights and bias, computed in double
// and rounded once to the weights' dtype.
#include "passes/BnFold.h"

#include "passes/Fuse.h"

#include <cmath>

namespace kiln {

namespace {

bool all_constant(const Node &n) {
  for (size_t i = 1; i < n.inputs.size(); ++i)
    if (!n.inputs[i] || !n.inputs[i]->is_constant())
      return false;
  return true;
}

bool has_epilogue(const Node &conv) {
  if (conv.inputs.size() > 3)
    return true;
  return conv.attrs.has("activation") && conv.attrs.s("activation") != "none";
}

} // namespace

bool fold_batch_norm(Graph &g) {
  bool changed = false;
  std::vector<int> uses = g.use_counts();
  std::vector<Node *> nodes;
  for (const auto &n : g.nodes())
    nodes.push_back(n.get());
  for (Node *bn : nodes) {
    if (bn->op != OpKind::BatchNormalization || bn->outputs.size() != 1 || !all_constant(*bn))
      continue;
    Value *c = bn->inputs[0];
    Node *conv = c->producer;
    if (!conv || conv->op != OpKind::Conv || uses[c->id] != 1 || has_epilogue(*conv))
      continue;
    Value *w = conv->inputs[1];
    Value *b = conv->inputs.size() > 2 ? conv->inputs[2] : nullptr;
    if (!w->is_constant() || (b && !b->is_constant()))
      continue;
    const int64_t m = w->shape[0], per_oc = shape_numel(w->shape) / m;
    std::vector<double> scale = bn->inputs[1]->constant->to_f64_vector();
    std::vector<double> beta = bn->inputs[2]->constant->to_f64_vector();
    std::vector<double> mean = bn->inputs[3]->constant->to_f64_vector();
    std::vector<double> var = bn->inputs[4]->constant->to_f64_vector();
    if (static_cast<int64_t>(scale.size()) != m)
      continue;
    const double eps = bn->attrs.f("epsilon");
    std::vector<double> wv = w->constant->to_f64_vector();
    std::vector<double> bv = b ? b->constant->to_f64_vector() : std::vector<double>(m, 0.0);
    for (int64_t oc = 0; oc < m; ++oc) {
      double s = scale[oc] / std::sqrt(var[oc] + eps);
      for (int64_t i = 0; i < per_oc; ++i)
        wv[oc * per_oc + i] *= s;
      bv[oc] = (bv[oc] - mean[oc]) * s + beta[oc];
    }
    Value *nw = g.add_constant(g.unique_name(w->name + ".bn"),
                               Tensor::from_vector(wv, w->shape).cast(w->dtype));
    Value *nb = g.add_constant(g.unique_name((b ? b->name : conv->name) + ".bn_bias"),
                               Tensor::from_vector(bv, {m}).cast(w->dtype));
    conv->inputs.resize(3);
    conv->inputs[1] = nw;
    conv->inputs[2] = nb;
    absorb_nodes(conv, bn, {bn});
    changed = true;
  }
  if (changed)
    g.remove_dead();
  return changed;
}

} // namespace kiln
