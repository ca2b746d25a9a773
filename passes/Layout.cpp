// The `layout` pass (see passes/Layout.h). One walk in topological order decides each node's
// layout from its inputs' (a blocked input makes a channel-preserving op blocked; a Conv makes
// its output blocked when some consumer can take it) and rewrites it in place: blocked outputs
// get the 5-D shape, inputs are swapped for converted copies where producer and consumer
// disagree (made once per value and layout). New conversion nodes are appended, so the graph
// is sorted topologically at the end.
#include "passes/Layout.h"

#include "ir/Op.h"

#include <algorithm>
#include <map>
#include <set>

namespace kiln {

namespace {

bool float_storage(DType t) { return is_float_storage(t); }

class Blocker {
public:
  Blocker(Graph &g, int64_t b, int64_t b_f16) : g_(g), b_(b), b_f16_(b_f16) {
    for (const auto &n : g.nodes())
      for (Value *in : n->inputs)
        if (in)
          users_[in].push_back(n.get());
  }

  bool run() {
    std::vector<Node *> order;
    for (const auto &n : g_.nodes())
      order.push_back(n.get());
    for (Node *n : order)
      visit(*n);
    if (blocked_.empty())
      return false;
    // Graph outputs keep their names and NCHW shapes: the blocked value is renamed and the
    // converted copy takes its place.
    for (Value *&o : g_.outputs()) {
      if (!blocked_.count(o))
        continue;
      Value *plain = plain_of(o);
      std::string name = o->name;
      g_.set_name(o, g_.unique_name(name + ".blocked"));
      g_.set_name(plain, name);
      o = plain;
    }
    g_.sort_topologically();
    return true;
  }

private:
  Graph &g_;
  const int64_t b_, b_f16_; ///< channel block of f32 values, of f16 values
  std::map<const Value *, std::vector<Node *>> users_;
  std::set<const Value *> blocked_;        ///< values holding [N, C/b, H, W, b]
  std::map<const Value *, Value *> plain_; ///< blocked value -> its NCHW copy
  std::map<const Value *, Value *> block_; ///< NCHW value -> its blocked copy

  /// The NCHW shape of `v`, whichever layout it holds now.
  Shape logical(const Value *v) const {
    const Shape &s = v->shape;
    if (!blocked_.count(v))
      return s;
    return {s[0], s[1] * s[4], s[2], s[3]};
  }
  bool blockable(const Value *v) const {
    if (!v || !float_storage(v->dtype))
      return false;
    Shape s = logical(v);
    return s.size() == 4 && s[1] % block_of(v) == 0;
  }
  /// The channel block of `v`: b_, or for f16 b_f16_ when its channels are a multiple of it
  /// (16 channels of f16 stay blocked by b_, half-width vectors, rather than NCHW).
  int64_t block_of(const Value *v) const {
    if (v->dtype != DType::f16 || b_f16_ == b_)
      return b_;
    Shape s = logical(v);
    return s.size() == 4 && s[1] % b_f16_ == 0 ? b_f16_ : b_;
  }
  /// True when every blocked-capable operand and result of `n` has the block of its first
  /// result (a Concat or Split across blocks of different sizes stays NCHW).
  bool same_block(const Node &n) const {
    const int64_t b = block_of(n.outputs[0]);
    for (const Value *v : n.outputs)
      if (block_of(v) != b)
        return false;
    for (const Value *v : n.inputs)
      if (v && shape_numel(v->shape) != 1 && float_storage(v->dtype) && block_of(v) != b)
        return false;
    return true;
  }
  Shape blocked_shape(const Value *v) const {
    const Shape &s = v->shape;
    const int64_t b = block_of(v);
    return {s[0], s[1] / b, s[2], s[3], b};
  }

  Value *add(OpKind op, Value *in, Attrs a, const std::string &name) {
    Node *n = g_.add_node(op, {in}, std::move(a), name);
    Value *out = n->outputs[0];
    g_.set_name(out, g_.unique_name(name));
    return out;
  }

  /// The NCHW copy of blocked value `v`: Transpose [0,1,4,2,3] then Reshape.
  Value *plain_of(Value *v) {
    auto it = plain_.find(v);
    if (it != plain_.end())
      return it->second;
    const Shape &s = v->shape;
    Attrs perm, shape;
    perm.set("perm", std::vector<int64_t>{0, 1, 4, 2, 3});
    shape.set("shape", std::vector<int64_t>{s[0], s[1] * s[4], s[2], s[3]});
    Value *t = add(OpKind::Transpose, v, perm, v->name + ".unblock");
    return plain_[v] = add(OpKind::Reshape, t, shape, v->name + ".nchw");
  }

  /// The blocked copy of NCHW value `v`: Reshape then Transpose [0,1,3,4,2].
  Value *blocked_of(Value *v) {
    if (blocked_.count(v))
      return v;
    auto it = block_.find(v);
    if (it != block_.end())
      return it->second;
    const Shape &s = v->shape;
    const int64_t b = block_of(v);
    Attrs perm, shape;
    shape.set("shape", std::vector<int64_t>{s[0], s[1] / b, b, s[2], s[3]});
    perm.set("perm", std::vector<int64_t>{0, 1, 3, 4, 2});
    Value *r = add(OpKind::Reshape, v, shape, v->name + ".split_c");
    Value *t = add(OpKind::Transpose, r, perm, v->name + ".blocked");
    blocked_.insert(t);
    return block_[v] = t;
  }

