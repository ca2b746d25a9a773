// An application embedding Kiln through its public API only (kiln/kiln.h): open a model, run it
// on a synthetic image, print the output shapes and the steady-state latency; then run the same
// model from 4 threads at once through one CompiledModel and one InferRequest per thread.
//
//   build/kiln_embed_example models/yolox_nano.onnx [images=1x3x416x416] [threads]
#include <kiln/kiln.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// "images=1x3x416x416" -> name and shape; false when malformed.
bool parse_shape(const std::string &spec, std::string &name, std::vector<int64_t> &shape) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos)
    return false;
  name = spec.substr(0, eq);
  for (size_t pos = eq + 1; pos < spec.size();) {
    size_t x = spec.find('x', pos);
    long long d = std::atoll(spec.substr(pos, x - pos).c_str());
    if (d <= 0)
      return false;
    shape.push_back(d);
    pos = x == std::string::npos ? spec.size() : x + 1;
  }
  return !shape.empty();
}

std::string shape_str(const std::vector<int64_t> &shape) {
  std::string s;
  for (int64_t d : shape)
    s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx|MODEL.kiln [NAME=1x3xHxW] [threads]\n", argv[0]);
    return 2;
  }
  kiln::SessionOptions opt;
  if (argc > 2) {
    std::string name;
    std::vector<int64_t> shape;
    if (!parse_shape(argv[2], name, shape)) {
      std::fprintf(stderr, "bad input shape '%s' (expected NAME=1x3x416x416)\n", argv[2]);
      return 2;
    }
    opt.input_shapes[name] = shape;
  }
  if (argc > 3)
    opt.threads = std::atoi(argv[3]);

  kiln::Result<kiln::Session> session = kiln::Session::open(argv[1], opt);
  if (!session) {
    std::fprintf(stderr, "%s\n", session.error().c_str());
    return 1;
  }

  // A synthetic input: a smooth gradient in [0, 1) for float inputs, zeros otherwise.
  std::vector<kiln::NamedTensor> inputs;
  for (const kiln::TensorInfo &info : session->inputs()) {
    kiln::HostTensor t(info.type, info.shape);
    if (info.type == kiln::ElementType::f32) {
      float *p = t.data_as<float>();
      for (int64_t i = 0; i < t.numel(); ++i)
        p[i] = static_cast<float>(i % 997) / 997.0f;
    }
    inputs.push_back({info.name, t});
  }

  // The first run compiles (or loads the cached schedule) and captures it.
  auto t0 = std::chrono::steady_clock::now();
  kiln::Result<std::vector<kiln::NamedTensor>> first = session->run(inputs);
  auto t1 = std::chrono::steady_clock::now();
  if (!first) {
    std::fprintf(stderr, "%s\n", first.error().c_str());
    return 1;
  }
  kiln::SessionStats st = session->stats();
  std::printf("first run %.1f ms (cache %s, %d kernels, arena %.2f MiB, weights %.2f MiB)\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count(), st.cache.c_str(),
              st.kernels, st.arena_bytes / 1048576.0, st.weights_bytes / 1048576.0);

  // Steady state: the same output tensors are reused, so replay allocates nothing.
  std::vector<kiln::NamedTensor> outputs = *first;
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    auto a = std::chrono::steady_clock::now();
    if (kiln::Status s = session->run(inputs, outputs); !s) {
      std::fprintf(stderr, "%s\n", s.error().c_str());
      return 1;
    }
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("replay median %.3f ms, min %.3f ms over %zu runs, %d threads\n", ms[ms.size() / 2],
              ms.front(), ms.size(), st.threads);
  for (const kiln::NamedTensor &o : outputs) {
    const float *p =
        o.tensor.type() == kiln::ElementType::f32 ? o.tensor.data_as<float>() : nullptr;
    std::printf("  %s %s[%s]", o.name.c_str(), kiln::element_type_name(o.tensor.type()),
                shape_str(o.tensor.shape()).c_str());
    if (p && o.tensor.numel() > 0)
      std::printf("  first %g", p[0]);
    std::printf("\n");
  }

  // Many threads: compile once (here a cache hit: the session just compiled these shapes),
  // then one cheap request per thread. Every thread must get the session's outputs exactly.
  std::shared_ptr<const kiln::CompiledModel> model;
  if (auto m = kiln::CompiledModel::open(argv[1], opt); m)
    model = *m;
  else
    return std::fprintf(stderr, "%s\n", m.error().c_str()), 1;
  constexpr int kThreads = 4, kRuns = 10;
  std::vector<int> same(kThreads, 0);
  std::vector<std::thread> threads;
  auto t2 = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      kiln::Result<kiln::InferRequest> req = model->create_request();
      std::vector<kiln::NamedTensor> out;
      for (int i = 0; req && i < kRuns; ++i) {
        if (!req->run(inputs, out))
          return;
        bool equal = out.size() == outputs.size();
        for (size_t o = 0; equal && o < out.size(); ++o)
          equal = std::memcmp(out[o].tensor.data(), outputs[o].tensor.data(),
                              out[o].tensor.nbytes()) == 0;
        same[t] += equal;
      }
    });
  for (std::thread &t : threads)
    t.join();
  double wall =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t2).count();
  int good = 0;
  for (int n : same)
    good += n;
  std::printf("%d threads x %d runs on one compiled model: %.1f runs/s, %d/%d identical to the "
              "session's outputs\n",
              kThreads, kRuns, 1000.0 * kThreads * kRuns / wall, good, kThreads * kRuns);
  return good == kThreads * kRuns ? 0 : 1;
}
