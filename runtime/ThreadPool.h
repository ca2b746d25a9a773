#pragma once
/// The CPU thread pool that runs one kernel launch at a time: [0, extent) is split into
/// contiguous chunks, a few per thread. Each thread (the caller included) runs its own share
/// first, the same rows every launch (cache affinity from layer to layer), then takes what is
/// left of the others', so none idles at the end of a launch while another still has work. Workers
/// wait on a generation counter (a short spin, then a futex wait through std::atomic::wait), so a
/// launch costs no allocation and no lock.
///
/// Several threads may launch on one pool at once (the runs of many InferRequests or Sessions
/// share the process's pool, shared_thread_pool): a launch that finds the pool busy with
/// another thread's launch does not wait, it runs its whole range on its own thread. Kernels
/// compute each index of [0, extent) independently, so the result does not depend on the split.
#include "codegen/Backend.h"

#include <atomic>
#include <cstdint>
#include <memory>
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
  /// Runs fn(args, b, e) over [0, extent) split in contiguous chunks (up to 4 per thread);
  /// returns when all are done.
  /// Thread-safe: while another thread's launch holds the workers, runs fn(args, 0, extent)
  /// on the calling thread instead.
  void launch(KernelFn fn, void *const *args, int64_t extent);

private:
  void worker(int index);
  void run_chunks(int self);

  int threads_;
  std::vector<std::thread> workers_;
  // The current job, published by bumping generation_ (release) and read after an acquire.
  KernelFn fn_ = nullptr;
  void *const *args_ = nullptr;
  int64_t extent_ = 0;
  int chunks_ = 0;
  /// A thread's chunks [next, end) of the current job; a line each (no false sharing).
  struct alignas(64) Share {
    std::atomic<int> next{0};
    int end = 0;
  };
  std::unique_ptr<Share[]> shares_;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::atomic_flag busy_ = ATOMIC_FLAG_INIT; ///< a launch holds the workers
};

/// The process's pool of `threads` threads (0: the hardware's cores), shared by every Session,
/// CompiledModel and InferRequest that asks for that many; it lives while one of them does.
std::shared_ptr<ThreadPool> shared_thread_pool(int threads);

} // namespace kiln
