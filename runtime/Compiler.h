#pragma once
/// The compile pipeline of the CPU target: graph -> lowered Program -> prepared, deduplicated
/// kernels -> object code (LLVM backend). Only a cache miss runs it.
#include "codegen/Backend.h"
#include "passes/Lower.h"

#include <string>
#include <vector>

namespace kiln {

struct CompileResult {
  Program program;
  std::vector<int> launch_kernel; ///< module kernel of each program launch
  CompiledModule module;
};

/// Pass pipelines that exist (only "default" so far); throws kiln::Error for another name.
void check_pipeline(const std::string &pipeline);

/// 16 f32 lanes when the target has AVX-512F, else 8.
int vector_lanes_for(const std::string &target);

/// import is the caller's; lower -> prepare_for_codegen -> dedupe identical kernels -> unique
/// symbol names -> backend.compile.
CompileResult compile_graph(const Graph &g, CpuBackend &backend, const std::string &pipeline);

/// "kiln 0.1.0 (LLVM 15.0.6)": a .kiln file from another release is stale.
const std::string &compiler_release();
/// The release plus the build id of the running executable: part of the cache folder's keys,
/// so a rebuilt compiler never reuses code the previous build cached. (A .kiln file named
/// explicitly is self-contained, code and schedule, so only its release must match.)
const std::string &compiler_identity();

} // namespace kiln
