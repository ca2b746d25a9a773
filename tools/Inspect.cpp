// inspect, print and dot: a model's graph shown without compiling it (see Inspect.h).
#include "tools/Inspect.h"

#include "frontend/OnnxImporter.h"
#include "ir/AtomicFile.h"
#include "ir/Dot.h"
#include "ir/Printer.h"
#include "runtime/CacheFile.h"
#include "tools/Inputs.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <sstream>

namespace kiln {

namespace {

// True for values computed from constants only (weights, folded or dequantised weights).
std::vector<bool> weight_only_values(const Graph &g) {
  std::vector<bool> w(g.values().size(), false);
  for (const auto &v : g.values())
    w[v->id] = v->is_constant();
  for (const auto &n : g.nodes()) {
    bool all = true;
    for (const Value *in : n->inputs)
      all = all && (in == nullptr || w[in->id]);
    for (const Value *out : n->outputs)
      w[out->id] = all;
  }
  return w;
}

int64_t numel(const Value *v) { return v ? shape_numel(v->shape) : 0; }

LayerStats layer_stats(const Node &n, const std::vector<bool> &weight_only) {
  LayerStats s{&n};
  auto param = [&](size_t i) {
    if (i < n.inputs.size() && n.inputs[i] && weight_only[n.inputs[i]->id])
      s.parameters += numel(n.inputs[i]);
  };
  switch (n.op) {
  case OpKind::Conv:
  case OpKind::ConvInteger: {
    const Shape &w = n.inputs[1]->shape; // [M, C/group, kh, kw]
    s.macs = numel(n.outputs[0]) * w[1] * w[2] * w[3];
    param(1);
    if (n.op == OpKind::Conv)
      param(2);
    break;
  }
  case OpKind::QLinearConv: {
    const Shape &w = n.inputs[3]->shape; // [M, C/group, kh, kw]
    s.macs = numel(n.outputs[0]) * w[1] * w[2] * w[3];
    param(3);
    param(8);
    break;
  }
  case OpKind::ConvTranspose: {
    const Shape &w = n.inputs[1]->shape; // [C, M/group, kh, kw]
    s.macs = numel(n.inputs[0]) * w[1] * w[2] * w[3];
    param(1);
    param(2);
    break;
  }
  case OpKind::Gemm: {
    const Shape &a = n.inputs[0]->shape;
    int64_t k = n.attrs.i("transA") ? a[0] : a[1];
    s.macs = numel(n.outputs[0]) * k;
    param(0);
    param(1);
    param(2);
    break;
  }
  case OpKind::MatMul:
  case OpKind::MatMulInteger: {
    s.macs = numel(n.outputs[0]) * n.inputs[0]->shape.back();
    param(0);
    param(1);
    break;
  }
  default: // every other op has no weights and no multiply-accumulates worth counting
    break;
  }
  return s;
}

std::string type_str(const Value *v) {
  return fmt::format("{}[{}]", dtype_name(v->dtype), fmt::join(v->shape, ","));
}

std::string outputs_str(const Node &n) {
  std::string r;
  for (const Value *o : n.outputs)
    r += (r.empty() ? "" : " ") + shape_str(o->shape);
  return r;
}

// Keeps the end of long names: "/model.22/cv3.2/cv3.2.2/Conv" is told apart by its tail.
std::string fit(const std::string &s, size_t width) {
  if (s.size() <= width)
    return s;
  return "..." + s.substr(s.size() - (width - 3));
}

nlohmann::json io_json(const std::vector<Value *> &vs) {
  nlohmann::json a = nlohmann::json::array();
  for (const Value *v : vs)
    a.push_back({{"name", v->name}, {"shape", v->shape}, {"dtype", dtype_name(v->dtype)}});
  return a;
}

} // namespace

ModelStats model_stats(const Graph &g) {
  ModelStats s;
  std::vector<bool> weight_only = weight_only_values(g);
  for (const auto &n : g.nodes()) {
    s.layers.push_back(layer_stats(*n, weight_only));
    s.parameters += s.layers.back().parameters;
    s.macs += s.layers.back().macs;
  }
  for (const auto &v : g.values())
    if (v->is_constant())
      s.weight_bytes += static_cast<int64_t>(v->constant->nbytes());
  return s;
}

void print_inspect_table(std::ostream &os, const Graph &g, const ModelStats &s,
                         const std::string &model_name) {
  os << fmt::format("{}\n", model_name);
  for (const Value *v : g.inputs())
    os << fmt::format("  input  {:<16} {}\n", v->name, type_str(v));
  for (const Value *v : g.outputs())
    os << fmt::format("  output {:<16} {}\n", v->name, type_str(v));
  os << "\n";
  os << fmt::format("{:>4}  {:<44} {:<18} {:<22} {:>10} {:>14}\n", "#", "layer", "op",
                    "output shape", "params", "MACs");
  os << fmt::format("{:-<4}  {:-<44} {:-<18} {:-<22} {:->10} {:->14}\n", "", "", "", "", "", "");
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const LayerStats &l = s.layers[i];
    os << fmt::format("{:>4}  {:<44} {:<18} {:<22} {:>10} {:>14}\n", i, fit(l.node->name, 44),
                      op_name(l.node->op), fit(outputs_str(*l.node), 22),
                      l.parameters ? fmt::format("{:L}", l.parameters) : "",
                      l.macs ? fmt::format("{:L}", l.macs) : "");
  }
  std::map<std::string_view, int> ops;
  for (const auto &n : g.nodes())
    ++ops[op_name(n->op)];
  os << "\nops:";
  for (auto &[name, count] : ops)
    os << fmt::format(" {} {}", name, count);
  os << "\n";
  os << fmt::format("nodes {}, parameters {} ({:.2f} M), MACs {:.2f} G, FLOPs {:.2f} G, weights "
                    "{:.2f} MB\n",
                    g.nodes().size(), s.parameters, s.parameters / 1e6, s.macs / 1e9,
                    2.0 * s.macs / 1e9, s.weight_bytes / 1e6);
}

