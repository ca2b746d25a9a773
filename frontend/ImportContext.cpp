#include "frontend/ImportContext.h"

#include "ir/Reference.h"
#include "ir/ShapeInference.h"

namespace kiln::frontend {

namespace {
// Folding beyond this many elements would bloat the graph with big constants computed from
// weights; those nodes stay and later passes decide.
constexpr int64_t kMaxFoldElements = 65536;

bool is_quant_op(OpKind op) {
  return op == OpKind::QuantizeLinear || op == OpKind::DequantizeLinear ||
         op == OpKind::DynamicQuantizeLinear;
}

const char *attr_type_name(int t) {
  switch (t) {
  case onnx::AttributeProto::FLOAT: return "float";
  case onnx::AttributeProto::INT: return "int";
  case onnx::AttributeProto::STRING: return "string";
  case onnx::AttributeProto::TENSOR: return "tensor";
  case onnx::AttributeProto::GRAPH: return "graph";
  case onnx::AttributeProto::FLOATS: return "floats";
  case onnx::AttributeProto::INTS: return "ints";
  case onnx::AttributeProto::STRINGS: return "strings";
  default: return "other";
  }
}
} // namespace

std::string ints_str(const std::vector<int64_t> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

Value *ImportContext::lookup(const std::string &onnx_name) const {
  auto it = values_.find(onnx_name);
  return it == values_.end() ? nullptr : it->second;
}

void ImportContext::fail(const std::string &msg) const {
  const std::string &op = (outer_ ? outer_ : node_)->op_type();
  throw NodeError("node '" + node_name_ + "' (" + op + "): " + msg);
}

std::vector<Value *> ImportContext::import_as(const Importer &importer, const std::string &op_type,
                                              std::vector<Value *> inputs,
                                              const std::set<std::string> &drop_attrs) {
  KILN_ASSERT(!outer_, "import_as does not nest");
  onnx::NodeProto sub;
  sub.set_name(node_->name());
  sub.set_op_type(op_type);
  for (const auto &a : node_->attribute())
    if (!drop_attrs.count(a.name()))
      *sub.add_attribute() = a;
  for (size_t i = 0; i < inputs.size(); ++i)
    sub.add_input(inputs[i] ? "#" + std::to_string(i) : "");
  for (const auto &o : node_->output())
    sub.add_output(o);
  outer_ = node_;
  inputs_ = &inputs;
  node_ = &sub;
  struct Restore {
    ImportContext &cx;
    ~Restore() {
      cx.node_ = cx.outer_;
      cx.outer_ = nullptr;
      cx.inputs_ = nullptr;
    }
  } restore{*this};
  return importer(*this);
}

bool ImportContext::has_input(int i) const {
  return i < node_->input_size() && !node_->input(i).empty();
}

Value *ImportContext::input(int i) const {
  if (!has_input(i))
    return nullptr;
  if (inputs_)
    return (*inputs_)[static_cast<size_t>(i)];
  const std::string &name = node_->input(i);
  Value *v = lookup(name);
  if (!v)
    fail("input '" + name +
         "' is not defined (not a graph input, an initializer or an earlier node's output)");
  return v;
}

Value *ImportContext::required_input(int i, const char *what) const {
  Value *v = input(i);
  if (!v)
    fail(std::string("input '") + what + "' (#" + std::to_string(i) + ") is missing");
  return v;
}

const Tensor &ImportContext::constant_input(int i, const char *what) const {
  Value *v = required_input(i, what);
  if (!v->is_constant())
    fail(std::string("input '") + what + "' must be a constant (static shapes)");
  return *v->constant;
}

const Tensor *ImportContext::optional_constant(int i, const char *what) const {
  if (!has_input(i))
    return nullptr;
  return &constant_input(i, what);
}

bool ImportContext::output_used(int i) const {
  return i < node_->output_size() && !node_->output(i).empty() &&
         used_names.count(node_->output(i)) != 0;
}

const onnx::AttributeProto *ImportContext::attr(const std::string &name) const {
  for (const auto &a : node_->attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

namespace {
// Old exporters leave AttributeProto.type unset; then the filled field decides.
bool attr_is(const onnx::AttributeProto &a, onnx::AttributeProto::AttributeType t) {
  return a.type() == t || a.type() == onnx::AttributeProto::UNDEFINED;
}
} // namespace

int64_t ImportContext::attr_i(const std::string &name, int64_t def) const {
  const auto *a = attr(name);
  if (!a)
    return def;
  if (!attr_is(*a, onnx::AttributeProto::INT))
    fail("attribute '" + name + "' must be an int, not " + attr_type_name(a->type()));
  return a->i();
}

double ImportContext::attr_f(const std::string &name, double def) const {
  const auto *a = attr(name);
  if (!a)
    return def;
  if (!attr_is(*a, onnx::AttributeProto::FLOAT))
    fail("attribute '" + name + "' must be a float, not " + attr_type_name(a->type()));
  return a->f();
}

std::string ImportContext::attr_s(const std::string &name, const std::string &def) const {
  const auto *a = attr(name);
  if (!a)
    return def;
  if (!attr_is(*a, onnx::AttributeProto::STRING))
    fail("attribute '" + name + "' must be a string, not " + attr_type_name(a->type()));
  return a->s();
}

std::vector<int64_t> ImportContext::attr_ints(const std::string &name,
                                              std::vector<int64_t> def) const {
  const auto *a = attr(name);
  if (!a)
    return def;
  if (!attr_is(*a, onnx::AttributeProto::INTS))
    fail("attribute '" + name + "' must be ints, not " + attr_type_name(a->type()));
  return {a->ints().begin(), a->ints().end()};
}

std::vector<double> ImportContext::attr_floats(const std::string &name,
                                               std::vector<double> def) const {
  const auto *a = attr(name);
  if (!a)
    return def;
  if (!attr_is(*a, onnx::AttributeProto::FLOATS))
    fail("attribute '" + name + "' must be floats, not " + attr_type_name(a->type()));
  return {a->floats().begin(), a->floats().end()};
}

std::vector<Value *> ImportContext::emit_all(OpKind op, std::vector<Value *> inputs, Attrs attrs,
                                             const std::string &suffix) {
  const std::string name = node_name_ + suffix;
  std::vector<const Value *> cin(inputs.begin(), inputs.end());
  std::vector<TensorType> types;
  try {
    types = infer_types(op, cin, attrs);
  } catch (const Error &e) {
    // Shape inference prefixes its op ("Add: ..."); ours already names it when it is the same.
    std::string msg = e.what(), own = std::string(op_name(op)) + ": ";
    if (op_name(op) == op_type() && msg.rfind(own, 0) == 0)
      msg.erase(0, own.size());
    fail(msg);
  }

  bool foldable = !is_quant_op(op);
  for (Value *v : inputs)
    foldable = foldable && (!v || v->is_constant());
  for (const TensorType &t : types)
    foldable = foldable && shape_numel(t.shape) <= kMaxFoldElements;
  if (!foldable) {
    Node *n = g_.add_node(op, std::move(inputs), std::move(attrs), name);
    return n->outputs;
  }

  // Evaluate on a detached node whose output values carry the inferred types.
  Node tmp;
  tmp.op = op;
  tmp.name = name;
  tmp.inputs = inputs;
  tmp.attrs = attrs;
  std::vector<Value> outs(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    outs[i].dtype = types[i].dtype;
    outs[i].shape = types[i].shape;
    tmp.outputs.push_back(&outs[i]);
  }
  std::vector<Tensor> in_tensors;
  for (Value *v : inputs)
    in_tensors.push_back(v ? *v->constant : Tensor());
  std::vector<Tensor> results;
  try {
    results = evaluate_node(tmp, in_tensors);
  } catch (const Error &e) {
    fail(e.what());
  }
  std::vector<Value *> r;
  for (size_t i = 0; i < results.size(); ++i)
    r.push_back(g_.add_constant(name + ":" + std::to_string(i), std::move(results[i])));
  return r;
}

Value *ImportContext::constant(Tensor t, const std::string &suffix) {
  return g_.add_constant(node_name_ + suffix, std::move(t));
}

Value *ImportContext::scalar(DType dtype, double v, const std::string &suffix) {
  Tensor t(dtype, {});
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    static_cast<T *>(t.raw())[0] = from_f64<T>(v);
  });
  return constant(std::move(t), suffix);
}

Value *ImportContext::reshape(Value *x, Shape shape, const std::string &suffix) {
  Attrs a;
  a.set("shape", std::move(shape));
  return emit(OpKind::Reshape, {x}, std::move(a), suffix);
}

Value *ImportContext::cast(Value *x, DType to, const std::string &suffix) {
  if (x->dtype == to)
    return x;
  Attrs a;
  a.set("to", std::string(dtype_name(to)));
  return emit(OpKind::Cast, {x}, std::move(a), suffix);
}

int64_t ImportContext::norm_axis(int64_t axis, int64_t rank, const char *what) const {
  if (axis < -rank || axis >= rank)
    fail(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
         std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

} // namespace kiln::frontend
