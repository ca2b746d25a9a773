// The pass table, pipeline parsing and the pass driver. Adding a pass is one row in
// pass_registry() and, if an O level should run it, one entry in level_passes().
#include "passes/PassManager.h"

#include "ir/Clock.h"
#include "ir/Error.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/BnFold.h"
#include "passes/Cse.h"
#include "passes/Dce.h"
#include "passes/EwFuse.h"
#include "passes/Fold.h"
#include "passes/Fuse.h"
#include "passes/Layout.h"
#include "passes/Precision.h"
#include "passes/ProgramPasses.h"
#include "passes/ProgramVerifier.h"
#include "passes/QConv.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace kiln {

const std::vector<PassInfo> &pass_registry() {
  static const std::vector<PassInfo> passes = {
      // CPU targets only (layout_block > 0): the int8 kernels are CPU-shaped.
      {"qconv", PassLevel::Graph, "quantised Conv (Dequantize -> Conv -> Quantize) as QLinearConv",
       nullptr, nullptr,
       [](Graph &g, const PassOptions &o) { return o.layout_block > 0 && quantize_convs(g); }},
      {"fold", PassLevel::Graph, "constant folding with the reference interpreter", fold_constants,
       nullptr},
      {"dce", PassLevel::Graph, "dead-code elimination", eliminate_dead_code, nullptr},
      {"cse", PassLevel::Graph, "common-subexpression elimination", eliminate_common_subexpressions,
       nullptr},
      {"bnfold", PassLevel::Graph, "BatchNormalization folding into Conv", fold_batch_norm,
       nullptr},
      {"precision", PassLevel::Graph,
       "the conv network in f16/bf16 (--precision; runs whenever it is not f32)", nullptr, nullptr,
       [](Graph &g, const PassOptions &o) { return lower_precision(g, o.precision); }},
      {"fuse", PassLevel::Graph, "Conv + activation + residual Add fusion", fuse_conv_epilogue,
       nullptr},
      {"ewfuse", PassLevel::Graph, "elementwise chains as one kernel (FusedElementwise)",
       fuse_elementwise_chains, nullptr},
      {"layout", PassLevel::Graph,
       "channel-blocked activations (NCHWc, c = vector lanes) between convs", nullptr, nullptr,
       [](Graph &g, const PassOptions &o) {
         return block_layout(g, o.layout_block, o.layout_block_f16);
       }},
      {"concat", PassLevel::Program, "concat elimination: producers write into the concat", nullptr,
       eliminate_concat},
      {"tile", PassLevel::Target, "conv output tiles held in registers (tile=auto|ocN,pxN)",
       nullptr, nullptr},
      // plan_memory (passes/MemPlan.h) reads Program::plan_memory, set from this row.
      {"memplan", PassLevel::Target, "intermediates share one arena by lifetime", nullptr, nullptr},
  };
  return passes;
}

namespace {

const PassInfo *find_pass(std::string_view name) {
  for (const PassInfo &p : pass_registry())
    if (name == p.name)
      return &p;
  return nullptr;
}

/// The O levels; nullptr for a name that is not one.
const std::vector<std::string> *level_passes(std::string_view name) {
  static const std::vector<std::string> o0 = {};
  static const std::vector<std::string> o1 = {"fold", "dce", "tile", "memplan"};
  static const std::vector<std::string> o2 = {"qconv", "fold",   "dce",  "cse",    "bnfold",
                                              "fuse",  "ewfuse", "tile", "memplan"};
  static const std::vector<std::string> o3 = {"qconv",  "fold",    "dce",    "cse",
                                              "bnfold", "fuse",    "ewfuse", "layout",
                                              "tile",   "memplan", "concat"};
  if (name == "O0")
    return &o0;
  if (name == "O1")
    return &o1;
  if (name == "O2")
    return &o2;
  if (name == "O3" || name == "default")
    return &o3;
  return nullptr;
}

std::string valid_names() {
  std::string s;
  for (const PassInfo &p : pass_registry())
    s += std::string(s.empty() ? "" : ", ") + p.name;
  return s + "; levels O0, O1, O2, O3; -NAME removes a pass; tile=auto|ocN,pxN";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return s;
}

bool should_print(const PassOptions &opt, bool changed) {
  if (!opt.print_to)
    return false;
  switch (opt.print) {
  case PassOptions::Print::Never: return false;
  case PassOptions::Print::AfterAll: return true;
  case PassOptions::Print::AfterChange: return changed;
  }
  return false;
}

void print_program(std::ostream &os, const Program &prog) {
  for (size_t i = 0; i < prog.launches.size(); ++i) {
    const Launch &l = prog.launches[i];
    os << "  launch " << i << ": " << l.kernel.name << "(";
    for (size_t a = 0; a < l.args.size(); ++a)
      os << (a ? ", " : "") << prog.buffers[l.args[a]].name;
    os << ")" << (l.weight_only ? " weight_only" : "") << "\n";
  }
}

} // namespace

