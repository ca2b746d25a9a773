// The kiln command line: inspect, run, print and dot a model.
#include "frontend/OnnxImporter.h"
#include "ir/Dot.h"
#include "ir/Npy.h"
#include "ir/Printer.h"
#include "ir/Reference.h"
#include "tools/Inspect.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

// "images=1x3x320x320" -> {"images", {1,3,320,320}}.
std::pair<std::string, Shape> parse_input_shape(const std::string &spec) {
  size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--input-shape '" + spec + "': expected NAME=DxDx... (e.g. images=1x3x640x640)");
  Shape shape;
  std::string dims = spec.substr(eq + 1);
  size_t pos = 0;
  while (pos <= dims.size()) {
    size_t x = dims.find_first_of("x,", pos);
    std::string d = dims.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    char *end = nullptr;
    long long v = std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || *end != '\0' || v <= 0)
      throw Error("--input-shape '" + spec + "': dimension '" + d + "' is not a positive integer");
    shape.push_back(v);
    if (x == std::string::npos)
      break;
    pos = x + 1;
  }
  return {spec.substr(0, eq), shape};
}

ImportOptions import_options(const std::vector<std::string> &shape_specs) {
  ImportOptions opt;
  for (const std::string &s : shape_specs)
    opt.input_shapes.insert(parse_input_shape(s));
  return opt;
}

std::string type_str(DType t, const Shape &s) {
  return std::string(dtype_name(t)) + "[" + shape_str(s) + "]";
}

// A file name for an output: characters outside [A-Za-z0-9_.-] become '_'.
std::string file_stem(const std::string &name) {
  std::string r = name;
  for (char &c : r)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      c = '_';
  return r;
}

Tensor random_input(const Value &v, uint32_t seed) {
  Tensor t(v.dtype, v.shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  dispatch_dtype(v.dtype, [&](auto tag) {
    using T = decltype(tag);
    T *p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = is_float(v.dtype) ? from_f64<T>(uni(rng)) : from_f64<T>(0.0);
  });
  return t;
}

// Binds --input NAME=FILE.npy (or a bare FILE.npy for a single-input model) to graph inputs.
std::vector<Tensor> load_inputs(const Graph &g, const std::vector<std::string> &specs,
                                uint32_t seed) {
  std::vector<Tensor> inputs(g.inputs().size());
  for (const std::string &spec : specs) {
    size_t eq = spec.find('=');
    std::string name = eq == std::string::npos ? "" : spec.substr(0, eq);
    std::string file = eq == std::string::npos ? spec : spec.substr(eq + 1);
    if (name.empty() && g.inputs().size() == 1)
      name = g.inputs()[0]->name;
    auto it = std::find_if(g.inputs().begin(), g.inputs().end(),
                           [&](const Value *v) { return v->name == name; });
    if (it == g.inputs().end()) {
      std::string names;
      for (const Value *v : g.inputs())
        names += (names.empty() ? "" : ", ") + v->name;
      throw Error("--input '" + spec + "': the model has no input named '" + name +
                  "' (inputs: " + names + ")");
    }
    const Value &v = **it;
    Tensor t = read_npy(file);
    if (t.dtype() != v.dtype || t.shape() != v.shape)
      throw Error("input '" + v.name + "' expects " + type_str(v.dtype, v.shape) + " but " + file +
                  " holds " + type_str(t.dtype(), t.shape()));
    inputs[it - g.inputs().begin()] = t;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      inputs[i] = random_input(*g.inputs()[i], seed + static_cast<uint32_t>(i));
  return inputs;
}

struct RunArgs {
  std::string model;
  std::string target = "reference";
  std::vector<std::string> inputs, input_shapes;
  std::string output_dir;
  bool json = false;
  uint32_t seed = 0;
};

int cmd_run(const RunArgs &a) {
  if (a.target != "reference")
    throw Error("--target '" + a.target +
                "' is not available in this build (available: reference)");
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.input_shapes));
  auto t1 = std::chrono::steady_clock::now();
  std::vector<Tensor> inputs = load_inputs(*g, a.inputs, a.seed);

  bool progress = !a.json && isatty(STDERR_FILENO);
  size_t total = g->nodes().size();
  auto t2 = std::chrono::steady_clock::now();
  std::vector<Tensor> outputs = run_reference(*g, inputs, [&](size_t i, const Node &n) {
    if (progress)
      fmt::print(stderr, "\r[{:>4}/{}] {:<60.60}", i + 1, total, n.name);
  });
  auto t3 = std::chrono::steady_clock::now();
  if (progress)
    fmt::print(stderr, "\r{:<80}\r", "");

  // Outputs are written only after the whole run succeeded; each file is written atomically.
  std::vector<std::string> files(outputs.size());
  if (!a.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(a.output_dir, ec);
    if (ec)
      throw Error("--output-dir '" + a.output_dir + "': " + ec.message());
    for (size_t i = 0; i < outputs.size(); ++i) {
      files[i] = (fs::path(a.output_dir) / (file_stem(g->outputs()[i]->name) + ".npy")).string();
      write_npy(files[i], outputs[i]);
    }
  }

  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  if (a.json) {
    nlohmann::json outs = nlohmann::json::array();
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::vector<double> v = outputs[i].to_f64_vector();
      auto [mn, mx] = std::minmax_element(v.begin(), v.end());
      nlohmann::json o = {{"name", g->outputs()[i]->name},
                          {"shape", outputs[i].shape()},
                          {"dtype", dtype_name(outputs[i].dtype())}};
      if (!v.empty()) {
        o["min"] = *mn;
        o["max"] = *mx;
      }
      if (!files[i].empty())
        o["file"] = files[i];
      outs.push_back(o);
    }
    nlohmann::json j = {{"model", a.model},       {"target", a.target}, {"import_ms", ms(t1 - t0)},
                        {"wall_ms", ms(t3 - t2)}, {"kernels", total},   {"outputs", outs}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: {} nodes, import {:.1f} ms, reference run {:.1f} ms\n", a.model, total,
             ms(t1 - t0), ms(t3 - t2));
  for (size_t i = 0; i < outputs.size(); ++i)
    fmt::print("  {} {}{}\n", g->outputs()[i]->name,
               type_str(outputs[i].dtype(), outputs[i].shape()),
               files[i].empty() ? "" : " -> " + files[i]);
  return 0;
}

