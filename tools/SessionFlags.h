#pragma once
/// The one place the command line turns flags into kiln::SessionOptions: the flags every
/// command that compiles a model shares (run, compile, detect, validate; sweep builds its
/// configurations from the same struct), their CLI11 definitions, and the session helpers.
///
///   SessionFlags f;
///   add_session_flags(cmd, f, {.target_help = "where the model runs: cpu, opencl"});
///   ... parse ...
///   Session s = open_session(model, session_options(f));
#include <kiln/kiln.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

struct SessionFlags {
  std::string target = "cpu"; ///< --target
  std::string device;         ///< --device: --target opencl's device index or name substring
  int threads = 0;            ///< --threads: per run, 0: all cores
  std::vector<std::string> input_shapes; ///< --input-shape NAME=DIMS, repeatable
  std::string cache_dir;                 ///< --cache-dir ("": $KILN_CACHE_DIR or ~/.cache/kiln)
  bool no_cache = false;                 ///< --no-cache
  std::string tuning_db;                 ///< --tuning-db ("": tuning.json in the cache folder)
  bool no_tuning = false;                ///< --no-tuning
  std::string precision = "f32";         ///< --precision f32|f16|bf16
  // The pass pipeline: --passes TEXT or -O N, minus every --disable PASS.
  std::string passes;
  int opt_level = -1;
  std::vector<std::string> disable;
  bool print_after_all = false, print_after_change = false; ///< --print-after-{all,change}
  bool time_passes = false;                                 ///< --time-passes
  int verbose = 0;    ///< -v: what compiles and loads did; -vv: debug messages too
  bool quiet = false; ///< -q: errors only, no compile progress
};

/// How a command presents the shared flags.
struct SessionFlagHelp {
  std::string target_names = "--target"; ///< CLI11 names ("--target,--backend" for run)
  std::string target_help = "where the model runs: cpu, opencl";
  bool threads = true; ///< offer --threads (compile does not run the model)
};

/// Adds --target, --device, --threads, --input-shape, --cache-dir, --no-cache, --tuning-db,
/// --no-tuning and the pass flags (--passes, -O, --disable, --print-after-all,
/// --print-after-change, --time-passes).
void add_session_flags(CLI::App *cmd, SessionFlags &f, const SessionFlagHelp &help = {});

/// The pipeline text the flags ask for ("O3" when none is given), e.g. "O2,-fuse".
std::string pipeline_text(const SessionFlags &f);

/// The session options of the flags: the library's messages go to stderr as "kiln: ..." at the
/// level -v/-q ask for, and a compile shows its progress on one line when stderr is a terminal.
/// Throws kiln::Error for a malformed --input-shape.
SessionOptions session_options(const SessionFlags &f);

/// Session::open, throwing kiln::Error with its message (an unknown pass, a missing file).
Session open_session(const std::string &model, const SessionOptions &o);

/// Throws kiln::Error with the status' message when it failed.
void throw_if_failed(const Status &st);

/// --time-passes: when set, one line per pass run by the compile, on stderr.
void print_pass_times(const SessionFlags &f, const SessionStats &st);

/// The JSON keys run and compile report: "pipeline", "passes" (expanded), "pass_ms".
nlohmann::json passes_json(const SessionFlags &f, const SessionStats &st);

} // namespace kiln