std::string Pipeline::str() const {
  std::string s;
  for (const std::string &p : passes) {
    s += (s.empty() ? "" : ",") + p;
    if (p == "tile" && (tile_oc || tile_px)) {
      s += "=";
      if (tile_oc)
        s += "oc" + std::to_string(tile_oc);
      if (tile_px)
        s += std::string(tile_oc ? "," : "") + "px" + std::to_string(tile_px);
    }
  }
  return s;
}

bool Pipeline::has(std::string_view name) const {
  return std::find(passes.begin(), passes.end(), name) != passes.end();
}

Pipeline parse_pipeline(std::string_view text) {
  Pipeline p;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = trim(
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (item.empty())
      continue;
    if (const std::vector<std::string> *level = level_passes(item)) {
      p.passes.insert(p.passes.end(), level->begin(), level->end());
      continue;
    }
    // tile=auto | tile=ocN | tile=pxN, and ocN / pxN items right after one.
    auto tile_size = [&](std::string_view t) {
      if (t == "auto")
        return true;
      int64_t *dst = t.starts_with("oc") ? &p.tile_oc : t.starts_with("px") ? &p.tile_px : nullptr;
      std::string digits(t.size() > 2 ? t.substr(2) : std::string_view());
      if (!dst || digits.empty() || digits.size() > 4 ||
          digits.find_first_not_of("0123456789") != std::string::npos || std::stoi(digits) < 1)
        throw Error("bad tile size '" + std::string(t) +
                    "' (expected tile=auto, tile=ocN, tile=pxN or tile=ocN,pxN with N >= 1)");
      *dst = std::stoi(digits);
      return true;
    };
    if (item.starts_with("tile=")) {
      p.tile_oc = p.tile_px = 0;
      tile_size(trim(item.substr(5)));
      p.passes.erase(std::remove(p.passes.begin(), p.passes.end(), "tile"), p.passes.end());
      p.passes.emplace_back("tile");
      continue;
    }
    if (!p.passes.empty() && p.passes.back() == "tile" &&
        (item.starts_with("oc") || item.starts_with("px")) && item.size() > 2 &&
        std::isdigit(static_cast<unsigned char>(item[2]))) {
      tile_size(item);
      continue;
    }
    bool remove = item.front() == '-';
    std::string_view name = remove ? trim(item.substr(1)) : item;
    if (!find_pass(name))
      throw Error("unknown pass '" + std::string(name) + "' (valid: " + valid_names() + ")");
    if (!remove) {
      p.passes.emplace_back(name);
      continue;
    }
    p.passes.erase(std::remove(p.passes.begin(), p.passes.end(), name), p.passes.end());
  }
  return p;
}

bool verify_passes_by_default() {
#ifndef NDEBUG
  return true;
#else
  const char *env = std::getenv("KILN_VERIFY_PASSES");
  return env && std::string_view(env) == "1";
#endif
}

