// Conv kernel timing for `kiln tune` (see runtime/ConvTimer.h).
#include "runtime/ConvTimer.h"

#include "codegen/llvm/LlvmBackend.h"
#include "ir/Clock.h"
#include "passes/KernelPasses.h"
#include "passes/Lower.h"
#include "runtime/Compiler.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>

namespace kiln {

namespace {

constexpr int kMinRuns = 3;

/// A graph of the one conv node: its constant operands copied, the others graph inputs.
std::unique_ptr<Graph> one_node_graph(const Node &n) {
  auto g = std::make_unique<Graph>();
  std::vector<Value *> ins;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Value *v = n.inputs[i];
    std::string name = "in" + std::to_string(i);
    ins.push_back(!v                 ? nullptr
                  : v->is_constant() ? g->add_constant(name, *v->constant)
                                     : g->add_input(name, v->dtype, v->shape));
  }
  Node *c = g->add_node(n.op, std::move(ins), n.attrs, n.name);
  g->outputs().push_back(c->outputs[0]);
  return g;
}

} // namespace

ConvTimer::ConvTimer(const Pipeline &passes, int threads)
    : backend_(llvm_cpu_backend()),
      lower_options_(kiln::lower_options(backend_.lowering_target(), passes)),
      pool_(shared_thread_pool(threads)) {}

ConvTimer::~ConvTimer() = default;

std::string ConvTimer::target_key() const { return backend_.target_key(); }

namespace {

class ProgramBench : public ConvTimer::Bench {
public:
  ProgramBench(Program p, std::unique_ptr<LoadedModule> mod, ThreadPool &pool)
      : p_(std::move(p)), mod_(std::move(mod)), pool_(pool) {
    for (const BufferDecl &d : p_.buffers) // zero inputs: a conv's time does not depend on values
      bufs_.push_back(d.constant ? d.constant->clone() : Tensor(d.dtype, d.shape));
    args_.resize(p_.launches.size());
    for (size_t i = 0; i < p_.launches.size(); ++i)
      for (int id : p_.launches[i].args)
        args_[i].push_back(bufs_[id].raw());
    run(true);
  }

  double time(double window_s) override {
    run(false); // warm-up: caches, page faults
    double best = 1e300;
    auto start = std::chrono::steady_clock::now();
    for (int runs = 0; runs < kMinRuns || (ms_since(start) < window_s * 1e3 && runs < 100000);
         ++runs) {
      auto t0 = std::chrono::steady_clock::now();
      run(false);
      best = std::min(best, ms_since(t0));
    }
    return best;
  }

private:
  void run(bool weight_only) {
    for (size_t i = 0; i < p_.launches.size(); ++i)
      if (p_.launches[i].weight_only == weight_only)
        pool_.launch(mod_->function(i), args_[i].data(), p_.launches[i].kernel.parallel_extent);
  }

  Program p_;
  std::unique_ptr<LoadedModule> mod_;
  ThreadPool &pool_;
  std::vector<Tensor> bufs_;
  std::vector<std::vector<void *>> args_;
};

} // namespace

std::unique_ptr<ConvTimer::Bench> ConvTimer::prepare(const Node &node, const std::string &key,
                                                     const ConvTiles &t) {
  std::unique_ptr<Graph> g = one_node_graph(node);
  ConvTuning one;
  one.tiles[key] = t;
  LowerOptions lo = lower_options_;
  lo.conv_tuning = &one;
  Program p = lower(*g, lo);
  std::vector<Kernel> kernels;
  for (const Launch &ln : p.launches)
    kernels.push_back(prepare_for_codegen(ln.kernel));
  std::unique_ptr<LoadedModule> mod = backend_.load(backend_.compile(kernels));
  return std::make_unique<ProgramBench>(std::move(p), std::move(mod), *pool_);
}

} // namespace kiln
