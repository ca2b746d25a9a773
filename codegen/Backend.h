#pragma once
/// The backend interface: kernels in, loadable code out. A cache hit loads code without
/// running the compiler.
#include "ir/Kernel.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

/// ABI of every compiled kernel (see ir/Kernel.h).
using KernelFn = void (*)(void *const *args, int64_t begin, int64_t end);

/// Compiled code for a set of kernels, serialisable into the .kiln cache.
struct CompiledModule {
  std::string target; ///< e.g. "x86_64-unknown-linux-gnu/sapphirerapids/+avx512f,..."
  std::vector<std::string> kernel_names; ///< symbol of kernel i
  std::vector<uint8_t> object; ///< relocatable object file (ELF) with one symbol per kernel
};

/// Loaded code: function pointers valid while this object lives.
class LoadedModule {
public:
  virtual ~LoadedModule() = default;
  virtual KernelFn function(size_t kernel_index) const = 0;
};

class CpuBackend {
public:
  virtual ~CpuBackend() = default;
  /// Target string of the host: triple, CPU name and the features code is compiled for. It
  /// is part of the cache key: code for other features is never loaded.
  virtual std::string host_target() const = 0;
  /// Kernels (already prepared by prepare_for_codegen) -> optimised object code for the host.
  virtual CompiledModule compile(const std::vector<Kernel> &kernels) = 0;
  /// Links object code into this process (no optimisation, no code generation).
  virtual std::unique_ptr<LoadedModule> load(const CompiledModule &m) = 0;
  /// Number of compile() calls that ran LLVM's optimiser and code generator in this process
  /// (tests prove a cache hit runs none).
  virtual int codegen_runs() const = 0;
};

} // namespace kiln
