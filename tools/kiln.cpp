// The kiln command line: inspect, compile, run, print and dot a model.
#include "frontend/OnnxImporter.h"
#include "ir/AtomicFile.h"
#include "ir/Dot.h"
#include "ir/Npy.h"
#include "ir/Printer.h"
#include "ir/Reference.h"
#include "passes/PassManager.h"
#include "tools/Inspect.h"
#include "tools/Sweep.h"
#include "tools/Validate.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <kiln/kiln.h>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <sys/resource.h>
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

// A file name for an output: characters outside [A-Za-z0-9_.-] become '_'.
std::string file_stem(const std::string &name) {
  std::string r = name;
  for (char &c : r)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      c = '_';
  return r;
}

// What a model input must be: from the graph (reference) or from a session (cpu, .kiln files).
struct InputSpec {
  std::string name;
  DType dtype;
  Shape shape;
};

std::vector<InputSpec> input_specs(const Graph &g) {
  std::vector<InputSpec> v;
  for (const Value *x : g.inputs())
    v.push_back({x->name, x->dtype, x->shape});
  return v;
}

Tensor random_input(const InputSpec &v, uint32_t seed) {
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

// Binds --input NAME=FILE.npy (or a bare FILE.npy for a single-input model) to model inputs.
std::vector<Tensor> load_inputs(const std::vector<InputSpec> &specs_in,
                                const std::vector<std::string> &specs, uint32_t seed) {
  std::vector<Tensor> inputs(specs_in.size());
  for (const std::string &spec : specs) {
    size_t eq = spec.find('=');
    std::string name = eq == std::string::npos ? "" : spec.substr(0, eq);
    std::string file = eq == std::string::npos ? spec : spec.substr(eq + 1);
    if (name.empty() && specs_in.size() == 1)
      name = specs_in[0].name;
    auto it = std::find_if(specs_in.begin(), specs_in.end(),
                           [&](const InputSpec &v) { return v.name == name; });
    if (it == specs_in.end()) {
      std::string names;
      for (const InputSpec &v : specs_in)
        names += (names.empty() ? "" : ", ") + v.name;
      throw Error("--input '" + spec + "': the model has no input named '" + name +
                  "' (inputs: " + names + ")");
    }
    const InputSpec &v = *it;
    Tensor t = read_npy(file);
    if (t.dtype() != v.dtype || t.shape() != v.shape)
      throw Error("input '" + v.name + "' expects " + type_str(v.dtype, v.shape) + " but " + file +
                  " holds " + type_str(t.dtype(), t.shape()));
    inputs[it - specs_in.begin()] = t;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      inputs[i] = random_input(specs_in[i], seed + static_cast<uint32_t>(i));
  return inputs;
}

struct RunArgs {
  std::string model;
  std::string target = "cpu";
  std::vector<std::string> inputs, input_shapes;
  std::string output_dir;
  bool json = false;
  uint32_t seed = 0;
  int threads = 0;
  int warmup = 1;
  int iterations = 10;
  bool check = false;
  std::string cache_dir;
  bool no_cache = false;
  std::string device; ///< --target opencl: index or name substring
  // The pass pipeline: --passes TEXT or -O N, minus every --disable PASS.
  std::string passes;
  int opt_level = -1;
  std::vector<std::string> disable;
  bool print_after_all = false, print_after_change = false, time_passes = false;
  bool profile = false;
};

/// The pipeline text the flags ask for ("O3" when none is given).
std::string pipeline_text(const RunArgs &a) {
  std::string p = a.opt_level >= 0   ? "O" + std::to_string(a.opt_level)
                  : a.passes.empty() ? std::string("O3")
                                     : a.passes;
  for (const std::string &d : a.disable)
    p += ",-" + d;
  return p;
}

/// Adds the pass flags shared by run and compile.
void add_pass_flags(CLI::App *cmd, RunArgs &a) {
  auto *passes = cmd->add_option("--passes", a.passes,
                                 "pass pipeline: O0..O3, names (fold,dce,cse,bnfold,fuse,"
                                 "ewfuse,tile,memplan,concat), tile=ocN,pxN sets the conv tile, "
                                 "-NAME drops one (default O3)");
  cmd->add_option("-O", a.opt_level, "optimisation level: -O0 .. -O3 (same as --passes ON)")
      ->check(CLI::Range(0, 3))
      ->excludes(passes);
  cmd->add_option("--disable", a.disable, "drop a pass from the pipeline (repeatable)");
  cmd->add_flag("--print-after-all", a.print_after_all, "print the IR after every pass (stderr)");
  cmd->add_flag("--print-after-change", a.print_after_change,
                "print the IR after each pass that changed it (stderr)");
  cmd->add_flag("--time-passes", a.time_passes, "per-pass time table (stderr)");
}

/// --time-passes: one line per pass run by the compile.
void print_pass_times(const SessionStats &st) {
  if (st.passes.empty()) {
    fmt::print(stderr, "passes: none ran (the schedule was loaded, not compiled)\n");
    return;
  }
  double total = 0;
  fmt::print(stderr, "{:<10} {:>9}  {}\n", "pass", "ms", "changed");
  for (const SessionStats::PassTime &p : st.passes) {
    fmt::print(stderr, "{:<10} {:>9.3f}  {}\n", p.name, p.ms, p.changed ? "yes" : "no");
    total += p.ms;
  }
  fmt::print(stderr, "{:<10} {:>9.3f}\n", "total", total);
}

nlohmann::json passes_json(const RunArgs &a, const SessionStats &st) {
  nlohmann::json ms = nlohmann::json::array();
  for (const SessionStats::PassTime &p : st.passes)
    ms.push_back({{"name", p.name}, {"ms", p.ms}, {"changed", p.changed}});
  return {{"pipeline", pipeline_text(a)},
          {"passes", parse_pipeline(pipeline_text(a)).passes},
          {"pass_ms", ms}};
}

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Writes DIR/<output>.npy for every output (each atomically); returns the file names ("" when
// there is no output folder). Called only after the whole run succeeded.
std::vector<std::string> write_outputs(const std::string &dir,
                                       const std::vector<std::string> &names,
                                       const std::vector<Tensor> &outputs) {
  std::vector<std::string> files(outputs.size());
  if (dir.empty())
    return files;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error("--output-dir '" + dir + "': " + ec.message());
  for (size_t i = 0; i < outputs.size(); ++i) {
    files[i] = (fs::path(dir) / (file_stem(names[i]) + ".npy")).string();
    write_npy(files[i], outputs[i]);
  }
  return files;
}

nlohmann::json outputs_json(const std::vector<std::string> &names,
                            const std::vector<Tensor> &outputs,
                            const std::vector<std::string> &files) {
  nlohmann::json outs = nlohmann::json::array();
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::vector<double> v = outputs[i].to_f64_vector();
    auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    nlohmann::json o = {{"name", names[i]},
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
  return outs;
}

void print_outputs(const std::vector<std::string> &names, const std::vector<Tensor> &outputs,
                   const std::vector<std::string> &files) {
  for (size_t i = 0; i < outputs.size(); ++i)
    fmt::print("  {} {}{}\n", names[i], type_str(outputs[i].dtype(), outputs[i].shape()),
               files[i].empty() ? "" : " -> " + files[i]);
}

int cmd_run_reference(const RunArgs &a) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.input_shapes));
  auto t1 = std::chrono::steady_clock::now();
  std::vector<Tensor> inputs = load_inputs(input_specs(*g), a.inputs, a.seed);

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

  std::vector<std::string> names;
  for (const Value *v : g->outputs())
    names.push_back(v->name);
  std::vector<std::string> files = write_outputs(a.output_dir, names, outputs);
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"target", a.target},
                        {"import_ms", ms_between(t0, t1)},
                        {"wall_ms", ms_between(t2, t3)},
                        {"kernels", total},
                        {"outputs", outputs_json(names, outputs, files)}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: {} nodes, import {:.1f} ms, reference run {:.1f} ms\n", a.model, total,
             ms_between(t0, t1), ms_between(t2, t3));
  print_outputs(names, outputs, files);
  return 0;
}

