#pragma once
/// The CPU thread pool that runs one kernel launch at a time: [0, extent) is split into
/// contiguous chunks, one per thread, and the calling thread takes the first. Workers wait on a
/// generation counter (a short spin, then a futex wait through std::atomic::wait), so a launch
/// costs no allocation and no lock.
#include "codegen/Backend.h"

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace kiln {

class ThreadPool {
public:
  /// `threads` includes the caller: 1 runs everything inline and starts no worker.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int threads() const { return threads_; }
  /// Runs fn(args, b, e) over [0, extent) split in contiguous chunks; returns when all are done.
  void launch(KernelFn fn, void *const *args, int64_t extent);

private:
  void worker(int index);
  void run_chunk(int chunk);

  int threads_;
  std::vector<std::thread> workers_;
  // The current job, published by bumping generation_ (release) and read after an acquire.
  KernelFn fn_ = nullptr;
  void *const *args_ = nullptr;
  int64_t extent_ = 0;
  int chunks_ = 0;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

} // namespace kiln
