// `kiln sweep`: pipelines x tuning variants x precisions x input shapes x targets, each compiled
// without the
// cache, timed, and checked against the (f32) reference interpreter; a table, CSV, JSON and an SVG
// plot.
#include "tools/Sweep.h"

#include "frontend/OnnxImporter.h"
#include "ir/AtomicFile.h"
#include "ir/Error.h"
#include "ir/Reference.h"
#include "tools/Console.h"
#include "tools/Inputs.h"
#include "tools/SessionFlags.h"
#include "tools/Timing.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <kiln/kiln.h>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

/// Timed runs per configuration are spread over this many rounds (time_rounds).
constexpr int kTimingRounds = 5;

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Splits on `sep`, trimming each piece and dropping empty ones.
std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    size_t e = s.find(sep, at);
    std::string piece = trim(s.substr(at, e == std::string::npos ? std::string::npos : e - at));
    if (!piece.empty())
      out.push_back(piece);
    if (e == std::string::npos)
      break;
    at = e + 1;
  }
  return out;
}

/// One set of input shapes: a label ("1x3x640x640") and the shapes by input name.
struct ShapeSet {
  std::string label;
  std::map<std::string, std::vector<int64_t>> shapes;
};

struct Row {
  std::string pipeline, tuning, precision, shape, target;
  int kernels = 0;
  double compile_s = 0, median_ms = 0, p90_ms = 0;
  int64_t arena_bytes = 0, arena_lower_bound_bytes = 0;
  std::optional<double> max_abs_err;
  std::string error; ///< "" when the configuration ran
};

std::vector<ShapeSet> parse_shape_sets(const SweepArgs &a, const std::vector<TensorInfo> &inputs) {
  std::vector<ShapeSet> sets;
  for (const std::string &opt : a.input_shapes)
    for (const std::string &entry : split(opt, ';')) {
      ShapeSet s;
      for (const std::string &spec : split(entry, '&')) {
        std::string full = spec;
        if (spec.find('=') == std::string::npos) {
          if (inputs.size() != 1)
            throw Error("--input-shape '" + spec + "': the model has " +
                        std::to_string(inputs.size()) + " inputs; name each as NAME=DIMS");
          full = inputs[0].name + "=" + spec;
        }
        auto [name, shape] = parse_input_shape(full);
        bool known = std::any_of(inputs.begin(), inputs.end(),
                                 [&](const TensorInfo &t) { return t.name == name; });
        if (!known)
          throw Error("--input-shape '" + spec + "': the model has no input named '" + name + "'");
        s.shapes[name] = shape;
      }
      for (const TensorInfo &t : inputs) {
        auto it = s.shapes.find(t.name);
        std::string dims = shape_str(it == s.shapes.end() ? t.shape : it->second);
        s.label += (s.label.empty() ? "" : "&") + (inputs.size() == 1 ? dims : t.name + "=" + dims);
      }
      sets.push_back(std::move(s));
    }
  if (sets.empty()) { // the model's own shapes
    ShapeSet s;
    for (const TensorInfo &t : inputs)
      s.label += (s.label.empty() ? "" : "&") +
                 (inputs.size() == 1 ? shape_str(t.shape) : t.name + "=" + shape_str(t.shape));
    sets.push_back(std::move(s));
  }
  return sets;
}

/// The inputs of one shape set: random, seeded like `kiln run`, in model order.
std::vector<Tensor> make_inputs(const ShapeSet &set, const std::vector<TensorInfo> &inputs,
                                const SweepArgs &a) {
  std::vector<Tensor> v;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = set.shapes.find(inputs[i].name);
    Shape s = it == set.shapes.end() ? inputs[i].shape : it->second;
    v.push_back(random_input({inputs[i].name, static_cast<DType>(inputs[i].type), s},
                             a.seed + static_cast<uint32_t>(i)));
  }
  return v;
}

/// One configuration's session bound to its inputs and outputs (no allocation while timing).
struct Bound {
  Session *session = nullptr;
  std::vector<NamedTensor> in, out;
  std::vector<double> times;
  size_t row = 0; ///< its row in the table
};