SessionOptions session_options(const RunArgs &a) {
  SessionOptions o;
  o.target = a.target;
  o.device = a.device;
  o.threads = a.threads;
  o.profile = a.profile;
  o.cache_dir = a.cache_dir;
  o.use_cache = !a.no_cache;
  o.pipeline = pipeline_text(a);
  o.print_ir_after = a.print_after_all ? "all" : a.print_after_change ? "changed" : "";
  for (const std::string &spec : a.input_shapes)
    o.input_shapes.insert(parse_input_shape(spec));
  return o;
}

Session open_session(const RunArgs &a) {
  Result<Session> s = Session::open(a.model, session_options(a));
  if (!s)
    throw Error(s.error());
  return std::move(*s);
}

// Max |got - want| and max |got - want| / |want|; throws a one-line Error when an element is
// outside allclose(rtol, atol) (NaN matches only NaN).
struct CheckResult {
  double max_abs = 0, max_rel = 0;
};
CheckResult check_outputs(const std::vector<std::string> &names, const std::vector<Tensor> &got,
                          const std::vector<Tensor> &want, double rtol, double atol) {
  CheckResult r;
  std::string first_bad;
  for (size_t o = 0; o < got.size(); ++o) {
    std::vector<double> g = got[o].to_f64_vector(), w = want[o].to_f64_vector();
    KILN_ASSERT(g.size() == w.size(), "check: output sizes differ");
    for (size_t i = 0; i < g.size(); ++i) {
      bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
      double d = both_nan ? 0.0 : std::fabs(g[i] - w[i]);
      if (std::isnan(d))
        d = INFINITY;
      r.max_abs = std::max(r.max_abs, d);
      if (w[i] != 0)
        r.max_rel = std::max(r.max_rel, d / std::fabs(w[i]));
      if (d > atol + rtol * std::fabs(w[i]) && first_bad.empty())
        first_bad =
            fmt::format("output '{}' element {}: {} vs reference {}", names[o], i, g[i], w[i]);
    }
  }
  if (!first_bad.empty())
    throw Error(fmt::format("--check failed: {} (max abs err {:.3g}, max rel err {:.3g}; "
                            "rtol {:g}, atol {:g})",
                            first_bad, r.max_abs, r.max_rel, rtol, atol));
  return r;
}

