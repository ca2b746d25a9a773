// Conv kernel throughput on YOLOv8n-shaped layers: lowers one Conv, JIT-compiles it, runs the
// weight-only (packing) launches once, then times the conv launch over its whole parallel
// range on 1 thread (and split in halves on 2 threads). Prints GFLOP/s per layer.
//
//   conv_bench [--threads N] [--min-seconds S]
#include "codegen/llvm/LlvmBackend.h"
#include "passes/KernelPasses.h"
#include "passes/Lower.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace kiln;

namespace {

struct Layer {
  const char *what;
  int64_t c, h, w, m, k, s, group;
  bool transpose = false; ///< ConvTranspose (pads 0)
};

// Representative YOLOv8n layers at 640x640 (batch 1).
const Layer kLayers[] = {
    {"stem 3->16 3x3s2 @640", 3, 640, 640, 16, 3, 2, 1},
    {"down 16->32 3x3s2 @320", 16, 320, 320, 32, 3, 2, 1},
    {"c2f 16->16 3x3 @160", 16, 160, 160, 16, 3, 1, 1},
    {"c2f 32->32 1x1 @160", 32, 160, 160, 32, 1, 1, 1},
    {"down 32->64 3x3s2 @160", 32, 160, 160, 64, 3, 2, 1},
    {"c2f 32->32 3x3 @80", 32, 80, 80, 32, 3, 1, 1},
    {"head 64->64 3x3 @80", 64, 80, 80, 64, 3, 1, 1},
    {"c2f 128->128 1x1 @40", 128, 40, 40, 128, 1, 1, 1},
    {"c2f 64->64 3x3 @40", 64, 40, 40, 64, 3, 1, 1},
    {"c2f 128->128 3x3 @20", 128, 20, 20, 128, 3, 1, 1},
    {"c2f 256->256 1x1 @20", 256, 20, 20, 256, 1, 1, 1},
    {"head 64->80 1x1 @80", 64, 80, 80, 80, 1, 1, 1},
    {"dw 64 3x3 @80", 64, 80, 80, 64, 3, 1, 64},
    {"seg proto 64->64 2x2s2 T", 64, 80, 80, 64, 2, 2, 1, true},
};

Tensor random_f32(const Shape &s, uint32_t seed) {
  Tensor t(DType::f32, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = u(rng);
  return t;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

int main(int argc, char **argv) {
  int threads = 1;
  double min_seconds = 0.3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--min-seconds"))
      min_seconds = std::atof(argv[i + 1]);
  }
  std::printf("%-26s %-22s %10s %10s %8s\n", "layer", "kernel", "ms", "GFLOP/s", "extent");
  double total_ms = 0, total_gflop = 0;
  for (const Layer &l : kLayers) {
    Graph g;
    int64_t pad = l.transpose ? 0 : l.k / 2;
    Value *x = g.add_input("x", DType::f32, {1, l.c, l.h, l.w});
    Shape ws =
        l.transpose ? Shape{l.c, l.m / l.group, l.k, l.k} : Shape{l.m, l.c / l.group, l.k, l.k};
    Value *w = g.add_constant("w", random_f32(ws, 2));
    Value *b = g.add_constant("b", random_f32({l.m}, 3));
    Attrs a;
    a.set("strides", std::vector<int64_t>{l.s, l.s});
    a.set("pads", std::vector<int64_t>{pad, pad, pad, pad});
    a.set("dilations", std::vector<int64_t>{1, 1});
    a.set("group", l.group);
    if (l.transpose)
      a.set("output_padding", std::vector<int64_t>{0, 0});
    Node *n = g.add_node(l.transpose ? OpKind::ConvTranspose : OpKind::Conv, {x, w, b}, a, "conv");
    g.outputs().push_back(n->outputs[0]);
    const Shape &ys = n->outputs[0]->shape;
    // Multiply-adds: every output pixel sums C/group*k*k taps (ConvTranspose: every input
    // pixel scatters M/group*k*k).
    double gflop =
        l.transpose ? 2.0 * double(l.c * l.h * l.w) * double(l.m / l.group * l.k * l.k) * 1e-9
                    : 2.0 * double(l.m * ys[2] * ys[3]) * double(l.c / l.group * l.k * l.k) * 1e-9;

    Program p = lower(g);
    std::vector<Kernel> kernels;
    for (const Launch &ln : p.launches)
      kernels.push_back(prepare_for_codegen(ln.kernel));
    Backend &be = llvm_cpu_backend();
    auto mod = be.load(be.compile(kernels));
    std::vector<Tensor> bufs;
    for (const BufferDecl &d : p.buffers)
      bufs.push_back(d.constant ? d.constant->clone() : random_f32(d.shape, 4));
    auto args_of = [&](const Launch &ln) {
      std::vector<void *> args;
      for (int id : ln.args)
        args.push_back(bufs[id].raw());
      return args;
    };
    size_t main = 0;
    for (size_t i = 0; i < p.launches.size(); ++i) {
      const Launch &ln = p.launches[i];
      std::vector<void *> args = args_of(ln);
      mod->function(i)(args.data(), 0, ln.kernel.parallel_extent);
      if (!ln.weight_only)
        main = i;
    }
    const Launch &ln = p.launches[main];
    std::vector<void *> args = args_of(ln);
    KernelFn fn = mod->function(main);
    const int64_t extent = ln.kernel.parallel_extent;
    auto run_once = [&] {
      if (threads <= 1)
        return fn(args.data(), 0, extent);
      std::vector<std::thread> ts;
      for (int t = 0; t < threads; ++t)
        ts.emplace_back(
            [&, t] { fn(args.data(), extent * t / threads, extent * (t + 1) / threads); });
      for (auto &t : ts)
        t.join();
    };
    run_once();
    std::vector<double> times;
    double start = now();
    while (now() - start < min_seconds || times.size() < 5) {
      double t0 = now();
      run_once();
      times.push_back(now() - t0);
    }
    std::sort(times.begin(), times.end());
    double best = times[0];
    total_ms += best * 1e3;
    total_gflop += gflop;
    std::printf("%-26s %-22s %10.3f %10.1f %8lld\n", l.what, ln.kernel.name.c_str(), best * 1e3,
                gflop / best, static_cast<long long>(extent));
  }
  std::printf("%-26s %-22s %10.3f %10.1f\n", "total", "", total_ms, total_gflop / total_ms * 1e3);
  return 0;
}
