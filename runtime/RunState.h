#pragma once
/// The per-run state of a CompiledSchedule: the activation arena and the flat launch table
/// (every launch's argument pointers, back to back). Cheap to create (one allocation for the
/// arena, one for the table); one per thread that runs the schedule at the same time. A replay
/// is: patch the input/output pointers into the table, launch each kernel. Nothing allocates.
///
///   replay (every run):      table[in slots] = inputs; table[out slots] = outputs;
///                            for op in ops: pool.launch(op.fn, op.args, op.extent)
#include "runtime/CompiledSchedule.h"
#include "runtime/ThreadPool.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln {

class RunState {
public:
  /// `schedule` must outlive this state.
  explicit RunState(const CompiledSchedule &schedule);
  RunState(const RunState &) = delete;
  RunState &operator=(const RunState &) = delete;

  /// One replay. inputs/outputs: data pointers in model order, of the schedule's types.
  /// launch_ms: when given, each launch's wall time is added to launch_ms[i] (one per launch
  /// of the schedule's desc().launches); the clock is read only then. Not for two threads at
  /// once: each thread runs its own RunState.
  void run(ThreadPool &pool, const void *const *inputs, void *const *outputs,
           double *launch_ms = nullptr);

  const CompiledSchedule &schedule() const { return *schedule_; }
  /// This state's activation arena (null when the schedule needs none).
  const uint8_t *arena() const { return arena_.data(); }

private:
  uint8_t *slot_ptr(int buffer, const void *const *inputs, void *const *outputs) const;

  const CompiledSchedule *schedule_;
  AlignedBytes arena_;
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
