#pragma once
/// The schedule: what compilation produces and the cache stores. A buffer table (every buffer
/// placed in the caller's inputs/outputs, the weights block or the activation arena), the
/// ordered replay launch list, and the kernels' code. Executable turns it into a flat pointer
/// table so that replay is: patch input/output pointers, launch each kernel. Nothing allocates.
///
///   capture (on a compile):  run weight-only launches once into the weights block, keep only
///                            the weights the replay reads, drop those launches
///   replay (every run):      table[in slots] = inputs; table[out slots] = outputs;
///                            for op in ops: pool.launch(op.fn, op.args, op.extent)
#include "codegen/Backend.h"
#include "passes/Lower.h"
#include "runtime/ThreadPool.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace kiln {

class CacheFile;

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

nlohmann::json schedule_to_json(const ScheduleDesc &d);
/// Parses and bounds-checks a manifest's schedule; throws CacheFileError("corrupt", ...).
ScheduleDesc schedule_from_json(const nlohmann::json &j, size_t weights_size);

/// 64-byte aligned, zero-filled heap memory.
class AlignedBytes {
public:
  AlignedBytes() = default;
  explicit AlignedBytes(size_t n);
  uint8_t *data() const { return data_.get(); }
  size_t size() const { return size_; }

private:
  struct Free {
    void operator()(uint8_t *p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

/// A schedule ready to replay.
class Executable {
public:
  /// From a fresh compile: plans memory, runs the weight-only launches (the capture), keeps the
  /// weights the replay needs. `launch_kernel[i]` is the module kernel of program launch i.
  static std::unique_ptr<Executable> capture(const Program &p,
                                             const std::vector<int> &launch_kernel,
                                             CompiledModule module,
                                             std::unique_ptr<LoadedModule> loaded);
  /// From a validated cache file (kept mapped: the weights are used in place).
  static std::unique_ptr<Executable> from_cache(ScheduleDesc desc, std::unique_ptr<CacheFile> file,
                                                std::unique_ptr<LoadedModule> loaded);
  ~Executable();

  const ScheduleDesc &desc() const { return desc_; }
  std::span<const uint8_t> object() const { return object_; }
  std::span<const uint8_t> weights() const { return {weights_, size_t(desc_.weights_bytes)}; }

  /// One replay. inputs/outputs: data pointers in model order, of the schedule's types.
  /// launch_ms: when given, each launch's wall time is added to launch_ms[i] (one per launch
  /// of desc().launches); the clock is read only then.
  void run(ThreadPool &pool, const void *const *inputs, void *const *outputs,
           double *launch_ms = nullptr);

private:
  Executable() = default;
  void link(LoadedModule &loaded);
  uint8_t *slot_ptr(int buffer, const void *const *inputs, void *const *outputs) const;

  ScheduleDesc desc_;
  std::unique_ptr<LoadedModule> loaded_;
  std::vector<uint8_t> object_storage_;
  std::unique_ptr<CacheFile> file_;
  std::span<const uint8_t> object_;
  AlignedBytes weights_storage_, arena_;
  uint8_t *weights_ = nullptr;

  struct Op {
    KernelFn fn;
    void *const *args;
    int64_t extent;
  };
  std::vector<void *> table_; ///< every launch's argument pointers, back to back
  std::vector<Op> ops_;
  struct Patch {
    size_t slot;
    int io;
    int64_t offset; ///< a view into the input/output tensor
  };
  std::vector<Patch> input_patches_, output_patches_;
};

} // namespace kiln
