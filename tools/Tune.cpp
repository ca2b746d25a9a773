// `kiln tune`: per distinct conv layer shape, the cost model's candidate tiles compiled and
// timed on this machine, the winner stored in the tuning database (see Tune.h).
//
// Each layer gets an equal share of what is left of the budget. Within it, up to K candidates
// are timed (K = share / kCandidateCost, at least 2: the cost model's choice and its runner-up,
// at most kMaxCandidates; compiling stops after half the share), best-modelled first, each
// compiled as a one-conv program with the conv node exactly as the model's graph passes left
// it (fused epilogue included), then all timed over their whole parallel range on the thread
// pool in kRounds interleaved rounds (best run of each). A candidate wins only
// when it beats the cost model's tile by more than kMinGain; otherwise the default is stored,
// still a record that the shape was tuned. Layers go most work first; when the budget is spent
// the rest are left for the next run (which skips the shapes the database has).
#include "tools/Tune.h"

#include "frontend/OnnxImporter.h"
#include "ir/Clock.h"
#include "ir/Error.h"
#include "passes/ConvTuning.h"
#include "passes/LowerConvUtil.h"
#include "runtime/Compiler.h"
#include "runtime/ConvTimer.h"
#include "runtime/TuningDb.h"
#include "tools/Console.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <map>

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kCandidateCost = 0.25; ///< seconds: a compile plus a timing window, roughly
constexpr int kMaxCandidates = 8;
constexpr double kMinGain = 0.03; ///< a winner must be this much faster than the default
constexpr int kRounds = 3;        ///< timing rounds over a layer's candidates

/// A distinct conv layer shape of the model: its key, the first node with it, and how many
/// nodes share it.
struct Layer {
  std::string key;
  const Node *node = nullptr;
  ConvGeom geom{};
  DType dtype = DType::f32;
  int uses = 0;
};

std::string describe(const ConvGeom &g, DType dt) {
  std::string s = g.is_depthwise() ? "dwconv " : "conv ";
  s += fmt::format("{}x{}", g.kh, g.kw);
  if (g.sh > 1 || g.sw > 1)
    s += g.sh == g.sw ? fmt::format("s{}", g.sh) : fmt::format("s{}x{}", g.sh, g.sw);
  if (g.dh > 1 || g.dw > 1)
    s += g.dh == g.dw ? fmt::format("d{}", g.dh) : fmt::format("d{}x{}", g.dh, g.dw);
  s += fmt::format(" {}->{}", g.c, g.m);
  if (g.group > 1 && !g.is_depthwise())
    s += fmt::format(" g{}", g.group);
  s += fmt::format(" @{}x{}", g.h, g.w);
  if (g.n > 1)
    s += fmt::format(" n{}", g.n);
  if (dt != DType::f32)
    s += " " + std::string(dtype_name(dt));
  return s;
}

/// The convs the CPU conv kernel computes (2-D Conv and ConvInteger), one per key, in graph
/// order.
std::vector<Layer> distinct_convs(const Graph &g) {
  std::vector<Layer> layers;
  std::map<std::string, size_t> at;
  for (const auto &n : g.nodes()) {
    if (n->op != OpKind::Conv && n->op != OpKind::ConvInteger)
      continue;
    const Value *x = n->inputs[0], *w = n->inputs[1], *y = n->outputs[0];
    if (x->shape.size() != 4 || w->shape.size() != 4)
      continue;
    ConvGeom geom = conv_geom(*n, *x, *w, *y);
    std::string key = conv_tuning_key(geom, x->dtype);
    auto [it, fresh] = at.emplace(key, layers.size());
    if (fresh)
      layers.push_back({key, n.get(), geom, x->dtype, 0});
    ++layers[it->second].uses;
  }
  return layers;
}

std::string pipeline_error(const Pipeline &p) {
  if (!p.has("tile"))
    return "has no 'tile' pass";
  if (p.tile_oc > 0 || p.tile_px > 0)
    return "gives the conv tile sizes (tile=...)";
  return "";
}

} // namespace

