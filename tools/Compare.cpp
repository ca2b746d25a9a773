// `kiln compare` (see Compare.h).
#include "tools/Compare.h"

#include "frontend/OnnxImporter.h"
#include "ir/AtomicFile.h"
#include "ir/Error.h"
#include "ir/Npy.h"
#include "ir/Reference.h"
#include "tools/Decode.h"
#include "tools/Inputs.h"
#include "tools/Validate.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace kiln {

namespace {

/// ONNX Runtime's value for every graph output of the model (which lists every value).
constexpr const char *kOrtValuesScript = R"PY(import os, sys
import numpy as np
import onnxruntime as ort
model, in_dir, out_dir = sys.argv[1:4]
so = ort.SessionOptions()
so.log_severity_level = 3
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
feed = {i.name: np.load(os.path.join(in_dir, f"{k}.npy")) for k, i in enumerate(sess.get_inputs())}
names = [o.name for o in sess.get_outputs()]
for k, v in enumerate(sess.run(names, feed)):
    np.save(os.path.join(out_dir, f"{k}.npy"), v)
print("onnxruntime", ort.__version__)
)PY";

struct Row {
  std::string name, op;
  Shape shape;
  double max_abs = 0, max_rel = 0, cosine = 1;
  bool shape_mismatch = false;
};

Row compare_values(const Tensor &got, const Tensor &want) {
  Row r;
  r.shape = want.shape();
  if (got.shape() != want.shape()) {
    r.shape_mismatch = true;
    r.max_abs = r.max_rel = INFINITY;
    r.cosine = 0;
    return r;
  }
  double dot = 0, ng = 0, nw = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double g = got.get_f64(i), w = want.get_f64(i);
    if (std::isnan(g) || std::isnan(w)) {
      if (std::isnan(g) != std::isnan(w))
        r.max_abs = r.max_rel = INFINITY;
      continue;
    }
    double d = std::abs(g - w);
    r.max_abs = std::max(r.max_abs, d);
    if (d > 0)
      r.max_rel = std::max(r.max_rel, w == 0 ? INFINITY : d / std::abs(w));
    dot += g * w, ng += g * g, nw += w * w;
  }
  // Two zero tensors are the same direction; one zero tensor against another is not.
  r.cosine = ng == 0 && nw == 0 ? 1 : ng == 0 || nw == 0 ? 0 : dot / std::sqrt(ng * nw);
  return r;
}

/// The model's inputs from --input files or --image (letterboxed for the model's head).
std::vector<Tensor> compare_inputs(const CompareArgs &a, const Graph &g) {
  std::vector<InputSpec> specs = input_specs(g);
  if (a.image.empty())
    return load_inputs(specs, a.inputs, 0);
  if (!a.inputs.empty())
    throw Error("give --input or --image, not both");
  auto info = [](const std::vector<Value *> &vs) {
    std::vector<TensorInfo> t;
    for (const Value *v : vs)
      t.push_back({v->name, static_cast<ElementType>(v->dtype), v->shape});
    return t;
  };
  ModelInfo m = recognise_model(info(g.inputs()), info(g.outputs()), g.metadata());
  if (specs.size() != 1)
    throw Error("--image needs a model with one input; " + a.model + " has " +
                std::to_string(specs.size()));
  Letterbox lb;
  return {to_tensor(preprocess(load_image(a.image), m, lb))};
}

/// ONNX Runtime's values of the model at `with_values` (every listed value an output).
std::vector<Tensor> ort_values(const CompareArgs &a, const std::string &with_values,
                               const std::vector<Tensor> &inputs, const fs::path &tmp, size_t count,
                               std::string &version) {
  std::string python = find_ort_python(a.ort_python, tmp);
  if (python.empty())
    throw Error(a.ort_python.empty()
                    ? "--onnxruntime: no Python with numpy and onnxruntime found (see --ort-python)"
                    : "--ort-python '" + a.ort_python + "' cannot import numpy and onnxruntime");
  fs::create_directories(tmp / "in");
  fs::create_directories(tmp / "out");
  for (size_t i = 0; i < inputs.size(); ++i)
    write_npy((tmp / "in" / (std::to_string(i) + ".npy")).string(), inputs[i]);
  std::string script = (tmp / "ort_values.py").string(), log = (tmp / "ort.log").string();
  write_text_file(script, kOrtValuesScript);
  if (run_process({python, script, with_values, (tmp / "in").string(), (tmp / "out").string()},
                  log) != 0)
    throw Error("ONNX Runtime (" + python + ") failed: " + last_line(log));
  version = last_line(log);
  std::vector<Tensor> out;
  for (size_t i = 0; i < count; ++i)
    out.push_back(read_npy((tmp / "out" / (std::to_string(i) + ".npy")).string()));
  return out;
}

std::string shape_text(const Shape &s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i)
    t += (i ? "x" : "") + std::to_string(s[i]);
  return t.empty() ? "scalar" : t;
}

} // namespace

