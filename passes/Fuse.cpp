// Conv epilogue fusion. Matching walks the graph in topological order; every rewrite moves the
// last matched node's output value onto the Conv (so downstream names and graph outputs are
// unchanged) and leaves the matched nodes without inputs for remove_dead.
#include "passes/Fuse.h"

#include <map>

namespace kiln {

void absorb_nodes(Node *into, Node *last, const std::vector<Node *> &absorbed) {
  KILN_ASSERT(into->outputs.size() == 1 && last->outputs.size() == 1, "absorb: one output each");
  Value *kept = last->outputs[0], *old = into->outputs[0];
  into->outputs[0] = kept;
  kept->producer = into;
  last->outputs[0] = old;
  old->producer = last;
  for (Node *n : absorbed)
    n->inputs.clear();
}

namespace {

/// Use counts and consumers of values, kept in step with the rewrites.
struct Uses {
  std::vector<int> count;
  std::map<const Value *, std::vector<Node *>> users;

  explicit Uses(const Graph &g) : count(g.use_counts()) {
    for (const auto &n : g.nodes())
      for (Value *in : n->inputs)
        if (in)
          users[in].push_back(n.get());
  }
  int of(const Value *v) const { return v->id < int(count.size()) ? count[v->id] : 0; }
  /// The single node using `v` once, or null.
  Node *only_user(const Value *v) const {
    auto it = users.find(v);
    if (of(v) != 1 || it == users.end() || it->second.size() != 1)
      return nullptr;
    return it->second[0];
  }
};

bool has_activation(const Node &conv) {
  return conv.attrs.has("activation") && conv.attrs.s("activation") != "none";
}

/// The Conv `activation` that an op with the ConvActivation trait (ops.def) becomes; null for
/// every other op.
const char *activation_of(const Node &n) {
  if (!has_trait(n.op, OpTrait::ConvActivation))
    return nullptr;
  switch (family_op<OpFamily::Unary>(n.op)) {
  case UnaryOp::Relu: return "relu";
  case UnaryOp::Sigmoid: return "sigmoid";
  case UnaryOp::LeakyRelu: return "leaky_relu";
  case UnaryOp::HardSwish: return "hardswish";
  case UnaryOp::Tanh:
  case UnaryOp::Exp:
  case UnaryOp::Log:
  case UnaryOp::Sqrt:
  case UnaryOp::Erf:
  case UnaryOp::Neg:
  case UnaryOp::Abs:
  case UnaryOp::Floor:
  case UnaryOp::Ceil:
  case UnaryOp::Round:
  case UnaryOp::Reciprocal:
  case UnaryOp::Softplus:
  case UnaryOp::Not:
  case UnaryOp::HardSigmoid:
  case UnaryOp::Clip:
  case UnaryOp::Cast: break;
  }
  KILN_ASSERT(false, std::string(op_name(n.op)) + " has the ConvActivation trait but no Conv "
                                                  "activation name");
}

void set_activation(Node &conv, const char *act, double alpha) {
  conv.attrs.set("activation", std::string(act));
  conv.attrs.set("alpha", alpha);
}

/// Conv -> Sigmoid -> Mul(conv, sigmoid) => silu, or Conv -> unary activation.
bool fuse_activation(Node *conv, const Uses &uses) {
  if (has_activation(*conv) || conv->inputs.size() > 3)
    return false;
  Value *c = conv->outputs[0];
  auto it = uses.users.find(c);
  if (it == uses.users.end())
    return false;
  const std::vector<Node *> &users = it->second;
  if (uses.of(c) == 1 && users.size() == 1) {
    Node *u = users[0];
    const char *act = activation_of(*u);
    if (!act || u->outputs[0]->dtype != c->dtype)
      return false;
    set_activation(*conv, act, u->op == OpKind::LeakyRelu ? u->attrs.f("alpha") : 0.0);
    absorb_nodes(conv, u, {u});
    return true;
  }
  if (uses.of(c) != 2 || users.size() != 2)
    return false;
  Node *sig = users[0]->op == OpKind::Sigmoid ? users[0] : users[1];
  Node *mul = sig == users[0] ? users[1] : users[0];
  if (sig->op != OpKind::Sigmoid || mul->op != OpKind::Mul)
    return false;
  Value *s = sig->outputs[0];
  bool pair =
      (mul->inputs[0] == c && mul->inputs[1] == s) || (mul->inputs[0] == s && mul->inputs[1] == c);
  if (!pair || uses.of(s) != 1 || mul->outputs[0]->shape != c->shape)
    return false;
  set_activation(*conv, "silu", 0.0);
  absorb_nodes(conv, mul, {sig, mul});
  return true;
}

/// Add(conv, r) => Conv(x, w, b, r) when r is defined before the Conv (`position` of its
/// producer, -1 for inputs and constants).
bool fuse_residual(Node *add, const Uses &uses, const std::map<const Node *, int> &position) {
  if (add->inputs.size() != 2 || add->inputs[0] == add->inputs[1])
    return false;
  for (int side = 0; side < 2; ++side) {
    Value *c = add->inputs[side], *r = add->inputs[1 - side];
    Node *conv = c->producer;
    if (!conv || conv->op != OpKind::Conv || conv->inputs.size() > 3 || uses.of(c) != 1)
      continue;
    if (r->shape != c->shape || r->dtype != c->dtype || add->outputs[0]->shape != c->shape)
      continue;
    int r_at = r->producer ? position.at(r->producer) : -1;
    if (r_at >= position.at(conv))
      continue;
    conv->inputs.resize(4, nullptr);
    conv->inputs[3] = r;
    if (!conv->attrs.has("activation"))
      set_activation(*conv, "none", 0.0);
    absorb_nodes(conv, add, {add});
    return true;
  }
  return false;
}

} // namespace

bool fuse_conv_epilogue(Graph &g) {
  bool changed = false;
  std::vector<Node *> nodes;
  for (const auto &n : g.nodes())
    nodes.push_back(n.get());
  // Activations first: the residual is added after the activation, so an Add fused first
  // would block the activation below it.
  for (Node *n : nodes) {
    if (n->op != OpKind::Conv || n->outputs.size() != 1)
      continue;
    Uses uses(g);
    changed = fuse_activation(n, uses) || changed;
  }
  std::map<const Node *, int> position;
  for (size_t i = 0; i < nodes.size(); ++i)
    position[nodes[i]] = static_cast<int>(i);
  for (Node *n : nodes) {
    if (n->op != OpKind::Add || n->inputs.empty())
      continue;
    Uses uses(g);
    changed = fuse_residual(n, uses, position) || changed;
  }
  if (changed)
    g.remove_dead();
  return changed;
}

} // namespace kiln
