#pragma once
/// Kernel loop IR -> LLVM IR. Internal to codegen/llvm.
#include "ir/Kernel.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

#include <string>

namespace kiln::cpu {

/// Per-function code generation attributes for the host.
struct TargetAttrs {
  std::string cpu;
  std::string features; ///< "+avx2,-avx512f,..."
  bool avx512 = false;  ///< ask for 512-bit vectors (LLVM prefers 256 on some AVX-512 parts)
  /// AVX512-FP16: f16 +, -, *, / and broadcasts are emitted as half arithmetic (vfmadd231ph):
  /// the same values as computing in f32 and rounding each result, as the kernel IR defines.
  bool fp16 = false;
};

/// Emits `k` into `m` as `void symbol(void *const *args, int64_t begin, int64_t end)`, the
/// kernel ABI of ir/Kernel.h. The body lives in an always-inlined internal function that
/// takes the buffers as `noalias` pointers, which the inliner turns into alias scopes: the
/// vectorizers then need no runtime alias checks. `k` must have been through
/// prepare_for_codegen (Vectorized/Unrolled loops left over are emitted as hinted loops).
llvm::Function *emit_kernel(llvm::Module &m, const Kernel &k, const std::string &symbol,
                            const TargetAttrs &attrs);

} // namespace kiln::cpu