// Writes text to `path` atomically, or to stdout when path is empty or "-".
void write_text(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    return;
  }
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f) {
      std::remove(tmp.c_str());
      throw Error(path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename temporary file into place");
  }
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

} // namespace

int main(int argc, char **argv) {
  std::locale::global(std::locale("C"));
  CLI::App app{"kiln: a tensor compiler and runtime for YOLO graphs"};
  app.require_subcommand(1);

  std::string model;
  std::vector<std::string> input_shapes;
  bool json = false;

  auto *inspect = app.add_subcommand("inspect", "per-layer table: shapes, parameters, MACs");
  inspect->add_option("model", model, "model.onnx")->required();
  inspect->add_option("--input-shape", input_shapes, "override an input shape, NAME=1x3x640x640");
  inspect->add_flag("--json", json, "print one JSON object");

  RunArgs run_args;
  auto *run = app.add_subcommand("run", "run a model and write its outputs as .npy");
  run->add_option("model", run_args.model, "model.onnx")->required();
  run->add_option("--target,--backend", run_args.target, "where to run: reference")
      ->capture_default_str();
  run->add_option("--input", run_args.inputs, "NAME=FILE.npy (random input when absent)");
  run->add_option("--input-shape", run_args.input_shapes, "override an input shape");
  run->add_option("--output-dir,-o", run_args.output_dir, "write DIR/<output>.npy");
  run->add_option("--seed", run_args.seed, "seed of the random inputs")->capture_default_str();
  run->add_flag("--json", run_args.json, "print timings and outputs as JSON");

  std::string out_path;
  int64_t elide = 16;
  auto *print = app.add_subcommand("print", "print the imported graph IR as text");
  print->add_option("model", model, "model.onnx")->required();
  print->add_option("--input-shape", input_shapes, "override an input shape");
  print->add_option("--elide", elide, "elide constants above N elements (-1: print all)")
      ->capture_default_str();
  print->add_option("-o", out_path, "output file (default stdout)");

  auto *dot = app.add_subcommand("dot", "write the graph as Graphviz DOT");
  dot->add_option("model", model, "model.onnx")->required();
  dot->add_option("--input-shape", input_shapes, "override an input shape");
  dot->add_option("-o", out_path, "output file (default stdout)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (run->parsed())
      return cmd_run(run_args);
    std::unique_ptr<Graph> g = import_onnx(model, import_options(input_shapes));
    if (inspect->parsed()) {
      ModelStats s = model_stats(*g);
      std::string name = fs::path(model).filename().string();
      if (json)
        std::cout << inspect_json(*g, s, name).dump(2) << "\n";
      else
        print_inspect_table(std::cout, *g, s, name);
      return 0;
    }
    if (print->parsed()) {
      write_text(out_path, graph_to_string(*g, PrintOptions{elide}));
      return 0;
    }
    std::ostringstream os;
    write_dot(os, *g);
    write_text(out_path, os.str());
    return 0;
  } catch (const Error &e) {
    fmt::print(stderr, "kiln: error: {}\n", one_line(e.what()));
    return 1;
  } catch (const std::exception &e) {
    fmt::print(stderr, "kiln: error: internal: {}\n", one_line(e.what()));
    return 2;
  }
}
