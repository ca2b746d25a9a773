// Common-subexpression elimination keyed by a printed signature (op, attributes, input value
// ids, output types) in an ordered map: the result never depends on pointer or hash order.
#include "passes/Cse.h"

#include <cstring>
#include <map>
#include <sstream>

namespace kiln {

namespace {

// Constants are compared by contents only when small: weights are never duplicated in
// practice, and comparing megabytes per constant would cost more than it saves.
constexpr int64_t kMaxMergedConstant = 4096;

std::string attr_text(const AttrValue &v) {
  std::ostringstream os;
  os.precision(17);
  std::visit(
      [&](const auto &x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::vector<int64_t>> ||
                      std::is_same_v<T, std::vector<double>>) {
          os << '[';
          for (const auto &e : x)
            os << e << ',';
          os << ']';
        } else if constexpr (std::is_same_v<T, std::string>) {
          os << '"' << x << '"';
        } else {
          os << x;
        }
      },
      v);
  return os.str();
}

std::string node_signature(const Node &n) {
  std::ostringstream os;
  os << op_name(n.op) << '(';
  for (const Value *in : n.inputs)
    os << (in ? std::to_string(in->id) : "_") << ',';
  os << "){";
  for (const auto &[name, v] : n.attrs.map())
    os << name << '=' << attr_text(v) << ';';
  os << "}:";
  for (const Value *o : n.outputs)
    os << dtype_name(o->dtype) << '[' << shape_str(o->shape) << "],";
  return os.str();
}

std::string constant_signature(const Value &v) {
  const Tensor &t = *v.constant;
  std::string s = std::string(dtype_name(t.dtype())) + "[" + shape_str(t.shape()) + "]:";
  s.append(static_cast<const char *>(t.raw()), t.nbytes());
  return s;
}

} // namespace

bool eliminate_common_subexpressions(Graph &g) {
  bool changed = false;
  std::vector<bool> is_output(g.values().size(), false);
  for (const Value *o : g.outputs())
    is_output[o->id] = true;

  std::map<std::string, Value *> constants;
  for (const auto &v : g.values()) {
    if (!v->is_constant() || v->constant->numel() > kMaxMergedConstant || is_output[v->id])
      continue;
    auto [it, fresh] = constants.emplace(constant_signature(*v), v.get());
    if (fresh)
      continue;
    g.replace_uses(v.get(), it->second);
    changed = true;
  }

  // Inputs are rewritten as duplicates are found, so a chain of duplicates collapses in one
  // walk (nodes are in topological order).
  std::map<std::string, Node *> seen;
  for (const auto &n : g.nodes()) {
    auto [it, fresh] = seen.emplace(node_signature(*n), n.get());
    if (fresh)
      continue;
    bool keeps_output = false;
    for (const Value *o : n->outputs)
      keeps_output = keeps_output || is_output[o->id];
    if (keeps_output)
      continue;
    for (size_t i = 0; i < n->outputs.size(); ++i)
      g.replace_uses(n->outputs[i], it->second->outputs[i]);
    changed = true;
  }
  if (changed)
    g.remove_dead();
  return changed;
}

} // namespace kiln
