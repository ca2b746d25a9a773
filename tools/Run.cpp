// `kiln run`: one model on one target, timed, checked and written out (see Run.h).
#include "tools/Run.h"

#include "frontend/OnnxImporter.h"
#include "ir/AtomicFile.h"
#include "ir/Error.h"
#include "ir/Reference.h"
#include "passes/Precision.h"
#include "runtime/Compiler.h"
#include "tools/Console.h"
#include "tools/Inputs.h"
#include "tools/Inspect.h"
#include "tools/Timing.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sys/resource.h>

namespace kiln {

namespace {

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
  std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.session.input_shapes));
  auto t1 = std::chrono::steady_clock::now();
  std::vector<Tensor> inputs = load_inputs(input_specs(*g), a.inputs, a.seed);

  size_t total = g->nodes().size();
  Progress progress(total);
  auto t2 = std::chrono::steady_clock::now();
  std::vector<Tensor> outputs = run_reference(*g, inputs, [&](size_t i, const Node &n) {
    if (!a.json)
      progress.status(i, n.name);
  });
  auto t3 = std::chrono::steady_clock::now();
  progress.finish();

  std::vector<std::string> names;
  for (const Value *v : g->outputs())
    names.push_back(v->name);
  std::vector<std::string> files = write_outputs(a.output_dir, names, outputs);
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"target", a.session.target},
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

nlohmann::json profile_json(const std::vector<LaunchProfile> &prof) {
  nlohmann::json j = nlohmann::json::array();
  for (const LaunchProfile &p : prof)
    j.push_back({{"node", p.node},
                 {"kernel", p.kernel},
                 {"extent", p.extent},
                 {"ms", p.ms},
                 {"start_ms", p.start_ms}});
  return j;
}

/// The profile as a Chrome trace (chrome://tracing, Perfetto): one complete event per launch
/// of the run's timeline, at its mean start and with its mean duration over the profiled runs.
std::string chrome_trace(const std::string &model, const std::string &where, int runs,
                         const std::vector<LaunchProfile> &prof) {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", 1},
                    {"args", {{"name", "kiln " + model + " (" + where + ")"}}}});
  events.push_back({{"name", "thread_name"},
                    {"ph", "M"},
                    {"pid", 1},
                    {"tid", 1},
                    {"args", {{"name", "launches"}}}});
  for (size_t i = 0; i < prof.size(); ++i) {
    const LaunchProfile &p = prof[i];
    events.push_back({{"name", p.kernel},
                      {"cat", p.kernel.substr(0, p.kernel.find('_'))},
                      {"ph", "X"},
                      {"pid", 1},
                      {"tid", 1},
                      {"ts", p.start_ms * 1e3},
                      {"dur", p.ms * 1e3},
                      {"args", {{"launch", i}, {"node", p.node}, {"extent", p.extent}}}});
  }
  return nlohmann::json{{"traceEvents", events},
                        {"displayTimeUnit", "ms"},
                        {"otherData",
                         {{"model", model},
                          {"where", where},
                          {"runs", runs},
                          {"times", "mean over the profiled runs"}}}}
      .dump();
}

