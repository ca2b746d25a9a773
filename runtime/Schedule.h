#pragma once
/// The schedule as data: what compilation produces and the cache stores. A buffer table (every
/// buffer placed in the caller's inputs/outputs, the weights block or the activation arena),
/// the ordered replay launch list and the kernels' names; and the arena planner that places
/// the arena buffers. The code and weights live in a CompiledSchedule (CompiledSchedule.h),
/// the per-run memory in a RunState (RunState.h), the JSON form in Manifest.h.
#include "ir/DType.h"
#include "ir/Tensor.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

enum class Place : uint8_t { None, Input, Output, Weights, Arena };

struct SlotDesc {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  Place place = Place::None;
  int64_t offset = 0; ///< in the weights block or the arena, or into the input/output tensor
  int64_t bytes = 0;
  int io = -1; ///< Input/Output: index among the model's inputs/outputs
  /// A view (BufferDecl::alias_of): the buffer whose memory this one shares; place and offset
  /// are already resolved (the root's place, offset within it). -1: its own memory.
  int view_of = -1;
};

struct LaunchDesc {
  int kernel = 0;        ///< index into the compiled module
  std::vector<int> args; ///< buffer ids
  int64_t extent = 1;    ///< parallel work size
  std::string node;      ///< graph node(s), for profiles and errors
};

/// Everything about a schedule except code and weight bytes; serialised as the manifest.
struct ScheduleDesc {
  std::vector<SlotDesc> buffers;
  std::vector<int> inputs, outputs; ///< buffer ids in model order
  /// Outputs that are not written by a kernel in place (a constant output, an input passed
  /// through, one buffer bound to two outputs): (output index, source buffer), copied after.
  std::vector<std::pair<int, int>> output_copies;
  std::vector<LaunchDesc> launches; ///< the replay list
  std::vector<std::string> kernel_names;
  int weight_only_launches = 0; ///< run at capture and dropped
  int64_t arena_bytes = 0, weights_bytes = 0;
  /// The memory plan's yardsticks: the most bytes simultaneously live at one launch (no
  /// placement can do better) and the sum of all arena buffers (no reuse at all).
  int64_t arena_lower_bound_bytes = 0, arena_naive_bytes = 0;
};

} // namespace kiln