nlohmann::json profile_json(const std::vector<LaunchProfile> &prof) {
  nlohmann::json j = nlohmann::json::array();
  for (const LaunchProfile &p : prof)
    j.push_back({{"node", p.node}, {"kernel", p.kernel}, {"extent", p.extent}, {"ms", p.ms}});
  return j;
}

/// The slowest launches, then the time per kernel kind (the kernel name up to its first '_').
/// macs: multiply-accumulates by graph node name (from the .onnx model), for a GFLOP/s column.
void print_profile(const std::vector<LaunchProfile> &prof,
                   const std::map<std::string, int64_t> &macs) {
  if (prof.empty()) {
    fmt::print("profile: nothing timed (the opencl target is not profiled)\n");
    return;
  }
  double total = 0;
  std::map<std::string, std::pair<double, int>> kinds;
  for (const LaunchProfile &p : prof) {
    total += p.ms;
    auto &k = kinds[p.kernel.substr(0, p.kernel.find('_'))];
    k.first += p.ms;
    ++k.second;
  }
  std::vector<size_t> order(prof.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return prof[x].ms > prof[y].ms; });
  fmt::print("profile: {} launches, {:.3f} ms per run in kernels\n", prof.size(), total);
  fmt::print("  {:>4} {:>9} {:>6} {:>8} {:>8}  {:<32} {}\n", "#", "ms", "%", "GFLOP/s", "extent",
             "kernel", "node");
  for (size_t r = 0; r < std::min<size_t>(order.size(), 25); ++r) {
    const LaunchProfile &p = prof[order[r]];
    std::string node = p.node.size() > 60 ? p.node.substr(0, 57) + "..." : p.node;
    auto m = macs.find(p.node);
    std::string gflops = m != macs.end() && m->second > 0 && p.ms > 0
                             ? fmt::format("{:.1f}", 2e-6 * double(m->second) / p.ms)
                             : "";
    fmt::print("  {:>4} {:>9.3f} {:>5.1f}% {:>8} {:>8}  {:<32} {}\n", order[r], p.ms,
               100 * p.ms / total, gflops, p.extent, p.kernel.substr(0, 32), node);
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> ks(kinds.begin(), kinds.end());
  std::sort(ks.begin(), ks.end(),
            [](const auto &x, const auto &y) { return x.second.first > y.second.first; });
  fmt::print("  by kernel kind:\n");
  for (const auto &[k, v] : ks)
    fmt::print("  {:>14} {:>9.3f} ms {:>5.1f}%  {} launches\n", k, v.first, 100 * v.first / total,
               v.second);
}

