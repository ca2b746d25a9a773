// The import driver: ModelProto -> Graph. Inputs, initializers, then nodes in file order
// through the op_type -> importer table, then graph outputs under their ONNX names.
#include "frontend/OnnxImporter.h"

#include "frontend/ImportContext.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace kiln {

using namespace frontend;

namespace {

// Opsets whose semantics the importers have been written against.
constexpr int64_t kMinOpset = 11, kMaxOpset = 22;

const ImporterTable &importer_table() {
  static const ImporterTable table = [] {
    ImporterTable t;
    register_elementwise_importers(t);
    register_nn_importers(t);
    register_shape_importers(t);
    register_tensor_importers(t);
    register_qlinear_importers(t);
    return t;
  }();
  return table;
}

bool is_default_domain(const std::string &d) { return d.empty() || d == "ai.onnx"; }

std::string join(const std::vector<std::string> &v, const char *sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? sep : "") + v[i];
  return s;
}

class ModelImporter {
public:
  ModelImporter(const onnx::ModelProto &m, const std::string &model_dir, const ImportOptions &opt)
      : m_(m), opt_(opt), g_(std::make_unique<Graph>()), cx_(*g_, find_opset(m), model_dir) {}

  std::unique_ptr<Graph> run() {
    const onnx::GraphProto &gp = m_.graph();
    for (const auto &kv : m_.metadata_props())
      g_->metadata().emplace_back(kv.key(), kv.value());
    for (const auto &n : gp.node())
      for (const auto &in : n.input())
        cx_.used_names.insert(in);
    for (const auto &o : gp.output())
      cx_.used_names.insert(o.name());

    import_initializers(gp);
    import_inputs(gp);
    for (int i = 0; i < gp.node_size(); ++i)
      import_node(gp.node(i), i);
    import_outputs(gp);
    // Folding leaves the constants it consumed behind; drop them and unused initializers.
    g_->remove_dead();
    return std::move(g_);
  }

private:
  static int64_t find_opset(const onnx::ModelProto &m) {
    for (const auto &o : m.opset_import())
      if (is_default_domain(o.domain()))
        return o.version();
    throw Error("no opset_import for the default ONNX domain");
  }

  int64_t domain_opset(const std::string &domain) const {
    for (const auto &o : m_.opset_import())
      if (o.domain() == domain || (is_default_domain(domain) && is_default_domain(o.domain())))
        return o.version();
    return -1;
  }

  /// Gives `v` the ONNX name; a generated name that happens to clash is moved aside.
  void claim_name(Value *v, const std::string &name) {
    Value *holder = g_->find(name);
    if (holder && holder != v) {
      if (named_.count(holder))
        throw Error("value '" + name + "' is defined twice");
      g_->set_name(holder, g_->unique_name(name + "_tmp"));
    }
    g_->set_name(v, name);
    named_.insert(v);
  }

  void define(const std::string &name, Value *v) {
    if (cx_.lookup(name))
      throw Error("value '" + name + "' is defined twice");
    if (!named_.count(v))
      claim_name(v, name);
    cx_.define(name, v);
  }

  void import_initializers(const onnx::GraphProto &gp) {
    for (const auto &t : gp.initializer()) {
      if (t.name().empty())
        throw Error("an initializer has no name");
      Tensor v = tensor_from_onnx(t, cx_.model_dir(), "initializer '" + t.name() + "'");
      initializers_.insert(t.name());
      define(t.name(), g_->add_constant(t.name(), std::move(v)));
    }
    if (gp.sparse_initializer_size() > 0)
      throw Error("sparse initializers are not supported");
  }

  static std::string example_shape(const std::vector<std::optional<int64_t>> &dims) {
    std::string s;
    for (size_t i = 0; i < dims.size(); ++i)
      s += (i ? "x" : "") + std::to_string(dims[i] ? *dims[i] : (i == 0 ? 1 : 640));
    return s;
  }

  void import_inputs(const onnx::GraphProto &gp) {
    std::vector<std::string> names;
    for (const auto &in : gp.input())
      if (!initializers_.count(in.name()))
        names.push_back(in.name());
    for (const auto &kv : opt_.input_shapes)
      if (std::find(names.begin(), names.end(), kv.first) == names.end())
        throw Error("--input-shape names '" + kv.first +
                    "', which is not a graph input (inputs: " + join(names, ", ") + ")");
    for (const auto &in : gp.input()) {
      if (initializers_.count(in.name()))
        continue;
      const std::string what = "input '" + in.name() + "'";
      if (!in.type().has_tensor_type())
        throw Error(what + ": only tensor inputs are supported");
      const auto &tt = in.type().tensor_type();
      std::optional<DType> dt = dtype_from_onnx(tt.elem_type());
      if (!dt)
        throw Error(what + ": unsupported element type " + onnx_type_name(tt.elem_type()));

      std::vector<std::optional<int64_t>> dims;
      for (const auto &d : tt.shape().dim())
        dims.push_back(d.has_dim_value() && d.dim_value() >= 0
                           ? std::optional<int64_t>(d.dim_value())
                           : std::nullopt);
      Shape shape;
      auto ov = opt_.input_shapes.find(in.name());
      if (ov != opt_.input_shapes.end()) {
        if (tt.has_shape() && ov->second.size() != dims.size())
          throw Error(what + " has rank " + std::to_string(dims.size()) + ", but the given shape " +
                      shape_str(ov->second) + " has rank " + std::to_string(ov->second.size()));
        shape = ov->second;
      } else {
        if (!tt.has_shape())
          throw Error(what + " has no shape; give one with --input-shape " + in.name() +
                      "=1x3x640x640");
        for (size_t i = 0; i < dims.size(); ++i) {
          if (dims[i]) {
            shape.push_back(*dims[i]);
            continue;
          }
          const auto &d = tt.shape().dim(static_cast<int>(i));
          std::string label = d.dim_param().empty() ? "?" : "'" + d.dim_param() + "'";
          throw Error(what + " has a dynamic dimension " + label + " (dim " + std::to_string(i) +
                      "); give a static shape with --input-shape " + in.name() + "=" +
                      example_shape(dims));
        }
      }
      Value *v = g_->add_input(in.name(), *dt, shape);
      named_.insert(v);
      define(in.name(), v);
    }
  }

