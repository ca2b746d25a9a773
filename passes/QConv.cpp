// DequantizeLinear -> Conv -> QuantizeLinear as one QLinearConv; redundant Quantize(Dequantize)
// pairs dropped.
#include "passes/QConv.h"

#include <cmath>

namespace kiln {

namespace {

/// The node's input i when it is a constant (absent or computed: null).
const Tensor *constant_input(const Node *n, size_t i) {
  if (!n || n->inputs.size() <= i || !n->inputs[i] || !n->inputs[i]->is_constant())
    return nullptr;
  return &*n->inputs[i]->constant;
}

bool is_scalar(const Tensor *t) { return t && t->numel() == 1 && t->rank() <= 1; }

/// A DequantizeLinear or QuantizeLinear with constant scalar scale and zero point.
bool scalar_quant(const Node *n, OpKind op) {
  return n && n->op == op && n->inputs.size() == 3 && is_scalar(constant_input(n, 1)) &&
         is_scalar(constant_input(n, 2));
}

bool all_equal(const Tensor *t, double v) {
  for (double e : t->to_f64_vector())
    if (e != v)
      return false;
  return true;
}

/// The users of each value, by Value::id, in graph order.
using Users = std::vector<std::vector<Node *>>;

/// Dequantize(q) -> x * Sigmoid(x) -> Quantize after the Quantize `q` (same Dequantize
/// parameters as q's): the final Quantize, or null.
Node *match_silu(const Node *q, const Users &users) {
  const auto &u = users[q->outputs[0]->id];
  Node *d = u.size() == 1 ? u[0] : nullptr;
  if (!scalar_quant(d, OpKind::DequantizeLinear) ||
      d->inputs[1]->constant->get_f64(0) != q->inputs[1]->constant->get_f64(0) ||
      d->inputs[2]->constant->get_f64(0) != q->inputs[2]->constant->get_f64(0))
    return nullptr;
  Value *v = d->outputs[0];
  const auto &du = users[v->id];
  if (du.size() != 2 || !du[0] || !du[1])
    return nullptr;
  Node *sig = du[0]->op == OpKind::Sigmoid ? du[0] : du[1];
  Node *mul = sig == du[0] ? du[1] : du[0];
  if (sig->op != OpKind::Sigmoid || mul->op != OpKind::Mul ||
      users[sig->outputs[0]->id].size() != 1)
    return nullptr;
  Value *s = sig->outputs[0];
  if (!((mul->inputs[0] == v && mul->inputs[1] == s) ||
        (mul->inputs[0] == s && mul->inputs[1] == v)))
    return nullptr;
  const auto &mu = users[mul->outputs[0]->id];
  Node *q2 = mu.size() == 1 ? mu[0] : nullptr;
  if (!scalar_quant(q2, OpKind::QuantizeLinear) || q2->inputs[1]->dtype != DType::f32 ||
      q2->outputs[0]->dtype != q->outputs[0]->dtype)
    return nullptr;
  return q2;
}

/// The rewrite of one Conv, or null when it does not match.
Node *match_conv(Graph &g, Node *conv, const std::vector<int> &uses,
                 const std::vector<Node *> &consumer, const Users &users) {
  if (conv->op != OpKind::Conv || conv->inputs.size() > 3 || conv->attrs.i("group") != 1)
    return nullptr;
  if (conv->attrs.has("x_block") || conv->attrs.has("y_block") ||
      (conv->attrs.has("activation") && conv->attrs.s("activation") != "none"))
    return nullptr;
  Value *c = conv->outputs[0];
  Node *q = uses[c->id] == 1 ? consumer[c->id] : nullptr;
  Node *dx = conv->inputs[0]->producer, *dw = conv->inputs[1]->producer;
  if (!scalar_quant(q, OpKind::QuantizeLinear) || q->inputs[0] != c ||
      !scalar_quant(dx, OpKind::DequantizeLinear) || !dw || dw->op != OpKind::DequantizeLinear)
    return nullptr;
  Value *xq = dx->inputs[0];
  if ((xq->dtype != DType::u8 && xq->dtype != DType::i8) || xq->shape.size() != 4 ||
      dx->inputs[1]->dtype != DType::f32 || q->inputs[1]->dtype != DType::f32)
    return nullptr;
  // Weights: constant 8-bit, a scale per tensor or per output channel (axis 0), and a zero point
  // that keeps w - zero point within a byte for the kernel.
  const Tensor *wq = constant_input(dw, 0), *sw = constant_input(dw, 1),
               *zw = constant_input(dw, 2);
  const int64_t m = conv->inputs[1]->shape[0];
  if (!wq || !sw || !zw || sw->dtype() != DType::f32 || sw->numel() != zw->numel() ||
      (sw->numel() != 1 && (sw->numel() != m || dw->attrs.i("axis") != 0)))
    return nullptr;
  if (!(wq->dtype() == DType::i8 && all_equal(zw, 0)) &&
      !(wq->dtype() == DType::u8 && all_equal(zw, 128)))
    return nullptr;
  // Bias: int32 with scale x_scale * w_scale (what the kernel adds to the accumulator as is).
  Value *bq = nullptr;
  if (conv->inputs.size() > 2 && conv->inputs[2]) {
    Node *db = conv->inputs[2]->producer;
    const Tensor *b = constant_input(db, 0), *sb = constant_input(db, 1),
                 *zb = constant_input(db, 2);
    if (!db || db->op != OpKind::DequantizeLinear || !b || b->dtype() != DType::i32 || !sb || !zb ||
        !all_equal(zb, 0) || (sb->numel() != 1 && sb->numel() != m))
      return nullptr;
    const double sx = dx->inputs[1]->constant->get_f64(0);
    for (int64_t oc = 0; oc < m; ++oc) {
      const double want = static_cast<double>(
          static_cast<float>(sx) * static_cast<float>(sw->get_f64(sw->numel() == 1 ? 0 : oc)));
      const double got = sb->get_f64(sb->numel() == 1 ? 0 : oc);
      if (std::abs(got - want) > 1e-6 * std::abs(want))
        return nullptr;
    }
    bq = db->inputs[0];
  }
  std::vector<Value *> in = {
      xq,           dx->inputs[1], dx->inputs[2], dw->inputs[0], dw->inputs[1], dw->inputs[2],
      q->inputs[1], q->inputs[2]};
  if (bq)
    in.push_back(bq);
  Attrs a;
  for (const char *k : {"strides", "dilations", "pads"})
    a.set(k, conv->attrs.ints(k));
  a.set("group", conv->attrs.i("group"));
  if (Node *q2 = match_silu(q, users)) {
    in.resize(9, nullptr);
    in.push_back(q2->inputs[1]);
    in.push_back(q2->inputs[2]);
    a.set("activation", std::string("silu"));
  }
  return g.add_node(OpKind::QLinearConv, std::move(in), std::move(a),
                    g.unique_name(conv->name + ".qlinear"));
}

} // namespace

bool quantize_convs(Graph &g) {
  std::vector<int> uses = g.use_counts();
  std::vector<Node *> consumer(g.values().size(), nullptr), nodes;
  Users users(g.values().size());
  for (const auto &n : g.nodes()) {
    nodes.push_back(n.get());
    for (Value *v : n->inputs)
      if (v) {
        consumer[v->id] = n.get();
        if (users[v->id].empty() || users[v->id].back() != n.get())
          users[v->id].push_back(n.get());
      }
  }
  for (Value *v : g.outputs())
    users[v->id].push_back(nullptr); // a graph output is a use that is no node
  bool changed = false;
  for (Node *n : nodes) {
    // Quantize(Dequantize(q, s, z), s, z) is q: (q - z) * s / s rounds back to q - z exactly.
    if (scalar_quant(n, OpKind::QuantizeLinear)) {
      Node *d = n->inputs[0]->producer;
      if (scalar_quant(d, OpKind::DequantizeLinear) &&
          d->inputs[0]->dtype == n->outputs[0]->dtype &&
          d->inputs[1]->constant->get_f64(0) == n->inputs[1]->constant->get_f64(0) &&
          d->inputs[2]->constant->get_f64(0) == n->inputs[2]->constant->get_f64(0) &&
          d->inputs[1]->dtype == n->inputs[1]->dtype) {
        g.replace_uses(n->outputs[0], d->inputs[0]);
        changed = true;
      }
      continue;
    }
    Node *qc = match_conv(g, n, uses, consumer, users);
    if (!qc)
      continue;
    Node *q = consumer[n->outputs[0]->id];
    Node *last = qc->attrs.has("activation") ? match_silu(q, users) : q;
    Value *y = last->outputs[0];
    g.replace_uses(y, qc->outputs[0]);
    g.set_name(qc->outputs[0], g.unique_name(y->name + ".qconv"));
    changed = true;
  }
  if (changed) {
    g.sort_topologically();
    g.remove_dead();
  }
  return changed;
}

} // namespace kiln
