#pragma once
/// The OpenCL backend: prepared kernels (passes/KernelPasses.h prepare_for_codegen) -> one
/// OpenCL C 1.2 program. It only renders the loop IR; the runtime (runtime/OpenclDevice.h)
/// builds, caches and launches it.
///
/// Kernel ABI (OpenCL form of the one in ir/Kernel.h): every buffer parameter i is passed as
/// a base pointer and a byte offset, so the runtime can place many buffers in one cl_mem (the
/// arena, the weights) without sub-buffer alignment rules; then the parallel range:
///
///   __kernel void k3_conv2d_3x3s1_f32(__global uchar *a0, long o0, ..., long begin, long end)
///
/// Work item g runs iteration begin + g of the outermost Parallel loop and returns when that is
/// >= end, so the runtime may round the global size up to a whole number of work-groups. A
/// kernel without a Parallel loop runs as one work item.
///
/// Vectors (Ramp/Broadcast, lanes > 1) are rendered lane by lane: each vector statement becomes
/// a loop over its lanes over scalar temporaries, which OpenCL compilers unroll; values are
/// computed in float for f16/bf16 and rounded after every operation, exactly as the LLVM
/// backend does, so both backends give the same bits for everything but transcendentals.
#include "ir/Kernel.h"

#include <string>
#include <vector>

namespace kiln {

struct OpenclSource {
  std::string source;
  std::vector<std::string> kernel_names; ///< the __kernel function of kernels[i]
};

/// Renders every kernel into one program. Throws kiln::Error naming the kernel for IR the
/// backend cannot render.
OpenclSource render_opencl(const std::vector<Kernel> &kernels);

} // namespace kiln
