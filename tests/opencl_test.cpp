// OpenCL backend tests: small graphs (conv, elementwise, concat, resize, softmax, quantisation)
// through codegen/opencl + the OpenCL runtime against the reference interpreter, and the .kiln
// program section (binary for another device -> rebuilt from source; damage detected). They run
// on whatever OpenCL device is selected ($KILN_OPENCL_DEVICE; PoCL here and in CI) and skip
// when there is none. Also the backend seam (codegen/Backend.h): a backend's LoweringTarget,
// not its name, shapes the kernels compile_graph makes, and the kernel names a profile shows
// are the kernels' own.
#include "LowerTestUtil.h"

#include "codegen/opencl/OpenclEmitter.h"
#include "frontend/OnnxImporter.h"
#include "ir/Diagnostics.h"
#include "ir/Reference.h"
#include "runtime/CacheFile.h"
#include "runtime/Compiler.h"
#include "runtime/OpenclTarget.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <kiln/kiln.h>
#include <random>
#include <set>
#include <unistd.h>

namespace fs = std::filesystem;

namespace kiln {
namespace {

using testing::expect_close;

/// The device every test shares (opening one is slow on some drivers); null: none.
OpenclDevice *device() {
  static std::unique_ptr<OpenclDevice> dev = []() -> std::unique_ptr<OpenclDevice> {
    try {
      return OpenclDevice::open("");
    } catch (const Error &) {
      return nullptr;
    }
  }();
  return dev.get();
}

#define REQUIRE_DEVICE()                                                                           \
  if (!device())                                                                                   \
  GTEST_SKIP() << "no OpenCL device (install pocl-opencl-icd)"

Attrs attrs(std::initializer_list<std::pair<const char *, AttrValue>> kv) {
  Attrs a;
  for (auto &[k, v] : kv)
    a.set(k, v);
  return a;
}
using ints = std::vector<int64_t>;
using floats = std::vector<double>;

/// A graph with random inputs, run on the OpenCL device and by the reference interpreter.
struct Case {
  Graph g;
  std::vector<Tensor> ins;
  std::mt19937 rng{1234};

  Value *input(DType t, Shape s, double lo = -3, double hi = 3) {
    Tensor x(t, s);
    std::uniform_real_distribution<double> u(lo, hi);
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = u(rng);
      dispatch_dtype(t, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>)
          x.data<T>()[i] = v > (lo + hi) / 2;
        else if constexpr (std::is_integral_v<T>)
          x.data<T>()[i] = static_cast<T>(std::llround(v));
        else
          x.data<T>()[i] = from_f64<T>(v);
      });
    }
    ins.push_back(x);
    return g.add_input("in" + std::to_string(ins.size()), t, std::move(s));
  }
  Value *constant(Tensor t) { return g.add_constant(g.unique_name("c"), std::move(t)); }
  Value *node(OpKind op, std::vector<Value *> in, Attrs a = {}) {
    return g.add_node(op, std::move(in), std::move(a), g.unique_name(std::string(op_name(op))))
        ->outputs[0];
  }
  Value *out(OpKind op, std::vector<Value *> in, Attrs a = {}) {
    Value *v = node(op, std::move(in), std::move(a));
    g.outputs().push_back(v);
    return v;
  }
  /// gpu_device: the lowering's GPU tiles (else those for a CPU driver), whatever the device.
  /// Returns the compiled program's kernel names.
  std::vector<std::string> check(double tol, bool gpu_device = true) {
    std::vector<Tensor> want = run_reference(g, ins);
    OpenclBackend backend(*device(), gpu_device);
    CompileResult cr = compile_graph(g, backend, "default");
    OpenclCompiled c = opencl_capture(backend, cr);
    std::vector<Tensor> got;
    std::vector<const void *> in_ptrs;
    std::vector<void *> out_ptrs;
    for (const Tensor &t : ins)
      in_ptrs.push_back(t.raw());
    for (const Tensor &w : want) {
      got.emplace_back(w.dtype(), w.shape());
      out_ptrs.push_back(got.back().raw());
    }
    LaunchTimes times;
    for (int run = 0; run < 3; ++run) { // capture, a replay, a profiled replay
      if (run == 2)
        times.begin_run(c.exec->desc().launches.size());
      c.runner->run(in_ptrs.data(), out_ptrs.data(), run == 2 ? &times : nullptr);
      for (size_t i = 0; i < want.size(); ++i)
        expect_close(got[i], want[i], tol,
                     "run " + std::to_string(run) + " output " + std::to_string(i));
    }
    // The profiled run's timeline: launches start in order, none before the first.
    std::vector<LaunchProfile> prof = times.profile(c.exec->desc());
    EXPECT_EQ(prof.size(), c.exec->desc().launches.size());
    for (size_t i = 1; i < prof.size(); ++i)
      EXPECT_GE(prof[i].start_ms, prof[i - 1].start_ms) << prof[i].kernel;
    std::vector<std::string> names;
    for (const Launch &l : cr.program.launches)
      names.push_back(l.kernel.name);
    return names;
  }
};

