#pragma once
/// Times conv kernels for `kiln tune` (tools/Tune.cpp): one conv node, compiled with given tiles
/// by the backend compiles use on this host (LLVM CPU), run on the process's thread pool.
///
///   ConvTimer timer(check_pipeline("O3"), 2);
///   auto bench = timer.prepare(node, conv_tuning_key(g, DType::f32), tiles);
///   double ms = bench->time(0.2); // best run of about 0.2 s
#include "passes/ConvTuning.h"
#include "passes/PassManager.h"

#include <memory>
#include <string>

namespace kiln {

class ThreadPool;
class Backend;

class ConvTimer {
public:
  /// `passes`: the pipeline compiles use (its `tile` settings); `threads` as
  /// SessionOptions::threads (0: all cores).
  ConvTimer(const Pipeline &passes, int threads);
  ~ConvTimer();

  /// The backend's target key (the tuning database's section).
  std::string target_key() const;
  /// What compile_graph lowers with, without a tuning table: conv_tile_candidates' options.
  const LowerOptions &lower_options() const { return lower_options_; }

  /// One conv kernel compiled and ready to time (its weight-only launches have run).
  class Bench {
  public:
    virtual ~Bench() = default;
    /// Runs the kernel for about `window_s` seconds (at least 3 runs): the best run in ms.
    virtual double time(double window_s) = 0;
  };

  /// `node` alone in a graph (its constant operands copied, the others zero inputs), lowered
  /// with tiles `t` for its conv `key` and compiled; the weight-only launches run once.
  std::unique_ptr<Bench> prepare(const Node &node, const std::string &key, const ConvTiles &t);

private:
  Backend &backend_;
  LowerOptions lower_options_;
  std::shared_ptr<ThreadPool> pool_;
};

} // namespace kiln