  [[noreturn]] void unsupported(const onnx::NodeProto &n, const std::string &name) {
    std::vector<std::string> ops = supported_onnx_ops();
    throw Error("node '" + name + "' (" + n.op_type() + ", domain '" + n.domain() + "', opset " +
                std::to_string(domain_opset(n.domain())) +
                "): unsupported op; supported: " + join(ops, ", "));
  }

  void import_node(const onnx::NodeProto &n, int index) {
    std::string name = n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
    auto it = importer_table().find(is_default_domain(n.domain()) ? n.op_type()
                                                                  : n.domain() + "." + n.op_type());
    if (it == importer_table().end())
      unsupported(n, name);
    cx_.begin_node(n, name);
    std::vector<Value *> outs;
    try {
      outs = it->second(cx_);
    } catch (const NodeError &) {
      throw;
    } catch (const Error &e) { // from below the importer (folding, tensor sizes): name the node
      cx_.fail(e.what());
    }
    for (int i = 0; i < n.output_size(); ++i) {
      const std::string &out = n.output(i);
      if (out.empty())
        continue;
      Value *v = i < static_cast<int>(outs.size()) ? outs[i] : nullptr;
      if (!v) {
        if (cx_.output_used(i))
          cx_.fail("output #" + std::to_string(i) + " ('" + out + "') is not supported");
        continue;
      }
      try {
        define(out, v);
      } catch (const Error &e) {
        cx_.fail(e.what());
      }
    }
  }

  void import_outputs(const onnx::GraphProto &gp) {
    for (const auto &o : gp.output()) {
      Value *v = cx_.lookup(o.name());
      if (!v)
        throw Error("graph output '" + o.name() + "' is not produced by any node");
      // An output that is an input, a constant or another ONNX name gets its own Identity, so
      // every output is a node result under its ONNX name.
      // A graph input keeps its name (callers bind inputs by name), so an output that is
      // also an input gets a suffixed name; a constant is renamed instead.
      if (v->name != o.name() || v->is_constant() || !v->producer) {
        bool is_input = !v->producer && !v->is_constant();
        if (v->name == o.name() && !is_input)
          g_->set_name(v, g_->unique_name(o.name() + "_value"));
        Node *id = g_->add_node(OpKind::Identity, {v}, {}, o.name());
        v = id->outputs[0];
        if (g_->find(o.name()) && g_->find(o.name()) != v && is_input)
          g_->set_name(v, g_->unique_name(o.name() + "_out"));
        else
          claim_name(v, o.name());
      }
      g_->outputs().push_back(v);
    }
  }

  const onnx::ModelProto &m_;
  const ImportOptions &opt_;
  std::unique_ptr<Graph> g_;
  ImportContext cx_;
  std::set<std::string> initializers_;
  std::set<Value *> named_; ///< values that carry an ONNX name
};

} // namespace

std::vector<std::string> supported_onnx_ops() {
  std::vector<std::string> ops;
  for (const auto &kv : importer_table())
    ops.push_back(kv.first);
  return ops;
}

std::unique_ptr<Graph> import_onnx_bytes(const std::string &bytes, const std::string &model_dir,
                                         const std::string &what, const ImportOptions &opt) {
  onnx::ModelProto m;
  if (bytes.empty() || !m.ParseFromString(bytes))
    throw Error(what + ": not an ONNX model (protobuf parse failed)");
  if (!m.has_graph() || m.ir_version() <= 0)
    throw Error(what + ": not an ONNX model (no graph or ir_version)");
  try {
    int64_t opset = -1;
    for (const auto &o : m.opset_import())
      if (is_default_domain(o.domain()))
        opset = o.version();
    if (opset < kMinOpset || opset > kMaxOpset)
      throw Error("default-domain opset " + (opset < 0 ? "missing" : std::to_string(opset)) +
                  " is not supported (supported: " + std::to_string(kMinOpset) + ".." +
                  std::to_string(kMaxOpset) + ")");
    return ModelImporter(m, model_dir, opt).run();
  } catch (const Error &e) {
    throw Error(what + ": " + e.what());
  }
}

namespace {

std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f && !f.eof())
    throw Error(path + ": read failed");
  return ss.str();
}

} // namespace

std::unique_ptr<Graph> import_onnx(const std::string &path, const ImportOptions &opt) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return import_onnx_bytes(read_file(path), dir.empty() ? "." : dir, path, opt);
}

std::string onnx_with_outputs(const std::string &path, const std::vector<std::string> &names) {
  onnx::ModelProto m;
  if (!m.ParseFromString(read_file(path)) || !m.has_graph())
    throw Error(path + ": not an ONNX model (protobuf parse failed)");
  std::set<std::string> produced, taken;
  for (const auto &n : m.graph().node())
    produced.insert(n.output().begin(), n.output().end());
  for (const auto &o : m.graph().output())
    taken.insert(o.name());
  for (const std::string &name : names)
    if (produced.count(name) && taken.insert(name).second)
      m.mutable_graph()->add_output()->set_name(name);
  return m.SerializeAsString();
}

} // namespace kiln