/// Compiles, warms up and checks one configuration in `b.session` (a session of its pipeline
/// and target); the timing is done by time_rounds, interleaved with the other configurations.
Row prepare_config(Bound &b, const std::vector<TensorInfo> &infos,
                   const std::vector<Tensor> &inputs, const std::vector<Tensor> *want,
                   const SweepArgs &a, const std::function<void(const std::string &)> &stage) {
  Row r;
  for (size_t i = 0; i < inputs.size(); ++i)
    b.in.push_back({infos[i].name, host_view(const_cast<Tensor &>(inputs[i]))});
  stage("compiling...");
  throw_if_failed(b.session->run(b.in, b.out)); // the first run with these shapes compiles them
  SessionStats st = b.session->stats();
  r.kernels = st.kernels;
  r.compile_s = st.compile_ms / 1000.0;
  r.arena_bytes = st.arena_bytes;
  r.arena_lower_bound_bytes = st.arena_lower_bound_bytes;
  for (int i = 0; i < a.warmup; ++i)
    throw_if_failed(b.session->run(b.in, b.out));
  if (want) {
    std::vector<std::string> names;
    std::vector<Tensor> got;
    for (const NamedTensor &o : b.out) {
      names.push_back(o.name);
      got.push_back(to_tensor(o.tensor));
    }
    r.max_abs_err = max_abs_err(names, got, *want);
  }
  return r;
}

/// Times every prepared configuration of one shape set in rounds: each round gives every
/// configuration its share of the --iterations runs in turn, so a slow spell of a shared
/// machine lands on all of them alike instead of on one row.
/// Returns false if a configuration failed (its row says why).
bool time_rounds(std::vector<Bound> &bound, std::vector<Row> &rows, const SweepArgs &a,
                 const std::function<void(size_t round, size_t rounds)> &progress) {
  bool ok = true;
  const int rounds = std::min(a.iterations, kTimingRounds);
  for (int k = 0; k < rounds; ++k) {
    progress(static_cast<size_t>(k), static_cast<size_t>(rounds));
    // Round k's share: iterations spread as evenly as they go.
    const int runs = a.iterations / rounds + (k < a.iterations % rounds ? 1 : 0);
    for (Bound &b : bound) {
      if (!rows[b.row].error.empty())
        continue;
      try {
        for (int i = 0; i < runs; ++i) {
          auto t0 = Clock::now();
          throw_if_failed(b.session->run(b.in, b.out));
          b.times.push_back(ms_between(t0, Clock::now()));
        }
      } catch (const std::exception &e) {
        rows[b.row].error = one_line(e.what());
        b.times.clear();
        ok = false;
      }
    }
  }
  for (Bound &b : bound) {
    if (b.times.empty())
      continue;
    std::sort(b.times.begin(), b.times.end());
    rows[b.row].median_ms = percentile(b.times, 0.5);
    rows[b.row].p90_ms = percentile(b.times, 0.9);
  }
  return ok;
}

// ---- reports ----

std::string err_str(const Row &r) {
  if (!r.max_abs_err)
    return "-";
  return fmt::format("{:.2e}", *r.max_abs_err);
}

/// Which optional axes the sweep compares: each one it does gets a column and a word in names.
struct Axes {
  bool tuning = false, precision = false;
};

/// The words a configuration's optional axes add to its name ("untuned f16").
std::string axis_words(const std::string &tuning, const std::string &precision, Axes ax) {
  return (ax.tuning ? " " + tuning : "") + (ax.precision ? " " + precision : "");
}

/// The configuration's name in messages and plot labels: "O3 1x3x640x640 cpu", with the
/// tuning variant and precision after the pipeline when the sweep compares them.
std::string config_name(const Row &r, Axes ax) {
  return r.pipeline + axis_words(r.tuning, r.precision, ax) + " " + r.shape + " " + r.target;
}

