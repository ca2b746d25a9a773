#pragma once
/// The pass manager: the one table of graph and program passes, pipelines given as text, and
/// the driver that runs them with timing, IR printing and verification.
///
///   parse_pipeline("O3,-fuse")  ->  fold,dce,cse,bnfold,ewfuse,layout,tile,memplan,concat
///   run_graph_passes(g, p, opt, &report)     // before lowering
///   run_program_passes(prog, p, opt, &report) // after lowering, before codegen
#include "ir/Graph.h"
#include "passes/Lower.h"

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// What a pass transforms: the graph IR (before lowering), the lowered Program, or how
/// lowering and scheduling work (Target: `tile` sets LowerOptions, `memplan`
/// Program::plan_memory, which plan_memory (passes/MemPlan.h) reads; they have no function of
/// their own in the table).
enum class PassLevel { Graph, Program, Target };

struct PassOptions;

/// One registered pass. Exactly one of graph_fn / program_fn / target_graph_fn is set; each
/// returns true when it changed the IR. target_graph_fn is a graph pass that depends on the
/// target (PassOptions::layout_block).
struct PassInfo {
  const char *name;
  PassLevel level;
  const char *description;
  bool (*graph_fn)(Graph &);
  bool (*program_fn)(Program &);
  bool (*target_graph_fn)(Graph &, const PassOptions &) = nullptr;
};

/// Every pass, in the order the O levels run them. Graph and Program passes have one function
/// set; Target passes none.
const std::vector<PassInfo> &pass_registry();

/// A parsed pipeline: pass names in the order given (graph passes always run before lowering
/// and program passes after it, whatever their place in the text).
struct Pipeline {
  std::vector<std::string> passes;
  /// `tile=ocN,pxM`: the conv tile given (0: chosen per layer, as `tile` or `tile=auto`).
  int64_t tile_oc = 0, tile_px = 0;
  /// The expanded, comma-separated list: equal for pipelines that run the same passes ("O1"
  /// and "fold,dce"), so it is what cache keys hash. "" for an empty pipeline.
  std::string str() const;
  bool has(std::string_view name) const;
};

/// Parses "fold,dce,fuse", the levels "O0".."O3" (O0: nothing but what codegen needs; O1:
/// fold,dce,tile,memplan; O2: O1 + cse,bnfold,fuse,ewfuse; O3: O2 + layout,concat), "default" (=
/// O3), and
/// "-name", which removes every earlier occurrence of a pass ("O3,-fuse"). `tile=auto`,
/// `tile=oc8`, `tile=oc8,px32`, `tile=px64` set the conv tile (the items after `tile=` that
/// are ocN/pxN belong to it). Spaces around names are ignored; an empty text is O0. Throws
/// kiln::Error "unknown pass 'x' (valid: ...)" for a bad name or tile size.
Pipeline parse_pipeline(std::string_view text);

/// True in debug builds, and in release builds when the environment variable
/// KILN_VERIFY_PASSES is "1" (the test suite sets it, so CI always verifies).
bool verify_passes_by_default();

struct PassOptions {
  enum class Print { Never, AfterAll, AfterChange };
  /// Prints the IR (graph: text IR with large constants elided; program: the launch list)
  /// after each pass, or after each pass that changed it, to `print_to`.
  Print print = Print::Never;
  std::ostream *print_to = nullptr;
  /// Verifies the graph (ir/Verifier.h) after every graph pass and the program
  /// (passes/ProgramVerifier.h) after every program pass; a pass that leaves invalid IR is a
  /// kiln::InternalError naming it. Default: verify_passes_by_default().
  bool verify_each_pass = verify_passes_by_default();
  /// The target's channel block for the `layout` pass (its f32 vector lanes; 0: the target
  /// keeps NCHW, as GPUs do). Set by compile_graph from the backend.
  int64_t layout_block = 0;
  /// The block of f16 values (0: layout_block): 2x layout_block on a native-f16 target.
  int64_t layout_block_f16 = 0;
  /// The `precision` pass: f16 or bf16 computes the conv network in that type (passes/
  /// Precision.h); f32 leaves the model's own types. Set by compile_graph from the session.
  DType precision = DType::f32;
};

/// What one pass did.
struct PassRecord {
  std::string name;
  double ms = 0;
  bool changed = false;
};
using PassReport = std::vector<PassRecord>;

/// Runs the pipeline's graph passes in order (each as run_graph_pass). With
/// opt.verify_each_pass the graph is verified first too: an invalid input graph throws
/// kiln::InternalError "the graph is invalid before the first pass: ...".
void run_graph_passes(Graph &g, const Pipeline &p, const PassOptions &opt = {},
                      PassReport *report = nullptr);
/// Runs one graph pass (a pass_registry() row, or one of a caller's own): times it, prints the
/// IR as opt says, and with opt.verify_each_pass verifies the graph after it; a pass that
/// leaves an invalid graph throws kiln::InternalError "pass 'x' broke the graph: ...".
void run_graph_pass(Graph &g, const PassInfo &pass, const PassOptions &opt = {},
                    PassReport *report = nullptr);
/// Runs the pipeline's program passes in order (each as run_program_pass). With
/// opt.verify_each_pass the lowered program is verified first too: an invalid one throws
/// kiln::InternalError "the lowered program is invalid: ...".
void run_program_passes(Program &prog, const Pipeline &p, const PassOptions &opt = {},
                        PassReport *report = nullptr);
/// Runs one program pass like run_graph_pass, verifying the program (passes/ProgramVerifier.h)
/// after it: kiln::InternalError "pass 'x' broke the program: ...".
void run_program_pass(Program &prog, const PassInfo &pass, const PassOptions &opt = {},
                      PassReport *report = nullptr);

/// A per-pass timing table ("pass  ms  changed"), for --time-passes.
std::string pass_report_table(const PassReport &report);

} // namespace kiln