CLI::App *add_compare_command(CLI::App &app, CompareArgs &a) {
  auto *c = app.add_subcommand(
      "compare", "compare a compiled model with the reference interpreter (or ONNX Runtime), "
                 "value by value");
  c->add_option("model", a.model, "model.onnx")->required();
  add_session_flags(c, a.session);
  c->add_option("--input", a.inputs, "NAME=FILE.npy (random input when absent)");
  c->add_option("--image", a.image, "an image, letterboxed as `kiln detect` does");
  c->add_option("--threshold", a.threshold, "max abs error that marks a value")
      ->capture_default_str();
  c->add_flag("--onnxruntime", a.onnxruntime,
              "compare with ONNX Runtime's values instead of the reference interpreter's");
  c->add_option("--ort-python", a.ort_python,
                "Python with onnxruntime (default: $KILN_PYTHON, the project's .venv, python3)");
  c->add_flag("--json", a.json, "print the table as JSON");
  return c;
}

int cmd_compare(const CompareArgs &a) {
  if (a.session.target == "reference")
    throw Error("compare checks a compiled target against the reference interpreter; use "
                "--target cpu or opencl");
  if (fs::path(a.model).extension() != ".onnx")
    throw Error("compare needs an .onnx model (a .kiln file has no graph to compare): " + a.model);
  if (!(a.threshold >= 0))
    throw Error("--threshold must be a number >= 0");
  std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.session.input_shapes));
  std::vector<Tensor> inputs = compare_inputs(a, *g);

  // Every value computed from the inputs, in graph order, with the op that makes it.
  std::vector<std::string> names;
  std::map<std::string, std::string> op_of;
  for (const auto &n : g->nodes())
    for (const Value *v : n->outputs)
      if (v && !v->is_constant() && op_of.emplace(v->name, std::string(op_name(n->op))).second)
        names.push_back(v->name);

  std::string tmp_name = (fs::temp_directory_path() / "kiln-compare-XXXXXX").string();
  if (!::mkdtemp(tmp_name.data()))
    throw Error("cannot make a scratch folder in " + fs::temp_directory_path().string());
  fs::path tmp = tmp_name;
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};
  std::string with_values = (tmp / "model.onnx").string();
  write_text_file(with_values, onnx_with_outputs(a.model, names));

  // The compiled model's values.
  Session s = open_session(with_values, session_options(a.session));
  std::vector<NamedTensor> in, out;
  std::vector<InputSpec> specs = input_specs(s.inputs());
  for (size_t i = 0; i < specs.size(); ++i)
    in.push_back({specs[i].name, host_view(inputs[i])});
  std::vector<Tensor> got;
  got.reserve(s.outputs().size());
  std::map<std::string, size_t> index;
  for (const TensorInfo &t : s.outputs()) {
    got.emplace_back(static_cast<DType>(t.type), t.shape);
    index[t.name] = out.size();
    out.push_back({t.name, host_view(got.back())});
  }
  throw_if_failed(s.run(in, out));

  // What it is compared with: the interpreter, or ONNX Runtime, on the same model and inputs.
  std::string against = "reference", ort_version;
  std::vector<Tensor> want;
  if (a.onnxruntime) {
    want = ort_values(a, with_values, inputs, tmp, out.size(), ort_version);
    against = ort_version;
  } else {
    std::unique_ptr<Graph> wg = import_onnx(with_values, import_options(a.session.input_shapes));
    want = run_reference(*wg, inputs);
  }

  std::vector<Row> rows;
  int first = -1;
  for (const std::string &name : names) {
    auto it = index.find(name);
    if (it == index.end())
      continue;
    Row r = compare_values(got[it->second], want[it->second]);
    r.name = name, r.op = op_of[name];
    if (first < 0 && !(r.max_abs <= a.threshold))
      first = static_cast<int>(rows.size());
    rows.push_back(std::move(r));
  }

  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["target"] = a.session.target;
    j["against"] = a.onnxruntime ? "onnxruntime" : "reference";
    if (a.onnxruntime)
      j["onnxruntime_version"] = ort_version;
    j["threshold"] = a.threshold;
    j["first_over_threshold"] = first < 0 ? nlohmann::json() : nlohmann::json(rows[first].name);
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
    for (const Row &r : rows)
      j["values"].push_back({{"name", r.name},
                             {"op", r.op},
                             {"shape", r.shape},
                             {"max_abs", num(r.max_abs)},
                             {"max_rel", num(r.max_rel)},
                             {"cosine", r.cosine}});
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} on {} vs {}: {} values, threshold {:g}\n", a.model, a.session.target, against,
             rows.size(), a.threshold);
  fmt::print("   {:<60} {:<22} {:<16} {:>10} {:>10} {:>12}\n", "value", "op", "shape", "max abs",
             "max rel", "cosine");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row &r = rows[i];
    std::string name = r.name.size() > 60 ? "..." + r.name.substr(r.name.size() - 57) : r.name;
    fmt::print("{} {:<60} {:<22} {:<16} {:>10.3g} {:>10.3g} {:>12.9f}\n",
               static_cast<int>(i) == first ? ">>" : "  ", name, r.op, shape_text(r.shape),
               r.max_abs, r.max_rel, r.cosine);
  }
  if (first < 0)
    fmt::print("every value within {:g}\n", a.threshold);
  else
    fmt::print("first value past {:g}: {} ({})\n", a.threshold, rows[first].name, rows[first].op);
  return 0;
}

} // namespace kiln