int cmd_run_cpu(const RunArgs &a) {
  if (a.iterations < 1 || a.warmup < 0)
    throw Error("--iterations must be at least 1 and --warmup at least 0");
  Session s = open_session(a);
  std::vector<InputSpec> specs;
  for (const TensorInfo &t : s.inputs())
    specs.push_back({t.name, static_cast<DType>(t.type), t.shape});
  std::vector<Tensor> inputs = load_inputs(specs, a.inputs, a.seed);
  std::vector<NamedTensor> in;
  for (size_t i = 0; i < inputs.size(); ++i)
    in.push_back({specs[i].name, HostTensor::view(static_cast<ElementType>(inputs[i].dtype()),
                                                  inputs[i].shape(), inputs[i].raw())});
  // The output tensors are written in place by every run (no allocation while timing).
  std::vector<Tensor> outputs;
  std::vector<NamedTensor> out;
  std::vector<std::string> names;
  for (const TensorInfo &t : s.outputs()) {
    outputs.emplace_back(static_cast<DType>(t.type), t.shape);
    out.push_back({t.name, HostTensor::view(t.type, t.shape, outputs.back().raw())});
    names.push_back(t.name);
  }

  // Compile or load: the first run's extra cost, reported on its own.
  if (Status st = s.compile(); !st)
    throw Error(st.error());
  auto check_status = [](const Status &st) {
    if (!st)
      throw Error(st.error());
  };
  for (int i = 0; i < a.warmup; ++i)
    check_status(s.run(in, out));
  std::vector<double> times;
  for (int i = 0; i < a.iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    check_status(s.run(in, out));
    times.push_back(ms_between(t0, std::chrono::steady_clock::now()));
  }
  // OpenCL: the same replays without host transfers (input already on the device, output left
  // there), what an application keeping its tensors on the GPU pays.
  std::vector<double> resident;
  if (a.target == "opencl")
    for (int i = 0; i < a.warmup + a.iterations; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      check_status(s.run_on_device());
      if (i >= a.warmup)
        resident.push_back(ms_between(t0, std::chrono::steady_clock::now()));
    }
  // The outputs may have been reallocated if the schedule's shapes differ from s.outputs().
  for (size_t o = 0; o < out.size(); ++o)
    if (out[o].tensor.data() != outputs[o].raw()) {
      outputs[o] = Tensor(static_cast<DType>(out[o].tensor.type()), out[o].tensor.shape());
      std::memcpy(outputs[o].raw(), out[o].tensor.data(), outputs[o].nbytes());
    }
  std::sort(times.begin(), times.end());
  std::sort(resident.begin(), resident.end());
  auto pct_of = [](const std::vector<double> &ts, double p) {
    return ts[std::min(ts.size() - 1, static_cast<size_t>(p * (ts.size() - 1) + 0.5))];
  };
  auto pct = [&](double p) { return pct_of(times, p); };
  SessionStats st = s.stats();
  if (a.time_passes)
    print_pass_times(st);

  std::optional<CheckResult> chk;
  if (a.check) {
    if (st.cache == "file")
      throw Error("--check needs the .onnx model: " + a.model +
                  " is a .kiln file, which holds "
                  "no graph for the reference interpreter");
    std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.input_shapes));
    chk = check_outputs(names, outputs, run_reference(*g, inputs), 1e-3, 1e-3);
  }
  std::vector<std::string> files = write_outputs(a.output_dir, names, outputs);

  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  int64_t peak_rss = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  bool loaded = st.cache == "hit" || st.cache == "file";
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"target", a.target},
                        {"host_target", st.target},
                        {"cache", st.cache},
                        {"llvm_codegen_runs", st.llvm_codegen_runs},
                        {"threads", st.threads},
                        {"warmup", a.warmup},
                        {"iterations", a.iterations},
                        {"median_ms", pct(0.5)},
                        {"p90_ms", pct(0.9)},
                        {"min_ms", times.front()},
                        {"kernels", st.kernels},
                        {"weight_only_kernels", st.weight_only_kernels},
                        {"arena_bytes", st.arena_bytes},
                        {"arena_lower_bound_bytes", st.arena_lower_bound_bytes},
                        {"arena_naive_bytes", st.arena_naive_bytes},
                        {"weights_bytes", st.weights_bytes},
                        {"peak_rss_bytes", peak_rss},
                        {"outputs", outputs_json(names, outputs, files)}};
    j[loaded ? "load_ms" : "compile_ms"] = loaded ? st.load_ms : st.compile_ms;
    if (st.cache != "file") {
      j["import_ms"] = st.import_ms;
      j["imported"] = st.imported;
    }
    if (st.cache != "file")
      j.update(passes_json(a, st));
    if (chk) {
      j["max_abs_err"] = chk->max_abs;
      j["max_rel_err"] = chk->max_rel;
    }
    if (a.profile)
      j["profile"] = profile_json(s.profile());
    if (!resident.empty()) {
      j["resident_median_ms"] = pct_of(resident, 0.5);
      j["resident_p90_ms"] = pct_of(resident, 0.9);
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::string where = a.target == "opencl" ? st.target : fmt::format("cpu, {} threads", st.threads);
  fmt::print("{}: {}, {} kernels, {} {:.1f} ms (cache {}), median {:.3f} ms "
             "(p90 {:.3f}, min {:.3f}) over {} runs\n",
             a.model, where, st.kernels, loaded ? "load" : "compile",
             loaded ? st.load_ms : st.compile_ms, st.cache, pct(0.5), pct(0.9), times.front(),
             a.iterations);
  if (!resident.empty())
    fmt::print("  on the device alone (no host transfers): median {:.3f} ms (p90 {:.3f})\n",
               pct_of(resident, 0.5), pct_of(resident, 0.9));
  if (chk)
    fmt::print("  check vs reference: max abs err {:.3g}, max rel err {:.3g}\n", chk->max_abs,
               chk->max_rel);
  print_outputs(names, outputs, files);
  if (a.profile) {
    std::map<std::string, int64_t> macs;
    if (st.cache != "file") {
      std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.input_shapes));
      for (const LayerStats &l : model_stats(*g).layers)
        macs[l.node->name] = l.macs;
    }
    print_profile(s.profile(), macs);
  }
  return 0;
}