nlohmann::json inspect_json(const Graph &g, const ModelStats &s, const std::string &model_name) {
  nlohmann::json layers = nlohmann::json::array();
  std::map<std::string, int> ops;
  for (const LayerStats &l : s.layers) {
    nlohmann::json outs = nlohmann::json::array();
    for (const Value *o : l.node->outputs)
      outs.push_back({{"name", o->name}, {"shape", o->shape}, {"dtype", dtype_name(o->dtype)}});
    layers.push_back({{"name", l.node->name},
                      {"op", op_name(l.node->op)},
                      {"outputs", outs},
                      {"parameters", l.parameters},
                      {"macs", l.macs}});
    ++ops[std::string(op_name(l.node->op))];
  }
  return {
      {"model", model_name}, {"parameters", s.parameters},     {"macs", s.macs},
      {"flops", 2 * s.macs}, {"weight_bytes", s.weight_bytes}, {"nodes", g.nodes().size()},
      {"ops", ops},          {"inputs", io_json(g.inputs())},  {"outputs", io_json(g.outputs())},
      {"layers", layers}};
}

GraphCommands add_graph_commands(CLI::App &app, GraphArgs &a) {
  GraphCommands c;
  c.inspect = app.add_subcommand(
      "inspect", "per-layer table: shapes, parameters, MACs; or a .kiln file's manifest");
  c.inspect->add_option("model", a.model, "model.onnx, or a compiled .kiln file")->required();
  c.inspect->add_option("--input-shape", a.input_shapes,
                        "override an input shape, NAME=1x3x640x640");
  c.inspect->add_flag("--json", a.json, "print one JSON object");

  c.print = app.add_subcommand("print", "print the imported graph IR as text");
  c.print->add_option("model", a.model, "model.onnx")->required();
  c.print->add_option("--input-shape", a.input_shapes, "override an input shape");
  c.print->add_option("--elide", a.elide, "elide constants above N elements (-1: print all)")
      ->capture_default_str();
  c.print->add_option("-o", a.output, "output file (default stdout)");

  c.dot = app.add_subcommand("dot", "write the graph as Graphviz DOT");
  c.dot->add_option("model", a.model, "model.onnx")->required();
  c.dot->add_option("--input-shape", a.input_shapes, "override an input shape");
  c.dot->add_option("-o", a.output, "output file (default stdout)");
  return c;
}

namespace {

// Writes text to `path` atomically, or to stdout when path is empty or "-".
void write_text(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    return;
  }
  write_text_file(path, text);
}

std::string mib(int64_t bytes) { return fmt::format("{:.2f} MiB", bytes / 1048576.0); }

