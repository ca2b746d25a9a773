// Elementwise-chain fusion. Walks the graph backwards: each fusable node not yet taken roots a
// group, which grows up through producers whose every use is inside it (and copies of cheap
// producers that other nodes read too). The root becomes the
// FusedElementwise node in place (it keeps its output value and its position, so every
// operand is still defined before it); the other members lose their inputs for remove_dead.
#include "passes/EwFuse.h"

#include "ir/FusedProgram.h"

#include <algorithm>
#include <map>

namespace kiln {

namespace {

/// Limits that keep one kernel's parameter list and expression small.
constexpr size_t kMaxInputs = 8;
constexpr size_t kMaxSteps = 24;

bool fusable(const Node &n) {
  return has_trait(n.op, OpTrait::EwFusable) && n.outputs.size() == 1 && !n.inputs.empty() &&
         std::all_of(n.inputs.begin(), n.inputs.end(), [](Value *v) { return v != nullptr; }) &&
         is_float_storage(n.outputs[0]->dtype);
}

/// Cheap ops (ops.def's Cheap trait: Add, Sub, Mul, Div, Neg, Abs, Relu, Min, Max, Clip) are
/// recomputed in every group that reads them rather than kept as a kernel of their own, when
/// their operands come from outside any chain (YOLOv8's decode: anchor - l and anchor + r each
/// feed two chains).
bool duplicable(const Node &n) {
  return has_trait(n.op, OpTrait::Cheap) &&
         std::all_of(n.inputs.begin(), n.inputs.end(),
                     [](const Value *v) { return !v->producer || !fusable(*v->producer); });
}

} // namespace

bool fuse_elementwise_chains(Graph &g) {
  std::vector<int> uses = g.use_counts();
  std::vector<bool> is_output(g.values().size(), false);
  for (const Value *v : g.outputs())
    is_output[v->id] = true;
  std::map<const Node *, size_t> position;
  std::vector<Node *> nodes;
  for (const auto &n : g.nodes()) {
    position[n.get()] = nodes.size();
    nodes.push_back(n.get());
  }

  std::vector<bool> taken(nodes.size(), false);
  bool changed = false;
  for (size_t ri = nodes.size(); ri-- > 0;) {
    Node *root = nodes[ri];
    if (taken[ri] || !fusable(*root))
      continue;
    const Value *out = root->outputs[0];
    // Grow the group: a producer joins once every use of its value is inside the group.
    std::vector<Node *> group = {root};
    std::vector<const Node *> copies; // duplicable members that stay for their other users
    // Uses of each value by group members, keyed by value id: the walk below picks the first
    // producer that may join, so its order must not depend on heap addresses.
    std::map<int, std::pair<Value *, int>> inside;
    auto use_inside = [&](Value *v) {
      auto &[value, count] = inside[v->id];
      value = v;
      ++count;
    };
    for (Value *v : root->inputs)
      use_inside(v);
    for (bool grew = true; grew && group.size() < kMaxSteps;) {
      grew = false;
      for (const auto &[id, entry] : inside) {
        auto [v, count] = entry;
        Node *p = v->producer;
        if (!p || taken[position.at(p)] || !fusable(*p) || is_output[v->id] ||
            v->shape != out->shape || v->dtype != out->dtype ||
            std::find(group.begin(), group.end(), p) != group.end())
          continue;
        if (count != uses[v->id]) {
          // Used outside too: only a cheap op over outside operands is copied in.
          if (!duplicable(*p))
            continue;
          copies.push_back(p);
        }
        group.push_back(p);
        for (Value *in : p->inputs)
          use_inside(in);
        grew = true;
        break; // `inside` changed
      }
    }
    if (group.size() < 2)
      continue;
    std::sort(group.begin(), group.end(),
              [&](const Node *a, const Node *b) { return position.at(a) < position.at(b); });
    // The program: members in graph order, operands named by step or by external input.
    std::map<const Value *, int> step_of;
    std::vector<Value *> inputs;
    std::vector<FusedStep> steps;
    for (Node *m : group) {
      FusedStep st;
      st.op = m->op;
      st.attrs = m->attrs;
      for (Value *v : m->inputs) {
        auto it = step_of.find(v);
        if (it != step_of.end()) {
          st.args.push_back(-it->second - 1);
          continue;
        }
        auto in = std::find(inputs.begin(), inputs.end(), v);
        st.args.push_back(static_cast<int>(in - inputs.begin()));
        if (in == inputs.end())
          inputs.push_back(v);
      }
      step_of[m->outputs[0]] = static_cast<int>(steps.size());
      steps.push_back(std::move(st));
    }
    if (inputs.size() > kMaxInputs)
      continue;
    for (Node *m : group) {
      if (std::find(copies.begin(), copies.end(), m) != copies.end())
        continue; // remove_dead drops it once no group or other node reads it
      taken[position.at(m)] = true;
      if (m != root)
        m->inputs.clear();
    }
    Attrs a;
    a.set("program", format_fused_program(steps));
    root->op = OpKind::FusedElementwise;
    root->inputs = inputs;
    root->attrs = std::move(a);
    changed = true;
  }
  if (changed)
    g.remove_dead();
  return changed;
}

} // namespace kiln
