#pragma once
/// The lowered program: kernels in the loop IR, their launches and the buffer table the runtime
/// plans memory for (passes/MemPlan.h), and the target facts lowering takes (LowerOptions).
/// Made by lower() (passes/Lower.h), rewritten by program passes (passes/ProgramPasses.h).
#include "ir/Graph.h"
#include "ir/Kernel.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// A buffer of the lowered program: a graph value, or an internal one (packed weights, scratch).
struct BufferDecl {
  enum class Kind { Input, Output, Constant, Intermediate };
  std::string name;
  DType dtype;
  Shape shape;
  Kind kind;
  std::optional<Tensor> constant; ///< Kind::Constant only
  /// Intermediate buffers computed only from constants (e.g. packed weights): the runtime
  /// computes them once at capture time and keeps them like constants.
  bool weight_only = false;
  /// A view: this buffer's bytes are those of buffer `alias_of` starting at `alias_offset`
  /// bytes (set by eliminate_concat, passes/ProgramPasses.h). Always a root (a buffer that is
  /// no alias itself) after that pass; -1: the buffer has its own memory.
  int alias_of = -1;
  int64_t alias_offset = 0;
};

/// A launch that only copies: dst[dst_at + r*dst_row + j] = src[src_at + r*src_row + j] for
/// r < rows, j < len (elements). Set by lowering on movement kernels (Concat, Split, contiguous
/// Slice, Reshape, Identity) so that program passes can replace the copy by a view.
struct CopyDesc {
  int src = -1, dst = -1; ///< buffer ids
  int64_t rows = 0, len = 0, src_row = 0, src_at = 0, dst_row = 0, dst_at = 0;
};

/// One kernel launch: the kernel and, for each of its params, the buffer it binds.
struct Launch {
  Kernel kernel;
  std::vector<int> args;        ///< buffer ids, one per kernel.params entry
  bool weight_only = false;     ///< depends only on constants: run once at capture, then dropped
  std::string node;             ///< graph node name(s) it implements, for profiles and errors
  std::optional<CopyDesc> copy; ///< set when the launch is a plain row copy
};

struct Program {
  std::vector<BufferDecl> buffers;
  std::vector<Launch> launches;     ///< in execution order
  std::vector<int> inputs, outputs; ///< buffer ids in Graph::inputs()/outputs() order
  /// The `memplan` pass: intermediates share arena memory by lifetime (best fit: plan_memory,
  /// passes/MemPlan.h). Off: every intermediate gets its own bytes (the naive sum).
  bool plan_memory = true;
};

/// Target facts lowering needs (vector width for the conv tiles, ...).
struct ConvTuning;

struct LowerOptions {
  int vector_lanes_f32 = 16; ///< 16 with AVX-512, 8 with AVX2
  /// The target computes f16 at full rate (codegen/Backend.h LoweringTarget::native_f16) and
  /// the session asked for `--precision f16`: blocked f16 convs accumulate in f16
  /// (ConvGeom::half). compile_graph leaves it off for fp16 models compiled as f32.
  bool native_f16 = false;
  /// The `tile` pass: register-blocked conv output tiles chosen per layer by a cost model
  /// (choose_conv_tiles), or with the sizes given (tile_oc output channels x tile_px pixels;
  /// 0: the model's choice). Off: the smallest tile, one channel x one vector of pixels (what a
  /// plainly vectorised loop nest computes).
  bool tile = true;
  int64_t tile_oc = 0, tile_px = 0;
  /// Conv tiles measured on this machine (`kiln tune`, passes/ConvTuning.h), by layer shape;
  /// a conv whose shape it lacks gets the cost model's tile. Given tile sizes or `tile` off win.
  const ConvTuning *conv_tuning = nullptr;
  /// GPU-shaped kernels (the OpenCL target): convs get one work item per small output tile
  /// (passes/LowerConvGpu.cpp; `tile` picks that tile), and the simple ops' parallel loops
  /// are cut into work items of `task_elems` elements instead of CPU-thread-sized tasks.
  bool gpu = false;
  /// With gpu: the device is a GPU (conv tiles shrink until a launch has enough work items);
  /// false: a CPU OpenCL driver such as PoCL (one 4x8 tile: fewer, larger work items).
  bool gpu_device = true;
  /// Elements per parallel iteration of the simple ops (passes/LowerLoops.h); 0: the CPU
  /// default (lw::kTaskElems).
  int64_t task_elems = 0;
};

} // namespace kiln
