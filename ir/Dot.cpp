#include "ir/Dot.h"

#include <string>

namespace kiln {

namespace {

/// Escapes text for a double-quoted DOT string; "\n" in the result is a DOT line break.
std::string escape(const std::string &s) {
  std::string r;
  for (char c : s) {
    switch (c) {
    case '"': r += "\\\""; break;
    case '\\': r += "\\\\"; break;
    case '\n': r += "\\n"; break;
    case '\r': break;
    default: r += c;
    }
  }
  return r;
}

std::string type_of(const Value &v) { return type_str(v.dtype, v.shape); }

/// The DOT node a value's edges start from: its producer, or its input oval. Ids derive from
/// Value::id / Node::id, so the output does not depend on addresses.
std::string source_id(const Value &v) {
  std::string id(1, v.producer ? 'n' : 'v');
  id += std::to_string(v.producer ? v.producer->id : v.id);
  return id;
}

} // namespace

void write_dot(std::ostream &os, const Graph &g) {
  os << "digraph kiln {\n";
  os << "  rankdir=TB;\n";
  os << "  node [fontname=\"Helvetica\", fontsize=10];\n";
  os << "  edge [fontname=\"Helvetica\", fontsize=9];\n";

  for (const Value *v : g.inputs())
    os << "  v" << v->id << " [shape=oval, label=\"" << escape(v->name) << "\\n"
       << escape(type_of(*v)) << "\"];\n";

  for (const auto &n : g.nodes()) {
    std::string label = std::string(op_name(n->op));
    if (!n->name.empty())
      label += "\n" + n->name;
    // Weights would otherwise be a cloud of tiny ovals around every conv.
    for (const Value *in : n->inputs)
      if (in && in->is_constant() && !in->producer)
        label += "\n" + in->name + ": " + type_of(*in);
    for (const Value *out : n->outputs)
      label += "\n-> " + type_of(*out);
    os << "  n" << n->id << " [shape=box, label=\"" << escape(label) << "\"];\n";
  }

  // Edges, in node order then input order.
  for (const auto &n : g.nodes()) {
    for (const Value *in : n->inputs) {
      if (!in || (in->is_constant() && !in->producer))
        continue;
      os << "  " << source_id(*in) << " -> n" << n->id << " [label=\"" << escape(type_of(*in))
         << "\"];\n";
    }
  }

  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const Value *v = g.outputs()[i];
    os << "  out" << i << " [shape=oval, label=\"" << escape(v->name) << "\\n"
       << escape(type_of(*v)) << "\"];\n";
    // A constant output has no node to come from: it is only its oval.
    if (v->is_constant() && !v->producer)
      continue;
    os << "  " << source_id(*v) << " -> out" << i << " [label=\"" << escape(type_of(*v))
       << "\"];\n";
  }
  os << "}\n";
}

} // namespace kiln