void print_table(const std::vector<Row> &rows, Axes ax) {
  std::vector<std::string> head = {"pipeline",  "input shape", "target",   "kernels", "compile s",
                                   "median ms", "p90 ms",      "arena MB", "max err"};
  std::vector<std::vector<std::string>> cells;
  for (const Row &r : rows) {
    if (!r.error.empty()) {
      cells.push_back({r.pipeline, r.shape, r.target, "-", "-", "-", "-", "-", "error"});
      continue;
    }
    cells.push_back({r.pipeline, r.shape, r.target, std::to_string(r.kernels),
                     fmt::format("{:.2f}", r.compile_s), fmt::format("{:.3f}", r.median_ms),
                     fmt::format("{:.3f}", r.p90_ms),
                     fmt::format("{:.2f}", r.arena_bytes / 1048576.0), err_str(r)});
  }
  // The tuning variant and precision as text columns after the pipeline when compared.
  size_t ntext = 3;
  auto add_column = [&](const char *name, std::string Row::*field) {
    head.insert(head.begin() + 1 + (ntext - 3), name);
    for (size_t i = 0; i < rows.size(); ++i)
      cells[i].insert(cells[i].begin() + 1 + (ntext - 3), rows[i].*field);
    ++ntext;
  };
  if (ax.tuning)
    add_column("tuning", &Row::tuning);
  if (ax.precision)
    add_column("precision", &Row::precision);
  const std::vector<size_t> w = column_widths(head, cells);
  auto line = [&](const std::vector<std::string> &v) {
    std::string s = "|";
    for (size_t c = 0; c < v.size(); ++c)
      s += c < ntext ? fmt::format(" {:<{}} |", v[c], w[c]) : fmt::format(" {:>{}} |", v[c], w[c]);
    fmt::print("{}\n", s);
  };
  line(head);
  std::string sep = "|";
  for (size_t c = 0; c < head.size(); ++c)
    sep += std::string(w[c] + 1, '-') + (c < ntext ? "-|" : ":|");
  fmt::print("{}\n", sep);
  for (const auto &row : cells)
    line(row);
  for (const Row &r : rows)
    if (!r.error.empty())
      fmt::print("{}: {}\n", config_name(r, ax), r.error);
}

std::string csv_field(const std::string &s) {
  if (s.find_first_of(",\"\n") == std::string::npos)
    return s;
  std::string q = "\"";
  for (char c : s)
    q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string to_csv(const std::vector<Row> &rows) {
  std::string s =
      "pipeline,tuning,precision,input_shape,target,kernels,compile_s,median_ms,p90_ms,arena_mb,"
      "arena_lower_bound_mb,max_abs_err,error\n";
  for (const Row &r : rows) {
    bool ok = r.error.empty();
    s += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(r.pipeline), r.tuning, r.precision,
        csv_field(r.shape), csv_field(r.target), ok ? std::to_string(r.kernels) : "",
        ok ? fmt::format("{:.4f}", r.compile_s) : "", ok ? fmt::format("{:.4f}", r.median_ms) : "",
        ok ? fmt::format("{:.4f}", r.p90_ms) : "",
        ok ? fmt::format("{:.4f}", r.arena_bytes / 1048576.0) : "",
        ok ? fmt::format("{:.4f}", r.arena_lower_bound_bytes / 1048576.0) : "",
        r.max_abs_err ? fmt::format("{:.6g}", *r.max_abs_err) : "", csv_field(r.error));
  }
  return s;
}

nlohmann::json to_json(const SweepArgs &a, const std::vector<Row> &rows) {
  nlohmann::json configs = nlohmann::json::array();
  for (const Row &r : rows) {
    nlohmann::json j = {{"pipeline", r.pipeline},
                        {"tuning", r.tuning},
                        {"precision", r.precision},
                        {"input_shape", r.shape},
                        {"target", r.target}};
    if (!r.error.empty()) {
      j["error"] = r.error;
    } else {
      j.update({{"kernels", r.kernels},
                {"compile_s", r.compile_s},
                {"median_ms", r.median_ms},
                {"p90_ms", r.p90_ms},
                {"arena_bytes", r.arena_bytes},
                {"arena_lower_bound_bytes", r.arena_lower_bound_bytes}});
      j["max_abs_err"] = r.max_abs_err ? nlohmann::json(*r.max_abs_err) : nlohmann::json();
    }
    configs.push_back(j);
  }
  return {{"model", a.model},
          {"iterations", a.iterations},
          {"warmup", a.warmup},
          {"threads", a.threads},
          {"configs", configs}};
}