/// The slowest launches, then the time per kernel kind (the kernel name up to its first '_').
/// macs: multiply-accumulates by graph node name (from the .onnx model), for a GFLOP/s column.
void print_profile(const std::vector<LaunchProfile> &prof,
                   const std::map<std::string, int64_t> &macs) {
  if (prof.empty()) {
    fmt::print("profile: nothing timed\n");
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

/// A compiled target (cpu, opencl): compile or load, warm up, time, check, report.
int cmd_run_compiled(const RunArgs &a) {
  if (a.iterations < 1 || a.warmup < 0)
    throw Error("--iterations must be at least 1 and --warmup at least 0");
  SessionOptions opt = session_options(a.session);
  opt.profile = a.profile || !a.trace.empty();
  Session s = open_session(a.model, opt);
  std::vector<InputSpec> specs = input_specs(s.inputs());
  std::vector<Tensor> inputs = load_inputs(specs, a.inputs, a.seed);
  std::vector<NamedTensor> in;
  for (size_t i = 0; i < inputs.size(); ++i)
    in.push_back({specs[i].name, host_view(inputs[i])});
  // The output tensors are written in place by every run (no allocation while timing).
  std::vector<Tensor> outputs;
  std::vector<NamedTensor> out;
  std::vector<std::string> names;
  for (const TensorInfo &t : s.outputs()) {
    outputs.emplace_back(static_cast<DType>(t.type), t.shape);
    out.push_back({t.name, host_view(outputs.back())});
    names.push_back(t.name);
  }

  // Compile or load: the first run's extra cost, reported on its own.
  throw_if_failed(s.compile());
  for (int i = 0; i < a.warmup; ++i)
    throw_if_failed(s.run(in, out));
  std::vector<double> times;
  for (int i = 0; i < a.iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    throw_if_failed(s.run(in, out));
    times.push_back(ms_between(t0, std::chrono::steady_clock::now()));
  }
  // OpenCL: the same replays without host transfers (input already on the device, output left
  // there), what an application keeping its tensors on the GPU pays.
  std::vector<double> resident;
  if (a.session.target == "opencl")
    for (int i = 0; i < a.warmup + a.iterations; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      throw_if_failed(s.run_on_device());
      if (i >= a.warmup)
        resident.push_back(ms_between(t0, std::chrono::steady_clock::now()));
    }
  // The outputs may have been reallocated if the schedule's shapes differ from s.outputs().
  for (size_t o = 0; o < out.size(); ++o)
    if (out[o].tensor.data() != outputs[o].raw())
      outputs[o] = to_tensor(out[o].tensor);
  std::sort(times.begin(), times.end());
  std::sort(resident.begin(), resident.end());
  auto pct = [&](double p) { return percentile(times, p); };
  SessionStats st = s.stats();
  print_pass_times(a.session, st);

  std::optional<CheckResult> chk;
  if (a.check) {
    if (st.cache == "file")
      throw Error("--check needs the .onnx model: " + a.model +
                  " is a .kiln file, which holds "
                  "no graph for the reference interpreter");
    std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.session.input_shapes));
    // A 16-bit precision is checked against the reference of the same 16-bit graph (the
    // precision pass applied): what is left is the compiled code's own sum order and, with
    // native f16, its f16 accumulators.
    const DType precision = parse_precision(a.session.precision);
    const double tol = precision == DType::f32 ? 1e-3 : 5e-2;
    lower_precision(*g, precision);
    chk = check_outputs(names, outputs, run_reference(*g, inputs), tol, tol);
  }
  std::vector<std::string> files = write_outputs(a.output_dir, names, outputs);

  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  int64_t peak_rss = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  bool loaded = st.cache == "hit" || st.cache == "file";
  std::string where =
      a.session.target == "opencl" ? st.target : fmt::format("cpu, {} threads", st.threads);
  if (!a.trace.empty())
    write_text_file(a.trace, chrome_trace(std::filesystem::path(a.model).filename().string(), where,
                                          a.warmup + a.iterations, s.profile()));
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"target", a.session.target},
                        {"precision", a.session.precision},
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
      j.update(passes_json(a.session, st));
    if (chk) {
      j["max_abs_err"] = chk->max_abs;
      j["max_rel_err"] = chk->max_rel;
    }
    if (opt.profile)
      j["profile"] = profile_json(s.profile());
    if (!resident.empty()) {
      j["resident_median_ms"] = percentile(resident, 0.5);
      j["resident_p90_ms"] = percentile(resident, 0.9);
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: {}, {} kernels, {} {:.1f} ms (cache {}), median {:.3f} ms "
             "(p90 {:.3f}, min {:.3f}) over {} runs\n",
             a.model, where, st.kernels, loaded ? "load" : "compile",
             loaded ? st.load_ms : st.compile_ms, st.cache, pct(0.5), pct(0.9), times.front(),
             a.iterations);
  if (!resident.empty())
    fmt::print("  on the device alone (no host transfers): median {:.3f} ms (p90 {:.3f})\n",
               percentile(resident, 0.5), percentile(resident, 0.9));
  if (chk)
    fmt::print("  check vs reference: max abs err {:.3g}, max rel err {:.3g}\n", chk->max_abs,
               chk->max_rel);
  print_outputs(names, outputs, files);
  if (a.profile) {
    std::map<std::string, int64_t> macs;
    if (st.cache != "file") {
      std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.session.input_shapes));
      for (const LayerStats &l : model_stats(*g).layers)
        macs[l.node->name] = l.macs;
    }
    print_profile(s.profile(), macs);
  }
  return 0;
}

} // namespace

CLI::App *add_run_command(CLI::App &app, RunArgs &a) {
  auto *run = app.add_subcommand("run", "run a model (.onnx or .kiln) and write its outputs");
  run->add_option("model", a.model, "model.onnx or compiled .kiln file")->required();
  add_session_flags(run, a.session,
                    {.target_names = "--target,--backend",
                     .target_help = "where to run: cpu, opencl, reference"});
  run->add_option("--input", a.inputs, "NAME=FILE.npy (random input when absent)");
  run->add_option("--output-dir,-o", a.output_dir, "write DIR/<output>.npy");
  run->add_option("--seed", a.seed, "seed of the random inputs")->capture_default_str();
  run->add_option("--warmup", a.warmup, "untimed runs after compiling")->capture_default_str();
  run->add_option("--iterations", a.iterations, "timed runs")->capture_default_str();
  run->add_flag("--check", a.check, "compare with the reference interpreter");
  run->add_flag("--profile", a.profile,
                "time every kernel launch; print the slowest (with --json: a \"profile\" list)");
  run->add_option("--trace", a.trace,
                  "write the profiled run as a Chrome trace (chrome://tracing, Perfetto), one "
                  "event per launch");
  run->add_flag("--json", a.json, "print timings and outputs as JSON");
  return run;
}

int cmd_run(const RunArgs &a) {
  if (a.session.target == "reference") {
    if (a.check)
      throw Error("--check compares a target with the reference interpreter; use --target cpu");
    return cmd_run_reference(a);
  }
  if (a.session.target != "cpu" && a.session.target != "opencl")
    throw Error("--target '" + a.session.target +
                "' is not available (available: cpu, opencl, reference)");
  return cmd_run_compiled(a);
}

} // namespace kiln
