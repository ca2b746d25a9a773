// The command line's session flags and the SessionOptions they make (see SessionFlags.h).
#include "tools/SessionFlags.h"

#include "ir/Error.h"
#include "passes/PassManager.h"
#include "tools/Inputs.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <unistd.h>

namespace kiln {

void add_session_flags(CLI::App *cmd, SessionFlags &f, const SessionFlagHelp &help) {
  cmd->add_option(help.target_names, f.target, help.target_help)->capture_default_str();
  cmd->add_option("--device", f.device,
                  "--target opencl: device index or name substring (default $KILN_OPENCL_DEVICE, "
                  "else the first GPU)");
  if (help.threads)
    cmd->add_option("--threads", f.threads, "threads per run (0: all cores)")
        ->capture_default_str();
  cmd->add_option("--input-shape", f.input_shapes,
                  "override an input shape, NAME=1x3x640x640 (repeatable)");
  cmd->add_option("--cache-dir", f.cache_dir,
                  "cache folder (default $KILN_CACHE_DIR or ~/.cache/kiln)");
  cmd->add_flag("--no-cache", f.no_cache, "compile without reading or writing the cache");
  cmd->add_option("--tuning-db", f.tuning_db,
                  "conv tuning database from 'kiln tune' (default: tuning.json in the cache "
                  "folder)");
  cmd->add_flag("--no-tuning", f.no_tuning, "ignore the tuning database (cost-model conv tiles)");
  cmd->add_option("--precision", f.precision,
                  "what the conv network computes in: f32, f16 (CPU: AVX512-FP16) or bf16 "
                  "(box decode and softmax stay f32)")
      ->capture_default_str();
  auto *passes =
      cmd->add_option("--passes", f.passes,
                      "pass pipeline: O0..O3, names (qconv,fold,dce,cse,bnfold,fuse,"
                      "ewfuse,layout,tile,memplan,concat), tile=ocN,pxN sets the conv tile, "
                      "-NAME drops one (default O3)");
  cmd->add_option("-O", f.opt_level, "optimisation level: -O0 .. -O3 (same as --passes ON)")
      ->check(CLI::Range(0, 3))
      ->excludes(passes);
  cmd->add_option("--disable", f.disable, "drop a pass from the pipeline (repeatable)");
  cmd->add_flag("--print-after-all", f.print_after_all, "print the IR after every pass (stderr)");
  cmd->add_flag("--print-after-change", f.print_after_change,
                "print the IR after each pass that changed it (stderr)");
  cmd->add_flag("--time-passes", f.time_passes, "per-pass time table (stderr)");
  cmd->add_flag("-v,--verbose", f.verbose, "say what compiles and loads did (-vv: more)");
  cmd->add_flag("-q,--quiet", f.quiet, "only errors: no warnings, no compile progress");
}

std::string pipeline_text(const SessionFlags &f) {
  std::string p = f.opt_level >= 0   ? "O" + std::to_string(f.opt_level)
                  : f.passes.empty() ? std::string("O3")
                                     : f.passes;
  for (const std::string &d : f.disable)
    p += ",-" + d;
  return p;
}

SessionOptions session_options(const SessionFlags &f) {
  SessionOptions o;
  o.target = f.target;
  o.device = f.device;
  o.threads = f.threads;
  o.cache_dir = f.cache_dir;
  o.use_cache = !f.no_cache;
  o.tuning_db = f.tuning_db;
  o.use_tuning = !f.no_tuning;
  o.precision = f.precision;
  o.pipeline = pipeline_text(f);
  o.print_ir_after = f.print_after_all ? "all" : f.print_after_change ? "changed" : "";
  o.log_level = f.quiet          ? LogLevel::error
                : f.verbose >= 2 ? LogLevel::debug
                : f.verbose == 1 ? LogLevel::info
                                 : LogLevel::warning;
  o.log = [](LogLevel, const std::string &line) {
    std::fprintf(stderr, "kiln: %s\n", line.c_str());
  };
  if (!f.quiet && ::isatty(2))
    o.progress = [](const CompileProgress &p) {
      // One line, rewritten in place, cleared when the compile is done.
      if (p.stage == "done")
        std::fprintf(stderr, "\r\033[K");
      else
        std::fprintf(stderr, "\r\033[Kkiln: compiling: %s %d/%d", p.stage.c_str(), p.done, p.total);
      std::fflush(stderr);
    };
  for (const std::string &spec : f.input_shapes)
    o.input_shapes.insert(parse_input_shape(spec));
  return o;
}

Session open_session(const std::string &model, const SessionOptions &o) {
  Result<Session> s = Session::open(model, o);
  if (!s)
    throw Error(s.error());
  return std::move(*s);
}

void throw_if_failed(const Status &st) {
  if (!st)
    throw Error(st.error());
}

void print_pass_times(const SessionFlags &f, const SessionStats &st) {
  if (!f.time_passes)
    return;
  if (st.passes.empty() && (st.cache == "hit" || st.cache == "file")) {
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

nlohmann::json passes_json(const SessionFlags &f, const SessionStats &st) {
  nlohmann::json ms = nlohmann::json::array();
  for (const SessionStats::PassTime &p : st.passes)
    ms.push_back({{"name", p.name}, {"ms", p.ms}, {"changed", p.changed}});
  return {{"pipeline", pipeline_text(f)},
          {"passes", parse_pipeline(pipeline_text(f)).passes},
          {"pass_ms", ms}};
}

} // namespace kiln
