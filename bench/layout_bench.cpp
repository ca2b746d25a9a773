// Kernels of the channel-blocked layout (docs/DESIGN.md, "Blocked layout"): YOLO's SPPF MaxPool
// in NCHW and blocked, and the two layout Transposes next to a plain copy of the same bytes.
// Lowers each graph, JIT-compiles it and times every launch over its whole parallel range on
// one thread (best of the runs); prints ms and GB/s (bytes read + written).
//
//   layout_bench [--min-seconds S] [--lanes 16|8]
#include "BenchUtil.h"
#include "codegen/llvm/LlvmBackend.h"
#include "passes/KernelPasses.h"
#include "passes/Lower.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace kiln;
using namespace kiln::bench;
using ints = std::vector<int64_t>;

namespace {

Value *add(Graph &g, OpKind op, Value *x, Attrs a) {
  return g.add_node(op, {x}, std::move(a), g.unique_name(std::string(op_name(op))))->outputs[0];
}

Attrs pool(int64_t block) {
  Attrs a;
  a.set("kernel", ints{5, 5});
  a.set("strides", ints{1, 1});
  a.set("pads", ints{2, 2, 2, 2});
  a.set("dilations", ints{1, 1});
  a.set("ceil_mode", int64_t{0});
  if (block)
    a.set("block", block);
  return a;
}

Attrs one(const char *name, ints v) {
  Attrs a;
  a.set(name, std::move(v));
  return a;
}

/// Lowers `g` and prints every launch's best time.
void run(const char *what, const Graph &g, int lanes, double min_seconds) {
  LowerOptions opt;
  opt.vector_lanes_f32 = lanes;
  Program p = lower(g, opt);
  std::vector<Kernel> kernels;
  for (const Launch &ln : p.launches)
    kernels.push_back(prepare_for_codegen(ln.kernel));
  Backend &be = llvm_cpu_backend();
  auto mod = be.load(be.compile(kernels));
  std::vector<Tensor> bufs;
  for (const BufferDecl &d : p.buffers)
    bufs.push_back(d.constant ? d.constant->clone() : random_f32(d.shape, 4));
  for (size_t i = 0; i < p.launches.size(); ++i) {
    const Launch &ln = p.launches[i];
    std::vector<void *> args;
    double bytes = 0;
    for (int id : ln.args) {
      args.push_back(bufs[id].raw());
      bytes += double(bufs[id].nbytes());
    }
    KernelFn fn = mod->function(i);
    const int64_t extent = ln.kernel.parallel_extent;
    double best = best_time([&] { fn(args.data(), 0, extent); }, min_seconds);
    std::printf("%-28s %-34s %9.4f %8.1f\n", what, ln.kernel.name.c_str(), best * 1e3,
                bytes / best * 1e-9);
  }
}

} // namespace

int main(int argc, char **argv) {
  double min_seconds = 0.3;
  int lanes = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--min-seconds"))
      min_seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--lanes"))
      lanes = std::atoi(argv[i + 1]);
  }
  std::printf("%-28s %-34s %9s %8s\n", "case", "kernel", "ms", "GB/s");
  // SPPF of YOLOv8n (128 channels) and YOLOv8s (256) at 640x640: MaxPool 5x5 s1 p2 at 20x20.
  for (int64_t c : {128, 256}) {
    for (int64_t b : {0, 16}) {
      Graph g;
      Shape s = b ? Shape{1, c / b, 20, 20, b} : Shape{1, c, 20, 20};
      g.outputs().push_back(add(g, OpKind::MaxPool, g.add_input("x", DType::f32, s), pool(b)));
      std::string what = "sppf maxpool c" + std::to_string(c) + (b ? " nchw16c" : " nchw");
      run(what.c_str(), g, lanes, min_seconds);
    }
  }
  // The layout conversions of a [1,64,80,80] activation; the Reshapes are plain copies.
  for (int64_t b : {16, 8}) {
    Graph g;
    Value *x = g.add_input("x", DType::f32, {1, 64, 80, 80});
    Value *r = add(g, OpKind::Reshape, x, one("shape", {1, 64 / b, b, 80, 80}));
    Value *blk = add(g, OpKind::Transpose, r, one("perm", {0, 1, 3, 4, 2}));
    Value *back = add(g, OpKind::Transpose, blk, one("perm", {0, 1, 4, 2, 3}));
    g.outputs().push_back(add(g, OpKind::Reshape, back, one("shape", {1, 64, 80, 80})));
    std::string what = "[1,64,80,80] round trip b" + std::to_string(b);
    run(what.c_str(), g, lanes, min_seconds);
  }
  // YOLOv8's detection head output [1,84,8400] to [1,8400,84] and back (a generic 2-D transpose).
  for (Shape s : {Shape{1, 84, 8400}, Shape{1, 8400, 84}}) {
    Graph g;
    Value *x = g.add_input("x", DType::f32, s);
    g.outputs().push_back(add(g, OpKind::Transpose, x, one("perm", {0, 2, 1})));
    std::string what = "transpose " + shape_str(s) + " perm 0,2,1";
    run(what.c_str(), g, lanes, min_seconds);
  }
  return 0;
}
