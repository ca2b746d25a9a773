#include "ir/Graph.h"

#include "ir/ShapeInference.h"

#include <algorithm>
#include <set>

namespace kiln {

namespace {
template <class T>
const T &attr_get(const std::map<std::string, AttrValue> &m, const std::string &name,
                  const char *kind) {
  auto it = m.find(name);
  KILN_ASSERT(it != m.end(), "missing attribute '" + name + "'");
  const T *v = std::get_if<T>(&it->second);
  KILN_ASSERT(v != nullptr, "attribute '" + name + "' is not of kind " + kind);
  return *v;
}
} // namespace

int64_t Attrs::i(const std::string &name) const { return attr_get<int64_t>(map_, name, "int"); }
double Attrs::f(const std::string &name) const { return attr_get<double>(map_, name, "float"); }
const std::string &Attrs::s(const std::string &name) const {
  return attr_get<std::string>(map_, name, "string");
}
const std::vector<int64_t> &Attrs::ints(const std::string &name) const {
  return attr_get<std::vector<int64_t>>(map_, name, "ints");
}
const std::vector<double> &Attrs::floats(const std::string &name) const {
  return attr_get<std::vector<double>>(map_, name, "floats");
}

Value *Graph::new_value(const std::string &name, DType dtype, Shape shape) {
  auto v = std::make_unique<Value>();
  v->id = static_cast<int>(values_.size());
  v->name = unique_name(name.empty() ? "v" : name);
  v->dtype = dtype;
  v->shape = std::move(shape);
  by_name_[v->name] = v.get();
  values_.push_back(std::move(v));
  return values_.back().get();
}

std::string Graph::unique_name(const std::string &base) {
  if (!by_name_.count(base))
    return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (!by_name_.count(n))
      return n;
  }
}

Value *Graph::add_input(const std::string &name, DType dtype, Shape shape) {
  shape_numel(shape, "input '" + name + "'");
  Value *v = new_value(name, dtype, std::move(shape));
  inputs_.push_back(v);
  return v;
}

Value *Graph::add_constant(const std::string &name, Tensor t) {
  Value *v = new_value(name, t.dtype(), t.shape());
  v->constant = std::move(t);
  return v;
}

Node *Graph::add_node(OpKind op, std::vector<Value *> inputs, Attrs attrs,
                      const std::string &name) {
  std::vector<const Value *> cin(inputs.begin(), inputs.end());
  std::vector<TensorType> types = infer_types(op, cin, attrs);
  std::vector<std::pair<DType, Shape>> out;
  for (auto &t : types)
    out.emplace_back(t.dtype, std::move(t.shape));
  return add_node_typed(op, std::move(inputs), std::move(attrs), name, out);
}

Node *Graph::add_node_typed(OpKind op, std::vector<Value *> inputs, Attrs attrs,
                            const std::string &name,
                            const std::vector<std::pair<DType, Shape>> &output_types) {
  auto n = std::make_unique<Node>();
  n->id = static_cast<int>(nodes_.size());
  n->op = op;
  n->name = name;
  n->inputs = std::move(inputs);
  n->attrs = std::move(attrs);
  for (size_t i = 0; i < output_types.size(); ++i) {
    std::string base = (name.empty() ? std::string(op_name(op)) : name) + ":" + std::to_string(i);
    Value *v = new_value(base, output_types[i].first, output_types[i].second);
    v->producer = n.get();
    n->outputs.push_back(v);
  }
  nodes_.push_back(std::move(n));
  return nodes_.back().get();
}

void Graph::set_name(Value *v, const std::string &name) {
  if (v->name == name)
    return;
  if (by_name_.count(name))
    throw Error("value name '" + name + "' is defined twice");
  by_name_.erase(v->name);
  v->name = name;
  by_name_[name] = v;
}

Value *Graph::find(const std::string &name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void Graph::replace_uses(Value *from, Value *to) {
  for (auto &n : nodes_)
    for (auto &in : n->inputs)
      if (in == from)
        in = to;
  for (auto &o : outputs_)
    if (o == from)
      o = to;
}

std::vector<int> Graph::use_counts() const {
  std::vector<int> uses(values_.size(), 0);
  for (auto &n : nodes_)
    for (Value *in : n->inputs)
      if (in)
        ++uses[in->id];
  for (Value *o : outputs_)
    ++uses[o->id];
  return uses;
}

void Graph::sort_topologically() {
  // Kahn's algorithm, always taking the ready node that came first: deterministic and stable.
  const size_t n = nodes_.size();
  std::map<const Value *, size_t> producer_pos;
  for (size_t i = 0; i < n; ++i)
    for (Value *o : nodes_[i]->outputs)
      producer_pos[o] = i;
  std::vector<int> waiting(n, 0);
  std::vector<std::vector<size_t>> readers(n);
  for (size_t i = 0; i < n; ++i)
    for (Value *in : nodes_[i]->inputs) {
      auto it = in ? producer_pos.find(in) : producer_pos.end();
      if (it == producer_pos.end())
        continue;
      ++waiting[i];
      readers[it->second].push_back(i);
    }
  std::set<size_t> ready;
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0)
      ready.insert(i);
  std::vector<std::unique_ptr<Node>> sorted;
  while (!ready.empty()) {
    size_t i = *ready.begin();
    ready.erase(ready.begin());
    for (size_t r : readers[i])
      if (--waiting[r] == 0)
        ready.insert(r);
    sorted.push_back(std::move(nodes_[i]));
  }
  KILN_ASSERT(sorted.size() == n, "sort_topologically: the graph has a cycle");
  nodes_ = std::move(sorted);
}

void Graph::remove_dead() {
  // Walk backwards: a node is live if any output is used by a live node or is a graph output.
  std::vector<int> uses = use_counts();
  std::vector<bool> dead(nodes_.size(), false);
  for (size_t i = nodes_.size(); i-- > 0;) {
    Node &n = *nodes_[i];
    bool used =
        std::any_of(n.outputs.begin(), n.outputs.end(), [&](Value *v) { return uses[v->id] > 0; });
    if (used)
      continue;
    dead[i] = true;
    for (Value *in : n.inputs)
      if (in)
        --uses[in->id];
  }
  std::vector<bool> keep_value(values_.size(), false);
  for (Value *v : inputs_)
    keep_value[v->id] = true;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (dead[i])
      continue;
    for (Value *in : nodes_[i]->inputs)
      if (in)
        keep_value[in->id] = true;
    for (Value *o : nodes_[i]->outputs)
      keep_value[o->id] = true;
  }
  for (Value *o : outputs_)
    keep_value[o->id] = true;

  std::vector<std::unique_ptr<Node>> nodes;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (!dead[i])
      nodes.push_back(std::move(nodes_[i]));
  std::vector<std::unique_ptr<Value>> values;
  for (auto &v : values_) {
    if (keep_value[v->id]) {
      values.push_back(std::move(v));
      continue;
    }
    by_name_.erase(v->name);
  }
  nodes_ = std::move(nodes);
  values_ = std::move(values);
  for (size_t i = 0; i < nodes_.size(); ++i)
    nodes_[i]->id = static_cast<int>(i);
  for (size_t i = 0; i < values_.size(); ++i)
    values_[i]->id = static_cast<int>(i);
}

} // namespace kiln