/// "images f32[1x3x640x640]" for each entry of a manifest's inputs/outputs.
std::string infos_str(const nlohmann::json &a) {
  std::string s;
  for (const auto &t : a)
    s += (s.empty() ? "" : ", ") + t.at("name").get<std::string>() + " " +
         t.at("dtype").get<std::string>() + "[" + shape_str(t.at("shape").get<Shape>()) + "]";
  return s;
}

/// `kiln inspect MODEL.kiln`: the compiled file's manifest (what was compiled, for what, and
/// what a run does), checked like a load but without linking any code.
int inspect_kiln_file(const std::string &path, bool json) {
  std::unique_ptr<CacheFile> f;
  try {
    f = CacheFile::open(path, nullptr);
  } catch (const CacheFileError &x) {
    throw Error(path + ": cache file is " + x.kind + " (" + x.detail + ")");
  }
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(f->manifest());
    const nlohmann::json &d = m.at("schedule");
    if (json) {
      m["file"] = {{"path", path},
                   {"key", digest_hex(f->key())},
                   {"manifest_bytes", f->manifest().size()},
                   {"object_bytes", f->object().size()},
                   {"weights_bytes", f->weights_size()}};
      std::cout << m.dump(2) << "\n";
      return 0;
    }
    const nlohmann::json &kernels = d.at("kernels"), &launches = d.at("launches");
    fmt::print("{}: {}\n", path, m.at("release").get<std::string>());
    fmt::print("  compiled by  {}\n", m.at("compiler").get<std::string>());
    std::string target = m.at("target").get<std::string>();
    fmt::print("  target       {}\n", target.substr(0, target.find(",")) +
                                          (target.find(",") == std::string::npos ? "" : ",..."));
    fmt::print("  model        {}\n", m.at("model").value("path", "-"));
    fmt::print("  passes       {}\n", m.at("pipeline").get<std::string>());
    fmt::print("  precision    {}\n", m.value("precision", "f32"));
    fmt::print("  inputs       {}\n", infos_str(m.at("inputs")));
    fmt::print("  outputs      {}\n", infos_str(m.at("outputs")));
    fmt::print("  kernels      {} compiled, {} launches per run, {} weight-only launches at "
               "capture\n",
               kernels.size(), launches.size(), d.at("weight_only_launches").get<int>());
    fmt::print("  arena        {} (lower bound {}, without reuse {})\n",
               mib(d.at("arena_bytes").get<int64_t>()),
               mib(d.at("arena_lower_bound_bytes").get<int64_t>()),
               mib(d.at("arena_naive_bytes").get<int64_t>()));
    fmt::print("  file         {} manifest, {} code, {} weights; key {}\n",
               mib(static_cast<int64_t>(f->manifest().size())),
               mib(static_cast<int64_t>(f->object().size())),
               mib(static_cast<int64_t>(f->weights_size())), digest_hex(f->key()));
    fmt::print("\n  {:>4}  {:<44} {:>8}  {}\n", "#", "kernel", "extent", "node(s)");
    for (size_t i = 0; i < launches.size(); ++i) {
      const nlohmann::json &l = launches[i];
      fmt::print("  {:>4}  {:<44} {:>8}  {}\n", i,
                 kernels.at(l.at("kernel").get<size_t>()).get<std::string>(),
                 l.at("extent").get<int64_t>(), l.at("node").get<std::string>());
    }
  } catch (const nlohmann::json::exception &x) {
    throw Error(path + ": manifest: " + x.what());
  }
  return 0;
}

} // namespace

int cmd_graph(const GraphCommands &c, const GraphArgs &a) {
  if (c.inspect->parsed() && is_kiln_file(a.model))
    return inspect_kiln_file(a.model, a.json);
  std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.input_shapes));
  if (c.inspect->parsed()) {
    ModelStats s = model_stats(*g);
    std::string name = std::filesystem::path(a.model).filename().string();
    if (a.json)
      std::cout << inspect_json(*g, s, name).dump(2) << "\n";
    else
      print_inspect_table(std::cout, *g, s, name);
    return 0;
  }
  if (c.print->parsed()) {
    write_text(a.output, graph_to_string(*g, PrintOptions{a.elide}));
    return 0;
  }
  std::ostringstream os;
  write_dot(os, *g);
  write_text(a.output, os.str());
  return 0;
}

} // namespace kiln