CLI::App *add_tune_command(CLI::App &app, TuneArgs &a) {
  auto *tune = app.add_subcommand(
      "tune", "time conv tiles per layer shape on this machine; store the winners for compiles");
  tune->add_option("model", a.model, "model.onnx")->required();
  tune->add_option("--budget", a.budget_s, "seconds for the whole model")->capture_default_str();
  tune->add_option("--db", a.db, "tuning database (default: tuning.json in the cache folder)");
  tune->add_flag("--retune", a.retune, "time again the shapes the database already has");
  SessionFlags &f = a.session;
  tune->add_option("--threads", f.threads, "threads to time on: those you run with (0: all cores)")
      ->capture_default_str();
  tune->add_option("--input-shape", f.input_shapes,
                   "override an input shape, NAME=1x3x640x640 (repeatable)");
  tune->add_option("--cache-dir", f.cache_dir,
                   "cache folder of the default database (default $KILN_CACHE_DIR or "
                   "~/.cache/kiln)");
  auto *passes =
      tune->add_option("--passes", f.passes, "pass pipeline, as for compile (default O3)");
  tune->add_option("-O", f.opt_level, "optimisation level: -O0 .. -O3")
      ->check(CLI::Range(0, 3))
      ->excludes(passes);
  tune->add_option("--disable", f.disable, "drop a pass from the pipeline (repeatable)");
  return tune;
}

