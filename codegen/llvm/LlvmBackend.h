#pragma once
/// The LLVM CPU backend: kernel IR -> LLVM IR (IRBuilder) -> O3 for the host CPU -> object code
/// -> ORC JIT. Only the factory is public.
#include "codegen/Backend.h"

#include <memory>

namespace kiln {

/// The process-wide LLVM CPU backend (LLVM is initialised once; thread-safe).
CpuBackend &llvm_cpu_backend();

} // namespace kiln