TEST(OpenclEmitter, RendersOneKernelPerInput) {
  Kernel k;
  k.name = "relu.f32";
  k.params = {{"x", DType::f32, 64, false}, {"y", DType::f32, 64, true}};
  int i = k.next_var++;
  Expr x = load(0, {DType::f32, 1}, var(i));
  k.body = for_loop(i, imm(0), imm(64), ForKind::Parallel,
                    store(1, var(i), binary(BinOp::Max, x, fimm(0.0))));
  k.parallel_extent = 64;
  OpenclSource src = render_opencl({k});
  ASSERT_EQ(src.kernel_names.size(), 1u);
  EXPECT_EQ(src.kernel_names[0], "k0_relu_f32");
  EXPECT_NE(src.source.find("__kernel void k0_relu_f32("), std::string::npos);
  EXPECT_NE(src.source.find("get_global_id(0)"), std::string::npos);
}

TEST(OpenclDevice, UnknownDeviceNamesTheDevices) {
  REQUIRE_DEVICE();
  try {
    OpenclDevice::open("no-such-device-xyz");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("no-such-device-xyz"), std::string::npos) << m;
    EXPECT_NE(m.find("0: "), std::string::npos) << m;
  }
}

TEST(OpenclDevice, BuildErrorCarriesTheLog) {
  REQUIRE_DEVICE();
  try {
    OpenclProgram::from_source(*device(), "__kernel void f(__global float *p) { p[0] = nope; }");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("nope"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
  }
}

TEST(OpenclGraph, Conv) {
  REQUIRE_DEVICE();
  Case c;
  Value *x = c.input(DType::f32, {1, 5, 9, 11});
  std::vector<float> w(7 * 5 * 3 * 3), b(7);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>((i * 37 % 101) / 101.0 - 0.5);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = 0.1f * static_cast<float>(i);
  Value *wv = c.constant(Tensor::from_vector(w, {7, 5, 3, 3}));
  Value *bv = c.constant(Tensor::from_vector(b, {7}));
  Attrs a = attrs({{"strides", ints{1, 1}},
                   {"dilations", ints{1, 1}},
                   {"pads", ints{1, 1, 1, 1}},
                   {"group", int64_t{1}}});
  Value *y = c.node(OpKind::Conv, {x, wv, bv}, a);
  c.out(OpKind::Sigmoid, {y});
  Attrs s2 = attrs({{"strides", ints{2, 2}},
                    {"dilations", ints{1, 1}},
                    {"pads", ints{1, 1, 1, 1}},
                    {"group", int64_t{1}}});
  c.out(OpKind::Conv, {x, wv, bv}, s2);
  c.check(1e-4);
}

// The GPU-shaped conv kernels (passes/LowerConvGpu.cpp) on the device: fused SiLU + residual
// with partial tiles, depthwise stride 2, pointwise over an odd plane; GPU and CPU-driver tiles.
TEST(OpenclGraph, ConvGpuShaped) {
  REQUIRE_DEVICE();
  for (bool gpu_device : {true, false}) {
    Case c;
    Value *x = c.input(DType::f32, {1, 6, 13, 15});
    Value *r = c.input(DType::f32, {1, 10, 13, 15});
    auto weights = [&](int64_t m, int64_t cg, int64_t k) {
      std::vector<float> w(static_cast<size_t>(m * cg * k * k));
      for (size_t i = 0; i < w.size(); ++i)
        w[i] = static_cast<float>((i * 37 % 101) / 101.0 - 0.5);
      return c.constant(Tensor::from_vector(w, {m, cg, k, k}));
    };
    auto bias = [&](int64_t m) {
      std::vector<float> b(static_cast<size_t>(m));
      for (size_t i = 0; i < b.size(); ++i)
        b[i] = 0.1f * static_cast<float>(i) - 0.3f;
      return c.constant(Tensor::from_vector(b, {m}));
    };
    auto conv = [](ints strides, ints pads, int64_t group) {
      return attrs(
          {{"strides", strides}, {"dilations", ints{1, 1}}, {"pads", pads}, {"group", group}});
    };
    // Conv -> SiLU -> + r: fused into one conv2d_..._silu_add kernel by the default pipeline.
    Value *y =
        c.node(OpKind::Conv, {x, weights(10, 6, 3), bias(10)}, conv({1, 1}, {1, 1, 1, 1}, 1));
    Value *s = c.node(OpKind::Mul, {y, c.node(OpKind::Sigmoid, {y})});
    Value *z = c.out(OpKind::Add, {s, r});
    c.out(OpKind::Conv, {z, weights(10, 1, 3), bias(10)}, conv({2, 2}, {1, 1, 1, 1}, 10));
    c.out(OpKind::Conv, {x, weights(9, 6, 1), bias(9)}, conv({1, 1}, {0, 0, 0, 0}, 1));
    // 32 input channels on a 5x6 plane: on a GPU the input channels split (split-K).
    Value *x2 = c.input(DType::f32, {1, 32, 5, 6});
    c.out(OpKind::Conv, {x2, weights(8, 32, 3), bias(8)}, conv({1, 1}, {1, 1, 1, 1}, 1));
    std::vector<std::string> names = c.check(1e-4, gpu_device);
    bool fused = false, split = false;
    for (const std::string &n : names) {
      if (n.starts_with("conv2d_") && n.find("packw") == std::string::npos &&
          n.find("splitk_sum") == std::string::npos) {
        EXPECT_NE(n.find("_t"), std::string::npos) << n << ": not the GPU-shaped conv";
      }
      fused = fused || n.find("_silu_add_f32") != std::string::npos;
      split = split || n.find("splitk_sum") != std::string::npos;
    }
    EXPECT_TRUE(fused);
    EXPECT_EQ(split, gpu_device);
  }
}

TEST(OpenclGraph, ElementwiseAndConcat) {
  REQUIRE_DEVICE();
  Case c;
  Value *a = c.input(DType::f32, {2, 3, 17});
  Value *b = c.input(DType::f32, {1, 3, 1});
  Value *s = c.node(OpKind::Add, {a, b});
  Value *m = c.node(OpKind::Mul, {s, c.node(OpKind::Sigmoid, {s})});
  c.out(OpKind::Concat, {m, a, c.node(OpKind::Tanh, {a})}, attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::Div, {a, c.node(OpKind::Exp, {b})});
  Value *i = c.input(DType::i64, {5, 7}, -20, 20);
  Value *j = c.input(DType::i64, {5, 7}, 1, 4);
  Value *k = c.input(DType::i64, {5, 7}, -4, -1);
  c.out(OpKind::Div, {i, j}); // truncates toward zero
  c.out(OpKind::Div, {i, k});
  c.out(OpKind::Mod, {i, k}, attrs({{"fmod", int64_t{0}}}));
  c.check(1e-5);
}

TEST(OpenclGraph, Resize) {
  REQUIRE_DEVICE();
  Case c;
  Value *x = c.input(DType::f32, {1, 3, 5, 7});
  auto resize = [](const char *mode, floats scales, ints sizes) {
    return attrs({{"mode", std::string(mode)},
                  {"coordinate_transformation_mode", std::string("asymmetric")},
                  {"nearest_mode", std::string("floor")},
                  {"scales", scales},
                  {"sizes", sizes},
                  {"extrapolation_value", 0.0},
                  {"exclude_outside", int64_t{0}}});
  };
  c.out(OpKind::Resize, {x}, resize("nearest", {1, 1, 2, 2}, {1, 3, 10, 14}));
  c.out(OpKind::Resize, {x}, resize("linear", {1, 1, 1.6, 2}, {1, 3, 8, 14}));
  c.check(1e-5);
}

TEST(OpenclGraph, Softmax) {
  REQUIRE_DEVICE();
  Case c;
  c.out(OpKind::Softmax, {c.input(DType::f32, {1, 16, 4, 37}, -10, 10)},
        attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::Softmax, {c.input(DType::f32, {3, 50}, -10, 10)}, attrs({{"axis", int64_t{1}}}));
  c.check(1e-5);
  Case h;
  h.out(OpKind::Softmax, {h.input(DType::f16, {2, 5, 19}, -10, 10)}, attrs({{"axis", int64_t{1}}}));
  h.check(2e-3);
}

TEST(OpenclGraph, QuantizeDequantize) {
  REQUIRE_DEVICE();
  Case c;
  Value *x = c.input(DType::f32, {2, 3, 41}, -8, 8);
  Value *s = c.constant(Tensor::from_vector(std::vector<float>{0.05f}, {}));
  Value *zu = c.constant(Tensor::from_vector(std::vector<uint8_t>{128}, {}));
  Value *q = c.out(OpKind::QuantizeLinear, {x, s, zu}, attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::DequantizeLinear, {q, s, zu}, attrs({{"axis", int64_t{1}}}));
  Value *sa = c.constant(Tensor::from_vector(std::vector<float>{0.02f, 0.1f, 0.5f}, {3}));
  Value *za = c.constant(Tensor::from_vector(std::vector<int8_t>{0, -3, 7}, {3}));
  Value *qa = c.out(OpKind::QuantizeLinear, {x, sa, za}, attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::DequantizeLinear, {qa, sa, za}, attrs({{"axis", int64_t{1}}}));
  Value *h = c.input(DType::f16, {3, 33}, -4, 4);
  Value *sh = c.constant(Tensor::from_vector(std::vector<half>{half{f32_to_f16(0.03f)}}, {}));
  c.out(OpKind::QuantizeLinear, {h, sh, zu}, attrs({{"axis", int64_t{1}}}));
  c.check(0);
}

TEST(OpenclGraph, QLinearConvDot4) {
  // The VNNI-shaped int8 conv kernels (CPU tiles) on the device: Dot4 rendered as kiln_dot4,
  // exact against the reference interpreter.
  REQUIRE_DEVICE();
  Case c;
  Value *x = c.input(DType::u8, {1, 6, 9, 13}, 0, 255);
  Tensor wt(DType::i8, {5, 6, 3, 3});
  for (int64_t i = 0; i < wt.numel(); ++i)
    wt.data<int8_t>()[i] = static_cast<int8_t>((i * 37) % 255 - 127);
  auto f = [&](float v) { return c.constant(Tensor::from_vector(std::vector<float>{v}, {})); };
  Value *xz = c.constant(Tensor::from_vector(std::vector<uint8_t>{119}, {}));
  Value *wz = c.constant(Tensor::from_vector(std::vector<int8_t>{0}, {}));
  Value *yz = c.constant(Tensor::from_vector(std::vector<uint8_t>{128}, {}));
  Value *b = c.constant(Tensor::from_vector(std::vector<int32_t>{-900, 0, 77, 1500, -3}, {5}));
  c.out(OpKind::QLinearConv, {x, f(0.02f), xz, c.constant(wt), f(0.01f), wz, f(0.08f), yz, b},
        attrs({{"strides", ints{2, 1}},
               {"pads", ints{1, 1, 1, 1}},
               {"dilations", ints{1, 1}},
               {"group", int64_t{1}}}));
  c.check(0, false);
}

// ---- the .kiln program section ----

/// A compiled schedule written as a .kiln file (program section edited by `edit`), loaded back
/// and bound to the device; returns what the loader printed on stderr.
std::string reload(const std::function<void(std::vector<uint8_t> &)> &edit,
                   std::unique_ptr<OpenclRunner> *runner_out = nullptr) {
  Case c;
  Value *x = c.input(DType::f32, {2, 8, 5});
  c.out(OpKind::Sigmoid, {c.node(OpKind::Add, {x, x})});
  std::vector<Tensor> want = run_reference(c.g, c.ins);
  OpenclBackend backend(*device());
  CompileResult cr = compile_graph(c.g, backend, "default");
  OpenclCompiled compiled = opencl_capture(backend, cr);
  std::vector<uint8_t> obj(compiled.exec->object().begin(), compiled.exec->object().end());
  edit(obj);
  fs::path file =
      fs::temp_directory_path() / ("kiln_opencl_test_" + std::to_string(::getpid()) + ".kiln");
  Digest key{};
  write_cache_file(file.string(), key, "{}", obj, compiled.exec->weights());
  std::unique_ptr<CacheFile> f = CacheFile::open(file.string(), nullptr);
  fs::remove(file);
  auto exec = CompiledSchedule::from_cache(compiled.exec->desc(), std::move(f),
                                           backend.load(CompiledModule{}));
  // Notices go to the API call's log (ir/Diagnostics.h): collect them one per line.
  std::string err;
  DiagnosticSink sink;
  sink.log = [&](LogSeverity, const std::string &m) { err += "kiln: " + m + "\n"; };
  ScopedDiagnostics scope(&sink);
  std::unique_ptr<OpenclRunner> runner = opencl_load(backend, *exec, "test.kiln");
  Tensor got(want[0].dtype(), want[0].shape());
  const void *in = c.ins[0].raw();
  void *out = got.raw();
  runner->run(&in, &out);
  expect_close(got, want[0], 1e-6, "reloaded");
  if (runner_out)
    *runner_out = std::move(runner);
  return err;
}

/// Offset of the device key in the program section ("KCLP", u32, u64 n + source, u64 n + key).
size_t key_offset(const std::vector<uint8_t> &obj) {
  uint64_t n = 0;
  std::memcpy(&n, obj.data() + 8, 8);
  return 8 + 8 + n + 8;
}

TEST(OpenclCache, ReplayWithoutHostTransfersKeepsInputsOnTheDevice) {
  REQUIRE_DEVICE();
  std::unique_ptr<OpenclRunner> r;
  reload([](std::vector<uint8_t> &) {}, &r);
  // The schedule of reload(): sigmoid(x + x) on a [2, 8, 5] input, already run once.
  Tensor x(DType::f32, {2, 8, 5}), got(DType::f32, {2, 8, 5}), want(DType::f32, {2, 8, 5});
  for (int64_t i = 0; i < x.numel(); ++i) {
    x.data<float>()[i] = 0.25f * static_cast<float>(i % 7) - 0.75f;
    want.data<float>()[i] = 1.f / (1.f + std::exp(-2.f * x.data<float>()[i]));
  }
  std::memset(got.raw(), 0, got.nbytes());
  const void *in = x.raw();
  void *out = got.raw();
  r->run(&in, nullptr); // new input uploaded, output left on the device
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_EQ(got.data<float>()[i], 0.f) << "an output was read back";
  r->run(nullptr, nullptr);   // no transfers at all
  x.data<float>()[0] = 100.f; // the host copy changes; the device keeps what it was sent
  r->run(nullptr, &out);
  expect_close(got, want, 1e-6, "resident");
}

TEST(OpenclCache, SameDeviceLoadsTheBinary) {
  REQUIRE_DEVICE();
  std::unique_ptr<OpenclRunner> r;
  std::string err = reload([](std::vector<uint8_t> &) {}, &r);
  EXPECT_EQ(err, "");
  EXPECT_EQ(r->program_origin(), "binary");
}

TEST(OpenclCache, OtherDeviceRebuildsFromSourceWithOneLine) {
  REQUIRE_DEVICE();
  std::unique_ptr<OpenclRunner> r;
  std::string err = reload([](std::vector<uint8_t> &obj) { obj[key_offset(obj)] ^= 0x20; }, &r);
  EXPECT_NE(err.find("building it from source"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(r->program_origin(), "source (rebuilt)");
}

TEST(OpenclCache, CorruptBinaryIsDetected) {
  REQUIRE_DEVICE();
  try {
    reload([](std::vector<uint8_t> &obj) {
      ASSERT_GT(obj.size(), 16u);
      obj[obj.size() - 9] ^= 0x01; // the binary's last byte (a checksum follows)
    });
    FAIL() << "expected an error";
  } catch (const CacheFileError &e) {
    EXPECT_EQ(e.kind, "corrupt");
    EXPECT_NE(e.detail.find("binary"), std::string::npos) << e.detail;
  }
}

TEST(OpenclCache, DamagedSymbolTableIsDetected) {
  REQUIRE_DEVICE();
  try {
    reload([](std::vector<uint8_t> &obj) {
      // The symbol count follows the key ("KCLP", u32, source, key, u64 count, symbols...).
      uint64_t key_len = 0;
      std::memcpy(&key_len, obj.data() + key_offset(obj) - 8, 8);
      obj[key_offset(obj) + key_len] += 1;
    });
    FAIL() << "expected an error";
  } catch (const CacheFileError &e) {
    EXPECT_EQ(e.kind, "corrupt");
  }
}

// ---- the backend seam ----

/// A backend that lowers as told and keeps the kernels it is given (no code).
class FakeBackend final : public Backend {
public:
  explicit FakeBackend(LoweringTarget t) : target_(t) {}
  std::string target_key() const override { return "fake"; }
  LoweringTarget lowering_target() const override { return target_; }
  CompiledModule compile(const std::vector<Kernel> &kernels) override {
    kernels_ = kernels;
    CompiledModule m{"fake", {}, {}};
    for (const Kernel &k : kernels)
      m.kernel_names.push_back(k.name);
    return m;
  }
  std::unique_ptr<LoadedModule> load(const CompiledModule &) override { return nullptr; }
  int codegen_runs() const override { return 0; }
  std::vector<Kernel> kernels_;

private:
  LoweringTarget target_;
};

/// The lane counts of the f32 vectors stored by `kernels` (scalar stores, e.g. tails, left out).
std::set<int> f32_store_lanes(const std::vector<Kernel> &kernels) {
  std::set<int> lanes;
  std::function<void(const Stmt &)> walk = [&](const Stmt &st) {
    if (!st)
      return;
    if (st->kind == StmtKind::Store && st->value->type.dtype == DType::f32 &&
        st->value->type.lanes > 1)
      lanes.insert(st->value->type.lanes);
    for (const Stmt &b : st->body)
      walk(b);
  };
  for (const Kernel &k : kernels)
    walk(k.body);
  return lanes;
}

/// x: f32[1, 6, 13, 15] -> Conv 3x3 (8 channels, pad 1) -> Sigmoid -> + x2.
void conv_sigmoid_add(Case &c) {
  Value *x = c.input(DType::f32, {1, 6, 13, 15});
  std::vector<float> w(8 * 6 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>((i * 37 % 101) / 101.0 - 0.5);
  Value *wv = c.constant(Tensor::from_vector(w, {8, 6, 3, 3}));
  Value *y = c.node(OpKind::Conv, {x, wv},
                    attrs({{"strides", ints{1, 1}},
                           {"dilations", ints{1, 1}},
                           {"pads", ints{1, 1, 1, 1}},
                           {"group", int64_t{1}}}));
  Value *z = c.node(OpKind::Sigmoid, {y});
  c.out(OpKind::Add, {z, c.input(DType::f32, {1, 8, 13, 15})});
}

TEST(BackendSeam, KernelsHaveTheVectorWidthTheBackendAsksFor) {
  for (int lanes : {4, 8, 16}) {
    Case c;
    Value *x = c.input(DType::f32, {2, 8, 37});
    c.out(OpKind::Add, {c.node(OpKind::Sigmoid, {x}), c.input(DType::f32, {1, 8, 1})});
    LoweringTarget t;
    t.vector_lanes_f32 = lanes;
    FakeBackend be(t);
    CompileResult cr = compile_graph(c.g, be, "default");
    ASSERT_FALSE(be.kernels_.empty());
    EXPECT_EQ(f32_store_lanes(be.kernels_), std::set<int>{lanes}) << lanes << " lanes";
    // Each compiled kernel, and the names the module gives them, are the lowering's own.
    ASSERT_EQ(cr.module.kernel_names.size(), be.kernels_.size());
    for (size_t i = 0; i < be.kernels_.size(); ++i)
      EXPECT_EQ(cr.module.kernel_names[i], be.kernels_[i].name);
  }
}

TEST(BackendSeam, GpuShapedKernelsComeFromTheLoweringTargetNotTheTargetName) {
  // The fake backend is not called "opencl": only its LoweringTarget asks for GPU shapes.
  auto conv_names = [](const LoweringTarget &t) {
    Case c;
    conv_sigmoid_add(c);
    FakeBackend be(t);
    compile_graph(c.g, be, "default");
    std::vector<std::string> names;
    for (const Kernel &k : be.kernels_)
      if (k.name.starts_with("conv2d_") && k.name.find("packw") == std::string::npos)
        names.push_back(k.name);
    return names;
  };
  LoweringTarget cpu;
  LoweringTarget gpu; // what a CPU OpenCL driver gets: one 4x8 tile per work item
  gpu.gpu = true;
  gpu.gpu_device = false;
  gpu.vector_lanes_f32 = 4;
  gpu.task_elems = 4;
  std::vector<std::string> on_cpu = conv_names(cpu), on_gpu = conv_names(gpu);
  ASSERT_EQ(on_cpu.size(), 1u);
  ASSERT_EQ(on_gpu.size(), 1u);
  EXPECT_EQ(on_cpu[0].find("_t4x8"), std::string::npos) << on_cpu[0];
  EXPECT_EQ(on_gpu[0], "conv2d_3x3s1_t4x8_sigmoid_add_f32");
}

TEST(BackendSeam, OpenclBackendAsksForGpuShapedKernels) {
  REQUIRE_DEVICE();
  for (bool gpu_tiles : {true, false}) {
    LoweringTarget t = OpenclBackend(*device(), gpu_tiles).lowering_target();
    EXPECT_TRUE(t.gpu);
    EXPECT_EQ(t.gpu_device, gpu_tiles);
    EXPECT_EQ(t.vector_lanes_f32, 4);
    EXPECT_EQ(t.task_elems, 4);
  }
  EXPECT_EQ(OpenclBackend(*device()).lowering_target().gpu_device, device()->is_gpu());
  EXPECT_EQ(OpenclBackend(*device()).target_key(), "opencl");
}

/// Protobuf wire format: enough to write a small ONNX model by hand.
struct Proto {
  std::string bytes;
  void varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7)
      bytes += static_cast<char>((v & 0x7f) | 0x80);
    bytes += static_cast<char>(v);
  }
  Proto &num(int field, uint64_t v) {
    varint(uint64_t(field) << 3);
    varint(v);
    return *this;
  }
  Proto &str(int field, const std::string &s) {
    varint(uint64_t(field) << 3 | 2);
    varint(s.size());
    bytes += s;
    return *this;
  }
  Proto &msg(int field, const Proto &m) { return str(field, m.bytes); }
};

/// ValueInfoProto of an f32 tensor.
Proto f32_value(const std::string &name, const ints &dims) {
  Proto shape;
  for (int64_t d : dims)
    shape.msg(1, Proto().num(1, uint64_t(d)));
  return Proto().str(1, name).msg(2, Proto().msg(1, Proto().num(1, 1).msg(2, shape)));
}

/// x: f32[1, 3, 8, 8] -> Conv 3x3 (4 channels, pad 1, bias) -> Sigmoid -> Relu -> out.
std::string conv_model_onnx() {
  std::vector<float> w(4 * 3 * 3 * 3), b = {0.1f, -0.2f, 0.3f, 0.f};
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>((i * 37 % 101) / 101.0 - 0.5);
  auto tensor = [](const std::string &name, const ints &dims, const std::vector<float> &v) {
    Proto t;
    for (int64_t d : dims)
      t.num(1, uint64_t(d));
    return t.num(2, 1).str(8, name).str(
        9, std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(float)));
  };
  auto ints_attr = [](const std::string &name, const ints &v) {
    Proto a;
    a.str(1, name).num(20, 7);
    for (int64_t x : v)
      a.num(8, uint64_t(x));
    return a;
  };
  Proto graph;
  graph.msg(1, Proto()
                   .str(1, "x")
                   .str(1, "w")
                   .str(1, "b")
                   .str(2, "y")
                   .str(3, "conv")
                   .str(4, "Conv")
                   .msg(5, ints_attr("kernel_shape", {3, 3}))
                   .msg(5, ints_attr("pads", {1, 1, 1, 1})));
  graph.msg(1, Proto().str(1, "y").str(2, "s").str(3, "sig").str(4, "Sigmoid"));
  graph.msg(1, Proto().str(1, "s").str(2, "out").str(3, "relu").str(4, "Relu"));
  graph.str(2, "seam");
  graph.msg(5, tensor("w", {4, 3, 3, 3}, w)).msg(5, tensor("b", {4}, b));
  graph.msg(11, f32_value("x", {1, 3, 8, 8})).msg(12, f32_value("out", {1, 4, 8, 8}));
  return Proto().num(1, 8).msg(8, Proto().str(1, "").num(2, 13)).msg(7, graph).bytes;
}

TEST(OpenclSession, ProfileShowsTheKernelsOwnNamesAlsoFromAKilnFile) {
  REQUIRE_DEVICE();
  const std::string bytes = conv_model_onnx();
  // The names the lowering gives the replayed kernels (weight-only ones run at capture).
  std::unique_ptr<Graph> g = import_onnx_bytes(bytes, "", "seam");
  OpenclBackend backend(*device());
  CompileResult cr = compile_graph(*g, backend, "default");
  std::vector<std::string> want;
  for (size_t i = 0; i < cr.program.launches.size(); ++i)
    if (!cr.program.launches[i].weight_only)
      want.push_back(cr.program.launches[i].kernel.name);
  ASSERT_FALSE(want.empty());
  EXPECT_TRUE(want[0].starts_with("conv2d_3x3s1_t")) << want[0];

  fs::path dir = fs::temp_directory_path() / ("kiln_opencl_seam_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path model = dir / "seam.onnx", kiln_file = dir / "seam.kiln";
  std::ofstream(model, std::ios::binary) << bytes;
  SessionOptions o;
  o.target = "opencl";
  o.profile = true;
  o.use_cache = false;
  HostTensor x(ElementType::f32, {1, 3, 8, 8});
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data_as<float>()[i] = 0.25f * static_cast<float>(i % 9) - 1.f;
  auto profiled_names = [&](const fs::path &path) {
    std::vector<std::string> names;
    Result<Session> s = Session::open(path.string(), o);
    EXPECT_TRUE(s.ok()) << s.error();
    if (!s.ok())
      return names;
    Result<std::vector<NamedTensor>> r = s->run({{"x", x}});
    EXPECT_TRUE(r.ok()) << r.error();
    for (const LaunchProfile &p : s->profile())
      names.push_back(p.kernel);
    if (path == model) {
      EXPECT_TRUE(s->save(kiln_file.string()).ok());
    }
    return names;
  };
  EXPECT_EQ(profiled_names(model), want);
  EXPECT_EQ(profiled_names(kiln_file), want) << "names from the .kiln manifest";
  fs::remove_all(dir);
}

} // namespace
} // namespace kiln