int cmd_run(const RunArgs &a) {
  if (a.target == "reference") {
    if (a.check)
      throw Error("--check compares a target with the reference interpreter; use --target cpu");
    return cmd_run_reference(a);
  }
  if (a.target != "cpu" && a.target != "opencl")
    throw Error("--target '" + a.target + "' is not available (available: cpu, opencl, reference)");
  return cmd_run_cpu(a);
}

int cmd_compile(const RunArgs &a, const std::string &out_path) {
  if (a.target != "cpu" && a.target != "opencl")
    throw Error("--target '" + a.target +
                "' cannot be compiled ahead of time (available: cpu, opencl)");
  Session s = open_session(a);
  if (Status st = s.save(out_path); !st)
    throw Error(st.error());
  SessionStats st = s.stats();
  if (a.time_passes)
    print_pass_times(st);
  bool loaded = st.cache == "hit";
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"output", out_path},
                        {"target", st.target},
                        {"cache", st.cache},
                        {"llvm_codegen_runs", st.llvm_codegen_runs},
                        {"kernels", st.kernels},
                        {"weight_only_kernels", st.weight_only_kernels},
                        {"arena_bytes", st.arena_bytes},
                        {"weights_bytes", st.weights_bytes},
                        {"import_ms", st.import_ms}};
    j[loaded ? "load_ms" : "compile_ms"] = loaded ? st.load_ms : st.compile_ms;
    j.update(passes_json(a, st));
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{} -> {}: {} kernels, arena {:.2f} MiB, weights {:.2f} MiB, {} {:.1f} ms "
             "(cache {})\n",
             a.model, out_path, st.kernels, st.arena_bytes / 1048576.0,
             st.weights_bytes / 1048576.0, loaded ? "load" : "compile",
             loaded ? st.load_ms : st.compile_ms, st.cache);
  return 0;
}

