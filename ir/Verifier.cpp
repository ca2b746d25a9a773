#include "ir/Verifier.h"

#include "ir/ShapeInference.h"

#include <algorithm>
#include <set>

namespace kiln {

namespace {

std::string node_prefix(const Node &n) {
  return "node '" + n.name + "' (" + std::string(op_name(n.op)) + "): ";
}

/// Pointers held by nodes and the graph's lists must be values of this graph.
bool owns(const Graph &g, const Value *v) {
  return v && v->id >= 0 && static_cast<size_t>(v->id) < g.values().size() &&
         g.values()[v->id].get() == v;
}

void check_values(const Graph &g) {
  std::set<std::string> names;
  for (size_t i = 0; i < g.values().size(); ++i) {
    Value *vp = g.values()[i].get();
    const Value &v = *vp;
    if (v.id != static_cast<int>(i))
      throw Error("value '" + v.name + "' has id " + std::to_string(v.id) + " at position " +
                  std::to_string(i));
    if (!names.insert(v.name).second)
      throw Error("value name '" + v.name + "' is defined twice");
    if (v.is_constant()) {
      const Tensor &t = *v.constant;
      if (v.producer)
        throw Error("constant '" + v.name + "' also has a producer node");
      if (!t.defined() || t.dtype() != v.dtype || t.shape() != v.shape)
        throw Error("constant '" + v.name + "' is " + type_str(v.dtype, v.shape) +
                    " but holds a tensor of " + type_str(t.dtype(), t.shape()));
    }
    if (v.producer) {
      const auto &outs = v.producer->outputs;
      if (std::find(outs.begin(), outs.end(), vp) == outs.end())
        throw Error("value '" + v.name + "' names producer '" + v.producer->name +
                    "' which does not output it");
    }
  }
}

void check_node_ids(const Graph &g) {
  std::vector<bool> seen(g.nodes().size(), false);
  for (const auto &n : g.nodes()) {
    if (n->id < 0 || static_cast<size_t>(n->id) >= seen.size() || seen[n->id])
      throw Error(node_prefix(*n) + "id " + std::to_string(n->id) + " is out of range or reused");
    seen[n->id] = true;
  }
}

void check_node_types(const Node &n) {
  std::vector<const Value *> inputs(n.inputs.begin(), n.inputs.end());
  std::vector<TensorType> types;
  try {
    types = infer_types(n.op, inputs, n.attrs);
  } catch (const Error &e) {
    throw Error(node_prefix(n) + e.what());
  }
  if (types.size() != n.outputs.size())
    throw Error(node_prefix(n) + "has " + std::to_string(n.outputs.size()) +
                " outputs but inference gives " + std::to_string(types.size()));
  for (size_t i = 0; i < types.size(); ++i) {
    const Value &o = *n.outputs[i];
    if (o.dtype != types[i].dtype || o.shape != types[i].shape)
      throw Error(node_prefix(n) + "output " + std::to_string(i) + " is " +
                  type_str(o.dtype, o.shape) + " but inference gives " +
                  type_str(types[i].dtype, types[i].shape));
  }
}

} // namespace

void verify(const Graph &g) {
  check_values(g);
  check_node_ids(g);

  // Walk the nodes in order: each input must already be defined (topological order).
  std::vector<bool> defined(g.values().size(), false);
  for (const Value *v : g.inputs()) {
    if (!owns(g, v))
      throw Error("a graph input is not a value of this graph");
    if (v->producer || v->is_constant())
      throw Error("graph input '" + v->name + "' is also a constant or a node output");
    defined[v->id] = true;
  }
  for (const auto &v : g.values())
    if (v->is_constant())
      defined[v->id] = true;

  for (const auto &np : g.nodes()) {
    const Node &n = *np;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Value *in = n.inputs[i];
      if (!in)
        continue;
      if (!owns(g, in))
        throw Error(node_prefix(n) + "input " + std::to_string(i) +
                    " is not a value of this graph");
      if (!defined[in->id])
        throw Error(node_prefix(n) + "input " + std::to_string(i) + " '" + in->name +
                    "' is used before it is defined");
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      const Value *o = n.outputs[i];
      if (!owns(g, o))
        throw Error(node_prefix(n) + "output " + std::to_string(i) +
                    " is not a value of this graph");
      if (o->producer != &n)
        throw Error(node_prefix(n) + "output '" + o->name + "' does not name it as producer");
      if (defined[o->id])
        throw Error(node_prefix(n) + "output '" + o->name + "' is already defined");
      defined[o->id] = true;
    }
    check_node_types(n);
  }

  for (const Value *v : g.outputs()) {
    if (!owns(g, v))
      throw Error("a graph output is not a value of this graph");
    if (!defined[v->id])
      throw Error("graph output '" + v->name + "' is never defined");
  }
}

} // namespace kiln
