#pragma once
/// The backend seam: what a target asks of the lowering, then kernels in, loadable code out.
/// compile_graph (runtime/Compiler.h) lowers for a backend's LoweringTarget and hands it the
/// prepared kernels; a cache hit only calls load(), never the compiler.
///
/// Adding a target (CUDA, Vulkan, another CPU ISA): implement Backend in its own folder
/// (codegen/<name>/ for the code generator, runtime/ for what needs a device), expose only a
/// factory, and pick it where the runtime chooses the backend for SessionOptions::target
/// (Session::open). Nothing in the pipeline asks which target it serves.
#include "ir/Kernel.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

/// ABI of every compiled kernel (see ir/Kernel.h).
using KernelFn = void (*)(void *const *args, int64_t begin, int64_t end);

/// The kernels a backend runs well. compile_graph turns it into the lowering's options
/// (passes/Lower.h LowerOptions, plus the pipeline's `tile` settings), so neither the pipeline
/// nor the lowering tests target names.
struct LoweringTarget {
  /// f32 lanes of one vector: vectorised loops and conv pixel tiles are this wide (LLVM CPU:
  /// 16 with AVX-512F, else 8).
  int vector_lanes_f32 = 8;
  /// f16 arithmetic at full vector rate (LLVM CPU: AVX512-FP16): `--precision f16` computes
  /// convs in f16 (passes/LowerConvBlocked.cpp) with 2x the f32 lanes per vector.
  bool native_f16 = false;
  /// GPU-shaped kernels: one work item per small conv output tile (passes/LowerConvGpu.cpp),
  /// and the simple ops' parallel loops cut into work items of `task_elems` elements.
  bool gpu = false;
  /// With gpu: conv tiles for a GPU (they shrink until a launch has enough work items); false:
  /// for a CPU OpenCL driver such as PoCL (one 4x8 tile: fewer, larger work items).
  bool gpu_device = true;
  /// Elements per parallel iteration of the simple ops; 0: the CPU default (task-sized).
  int64_t task_elems = 0;
};

/// Compiled code for a set of kernels, serialisable into the .kiln cache.
struct CompiledModule {
  std::string target; ///< Backend::target_key() of the backend that compiled it
  /// Name of kernel i, unique in the module: what the manifest stores and profiles show. The
  /// backend derives its symbols from these (LLVM: the name itself; OpenCL: k<i>_<name>, kept
  /// in its program section), so a display name is never parsed back out of a symbol.
  std::vector<std::string> kernel_names;
  /// The code: a relocatable object (ELF, or a bundle of them) for the LLVM backend, the
  /// program section (source, binary) for OpenCL.
  std::vector<uint8_t> object;
};

/// Loaded code: function pointers valid while this object lives.
class LoadedModule {
public:
  virtual ~LoadedModule() = default;
  /// Host code of kernel i; null for a kernel with none (it runs on a device).
  virtual KernelFn function(size_t kernel_index) const = 0;
};

class Backend {
public:
  virtual ~Backend() = default;
  /// What code is compiled for ("x86_64-unknown-linux-gnu/sapphirerapids/+avx512f,...",
  /// "opencl"): the manifest's target and part of the cache key, so code compiled for other
  /// features is never loaded. Stable for the life of the backend.
  virtual std::string target_key() const = 0;
  /// The kernels this backend wants from the lowering (vector width, GPU shapes).
  virtual LoweringTarget lowering_target() const = 0;
  /// Kernels (already prepared by prepare_for_codegen) -> compiled code, one name per kernel.
  virtual CompiledModule compile(const std::vector<Kernel> &kernels) = 0;
  /// Makes compiled code callable in this process (no optimisation, no code generation).
  virtual std::unique_ptr<LoadedModule> load(const CompiledModule &m) = 0;
  /// Number of compile() calls that ran LLVM's optimiser and code generator in this process
  /// (tests prove a cache hit runs none).
  virtual int codegen_runs() const = 0;
};

} // namespace kiln