// ---- the SVG plot: median latency against arena size, one labelled point per config ----

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `n` ticks over `range`.
double nice_step(double range, int n) {
  double raw = range / std::max(1, n);
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw)
      return m * p;
  return 10 * p;
}

std::string xml_escape(const std::string &s) {
  std::string o;
  for (char c : s) {
    switch (c) {
    case '<': o += "&lt;"; break;
    case '>': o += "&gt;"; break;
    case '&': o += "&amp;"; break;
    case '"': o += "&quot;"; break;
    default: o += c;
    }
  }
  return o;
}

std::string tick_label(double v, double step) {
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return fmt::format("{:.{}f}", v, std::min(decimals, 6));
}

std::string to_svg(const std::string &model, const std::vector<Row> &rows, Axes ax) {
  std::vector<const Row *> pts;
  for (const Row &r : rows)
    if (r.error.empty())
      pts.push_back(&r);
  const double W = 900, H = 560, L = 80, R = 240, T = 50, B = 70; // canvas and margins
  const double pw = W - L - R, ph = H - T - B;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (!pts.empty()) {
    x1 = y1 = 0;
    for (const Row *r : pts) {
      x1 = std::max(x1, r->arena_bytes / 1048576.0);
      y1 = std::max(y1, r->median_ms);
    }
  }
  // Both axes start at zero (sizes and times compare as ratios) with a little headroom.
  double xs = nice_step(std::max(x1 * 1.08, 1e-3), 6), ys = nice_step(std::max(y1 * 1.08, 1e-3), 6);
  x1 = std::ceil(std::max(x1 * 1.08, 1e-3) / xs) * xs;
  y1 = std::ceil(std::max(y1 * 1.08, 1e-3) / ys) * ys;
  auto X = [&](double v) { return L + (v - x0) / (x1 - x0) * pw; };
  auto Y = [&](double v) { return T + ph - (v - y0) / (y1 - y0) * ph; };

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H);
  s += fmt::format("<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">{}: latency "
                   "vs arena size</text>\n",
                   L + pw / 2, xml_escape(std::filesystem::path(model).filename().string()));
  for (double v = x0; v <= x1 + xs / 2; v += xs) {
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>\n"
                     "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                     X(v), T, T + ph, T + ph + 18, tick_label(v, xs));
  }
  for (double v = y0; v <= y1 + ys / 2; v += ys) {
    s += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>\n"
                     "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
                     L, Y(v), L + pw, L - 8, Y(v) + 4, tick_label(v, ys));
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                   "stroke=\"black\"/>\n",
                   L, T, pw, ph);
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">arena (MB)</text>\n", L + pw / 2,
                   H - 20);
  s += fmt::format("<text x=\"20\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 20 "
                   "{0})\">median latency (ms)</text>\n",
                   T + ph / 2);
  static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                 "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  std::vector<std::string> pipelines; // legend order: first appearance
  for (const Row *r : pts)
    if (std::find(pipelines.begin(), pipelines.end(), r->pipeline) == pipelines.end())
      pipelines.push_back(r->pipeline);
  auto color = [&](const std::string &p) {
    return colors[(std::find(pipelines.begin(), pipelines.end(), p) - pipelines.begin()) % 8];
  };
  struct Box {
    double x0, y0, x1, y1;
    bool hits(const Box &o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  };
  std::vector<Box> taken; // points and labels placed so far
  for (const Row *r : pts) {
    double px = X(r->arena_bytes / 1048576.0), py = Y(r->median_ms);
    taken.push_back({px - 6, py - 6, px + 6, py + 6});
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"><title>{}: "
                     "{:.3f} ms, {:.2f} MB</title></circle>\n",
                     px, py, color(r->pipeline), xml_escape(config_name(*r, ax)), r->median_ms,
                     r->arena_bytes / 1048576.0);
  }
  // Labels: the first spot around the point (right, left, then further up or down) that
  // overlaps no point or earlier label and stays inside the plot; width estimated from the
  // character count of an 11 px sans-serif font.
  for (const Row *r : pts) {
    double px = X(r->arena_bytes / 1048576.0), py = Y(r->median_ms);
    std::string label = config_name(*r, ax);
    double w = 6.3 * static_cast<double>(label.size()), h = 12;
    Box best{px + 8, py - 6, px + 8 + w, py + 6};
    bool found = false;
    for (double dy : {0.0, -13.0, 13.0, -26.0, 26.0, -39.0, 39.0, -52.0, 52.0}) {
      for (bool right : {true, false}) {
        Box b = right ? Box{px + 8, py - h / 2 + dy, px + 8 + w, py + h / 2 + dy}
                      : Box{px - 8 - w, py - h / 2 + dy, px - 8, py + h / 2 + dy};
        bool inside = b.x0 >= L + 2 && b.x1 <= L + pw - 2 && b.y0 >= T + 2 && b.y1 <= T + ph - 2;
        if (!inside ||
            std::any_of(taken.begin(), taken.end(), [&](const Box &o) { return o.hits(b); }))
          continue;
        best = b;
        found = true;
        break;
      }
      if (found)
        break;
    }
    taken.push_back(best);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\" font-size=\"11\">{}</text>\n",
                     best.x0, best.y1 - 2, color(r->pipeline), xml_escape(label));
  }
  // A legend of pipelines on the right.
  double ly = T + 10;
  for (const std::string &name : pipelines) {
    s += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}"
                     "</text>\n",
                     L + pw + 24, ly, color(name), L + pw + 36, ly + 4, xml_escape(name));
    ly += 20;
  }
  return s + "</svg>\n";
}

} // namespace

