#include "runtime/ThreadPool.h"

#include <algorithm>
#include <map>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KILN_PAUSE() _mm_pause()
#else
#define KILN_PAUSE() std::this_thread::yield()
#endif

namespace kiln {

namespace {
// Some tens of microseconds of spinning (a pause is 10-140 cycles depending on the CPU): long
// enough to catch the next launch of a run (launches follow each other within microseconds),
// short enough not to steal much from other processes when cores are oversubscribed.
constexpr int kSpinIterations = 4000;
// Chunks per thread: a thread that finishes early (its chunks were cheaper, or another process
// took its core for a while) takes the next chunk instead of idling at the end of the layer.
constexpr int64_t kChunksPerThread = 4;
} // namespace

ThreadPool::ThreadPool(int threads)
    : threads_(std::max(1, threads)), shares_(std::make_unique<Share[]>(threads_)) {
  for (int i = 1; i < threads_; ++i)
    workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

void ThreadPool::run_chunks(int self) {
  // Contiguous chunks: chunk c covers [c*extent/chunks, (c+1)*extent/chunks). Each thread first
  // runs its own share in order (the same rows every launch, so a layer reads what this core
  // wrote in the previous one from its own cache), then takes what is left of the others'.
  auto run = [&](int c) {
    int64_t begin = extent_ * c / chunks_;
    int64_t end = extent_ * (c + 1) / chunks_;
    if (begin < end)
      fn_(args_, begin, end);
  };
  for (int k = 0; k < threads_; ++k) {
    Share &sh = shares_[(self + k) % threads_];
    for (int c = sh.next.fetch_add(1, std::memory_order_relaxed); c < sh.end;
         c = sh.next.fetch_add(1, std::memory_order_relaxed))
      run(c);
  }
}

void ThreadPool::launch(KernelFn fn, void *const *args, int64_t extent) {
  if (extent <= 0)
    return;
  if (threads_ == 1 || extent == 1) {
    fn(args, 0, extent);
    return;
  }
  if (busy_.test_and_set(std::memory_order_acquire)) {
    fn(args, 0, extent); // another thread's launch holds the workers
    return;
  }
  // Each thread (the caller is thread 0) owns a contiguous share of the chunks and then helps
  // with the others' (run_chunks). Every worker acknowledges every generation (even without a
  // chunk), so no worker can still be reading this job when the next one is written.
  fn_ = fn;
  args_ = args;
  extent_ = extent;
  chunks_ = static_cast<int>(std::min<int64_t>(threads_ * kChunksPerThread, extent));
  for (int t = 0; t < threads_; ++t) {
    shares_[t].next.store(chunks_ * t / threads_, std::memory_order_relaxed);
    shares_[t].end = chunks_ * (t + 1) / threads_;
  }
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();

  run_chunks(0);
  for (int spin = 0;; ++spin) {
    int p = pending_.load(std::memory_order_acquire);
    if (p == 0)
      break;
    if (spin < kSpinIterations)
      KILN_PAUSE();
    else
      pending_.wait(p, std::memory_order_acquire);
  }
  busy_.clear(std::memory_order_release);
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  while (true) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
      KILN_PAUSE();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire))
      return;
    run_chunks(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      pending_.notify_one();
  }
}

std::shared_ptr<ThreadPool> shared_thread_pool(int threads) {
  if (threads <= 0)
    threads = static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, threads);
  static std::mutex mutex;
  static std::map<int, std::weak_ptr<ThreadPool>> pools;
  std::lock_guard lock(mutex);
  std::weak_ptr<ThreadPool> &slot = pools[threads];
  std::shared_ptr<ThreadPool> pool = slot.lock();
  if (!pool) {
    pool = std::make_shared<ThreadPool>(threads);
    slot = pool;
  }
  return pool;
}

} // namespace kiln
