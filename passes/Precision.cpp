// The `precision` pass (see passes/Precision.h): one walk in topological order marks the ops
// that compute in the low type, then inputs and consumers get Casts where types meet.
#include "passes/Precision.h"

#include "ir/Op.h"

#include <map>
#include <set>

namespace kiln {

namespace {

/// Ops whose low-type result is as good as the f32 one for a detector's feature maps.
bool low_capable(OpKind op) {
  switch (op) {
  case OpKind::Conv:
  case OpKind::ConvTranspose:
  case OpKind::BatchNormalization:
  case OpKind::MaxPool:
  case OpKind::AveragePool:
  case OpKind::GlobalAveragePool:
  case OpKind::Resize:
  case OpKind::Concat:
  case OpKind::Split:
  case OpKind::Slice:
  case OpKind::Pad:
  case OpKind::Identity:
  case OpKind::Relu:
  case OpKind::Sigmoid:
  case OpKind::Tanh:
  case OpKind::LeakyRelu:
  case OpKind::HardSigmoid:
  case OpKind::HardSwish:
  case OpKind::Clip:
  case OpKind::Neg:
  case OpKind::Abs:
  case OpKind::Add:
  case OpKind::Sub:
  case OpKind::Mul:
  case OpKind::Div:
  case OpKind::Min:
  case OpKind::Max:
  case OpKind::Where: return true;
  default: return false;
  }
}

class Lowerer {
public:
  Lowerer(Graph &g, DType low) : g_(g), low_(low) {
    for (Value *in : g.inputs())
      graph_inputs_.insert(in);
  }

  bool run() {
    std::vector<Node *> order;
    for (const auto &n : g_.nodes())
      order.push_back(n.get());
    for (Node *n : order)
      if (goes_low(*n))
        make_low(*n);
    if (low_values_.empty())
      return false;
    // f32 consumers of low values read an f32 copy.
    for (Node *n : order)
      if (!low_nodes_.count(n))
        for (Value *&in : n->inputs)
          if (in && low_values_.count(in))
            in = cast_of(in, DType::f32, f32_copy_);
    // Graph outputs keep their names and f32 type: the low value is renamed, the copy takes
    // the name.
    for (Value *&o : g_.outputs()) {
      if (!low_values_.count(o))
        continue;
      std::string name = o->name;
      g_.set_name(o, g_.unique_name(name + "." + std::string(dtype_name(low_))));
      Value *c = cast_of(o, DType::f32, f32_copy_);
      g_.set_name(c, name);
      o = c;
    }
    g_.sort_topologically();
    return true;
  }

private:
  bool is_f32_data(const Value *v) const {
    return v && !v->is_constant() && v->dtype == DType::f32;
  }

  bool goes_low(const Node &n) const {
    if (!low_capable(n.op))
      return false;
    if (n.outputs.empty() || n.outputs[0]->dtype != DType::f32)
      return false;
    for (const Value *in : n.inputs)
      if (in && (low_values_.count(in) || (is_f32_data(in) && graph_inputs_.count(in))))
        return true;
    return false;
  }

  void make_low(Node &n) {
    for (Value *&in : n.inputs) {
      if (!in || in->dtype != DType::f32 || low_values_.count(in))
        continue;
      in = in->is_constant() ? constant_of(in) : cast_of(in, low_, low_copy_);
    }
    for (Value *o : n.outputs)
      if (o->dtype == DType::f32) {
        o->dtype = low_;
        low_values_.insert(o);
      }
    low_nodes_.insert(&n);
  }

  /// `v` converted to `to` by a Cast node, made once per value.
  Value *cast_of(Value *v, DType to, std::map<Value *, Value *> &made) {
    auto it = made.find(v);
    if (it != made.end())
      return it->second;
    Attrs a;
    a.set("to", std::string(dtype_name(to)));
    std::string name = v->name + "." + std::string(dtype_name(to));
    Node *c = g_.add_node(OpKind::Cast, {v}, a, name);
    Value *out = c->outputs[0];
    g_.set_name(out, g_.unique_name(name));
    if (to == low_)
      low_values_.insert(out);
    return made[v] = out;
  }

  /// An f32 constant converted to the low type (rounded to nearest even), made once.
  Value *constant_of(Value *v) {
    auto it = low_const_.find(v);
    if (it != low_const_.end())
      return it->second;
    Value *c = g_.add_constant(g_.unique_name(v->name + "." + std::string(dtype_name(low_))),
                               v->constant->cast(low_));
    return low_const_[v] = c;
  }

  Graph &g_;
  const DType low_;
  std::set<const Value *> graph_inputs_;
  std::set<const Value *> low_values_;
  std::set<const Node *> low_nodes_;
  std::map<Value *, Value *> low_copy_, f32_copy_, low_const_;
};

} // namespace

bool lower_precision(Graph &g, DType low) {
  if (low == DType::f32)
    return false;
  KILN_ASSERT(low == DType::f16 || low == DType::bf16, "lower_precision: f16 or bf16");
  return Lowerer(g, low).run();
}

} // namespace kiln
