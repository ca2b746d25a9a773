#pragma once
/// The compile pipeline of every target: graph -> lowered Program (shaped by the backend's
/// LoweringTarget) -> prepared, deduplicated kernels -> the backend's code. Only a cache miss
/// runs it.
#include "codegen/Backend.h"
#include "passes/Lower.h"
#include "passes/PassManager.h"

#include <string>
#include <vector>

namespace kiln {

struct CompileResult {
  Program program;
  std::vector<int> launch_kernel; ///< module kernel of each program launch
  CompiledModule module;
};

/// The pipeline text parsed (passes/PassManager.h); throws kiln::Error "unknown pass pipeline
/// 'TEXT': unknown pass 'x' (valid: ...)" for a bad one.
Pipeline check_pipeline(const std::string &pipeline);

/// The lowering's options: what the backend asks for, the pipeline's `tile` settings and the
/// tuned conv tiles (null: none).
LowerOptions lower_options(const LoweringTarget &t, const Pipeline &passes,
                           const ConvTuning *conv_tuning = nullptr);

/// import is the caller's; graph passes (they rewrite `g`) -> lower (with lower_options: what
/// `backend.lowering_target()` asks for, and `conv_tuning`'s tiles when given) -> program
/// passes -> prepare_for_codegen -> dedupe identical kernels -> unique kernel names ->
/// backend.compile. Each pass's time and whether it changed anything go to `report` when given.
/// "f32" (or "fp32"), "f16" (or "fp16"), "bf16" -> the dtype; kiln::Error naming the valid
/// ones otherwise (SessionOptions::precision).
DType parse_precision(const std::string &name);

CompileResult compile_graph(Graph &g, Backend &backend, const std::string &pipeline,
                            const PassOptions &pass_options = {}, PassReport *report = nullptr,
                            const ConvTuning *conv_tuning = nullptr);

/// "kiln 0.1.0 (LLVM 15.0.6)": a .kiln file from another release is stale.
const std::string &compiler_release();
/// The release plus the build id of the binary Kiln's code is in (the `kiln` executable,
/// libkiln.so, a test): part of the cache folder's keys,
/// so a rebuilt compiler never reuses code the previous build cached. (A .kiln file named
/// explicitly is self-contained, code and schedule, so only its release must match.)
const std::string &compiler_identity();

} // namespace kiln