void run_graph_pass(Graph &g, const PassInfo &pass, const PassOptions &opt, PassReport *report) {
  KILN_ASSERT(pass.level == PassLevel::Graph && (pass.graph_fn || pass.target_graph_fn),
              "run_graph_pass: '" + std::string(pass.name) + "' is not a graph pass");
  auto t0 = std::chrono::steady_clock::now();
  bool changed = pass.graph_fn ? pass.graph_fn(g) : pass.target_graph_fn(g, opt);
  double ms = ms_since(t0);
  if (report)
    report->push_back({pass.name, ms, changed});
  if (should_print(opt, changed)) {
    *opt.print_to << "// ---- IR after " << pass.name << (changed ? "" : " (unchanged)")
                  << " ----\n";
    print_graph(*opt.print_to, g, PrintOptions{16});
  }
  if (!opt.verify_each_pass)
    return;
  try {
    verify(g);
  } catch (const Error &e) {
    // Passes keep the graph valid: one that breaks it is a compiler bug.
    throw InternalError("pass '" + std::string(pass.name) + "' broke the graph: " + e.what());
  }
}

void run_graph_passes(Graph &g, const Pipeline &p, const PassOptions &opt, PassReport *report) {
  // The graph as it comes in, so that a broken import is not blamed on the first pass.
  if (opt.verify_each_pass) {
    try {
      verify(g);
    } catch (const Error &e) {
      throw InternalError("the graph is invalid before the first pass: " + std::string(e.what()));
    }
  }
  for (const std::string &name : p.passes) {
    const PassInfo *pass = find_pass(name);
    KILN_ASSERT(pass, "run_graph_passes: pipeline names an unregistered pass");
    if (pass->level == PassLevel::Graph)
      run_graph_pass(g, *pass, opt, report);
  }
}

void run_program_pass(Program &prog, const PassInfo &pass, const PassOptions &opt,
                      PassReport *report) {
  KILN_ASSERT(pass.level == PassLevel::Program && pass.program_fn,
              "run_program_pass: '" + std::string(pass.name) + "' is not a program pass");
  auto t0 = std::chrono::steady_clock::now();
  bool changed = pass.program_fn(prog);
  double ms = ms_since(t0);
  if (report)
    report->push_back({pass.name, ms, changed});
  if (should_print(opt, changed)) {
    *opt.print_to << "// ---- program after " << pass.name << (changed ? "" : " (unchanged)")
                  << " ----\n";
    print_program(*opt.print_to, prog);
  }
  if (!opt.verify_each_pass)
    return;
  try {
    verify_program(prog);
  } catch (const Error &e) {
    throw InternalError("pass '" + std::string(pass.name) + "' broke the program: " + e.what());
  }
}

void run_program_passes(Program &prog, const Pipeline &p, const PassOptions &opt,
                        PassReport *report) {
  // The program as lowering left it, so that a lowering bug is not blamed on the first pass.
  if (opt.verify_each_pass) {
    try {
      verify_program(prog);
    } catch (const Error &e) {
      throw InternalError("the lowered program is invalid: " + std::string(e.what()));
    }
  }
  for (const std::string &name : p.passes) {
    const PassInfo *pass = find_pass(name);
    KILN_ASSERT(pass, "run_program_passes: pipeline names an unregistered pass");
    if (pass->level == PassLevel::Program)
      run_program_pass(prog, *pass, opt, report);
  }
}

std::string pass_report_table(const PassReport &report) {
  std::string s = "pass          ms  changed\n";
  double total = 0;
  char line[128];
  for (const PassRecord &r : report) {
    std::snprintf(line, sizeof line, "%-8s %7.2f  %s\n", r.name.c_str(), r.ms,
                  r.changed ? "yes" : "no");
    s += line;
    total += r.ms;
  }
  std::snprintf(line, sizeof line, "%-8s %7.2f\n", "total", total);
  return s + line;
}

} // namespace kiln
