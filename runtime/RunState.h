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
#include <kiln/kiln.h>
#include <vector>

namespace kiln {

/// SessionOptions::profile: per launch of a schedule, its duration and its start (after the
/// run's first launch began) summed over the profiled runs. Session, InferRequest and the
/// OpenCL runner fill it; profile() reports the means.
struct LaunchTimes {
  std::vector<double> ms, start_ms;
  int runs = 0;
  /// Sizes the sums for `launches` launches (allocates only the first time) and counts a run.
  void begin_run(size_t launches) {
    ms.resize(launches);
    start_ms.resize(launches);
    ++runs;
  }
  /// The means per launch, in launch order (empty before a profiled run).
  std::vector<LaunchProfile> profile(const ScheduleDesc &d) const;
};

class RunState {
public:
  /// `schedule` must outlive this state.
  explicit RunState(const CompiledSchedule &schedule);
  RunState(const RunState &) = delete;
  RunState &operator=(const RunState &) = delete;

  /// One replay. inputs/outputs: data pointers in model order, of the schedule's types.
  /// times: when given, each launch's wall time and start are added to it (after
  /// times->begin_run); the clock is read only then. Not for two threads at once: each thread
  /// runs its own RunState.
  void run(ThreadPool &pool, const void *const *inputs, void *const *outputs,
           LaunchTimes *times = nullptr);

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
