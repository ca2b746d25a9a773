#pragma once
/// A compiled schedule: the schedule (Schedule.h), its kernels linked into this process and
/// the weights block. Immutable once built (const methods only), so one CompiledSchedule is
/// shared by every thread that runs it; each run brings its own RunState (RunState.h) with
/// the activation arena and the launch table.
///
///   capture (on a compile):  run weight-only launches once into the weights block, keep only
///                            the weights the replay reads, drop those launches
///   from_cache (on a load):  the weights are used in place in the mapped .kiln file
#include "codegen/Backend.h"
#include "passes/Lower.h"
#include "runtime/Schedule.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace kiln {

class CacheFile;

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

class CompiledSchedule {
public:
  /// From a fresh compile: plans memory, runs the weight-only launches (the capture), keeps the
  /// weights the replay needs. `launch_kernel[i]` is the module kernel of program launch i.
  static std::unique_ptr<CompiledSchedule> capture(const Program &p,
                                                   const std::vector<int> &launch_kernel,
                                                   CompiledModule module,
                                                   std::unique_ptr<LoadedModule> loaded);
  /// From a validated cache file (kept mapped: the weights are used in place).
  static std::unique_ptr<CompiledSchedule> from_cache(ScheduleDesc desc,
                                                      std::unique_ptr<CacheFile> file,
                                                      std::unique_ptr<LoadedModule> loaded);
  ~CompiledSchedule();
  CompiledSchedule(const CompiledSchedule &) = delete;
  CompiledSchedule &operator=(const CompiledSchedule &) = delete;

  const ScheduleDesc &desc() const { return desc_; }
  std::span<const uint8_t> object() const { return object_; }
  std::span<const uint8_t> weights() const { return {weights_, size_t(desc_.weights_bytes)}; }
  /// The function of each replay launch (desc().launches), resolved once at load.
  const std::vector<KernelFn> &launch_fns() const { return launch_fns_; }
  /// Where a Place::Weights buffer's bytes are. Kernels only read them.
  uint8_t *weights_data() const { return weights_; }

private:
  CompiledSchedule() = default;
  void link(std::unique_ptr<LoadedModule> loaded);

  ScheduleDesc desc_;
  std::unique_ptr<LoadedModule> loaded_;
  std::vector<uint8_t> object_storage_;
  std::unique_ptr<CacheFile> file_;
  std::span<const uint8_t> object_;
  AlignedBytes weights_storage_;
  uint8_t *weights_ = nullptr;
  std::vector<KernelFn> launch_fns_;
};

/// The name before the split into CompiledSchedule and RunState, kept so that code written
/// against it (the OpenCL target) still builds; new code says CompiledSchedule.

} // namespace kiln