  /// True when `n` computes the same thing on blocked operands (decided on its NCHW shapes).
  bool channel_preserving(const Node &n) const {
    if (n.outputs.size() != 1 && n.op != OpKind::Split)
      return false;
    const Value *y = n.outputs[0];
    if (!blockable(y) || !same_block(n))
      return false;
    if (has_trait(n.op, OpTrait::Elementwise)) {
      if (n.op == OpKind::Cast)
        return false;
      for (const Value *in : n.inputs) {
        if (!in || !float_storage(in->dtype))
          return false;
        if (logical(in) != logical(y) && shape_numel(in->shape) != 1)
          return false;
      }
      return true;
    }
    switch (n.op) {
    case OpKind::Concat:
      return n.attrs.i("axis") == 1 && std::all_of(n.inputs.begin(), n.inputs.end(),
                                                   [&](const Value *v) { return blockable(v); });
    case OpKind::Split:
      return n.attrs.i("axis") == 1 && blockable(n.inputs[0]) &&
             std::all_of(n.outputs.begin(), n.outputs.end(),
                         [&](const Value *v) { return blockable(v); });
    case OpKind::MaxPool: return blockable(n.inputs[0]);
    case OpKind::Resize: {
      const auto &sc = n.attrs.floats("scales");
      Shape xs = logical(n.inputs[0]), ys = logical(y);
      return blockable(n.inputs[0]) && sc.size() == 4 && sc[0] == 1 && sc[1] == 1 &&
             ys[0] == xs[0] && ys[1] == xs[1];
    }
    default: return false;
    }
  }

  /// A 2-D f32/f16 Conv the blocked kernels compute: dense (group 1), or depthwise.
  bool blockable_conv(const Node &n) const {
    if (n.op != OpKind::Conv)
      return false;
    const Value *x = n.inputs[0], *w = n.inputs[1], *y = n.outputs[0];
    const Shape xs = logical(x);
    if (xs.size() != 4 || w->shape.size() != 4 || !float_storage(x->dtype))
      return false;
    const int64_t group = n.attrs.i("group");
    const bool dw = group > 1 && group == xs[1] && w->shape[0] == group && w->shape[1] == 1;
    return group == 1 || (dw && blockable(x) && blockable(y));
  }

  /// True when some consumer of `v` takes it blocked.
  bool wanted_blocked(const Value *v) const {
    auto it = users_.find(v);
    if (it == users_.end())
      return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](const Node *u) { return blockable_conv(*u) || channel_preserving(*u); });
  }

  void make_output_blocked(Value *v) {
    v->shape = blocked_shape(v);
    blocked_.insert(v);
  }

  void visit(Node &n) {
    if (blockable_conv(n))
      return visit_conv(n);
    bool any_blocked = std::any_of(n.inputs.begin(), n.inputs.end(),
                                   [&](const Value *v) { return v && blocked_.count(v); });
    if (any_blocked && channel_preserving(n))
      return block_node(n);
    for (Value *&in : n.inputs)
      if (in && blocked_.count(in))
        in = plain_of(in);
  }

  void visit_conv(Node &n) {
    Value *x = n.inputs[0], *y = n.outputs[0];
    const bool dw = n.attrs.i("group") > 1;
    const bool x_blocked = blocked_.count(x) != 0;
    // The depthwise kernel wants both sides blocked.
    const bool y_blocked = dw ? x_blocked : blockable(y) && wanted_blocked(y);
    if (x_blocked)
      n.attrs.set("x_block", block_of(x));
    if (y_blocked) {
      n.attrs.set("y_block", block_of(y));
      make_output_blocked(y);
    }
    // The fused residual has the output's layout (also when the conv stays NCHW and the
    // residual's producer is blocked).
    if (n.inputs.size() > 3 && n.inputs[3]) {
      Value *&r = n.inputs[3];
      r = y_blocked ? blocked_of(r) : (blocked_.count(r) ? plain_of(r) : r);
    }
  }

  void block_node(Node &n) {
    for (Value *&in : n.inputs)
      if (in && shape_numel(in->shape) != 1)
        in = blocked_of(in);
    switch (n.op) {
    case OpKind::Split: {
      std::vector<int64_t> split = n.attrs.ints("split");
      for (int64_t &s : split)
        s /= block_of(n.inputs[0]);
      n.attrs.set("split", split);
      break;
    }
    case OpKind::MaxPool: n.attrs.set("block", block_of(n.inputs[0])); break;
    case OpKind::Resize: {
      std::vector<double> scales = n.attrs.floats("scales");
      scales.push_back(1.0);
      n.attrs.set("scales", scales);
      if (n.attrs.has("sizes")) {
        std::vector<int64_t> sizes = blocked_shape(n.outputs[0]);
        n.attrs.set("sizes", sizes);
      }
      break;
    }
    default: break;
    }
    for (Value *o : n.outputs)
      make_output_blocked(o);
  }
};

} // namespace

bool block_layout(Graph &g, int64_t b, int64_t b_f16) {
  if (b <= 1)
    return false;
  return Blocker(g, b, b_f16 > 1 ? b_f16 : b).run();
}

} // namespace kiln