int cmd_tune(const TuneArgs &a) {
  if (!(a.budget_s > 0))
    throw Error("--budget must be more than 0 seconds");
  SessionOptions o = session_options(a.session);
  Pipeline passes = check_pipeline(o.pipeline);
  if (std::string why = pipeline_error(passes); !why.empty())
    throw Error("pipeline '" + o.pipeline + "' " + why +
                ": the conv tiles are fixed, there is nothing to tune");
  std::string db_path = tuning_db_path(a.db, o.cache_dir);
  if (db_path.empty())
    throw Error("no cache folder for the tuning database ($KILN_CACHE_DIR and $HOME are unset); "
                "give --db FILE");
  TuningDb db = TuningDb::load(db_path);

  // The graph the compile lowers: imported and rewritten by the same graph passes.
  ImportOptions io;
  for (const auto &[name, shape] : o.input_shapes)
    io.input_shapes[name] = shape;
  std::unique_ptr<Graph> g = import_onnx(a.model, io);
  run_graph_passes(*g, passes);
  ConvTimer timer(passes, o.threads);
  const LowerOptions &lo = timer.lower_options();
  TuningSection &section = db.section(timer.target_key(), cpu_model_name());
  std::vector<Layer> layers = distinct_convs(*g);
  if (layers.empty()) {
    fmt::print("{}: no conv layers to tune\n", a.model);
    return 0;
  }
  // The most work first (multiply-adds x uses), so a tight budget goes to the layers that
  // matter; what the budget leaves untuned, the next run (which skips tuned shapes) does.
  std::vector<const Layer *> todo;
  for (const Layer &l : layers)
    if (a.retune || !section.count(l.key))
      todo.push_back(&l);
  auto work = [](const Layer *l) {
    const ConvGeom &g = l->geom;
    return double(g.n * g.m * g.oh * g.ow) * double(g.cg * g.kh * g.kw) * l->uses;
  };
  std::stable_sort(todo.begin(), todo.end(),
                   [&](const Layer *x, const Layer *y) { return work(x) > work(y); });

  auto start = Clock::now();
  Progress progress(todo.size());
  size_t tuned = 0;
  for (; tuned < todo.size(); ++tuned) {
    const size_t i = tuned;
    const Layer &l = *todo[i];
    const double left_s = a.budget_s - ms_since(start) / 1e3;
    if (left_s <= 0)
      break;
    const double share_s = std::max(0.0, left_s) / double(todo.size() - i);
    std::vector<ConvTiles> cands = conv_tile_candidates(l.geom, lo);
    const size_t k = std::min<size_t>(cands.size(),
                                      std::clamp(int(share_s / kCandidateCost), 2, kMaxCandidates));
    // Compile candidates until half the share is spent (at least two), then time them in
    // rounds, each candidate in turn, so a slow spell of the machine lands on all of them.
    auto layer_start = Clock::now();
    std::vector<std::unique_ptr<ConvTimer::Bench>> benches;
    for (size_t c = 0; c < k; ++c) {
      if (c >= 2 && ms_since(layer_start) / 1e3 > share_s / 2)
        break;
      progress.status(
          i, fmt::format("tuning {}: compiling tile {}/{}", describe(l.geom, l.dtype), c + 1, k),
          c == 0);
      benches.push_back(timer.prepare(*l.node, l.key, cands[c]));
    }
    const double time_s = std::max(0.0, share_s - ms_since(layer_start) / 1e3);
    const double window_s = std::clamp(time_s / double(benches.size() * kRounds), 0.002, 0.5);
    std::vector<double> ms(benches.size(), 1e300);
    for (int r = 0; r < kRounds; ++r) {
      progress.status(i, fmt::format("tuning {}: timing {} tiles, round {}/{}",
                                     describe(l.geom, l.dtype), benches.size(), r + 1, kRounds));
      for (size_t c = 0; c < benches.size(); ++c)
        ms[c] = std::min(ms[c], benches[c]->time(window_s));
    }
    size_t best = std::min_element(ms.begin(), ms.end()) - ms.begin();
    if (ms[best] >= ms[0] * (1 - kMinGain))
      best = 0;
    section[l.key] = {cands[best], ms[best], ms[0]};
    db.save(db_path); // after every layer: an interrupted tune keeps what it measured
  }
  progress.finish();

  // The summary: every conv shape of the model, tuned now or before.
  std::vector<std::vector<std::string>> cells;
  double total_default = 0, total_tuned = 0;
  size_t untuned = 0;
  for (const Layer &l : layers) {
    auto it = section.find(l.key);
    if (it == section.end()) {
      ++untuned;
      cells.push_back({describe(l.geom, l.dtype), std::to_string(l.uses), "-", "-", "-",
                       "(not tuned: the budget ran out)"});
      continue;
    }
    const TuningRecord &r = it->second;
    bool now = std::find(todo.begin(), todo.begin() + tuned, &l) != todo.begin() + tuned;
    total_default += r.default_ms * l.uses;
    total_tuned += r.ms * l.uses;
    cells.push_back({describe(l.geom, l.dtype), std::to_string(l.uses),
                     fmt::format("{:.4f}", r.default_ms), fmt::format("{:.4f}", r.ms),
                     fmt::format("{:.2f}x", r.default_ms / std::max(r.ms, 1e-9)),
                     conv_tiles_str(r.tiles) + (now ? "" : " (in db)")});
  }
  cells.push_back({"total (x uses)", "", fmt::format("{:.4f}", total_default),
                   fmt::format("{:.4f}", total_tuned),
                   fmt::format("{:.2f}x", total_default / std::max(total_tuned, 1e-9)), ""});
  std::vector<std::string> head = {"layer", "uses", "default ms", "tuned ms", "speed-up", "tiles"};
  const std::vector<size_t> w = column_widths(head, cells);
  auto line = [&](const std::vector<std::string> &v) {
    std::string s;
    for (size_t c = 0; c < v.size(); ++c)
      s += c == 0 || c == 5 ? fmt::format("{:<{}}  ", v[c], w[c])
                            : fmt::format("{:>{}}  ", v[c], w[c]);
    while (!s.empty() && s.back() == ' ')
      s.pop_back();
    fmt::print("{}\n", s);
  };
  line(head);
  for (const auto &row : cells)
    line(row);
  fmt::print("{}: {} conv shapes tuned in {:.1f} s, {} already in {}", a.model, tuned,
             ms_since(start) / 1e3, layers.size() - todo.size(), db_path);
  if (untuned > 0)
    fmt::print("; {} left for the next 'kiln tune' (--budget)", untuned);
  fmt::print("\n");
  return 0;
}

} // namespace kiln