// Writes text to `path` atomically, or to stdout when path is empty or "-".
void write_text(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    return;
  }
  write_text_file(path, text);
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// `kiln sweep` parses shapes, makes inputs and compares outputs exactly as `kiln run` does.
SweepHooks sweep_hooks() {
  SweepHooks h;
  h.parse_input_shape = parse_input_shape;
  h.random_input = [](const std::string &name, DType t, const Shape &s, uint32_t seed) {
    return random_input({name, t, s}, seed);
  };
  h.max_abs_err = [](const std::vector<std::string> &names, const std::vector<Tensor> &got,
                     const std::vector<Tensor> &want) {
    return check_outputs(names, got, want, INFINITY, INFINITY).max_abs;
  };
  return h;
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
  auto *run = app.add_subcommand("run", "run a model (.onnx or .kiln) and write its outputs");
  run->add_option("model", run_args.model, "model.onnx or compiled .kiln file")->required();
  run->add_option("--target,--backend", run_args.target, "where to run: cpu, opencl, reference")
      ->capture_default_str();
  run->add_option("--input", run_args.inputs, "NAME=FILE.npy (random input when absent)");
  run->add_option("--input-shape", run_args.input_shapes, "override an input shape");
  run->add_option("--output-dir,-o", run_args.output_dir, "write DIR/<output>.npy");
  run->add_option("--seed", run_args.seed, "seed of the random inputs")->capture_default_str();
  run->add_option("--threads", run_args.threads, "threads per run (0: all cores)")
      ->capture_default_str();
  run->add_option("--warmup", run_args.warmup, "untimed runs after compiling")
      ->capture_default_str();
  run->add_option("--iterations", run_args.iterations, "timed runs")->capture_default_str();
  run->add_flag("--check", run_args.check, "compare with the reference interpreter");
  run->add_flag("--profile", run_args.profile,
                "time every kernel launch; print the slowest (with --json: a \"profile\" list)");
  run->add_option("--cache-dir", run_args.cache_dir,
                  "cache folder (default $KILN_CACHE_DIR or ~/.cache/kiln)");
  run->add_flag("--no-cache", run_args.no_cache, "compile without reading or writing the cache");
  run->add_option("--device", run_args.device,
                  "--target opencl: device index or name substring (default $KILN_OPENCL_DEVICE, "
                  "else the first GPU)");
  run->add_flag("--json", run_args.json, "print timings and outputs as JSON");
  add_pass_flags(run, run_args);

  RunArgs compile_args;
  std::string kiln_out;
  auto *compile = app.add_subcommand("compile", "compile a model ahead of time into a .kiln file");
  compile->add_option("model", compile_args.model, "model.onnx")->required();
  compile->add_option("-o,--output", kiln_out, "the .kiln file to write")->required();
  compile->add_option("--target", compile_args.target, "cpu, opencl")->capture_default_str();
  compile->add_option("--device", compile_args.device, "--target opencl: device index or name");
  compile->add_option("--input-shape", compile_args.input_shapes, "override an input shape");
  compile->add_option("--cache-dir", compile_args.cache_dir, "cache folder");
  compile->add_flag("--no-cache", compile_args.no_cache, "do not use the cache folder");
  compile->add_flag("--json", compile_args.json, "print one JSON object");
  add_pass_flags(compile, compile_args);

  SweepArgs sweep_args;
  auto *sweep = app.add_subcommand(
      "sweep", "compile and time every pipeline x input shape x target; table, CSV, JSON, plot");
  sweep->add_option("model", sweep_args.model, "model.onnx")->required();
  sweep->add_option("--passes", sweep_args.passes, "pipelines separated by ';' (\"O0;O3,-fuse\")")
      ->capture_default_str();
  sweep->add_option("--input-shape", sweep_args.input_shapes,
                    "shape sets separated by ';' (1x3x320x320;1x3x640x640 or NAME=DIMS, "
                    "joined by '&' for several inputs)");
  sweep->add_option("--target", sweep_args.targets, "targets separated by ','")
      ->capture_default_str();
  sweep->add_option("--iterations", sweep_args.iterations, "timed runs per configuration")
      ->capture_default_str();
  sweep->add_option("--warmup", sweep_args.warmup, "untimed runs after compiling")
      ->capture_default_str();
  sweep->add_option("--threads", sweep_args.threads, "threads per run (0: all cores)")
      ->capture_default_str();
  sweep->add_option("--seed", sweep_args.seed, "seed of the random inputs")->capture_default_str();
  bool sweep_no_check = false;
  sweep->add_flag("--no-check", sweep_no_check, "skip the reference interpreter");
  sweep->add_option("--csv", sweep_args.csv, "also write the table as CSV");
  sweep->add_option("--plot", sweep_args.plot, "write an SVG plot of latency vs arena size");
  sweep->add_flag("--json", sweep_args.json, "print the results as JSON instead of a table");

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

  DetectArgs detect_args;
  auto *detect = add_detect_command(app, detect_args);
  ValidateArgs validate_args;
  auto *validate = add_validate_command(app, validate_args);

  CLI11_PARSE(app, argc, argv);
  try {
    if (detect->parsed())
      return cmd_detect(detect_args);
    if (validate->parsed())
      return cmd_validate(validate_args);
    if (run->parsed())
      return cmd_run(run_args);
    if (compile->parsed())
      return cmd_compile(compile_args, kiln_out);
    if (sweep->parsed()) {
      sweep_args.check = !sweep_no_check;
      return cmd_sweep(sweep_args, sweep_hooks());
    }
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
  } catch (const InternalError &e) {
    fmt::print(stderr, "kiln: error: {}\n", one_line(e.what()));
    return 2;
  } catch (const std::exception &e) {
    fmt::print(stderr, "kiln: error: internal: {}\n", one_line(e.what()));
    return 2;
  }
}