CLI::App *add_sweep_command(CLI::App &app, SweepArgs &a) {
  auto *sweep = app.add_subcommand(
      "sweep", "compile and time every pipeline x precision x input shape x target; table, CSV, "
               "JSON, plot");
  sweep->add_option("model", a.model, "model.onnx")->required();
  sweep->add_option("--passes", a.passes, "pipelines separated by ';' (\"O0;O3,-fuse\")")
      ->capture_default_str();
  sweep->add_option("--input-shape", a.input_shapes,
                    "shape sets separated by ';' (1x3x320x320;1x3x640x640 or NAME=DIMS, "
                    "joined by '&' for several inputs)");
  sweep->add_option("--target", a.targets, "targets separated by ','")->capture_default_str();
  sweep->add_option("--tuning", a.tuning,
                    "conv tile variants separated by ';': tuned (the tuning database from 'kiln "
                    "tune'), untuned (the cost model)");
  sweep->add_option("--precision", a.precisions,
                    "what the conv network computes in, separated by ',': f32, f16, bf16 (the "
                    "max error is against the f32 reference)");
  sweep->add_option("--tuning-db", a.tuning_db,
                    "tuning database (default: tuning.json in the cache folder)");
  sweep->add_option("--iterations", a.iterations, "timed runs per configuration")
      ->capture_default_str();
  sweep->add_option("--warmup", a.warmup, "untimed runs after compiling")->capture_default_str();
  sweep->add_option("--threads", a.threads, "threads per run (0: all cores)")
      ->capture_default_str();
  sweep->add_option("--seed", a.seed, "seed of the random inputs")->capture_default_str();
  sweep->add_flag("--no-check", a.no_check, "skip the reference interpreter");
  sweep->add_option("--csv", a.csv, "also write the table as CSV");
  sweep->add_option("--plot", a.plot, "write an SVG plot of latency vs arena size");
  sweep->add_flag("--json", a.json, "print the results as JSON instead of a table");
  return sweep;
}

