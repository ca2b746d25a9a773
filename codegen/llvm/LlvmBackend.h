#pragma once
/// The LLVM CPU backend: kernel IR -> LLVM IR (IRBuilder) -> O3 for the host CPU -> object code
/// -> ORC JIT. Only the factory is public.
#include "codegen/Backend.h"

#include <memory>

namespace kiln {

/// The process-wide LLVM CPU backend (LLVM is initialised once; thread-safe). Its
/// target_key() is the host's triple, CPU and enabled features; it lowers with 16 f32 lanes
/// when its target machine has AVX-512F, else 8 ($KILN_LLVM_CPU=haswell: 8).
Backend &llvm_cpu_backend();

} // namespace kiln
