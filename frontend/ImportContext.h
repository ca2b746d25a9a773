#pragma once
/// Internal to the frontend: the state the per-op importers share (the ONNX name -> Value map,
/// the opset, the node being imported) and the helpers they are written with.
#include "ir/Graph.h"

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kiln::frontend {

/// ONNX TensorProto.DataType -> DType; nullopt for element types we do not support.
std::optional<DType> dtype_from_onnx(int32_t onnx_type);
/// "FLOAT", "STRING", ... for messages.
std::string onnx_type_name(int32_t onnx_type);
/// Converts a TensorProto (raw_data, typed fields or external data) to a Tensor. External
/// data is read relative to `model_dir` ("" forbids it); `what` names the tensor in messages.
Tensor tensor_from_onnx(const onnx::TensorProto &t, const std::string &model_dir,
                        const std::string &what);

/// An error already prefixed with the node it concerns ("node 'x' (Conv): ...").
class NodeError : public Error {
public:
  using Error::Error;
};

class ImportContext;
/// One importer per ONNX op type: returns one value per ONNX output (null for an unused
/// optional output it does not produce).
using Importer = std::function<std::vector<Value *>(ImportContext &)>;

class ImportContext {
public:
  ImportContext(Graph &g, int64_t opset, std::string model_dir)
      : g_(g), opset_(opset), model_dir_(std::move(model_dir)) {}

  Graph &graph() { return g_; }
  /// Opset of the default domain.
  int64_t opset() const { return opset_; }
  const std::string &model_dir() const { return model_dir_; }

  // ---- the ONNX name table ----
  void define(const std::string &onnx_name, Value *v) { values_[onnx_name] = v; }
  Value *lookup(const std::string &onnx_name) const;
  /// Names read by some node or listed as graph outputs (to tell whether an output is used).
  std::set<std::string> used_names;

  // ---- the node being imported ----
  void begin_node(const onnx::NodeProto &n, std::string name) {
    node_ = &n;
    node_name_ = std::move(name);
  }
  const onnx::NodeProto &node() const { return *node_; }
  const std::string &node_name() const { return node_name_; }
  const std::string &op_type() const { return node_->op_type(); }
  /// Imports the current node as `op_type` with `importer`: `inputs` (null: absent) stand for
  /// the node's own, its attributes minus `drop_attrs` are the op's. A QOperator node imports
  /// its float op this way between DequantizeLinear and QuantizeLinear. Errors still name
  /// this node and its own op type.
  std::vector<Value *> import_as(const Importer &importer, const std::string &op_type,
                                 std::vector<Value *> inputs,
                                 const std::set<std::string> &drop_attrs = {});
  /// Throws kiln::Error "node '<name>' (<op_type>): <msg>".
  [[noreturn]] void fail(const std::string &msg) const;
  [[noreturn]] void unsupported_attr(const std::string &attr, const std::string &value) const {
    fail("unsupported attribute " + attr + "=" + value);
  }

  // ---- inputs and outputs of the node ----
  /// Present: listed with a non-empty name.
  bool has_input(int i) const;
  /// The value of input i, or null when absent.
  Value *input(int i) const;
  /// Like input(), but a missing input is an error naming `what`.
  Value *required_input(int i, const char *what) const;
  /// A required input that must be a constant (static shapes), e.g. Reshape's shape.
  const Tensor &constant_input(int i, const char *what) const;
  /// Null when absent; an error when present but not constant.
  const Tensor *optional_constant(int i, const char *what) const;
  int num_outputs() const { return node_->output_size(); }
  /// Output i is listed and read by some node or is a graph output.
  bool output_used(int i) const;

  // ---- attributes (the default when absent; a wrong kind is an error) ----
  const onnx::AttributeProto *attr(const std::string &name) const;
  bool has_attr(const std::string &name) const { return attr(name) != nullptr; }
  int64_t attr_i(const std::string &name, int64_t def) const;
  double attr_f(const std::string &name, double def) const;
  std::string attr_s(const std::string &name, const std::string &def) const;
  std::vector<int64_t> attr_ints(const std::string &name, std::vector<int64_t> def = {}) const;
  std::vector<double> attr_floats(const std::string &name, std::vector<double> def = {}) const;

  // ---- emitting graph nodes ----
  /// Adds a node (named after the ONNX node plus `suffix`) and returns its outputs. Shape
  /// inference errors get the node prefix. When every input is constant (and the op is not a
  /// quantisation op and each output is small) the node is evaluated now and its outputs are
  /// constants, so shape arithmetic (Shape -> Gather -> Concat -> Reshape) folds away.
  std::vector<Value *> emit_all(OpKind op, std::vector<Value *> inputs, Attrs attrs,
                                const std::string &suffix = "");
  Value *emit(OpKind op, std::vector<Value *> inputs, Attrs attrs = {},
              const std::string &suffix = "") {
    return emit_all(op, std::move(inputs), std::move(attrs), suffix).at(0);
  }
  Value *constant(Tensor t, const std::string &suffix = "");
  /// A rank-0 constant of `dtype` holding `v`.
  Value *scalar(DType dtype, double v, const std::string &suffix = "");
  Value *reshape(Value *x, Shape shape, const std::string &suffix = "");
  Value *cast(Value *x, DType to, const std::string &suffix = "");

  /// Normalises a possibly negative axis into [0, rank); `what` names it in the error.
  int64_t norm_axis(int64_t axis, int64_t rank, const char *what = "axis") const;

private:
  Graph &g_;
  int64_t opset_;
  std::string model_dir_;
  std::map<std::string, Value *> values_;
  const onnx::NodeProto *node_ = nullptr;
  std::string node_name_;
  // Within import_as: the node as the ONNX file has it (for messages), and the inputs.
  const onnx::NodeProto *outer_ = nullptr;
  const std::vector<Value *> *inputs_ = nullptr;
};

/// ONNX op type -> importer; ops of another domain than the default are keyed
/// "domain.op_type" ("com.microsoft.QLinearAdd").
using ImporterTable = std::map<std::string, Importer>;

void register_elementwise_importers(ImporterTable &t);
void register_nn_importers(ImporterTable &t);
void register_shape_importers(ImporterTable &t);
void register_tensor_importers(ImporterTable &t);
/// QLinearConv, QLinearMatMul and ONNX Runtime's com.microsoft QLinear* ops. Registered after
/// the others: they reuse the float importers already in `t`.
void register_qlinear_importers(ImporterTable &t);

/// "1x3x640x640"-style list for messages: "[1, 2, 3]".
std::string ints_str(const std::vector<int64_t> &v);

} // namespace kiln::frontend