int cmd_sweep(const SweepArgs &a) {
  if (a.iterations < 1 || a.warmup < 0)
    throw Error("--iterations must be at least 1 and --warmup at least 0");
  std::vector<std::string> pipelines = split(a.passes, ';');
  std::vector<std::string> targets = split(a.targets, ',');
  if (pipelines.empty())
    throw Error("--passes: no pipeline given (e.g. \"O0;O3\")");
  if (targets.empty())
    throw Error("--target: no target given (e.g. cpu)");
  const Axes ax{!a.tuning.empty(), !a.precisions.empty()};
  std::vector<std::string> tunings =
      ax.tuning ? split(a.tuning, ';') : std::vector<std::string>{"tuned"};
  for (const std::string &t : tunings)
    if (t != "tuned" && t != "untuned")
      throw Error("--tuning '" + t + "': expected tuned or untuned");
  if (tunings.empty())
    throw Error("--tuning: no variant given (e.g. \"untuned;tuned\")");
  std::vector<std::string> precisions =
      ax.precision ? split(a.precisions, ',') : std::vector<std::string>{"f32"};
  if (precisions.empty())
    throw Error("--precision: no precision given (e.g. f32,f16)");

  // Every pipeline, precision and target is checked before any work: a typo or a precision the
  // CPU lacks fails at once, in one line.
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Key, std::unique_ptr<Session>> sessions;
  std::vector<TensorInfo> infos;
  for (const std::string &t : targets)
    for (const std::string &p : pipelines)
      for (const std::string &tu : tunings)
        for (const std::string &pr : precisions) {
          SessionFlags f; // every configuration compiles afresh: the cache would time a load
          f.passes = p;
          f.target = t;
          f.threads = a.threads;
          f.no_cache = true;
          f.tuning_db = a.tuning_db;
          f.no_tuning = tu == "untuned";
          f.precision = pr;
          Result<Session> s = Session::open(a.model, session_options(f));
          if (!s)
            throw Error("--passes '" + p + "'" + (ax.precision ? " --precision " + pr : "") +
                        " --target " + t + ": " + s.error());
          infos = s->inputs();
          sessions[{p, tu, pr, t}] = std::make_unique<Session>(std::move(*s));
        }
  std::vector<ShapeSet> sets = parse_shape_sets(a, infos);

  const size_t per_set = pipelines.size() * tunings.size() * precisions.size() * targets.size();
  size_t total = per_set * sets.size(), done = 0;
  Progress progress(total);
  std::vector<Row> rows;
  bool failed = false;
  for (const ShapeSet &set : sets) {
    std::vector<Tensor> inputs = make_inputs(set, infos, a);
    std::optional<std::vector<Tensor>> want; // one reference run per shape set
    std::vector<Bound> bound;
    bound.reserve(per_set);
    for (const std::string &p : pipelines)
      for (const std::string &tu : tunings)
        for (const std::string &pr : precisions)
          for (const std::string &t : targets) {
            std::string what = p + axis_words(tu, pr, ax) + " " + set.label + " " + t;
            // One log line per configuration when stderr is no terminal.
            auto stage = [&](const std::string &st) {
              progress.status(done, what + ": " + st, st == "compiling...");
            };
            bound.push_back(Bound{sessions[{p, tu, pr, t}].get(), {}, {}, {}, rows.size()});
            Row r;
            try {
              if (!a.no_check && !want) {
                stage("reference...");
                ImportOptions io;
                for (const auto &[name, shape] : set.shapes)
                  io.input_shapes[name] = shape;
                want = run_reference(*import_onnx(a.model, io), inputs);
              }
              r = prepare_config(bound.back(), infos, inputs, want ? &*want : nullptr, a, stage);
            } catch (const std::exception &e) {
              r = Row{};
              r.error = one_line(e.what());
              failed = true;
            }
            r.pipeline = p;
            r.tuning = tu;
            r.precision = pr;
            r.shape = set.label;
            r.target = t;
            rows.push_back(std::move(r));
            ++done;
          }
    failed = !time_rounds(bound, rows, a, [&](size_t k, size_t n) {
      progress.status(done - 1,
                      set.label + ": " +
                          fmt::format("timing round {}/{} of every configuration", k + 1, n));
    }) || failed;
  }
  progress.finish();
  sessions.clear();

  if (!a.csv.empty())
    write_text_file(a.csv, to_csv(rows));
  if (!a.plot.empty())
    write_text_file(a.plot, to_svg(a.model, rows, ax));
  if (a.json)
    std::cout << to_json(a, rows).dump(2) << "\n";
  else
    print_table(rows, ax);
  return failed ? 1 : 0;
}

} // namespace kiln
