#pragma once
/// The graph IR: values with static shapes and dtypes, nodes with typed attributes, constants.
#include "ir/Op.h"
#include "ir/Tensor.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln {

using AttrValue =
    std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

/// Typed attributes, ordered by name so printing is deterministic.
class Attrs {
public:
  bool has(const std::string &name) const { return map_.count(name) != 0; }
  void set(const std::string &name, AttrValue v) { map_[name] = std::move(v); }
  void erase(const std::string &name) { map_.erase(name); }
  /// Getters assert the attribute exists with that kind (the verifier checks this first).
  int64_t i(const std::string &name) const;
  double f(const std::string &name) const;
  const std::string &s(const std::string &name) const;
  const std::vector<int64_t> &ints(const std::string &name) const;
  const std::vector<double> &floats(const std::string &name) const;
  const std::map<std::string, AttrValue> &map() const { return map_; }
  bool operator==(const Attrs &o) const { return map_ == o.map_; }

private:
  std::map<std::string, AttrValue> map_;
};

struct Node;

/// A tensor-valued SSA value: a graph input, a constant, or a node output.
struct Value {
  int id = -1;      ///< dense index in Graph::values()
  std::string name; ///< unique within the graph
  DType dtype = DType::f32;
  Shape shape;
  Node *producer = nullptr;       ///< null for graph inputs and constants
  std::optional<Tensor> constant; ///< set for constants (weights, folded shape arithmetic)

  bool is_constant() const { return constant.has_value(); }
};

struct Node {
  int id = -1; ///< dense index in creation order (stable, not the topological position)
  OpKind op = OpKind::Identity;
  std::string name;            ///< the ONNX node name or a generated one; for messages and profiles
  std::vector<Value *> inputs; ///< null for an absent optional input
  std::vector<Value *> outputs;
  Attrs attrs;
};

/// A static-shape tensor graph. Nodes are kept in topological order.
class Graph {
public:
  Graph() = default;
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  /// Adds a graph input (appended to inputs()).
  Value *add_input(const std::string &name, DType dtype, Shape shape);
  /// Adds a constant value.
  Value *add_constant(const std::string &name, Tensor t);
  /// Appends a node; output dtypes and shapes come from infer_types (throws kiln::Error when
  /// the inputs or attributes are inconsistent). Output names are `name` + ":i" style
  /// placeholders until the caller renames them with set_name.
  Node *add_node(OpKind op, std::vector<Value *> inputs, Attrs attrs, const std::string &name);
  /// Appends a node whose output types are given (used by the parser; the verifier checks them).
  Node *add_node_typed(OpKind op, std::vector<Value *> inputs, Attrs attrs, const std::string &name,
                       const std::vector<std::pair<DType, Shape>> &output_types);
  /// Renames a value, keeping names unique (a clash throws kiln::Error).
  void set_name(Value *v, const std::string &name);
  /// A name not used yet, built from `base`.
  std::string unique_name(const std::string &base);
  Value *find(const std::string &name) const;

  const std::vector<std::unique_ptr<Value>> &values() const { return values_; }
  const std::vector<std::unique_ptr<Node>> &nodes() const { return nodes_; }
  std::vector<Value *> &inputs() { return inputs_; }
  const std::vector<Value *> &inputs() const { return inputs_; }
  std::vector<Value *> &outputs() { return outputs_; }
  const std::vector<Value *> &outputs() const { return outputs_; }
  /// Model metadata (ONNX metadata_props: class names, stride, ...), in file order.
  std::vector<std::pair<std::string, std::string>> &metadata() { return metadata_; }
  const std::vector<std::pair<std::string, std::string>> &metadata() const { return metadata_; }

  /// Replaces every use of `from` (node inputs and graph outputs) with `to`.
  void replace_uses(Value *from, Value *to);
  /// Removes nodes whose outputs are unused and values nobody refers to; renumbers ids.
  void remove_dead();
  /// Restores topological order after nodes were appended that earlier nodes read (a pass
  /// inserting conversions): stable, so nodes already in order keep their relative order.
  void sort_topologically();
  /// Number of uses of each value (node inputs + graph outputs), indexed by Value::id.
  std::vector<int> use_counts() const;

private:
  Value *new_value(const std::string &name, DType dtype, Shape shape);

  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Value *> inputs_, outputs_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::map<std::string, Value *> by_name_;
};

} // namespace kiln
