// The LLVM CPU backend: hand-built kernels (in the post-prepare_for_codegen form, plus one
// through prepare_for_codegen) compiled, loaded and run; math accuracy against libm.
#include "codegen/llvm/LlvmBackend.h"
#include "ir/Error.h"
#include "passes/KernelPasses.h"

#include <gtest/gtest.h>
#include <thread>

#include <array>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <sys/mman.h>
#include <unistd.h>

using namespace kiln;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Backend &be() { return llvm_cpu_backend(); }

std::unique_ptr<LoadedModule> jit(const std::vector<Kernel> &ks) {
  return be().load(be().compile(ks));
}

void call(const LoadedModule &m, std::vector<void *> args, int64_t begin = 0, int64_t end = 1,
          size_t kernel = 0) {
  m.function(kernel)(args.data(), begin, end);
}

Kernel make_kernel(std::string name, std::vector<KernelParam> params, Stmt body,
                   int64_t parallel_extent = 1) {
  Kernel k;
  k.name = std::move(name);
  k.params = std::move(params);
  k.body = std::move(body);
  k.parallel_extent = parallel_extent;
  k.next_var = 16;
  k.next_buf = static_cast<int>(k.params.size()) + 4;
  return k;
}

/// out[i] = f(in0[i], ..., in{nin-1}[i]) for i < n, `lanes` elements per iteration (vector
/// loads/stores with a tail predicate when lanes > 1 and n is not a multiple).
Kernel map_kernel(DType in_t, DType out_t, int lanes, int64_t n,
                  const std::function<Expr(const std::vector<Expr> &)> &f, int nin = 1) {
  int64_t trips = (n + lanes - 1) / lanes;
  Expr idx = lanes == 1 ? var(0) : ramp(var(0) * imm(lanes), imm(1), lanes);
  Expr pred =
      lanes == 1 || n % lanes == 0 ? nullptr : binary(BinOp::Lt, idx, broadcast(imm(n), lanes));
  std::vector<Expr> ins;
  std::vector<KernelParam> params;
  for (int b = 0; b < nin; ++b) {
    ins.push_back(load(b, {in_t, lanes}, idx, pred));
    params.push_back({"in" + std::to_string(b), in_t, n, false});
  }
  params.push_back({"out", out_t, n, true});
  Stmt body = for_loop(0, imm(0), imm(trips), ForKind::Serial, store(nin, idx, f(ins), pred));
  return make_kernel("map_" + std::string(dtype_name(out_t)), params, body);
}

/// Runs a one-input map kernel over `in` and returns the outputs.
template <class In, class Out>
std::vector<Out> run_map(DType in_t, DType out_t, int lanes, const std::vector<In> &in,
                         const std::function<Expr(Expr)> &f) {
  auto m = jit({map_kernel(in_t, out_t, lanes, static_cast<int64_t>(in.size()),
                           [&](const std::vector<Expr> &a) { return f(a[0]); })});
  std::vector<Out> out(in.size());
  call(*m, {const_cast<In *>(in.data()), out.data()});
  return out;
}

/// Distance in units in the last place between two floats (0 for equal, both NaN too).
int64_t ulp_diff(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  auto ordered = [](float x) {
    int32_t i = std::bit_cast<int32_t>(x);
    return i < 0 ? int64_t(INT32_MIN) - i : int64_t(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

std::vector<float> linspace(float lo, float hi, int n) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i)
    v[i] = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(n - 1);
  return v;
}

/// The assembly the backend writes for `k` (KILN_DUMP_LLVM into a temporary folder).
std::string compiled_asm(const Kernel &k) {
  auto dir = std::filesystem::temp_directory_path() / ("kiln_llvm_asm_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  setenv("KILN_DUMP_LLVM", dir.c_str(), 1);
  be().compile({k});
  unsetenv("KILN_DUMP_LLVM");
  std::string text;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".s") {
      std::ifstream f(e.path());
      std::stringstream ss;
      ss << f.rdbuf();
      text += ss.str();
    }
  std::filesystem::remove_all(dir);
  return text;
}

} // namespace

TEST(LlvmBackend, TargetKeyIsDeterministic) {
  std::string t = be().target_key();
  EXPECT_EQ(t, be().target_key());
  EXPECT_NE(t.find("x86_64"), std::string::npos) << t;
  if (!std::getenv("KILN_LLVM_CPU")) {
    EXPECT_NE(t.find("+avx2"), std::string::npos) << t; // the floor we support
  }
}

// The lowering's vector width comes from the backend: 16 f32 lanes when the code is for a CPU
// with AVX-512F (a whole '+avx512f' feature of the target key), else 8; the AVX2 floor
// (KILN_LLVM_CPU=haswell, the .avx2 run of these tests) gets 8.
TEST(LlvmBackend, LoweringTargetHasSixteenLanesExactlyWithAvx512f) {
  LoweringTarget t = be().lowering_target();
  EXPECT_FALSE(t.gpu);
  EXPECT_EQ(t.task_elems, 0);
  const char *cpu = std::getenv("KILN_LLVM_CPU");
  if (cpu && std::string(cpu) == "haswell") {
    EXPECT_EQ(t.vector_lanes_f32, 8);
    return;
  }
  if (cpu && *cpu)
    GTEST_SKIP() << "KILN_LLVM_CPU=" << cpu << ": features implied by the CPU name";
  std::string key = be().target_key(); // triple/cpu/+feature,+feature,...
  std::string features = "," + key.substr(key.rfind('/') + 1) + ",";
  bool avx512f = features.find(",+avx512f,") != std::string::npos;
  EXPECT_EQ(t.vector_lanes_f32, avx512f ? 16 : 8) << key;
}

TEST(LlvmBackend, ScalarLoopAdd) {
  const int64_t n = 1003;
  Kernel k = map_kernel(
      DType::f32, DType::f32, 1, n, [](const std::vector<Expr> &a) { return a[0] + a[1]; }, 2);
  auto m = jit({k});
  std::vector<float> a(n), b(n), c(n);
  for (int64_t i = 0; i < n; ++i)
    a[i] = static_cast<float>(i), b[i] = 0.5f * static_cast<float>(i);
  call(*m, {a.data(), b.data(), c.data()});
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(c[i], a[i] + b[i]) << i;
}

TEST(LlvmBackend, ParallelLoopRunsTheGivenSlice) {
  Stmt body = for_loop(0, imm(0), imm(64), ForKind::Parallel,
                       store(1, var(0), load(0, {DType::f32, 1}, var(0)) * fimm(2.0)));
  auto m = jit({make_kernel(
      "double_f32", {{"a", DType::f32, 64, false}, {"b", DType::f32, 64, true}}, body, 64)});
  std::vector<float> a(64), b(64, -1.0f);
  for (int i = 0; i < 64; ++i)
    a[i] = static_cast<float>(i);
  call(*m, {a.data(), b.data()}, 0, 20);
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(b[i], i < 20 ? 2.0f * i : -1.0f) << i;
  call(*m, {a.data(), b.data()}, 20, 64);
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(b[i], 2.0f * i) << i;
}

TEST(LlvmBackend, PredicatedVectorTailTouchesNothingPastTheEnd) {
  const int64_t n = 37;
  Kernel k = map_kernel(DType::f32, DType::f32, 16, n,
                        [](const std::vector<Expr> &a) { return a[0] + broadcast(fimm(1.0), 16); });
  auto m = jit({k});
  std::vector<float> a(48, 100.0f), b(48, -7.0f);
  for (int i = 0; i < n; ++i)
    a[i] = static_cast<float>(i);
  call(*m, {a.data(), b.data()});
  for (int i = 0; i < 48; ++i)
    ASSERT_EQ(b[i], i < n ? i + 1.0f : -7.0f) << i;
}

TEST(LlvmBackend, StridedBroadcastAndGatherLoads) {
  // out[i*16 + l] = a[s*(i*16 + l)] * c[i] for strides with the wide-load path (2, 3) and
  // the gather path (7); plus a reversed (general vector) index.
  for (int64_t s : {2, 3, 7}) {
    const int64_t n = 64, na = n * s;
    Expr base = var(0) * imm(16);
    Expr v = load(0, {DType::f32, 16}, ramp(base * imm(s), imm(s), 16)) *
             load(1, {DType::f32, 16}, broadcast(var(0), 16));
    Stmt body =
        for_loop(0, imm(0), imm(n / 16), ForKind::Serial, store(2, ramp(base, imm(1), 16), v));
    auto m = jit({make_kernel("strided_f32",
                              {{"a", DType::f32, na, false},
                               {"c", DType::f32, n / 16, false},
                               {"out", DType::f32, n, true}},
                              body)});
    std::vector<float> a(na), c = {1, 2, 3, 4}, out(n);
    for (int64_t i = 0; i < na; ++i)
      a[i] = static_cast<float>(i);
    call(*m, {a.data(), c.data(), out.data()});
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(out[i], a[s * i] * c[i / 16]) << "stride " << s << " at " << i;
  }
  Expr rev = broadcast(imm(15), 16) - ramp(imm(0), imm(1), 16);
  Stmt body = store(1, rev, load(0, {DType::i32, 16}, ramp(imm(0), imm(1), 16)));
  auto m = jit({make_kernel("reverse_i32",
                            {{"a", DType::i32, 16, false}, {"b", DType::i32, 16, true}}, body)});
  std::vector<int32_t> a(16), b(16);
  for (int i = 0; i < 16; ++i)
    a[i] = i * 3;
  call(*m, {a.data(), b.data()});
  for (int i = 0; i < 16; ++i)
    ASSERT_EQ(b[15 - i], a[i]) << i;
}

TEST(LlvmBackend, PredicatedStridedLoadReadsZeros) {
  // Lanes past n/2 are masked off: they read 0 and the gather must not touch them.
  Expr idx = ramp(imm(0), imm(2), 16);
  Expr pred = binary(BinOp::Lt, ramp(imm(0), imm(1), 16), broadcast(imm(5), 16));
  Stmt body = store(1, ramp(imm(0), imm(1), 16), load(0, {DType::f32, 16}, idx, pred));
  auto m = jit({make_kernel("masked_f32",
                            {{"a", DType::f32, 10, false}, {"b", DType::f32, 16, true}}, body)});
  std::vector<float> a(10), b(16, -1.0f);
  for (int i = 0; i < 10; ++i)
    a[i] = i + 1.0f;
  call(*m, {a.data(), b.data()});
  for (int i = 0; i < 16; ++i)
    ASSERT_EQ(b[i], i < 5 ? a[2 * i] : 0.0f) << i;
}

TEST(LlvmBackend, MaskedStridedLoadStopsAtAGuardPage) {
  // The conv pattern: a stride-s row read masked at both ends (padding). The buffer ends where
  // an inaccessible page begins, and the last enabled lane reads its last element: the wide
  // loads of the stride path must not touch anything past it (a fault would kill the test).
  const long page = sysconf(_SC_PAGESIZE);
  for (int64_t s : {2, 3, 4}) {
    const int64_t lo = 3, hi = 11; // lanes [lo, hi) enabled
    const int64_t na = (hi - 1) * s + 1;
    void *mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    ASSERT_EQ(mprotect(static_cast<char *>(mem) + page, page, PROT_NONE), 0);
    float *a = reinterpret_cast<float *>(static_cast<char *>(mem) + page) - na;
    for (int64_t i = 0; i < na; ++i)
      a[i] = static_cast<float>(i + 1);
    Expr lane = ramp(imm(0), imm(1), 16);
    Expr pred = binary(BinOp::And, binary(BinOp::Le, broadcast(imm(lo), 16), lane),
                       binary(BinOp::Lt, lane, broadcast(imm(hi), 16)));
    Stmt body = store(1, lane, load(0, {DType::f32, 16}, ramp(imm(0), imm(s), 16), pred));
    auto m = jit({make_kernel("masked_stride_f32",
                              {{"a", DType::f32, na, false}, {"b", DType::f32, 16, true}}, body)});
    std::vector<float> b(16, -1.0f);
    call(*m, {a, b.data()});
    for (int64_t l = 0; l < 16; ++l)
      ASSERT_EQ(b[l], l >= lo && l < hi ? a[s * l] : 0.0f) << "stride " << s << " lane " << l;
    munmap(mem, 2 * page);
  }
}

TEST(LlvmBackend, LocalAccumulators) {
  // Column sums of a K x 4 matrix with a scalar accumulator per column (constant indices,
  // local buffer 4), and a 16-lane vector accumulator (local 5) for a K x 16 matrix.
  const int64_t K = 50;
  std::vector<Stmt> init, update, flush;
  for (int j = 0; j < 4; ++j) {
    init.push_back(store(4, imm(j), fimm(0.0)));
    update.push_back(store(4, imm(j),
                           load(4, {DType::f32, 1}, imm(j)) +
                               load(0, {DType::f32, 1}, var(0) * imm(4) + imm(j))));
    flush.push_back(store(1, imm(j), load(4, {DType::f32, 1}, imm(j))));
  }
  Expr lanes = ramp(imm(0), imm(1), 16);
  Expr row = load(2, {DType::f32, 16}, ramp(var(1) * imm(16), imm(1), 16));
  Stmt vec = allocate(5, DType::f32, 16,
                      block({store(5, lanes, broadcast(fimm(0.0), 16)),
                             for_loop(1, imm(0), imm(K), ForKind::Serial,
                                      store(5, lanes, load(5, {DType::f32, 16}, lanes) + row)),
                             store(3, lanes, load(5, {DType::f32, 16}, lanes))}));
  Stmt scalar =
      allocate(4, DType::f32, 4,
               block({block(init), for_loop(0, imm(0), imm(K), ForKind::Serial, block(update)),
                      block(flush)}));
  auto m = jit({make_kernel("colsum_f32",
                            {{"a", DType::f32, K * 4, false},
                             {"s", DType::f32, 4, true},
                             {"b", DType::f32, K * 16, false},
                             {"t", DType::f32, 16, true}},
                            block({scalar, vec}))});
  std::vector<float> a(K * 4), b(K * 16), s(4), t(16);
  for (int64_t i = 0; i < K * 4; ++i)
    a[i] = static_cast<float>(i % 7);
  for (int64_t i = 0; i < K * 16; ++i)
    b[i] = static_cast<float>(i % 5);
  call(*m, {a.data(), s.data(), b.data(), t.data()});
  for (int j = 0; j < 4; ++j) {
    float ref = 0;
    for (int64_t k = 0; k < K; ++k)
      ref += a[k * 4 + j];
    EXPECT_EQ(s[j], ref) << j;
  }
  for (int j = 0; j < 16; ++j) {
    float ref = 0;
    for (int64_t k = 0; k < K; ++k)
      ref += b[k * 16 + j];
    EXPECT_EQ(t[j], ref) << j;
  }
}

namespace {

/// Inputs for the f32 math tests: a dense sweep of [lo, hi] plus the special values.
std::vector<float> math_inputs(float lo, float hi) {
  std::vector<float> v = linspace(lo, hi, 100003);
  for (float x : {0.0f, -0.0f, kInf, -kInf, kNaN, 1e-30f, -1e-30f, 1e-45f, 1.0f, -1.0f})
    v.push_back(x);
  return v;
}

struct MathCase {
  UnOp op;
  const char *name;
  double (*ref)(double);
  float lo, hi;
  bool ulp; ///< bound is 2 ulp relative; else 1e-6 absolute
};

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_exp(double x) { return std::exp(x); }
double ref_log(double x) { return std::log(x); }
double ref_tanh(double x) { return std::tanh(x); }
double ref_erf(double x) { return std::erf(x); }

const MathCase kMathCases[] = {
    {UnOp::Exp, "exp", ref_exp, -105.0f, 89.0f, true},
    {UnOp::Log, "log", ref_log, 0.0f, 1e4f, true},
    {UnOp::Sigmoid, "sigmoid", ref_sigmoid, -30.0f, 30.0f, false},
    {UnOp::Tanh, "tanh", ref_tanh, -12.0f, 12.0f, false},
    {UnOp::Erf, "erf", ref_erf, -6.0f, 6.0f, false},
};

void check_math(const MathCase &c, const std::vector<float> &in, const std::vector<float> &out) {
  int64_t worst_ulp = 0;
  double worst_abs = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    float ref = static_cast<float>(c.ref(in[i]));
    if (std::isnan(ref)) {
      ASSERT_TRUE(std::isnan(out[i])) << c.name << "(" << in[i] << ") = " << out[i];
      continue;
    }
    if (c.ulp && std::fabs(ref) >= std::numeric_limits<float>::min()) {
      int64_t u = ulp_diff(out[i], ref);
      worst_ulp = std::max(worst_ulp, u);
      ASSERT_LE(u, 2) << c.name << "(" << in[i] << ") = " << out[i] << ", want " << ref;
    } else {
      double err = std::fabs(static_cast<double>(out[i]) - ref);
      worst_abs = std::max(worst_abs, err);
      ASSERT_LE(err, c.ulp ? 4e-45 : 1e-6)
          << c.name << "(" << in[i] << ") = " << out[i] << ", want " << ref;
    }
  }
  std::printf("%-8s max %lld ulp, max abs %.3g\n", c.name, static_cast<long long>(worst_ulp),
              worst_abs);
}

} // namespace

TEST(LlvmBackend, MathF32MatchesLibm) {
  for (const MathCase &c : kMathCases) {
    std::vector<float> in = math_inputs(c.lo, c.hi);
    if (c.op == UnOp::Log) { // log-spaced too, subnormals included
      for (int e = -149; e <= 127; ++e)
        for (float m : {1.0f, 1.2345f, 1.5f, 1.999f})
          in.push_back(std::ldexp(m, e));
      for (float x : linspace(0.5f, 2.0f, 20001))
        in.push_back(x);
    }
    for (int lanes : {16, 1}) { // explicit vectors, and the loop vectorizer's own
      auto out = run_map<float, float>(DType::f32, DType::f32, lanes, in,
                                       [&](Expr x) { return unary(c.op, x); });
      check_math(c, in, out);
    }
  }
}

TEST(LlvmBackend, ExactF32UnaryOps) {
  std::vector<float> in = {0.0f, -0.0f, 0.5f,  1.5f,  2.5f,  -2.5f, -0.5f,
                           3.7f, -3.7f, 1e20f, -kInf, 16.0f, 2.0f};
  struct Case {
    UnOp op;
    float (*ref)(float);
  } cases[] = {
      {UnOp::Neg, [](float x) { return -x; }},
      {UnOp::Abs, [](float x) { return std::fabs(x); }},
      {UnOp::Sqrt, [](float x) { return std::sqrt(x); }},
      {UnOp::Floor, [](float x) { return std::floor(x); }},
      {UnOp::Ceil, [](float x) { return std::ceil(x); }},
      {UnOp::Round, [](float x) { return std::nearbyint(x); }},
  };
  for (const Case &c : cases)
    for (int lanes : {16, 1}) {
      auto out = run_map<float, float>(DType::f32, DType::f32, lanes, in,
                                       [&](Expr x) { return unary(c.op, x); });
      for (size_t i = 0; i < in.size(); ++i) {
        float want = c.ref(in[i]);
        if (std::isnan(want))
          EXPECT_TRUE(std::isnan(out[i]));
        else
          EXPECT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(want))
              << static_cast<int>(c.op) << "(" << in[i] << ") = " << out[i];
      }
    }
}

TEST(LlvmBackend, PowF32) {
  std::vector<float> xs, ys;
  for (float x : linspace(0.01f, 100.0f, 301))
    for (float y : linspace(-4.0f, 4.0f, 33))
      xs.push_back(x), ys.push_back(y);
  // Special cases: negative bases with integer exponents, zero, one, y == 0.
  std::vector<std::pair<float, float>> special = {{-2, 3},   {-2, 2}, {-2, -1},      {-2, 0.5f},
                                                  {0, 2},    {0, -1}, {0, 0},        {1, kNaN},
                                                  {kNaN, 0}, {3, 0},  {-8, 1.0f / 3}};
  for (auto [x, y] : special)
    xs.push_back(x), ys.push_back(y);
  for (int lanes : {16, 1}) {
    auto m = jit({map_kernel(
        DType::f32, DType::f32, lanes, static_cast<int64_t>(xs.size()),
        [](const std::vector<Expr> &a) { return binary(BinOp::Pow, a[0], a[1]); }, 2)});
    std::vector<float> out(xs.size());
    call(*m, {xs.data(), ys.data(), out.data()});
    double worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      double ref = std::pow(static_cast<double>(xs[i]), static_cast<double>(ys[i]));
      if (std::isnan(ref)) {
        ASSERT_TRUE(std::isnan(out[i])) << xs[i] << "^" << ys[i] << " = " << out[i];
        continue;
      }
      if (std::isinf(ref) || ref == 0) {
        ASSERT_EQ(out[i], ref) << xs[i] << "^" << ys[i];
        continue;
      }
      double rel = std::fabs(out[i] - ref) / std::fabs(ref);
      worst = std::max(worst, rel);
      ASSERT_LE(rel, 1e-5) << xs[i] << "^" << ys[i] << " = " << out[i] << ", want " << ref;
    }
    std::printf("pow      max rel %.3g\n", worst);
  }
  // Constant exponents take exact shortcuts.
  std::vector<float> in = {0.0f, 2.0f, 3.0f, -1.5f, 1e10f};
  for (double y : {0.5, 1.0, 2.0, 3.0}) {
    auto out = run_map<float, float>(DType::f32, DType::f32, 16, in, [&](Expr x) {
      return binary(BinOp::Pow, x, broadcast(fimm(y), 16));
    });
    for (size_t i = 0; i < in.size(); ++i) {
      float want = static_cast<float>(std::pow(static_cast<double>(in[i]), y));
      if (y == 0.5 && in[i] < 0)
        EXPECT_TRUE(std::isnan(out[i]));
      else
        EXPECT_FLOAT_EQ(out[i], want) << in[i] << "^" << y;
    }
  }
}

TEST(LlvmBackend, MathF64UsesLibm) {
  std::vector<double> in = {-3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 10.0, 40.0};
  struct Case {
    UnOp op;
    double (*ref)(double);
  } cases[] = {{UnOp::Exp, ref_exp},
               {UnOp::Tanh, ref_tanh},
               {UnOp::Erf, ref_erf},
               {UnOp::Sigmoid, ref_sigmoid}};
  for (const Case &c : cases)
    for (int lanes : {8, 1}) {
      auto out = run_map<double, double>(DType::f64, DType::f64, lanes, in,
                                         [&](Expr x) { return unary(c.op, x); });
      for (size_t i = 0; i < in.size(); ++i)
        EXPECT_NEAR(out[i], c.ref(in[i]), 1e-15 * std::max(1.0, std::fabs(c.ref(in[i]))));
    }
  std::vector<double> pos = {0.5, 1.0, 2.0, 1e10};
  auto out = run_map<double, double>(DType::f64, DType::f64, 4, pos,
                                     [](Expr x) { return unary(UnOp::Log, x); });
  for (size_t i = 0; i < pos.size(); ++i)
    EXPECT_DOUBLE_EQ(out[i], std::log(pos[i]));
}

TEST(LlvmBackend, CastsFollowOnnx) {
  std::vector<float> in = {0.0f,   -0.0f, 0.5f, -2.7f,    2.7f,    200.9f,
                           255.0f, 1e10f, kNaN, 65504.0f, 1.0f / 3};
  for (int lanes : {16, 1}) {
    auto i64 = run_map<float, int64_t>(DType::f32, DType::i64, lanes, in,
                                       [](Expr x) { return cast({DType::i64}, x); });
    EXPECT_EQ(i64[3], -2);
    EXPECT_EQ(i64[4], 2);
    EXPECT_EQ(i64[5], 200);
    EXPECT_EQ(i64[7], 10000000000);
    EXPECT_EQ(i64[8], 0); // NaN: defined as 0 (saturating conversion)
    auto u8 = run_map<float, uint8_t>(DType::f32, DType::u8, lanes, in,
                                      [](Expr x) { return cast({DType::u8}, x); });
    EXPECT_EQ(u8[5], 200);
    EXPECT_EQ(u8[6], 255);
    auto b = run_map<float, uint8_t>(DType::f32, DType::boolean, lanes, in,
                                     [](Expr x) { return cast({DType::boolean}, x); });
    std::vector<uint8_t> want_b = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    EXPECT_EQ(b, want_b);
    auto back = run_map<uint8_t, float>(DType::boolean, DType::f32, lanes, b,
                                        [](Expr x) { return cast({DType::f32}, x); });
    for (size_t i = 0; i < b.size(); ++i)
      EXPECT_EQ(back[i], b[i] ? 1.0f : 0.0f);
    auto h = run_map<float, uint16_t>(DType::f32, DType::f16, lanes, in,
                                      [](Expr x) { return cast({DType::f16}, x); });
    auto bf = run_map<float, uint16_t>(DType::f32, DType::bf16, lanes, in,
                                       [](Expr x) { return cast({DType::bf16}, x); });
    for (size_t i = 0; i < in.size(); ++i) {
      if (std::isnan(in[i]))
        continue;
      EXPECT_EQ(h[i], f32_to_f16(in[i])) << in[i];
      EXPECT_EQ(bf[i], f32_to_bf16(in[i])) << in[i];
    }
    auto hf = run_map<uint16_t, float>(DType::f16, DType::f32, lanes, h,
                                       [](Expr x) { return cast({DType::f32}, x); });
    for (size_t i = 0; i < in.size(); ++i) {
      if (!std::isnan(in[i])) {
        EXPECT_EQ(hf[i], f16_to_f32(h[i]));
      }
    }
    std::vector<uint8_t> bytes = {0, 1, 127, 128, 200, 255};
    auto uf = run_map<uint8_t, float>(DType::u8, DType::f32, lanes, bytes,
                                      [](Expr x) { return cast({DType::f32}, x); });
    for (size_t i = 0; i < bytes.size(); ++i)
      EXPECT_EQ(uf[i], static_cast<float>(bytes[i]));
    std::vector<int64_t> ints = {-3, 0, 300, 1 << 20};
    auto i8 = run_map<int64_t, int8_t>(DType::i64, DType::i8, lanes, ints,
                                       [](Expr x) { return cast({DType::i8}, x); });
    for (size_t i = 0; i < ints.size(); ++i)
      EXPECT_EQ(i8[i], static_cast<int8_t>(ints[i]));
  }
}

TEST(LlvmBackend, HalfFormatsRoundAfterEachOp) {
  std::vector<float> a = {1.0f, 0.1f, 1000.3f, -2.5f, 3.14159f, 65000.0f},
                     b = {1e-4f, 0.2f, 0.7f, 1.25f, 2.71828f, 1000.0f};
  for (DType t : {DType::f16, DType::bf16}) {
    auto enc = [&](float x) { return t == DType::f16 ? f32_to_f16(x) : f32_to_bf16(x); };
    auto dec = [&](uint16_t x) { return t == DType::f16 ? f16_to_f32(x) : bf16_to_f32(x); };
    std::vector<uint16_t> ha, hb, out(a.size());
    for (size_t i = 0; i < a.size(); ++i)
      ha.push_back(enc(a[i])), hb.push_back(enc(b[i]));
    for (int lanes : {16, 1}) {
      auto m = jit({map_kernel(
          t, t, lanes, static_cast<int64_t>(a.size()),
          [](const std::vector<Expr> &x) { return x[0] * x[1] + x[0]; }, 2)});
      call(*m, {ha.data(), hb.data(), out.data()});
      for (size_t i = 0; i < a.size(); ++i) {
        uint16_t want = enc(dec(enc(dec(ha[i]) * dec(hb[i]))) + dec(ha[i]));
        EXPECT_EQ(out[i], want) << dtype_name(t) << " " << a[i] << " * " << b[i] << " + " << a[i];
      }
    }
  }
}

TEST(LlvmBackend, IntegerDivModAndShifts) {
  std::vector<int64_t> a = {-7, 7, -7, 7, 100, -100, 5, INT64_MIN}, b = {2, 2, -2, -2, 7, 7, 0, -1};
  for (int lanes : {8, 1}) {
    for (BinOp op : {BinOp::Div, BinOp::Mod}) {
      auto m = jit({map_kernel(
          DType::i64, DType::i64, lanes, 8,
          [&](const std::vector<Expr> &x) { return binary(op, x[0], x[1]); }, 2)});
      std::vector<int64_t> out(8);
      call(*m, {a.data(), b.data(), out.data()});
      for (size_t i = 0; i < 6; ++i) // C semantics: truncation, remainder has the dividend's sign
        EXPECT_EQ(out[i], op == BinOp::Div ? a[i] / b[i] : a[i] % b[i]) << a[i] << " op " << b[i];
      // Division by 0 and INT_MIN / -1 are defined instead of trapping.
      EXPECT_EQ(out[6], op == BinOp::Div ? 5 : 0);
      EXPECT_EQ(out[7], op == BinOp::Div ? INT64_MIN : 0);
    }
    std::vector<uint8_t> ua = {200, 255, 9}, ub = {3, 16, 2};
    for (BinOp op : {BinOp::Div, BinOp::Mod, BinOp::Lt, BinOp::Max}) {
      DType out_t = op == BinOp::Lt ? DType::boolean : DType::u8;
      auto m = jit({map_kernel(
          DType::u8, out_t, lanes, 3,
          [&](const std::vector<Expr> &x) { return binary(op, x[0], x[1]); }, 2)});
      std::vector<uint8_t> out(3);
      call(*m, {ua.data(), ub.data(), out.data()});
      for (size_t i = 0; i < 3; ++i) {
        int want = op == BinOp::Div   ? ua[i] / ub[i]
                   : op == BinOp::Mod ? ua[i] % ub[i]
                   : op == BinOp::Lt  ? ua[i] < ub[i]
                                      : std::max(ua[i], ub[i]);
        EXPECT_EQ(out[i], want) << static_cast<int>(op) << " " << int(ua[i]) << " " << int(ub[i]);
      }
    }
    std::vector<int32_t> sa = {-16, 1, 3}, sb = {2, 31, 40};
    auto m = jit({map_kernel(
        DType::i32, DType::i32, lanes, 3,
        [](const std::vector<Expr> &x) { return binary(BinOp::Shr, x[0], x[1]); }, 2)});
    std::vector<int32_t> out(3);
    call(*m, {sa.data(), sb.data(), out.data()});
    EXPECT_EQ(out[0], -4); // arithmetic
    EXPECT_EQ(out[1], 0);
    EXPECT_EQ(out[2], 0); // shifting by >= width shifts everything out
  }
}

/// The reference for Dot4: acc + the 4-way dot of a's unsigned bytes with b's signed bytes,
/// wrapping.
int32_t dot4_ref(int32_t acc, int32_t a, int32_t b) {
  uint32_t s = static_cast<uint32_t>(acc);
  for (int k = 0; k < 32; k += 8)
    s += static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a) >> k & 0xff) *
                               static_cast<int8_t>(static_cast<uint32_t>(b) >> k & 0xff));
  return static_cast<int32_t>(s);
}

/// Dot4 cases: extreme bytes (255 * -128 in every position), a wrapping accumulator, and a
/// deterministic spread of others.
std::array<std::vector<int32_t>, 3> dot4_cases(size_t n) {
  std::array<std::vector<int32_t>, 3> v;
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
  for (size_t i = 0; i < n; ++i) {
    v[0].push_back(static_cast<int32_t>(next()));
    v[1].push_back(static_cast<int32_t>(next()));
    v[2].push_back(static_cast<int32_t>(next()));
  }
  v[0][0] = 0, v[1][0] = -1, v[2][0] = static_cast<int32_t>(0x80808080u); // 4 * 255 * -128
  v[0][1] = INT32_MAX, v[1][1] = -1, v[2][1] = 0x7f7f7f7f;                // wraps
  v[0][2] = INT32_MIN, v[1][2] = 0x01020304, v[2][2] = static_cast<int32_t>(0xfffefdfcu);
  return v;
}

TEST(LlvmBackend, Dot4IsExactAtEveryWidth) {
  // 16/8/4 lanes are VPDPBUSD where the host has VNNI; 1 and 3 take the portable expansion.
  const size_t n = 48;
  auto [acc, a, b] = dot4_cases(n);
  for (int lanes : {16, 8, 4, 3, 1}) {
    auto m = jit({map_kernel(
        DType::i32, DType::i32, lanes, n,
        [](const std::vector<Expr> &x) { return dot4(x[0], x[1], x[2]); }, 3)});
    std::vector<int32_t> out(n);
    call(*m, {acc.data(), a.data(), b.data(), out.data()});
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(out[i], dot4_ref(acc[i], a[i], b[i])) << lanes << " lanes, element " << i;
  }
}

TEST(LlvmBackend, Dot4UsesVpdpbusdWithAvx512Vnni) {
  if (!__builtin_cpu_supports("avx512vnni") || be().lowering_target().vector_lanes_f32 != 16)
    GTEST_SKIP() << "no AVX512-VNNI on this host";
  Kernel k = map_kernel(
      DType::i32, DType::i32, 16, 64,
      [](const std::vector<Expr> &x) { return dot4(x[0], x[1], x[2]); }, 3);
  k.name = "dot4_i32";
  std::string text = compiled_asm(k);
  EXPECT_NE(text.find("vpdpbusd"), std::string::npos);
  EXPECT_NE(text.find("zmm"), std::string::npos);
}

TEST(LlvmBackend, SelectCompareMinMax) {
  std::vector<float> a = {1, -2, 3, kNaN}, b = {2, -3, 3, 1};
  auto m = jit({map_kernel(
      DType::f32, DType::f32, 16, 4,
      [](const std::vector<Expr> &x) {
        Expr mx = binary(BinOp::Max, x[0], x[1]);
        Expr mn = binary(BinOp::Min, x[0], x[1]);
        return select(binary(BinOp::Le, x[0], x[1]), mn * broadcast(fimm(10.0), 16), mx);
      },
      2)});
  std::vector<float> out(4);
  call(*m, {a.data(), b.data(), out.data()});
  EXPECT_EQ(out[0], 10.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 30.0f);
  EXPECT_EQ(out[3], 1.0f); // max(NaN, 1) with a > b ? a : b
}

TEST(LlvmBackend, CompiledObjectLoadsWithoutCodegen) {
  Kernel k = map_kernel(DType::f32, DType::f32, 16, 100,
                        [](const std::vector<Expr> &a) { return unary(UnOp::Sigmoid, a[0]); });
  Kernel k2 = map_kernel(DType::f32, DType::f32, 1, 100,
                         [](const std::vector<Expr> &a) { return a[0] * a[0]; });
  CompiledModule cm = be().compile({k, k2});
  ASSERT_EQ(cm.kernel_names.size(), 2u);
  EXPECT_NE(cm.kernel_names[0], cm.kernel_names[1]); // same kernel name, distinct symbols
  ASSERT_GE(cm.object.size(), 4u);
  EXPECT_EQ(std::memcmp(cm.object.data(),
                        "\x7f"
                        "ELF",
                        4),
            0);
  // As the cache does: bytes out, bytes back in.
  std::vector<uint8_t> bytes = cm.object;
  CompiledModule back{cm.target, cm.kernel_names, bytes};
  int runs = be().codegen_runs();
  auto m = be().load(back);
  auto m2 = be().load(back); // two loads of one object coexist
  EXPECT_EQ(be().codegen_runs(), runs);
  std::vector<float> in = linspace(-5, 5, 100), out(100), sq(100);
  call(*m, {in.data(), out.data()});
  call(*m2, {in.data(), sq.data()}, 0, 1, 1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_NEAR(out[i], ref_sigmoid(in[i]), 1e-6);
    EXPECT_EQ(sq[i], in[i] * in[i]);
  }
  back.target = "other/cpu/+x";
  EXPECT_THROW(be().load(back), Error);
}

TEST(LlvmBackend, ManyKernelsCompileInPartsOnSeveralThreadsAndLoadAsOne) {
  // 40 kernels: y = x * k + k, each with its own k, so every symbol must find its own code.
  std::vector<Kernel> ks;
  for (int k = 0; k < 40; ++k)
    ks.push_back(map_kernel(DType::f32, DType::f32, 1, 64, [k](const std::vector<Expr> &a) {
      return a[0] * fimm(static_cast<double>(k)) + fimm(k);
    }));
  CompiledModule cm = be().compile(ks);
  ASSERT_EQ(cm.kernel_names.size(), ks.size());
  ASSERT_GE(cm.object.size(), 8u);
  if (std::thread::hardware_concurrency() > 1) // one object per thread, bundled
    EXPECT_EQ(std::memcmp(cm.object.data(), "KOBJ", 4), 0);
  auto m = be().load(cm);
  std::vector<float> in = linspace(-2, 2, 64), out(64);
  for (int k = 0; k < 40; ++k) {
    call(*m, {in.data(), out.data()}, 0, 1, static_cast<size_t>(k));
    for (int i = 0; i < 64; ++i)
      ASSERT_NEAR(out[i], in[i] * static_cast<float>(k) + static_cast<float>(k), 1e-5)
          << "kernel " << k << " element " << i;
  }
  if (std::memcmp(cm.object.data(), "KOBJ", 4) == 0) {
    CompiledModule cut = cm;
    cut.object.resize(cut.object.size() - 100);
    try {
      be().load(cut);
      FAIL() << "expected an error";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("object bundle is truncated"), std::string::npos)
          << e.what();
    }
  }
}

TEST(LlvmBackend, PrepareForCodegenOutputRuns) {
  // for i0 in [0, 8): for i1 in [0, 16) vectorized: b[i0*16 + i1] = a[..] * 3 + 1
  const int64_t n = 128;
  Expr i = var(0) * imm(16) + var(1);
  Stmt inner = for_loop(1, imm(0), imm(16), ForKind::Vectorized,
                        store(1, i, load(0, {DType::f32, 1}, i) * fimm(3.0) + fimm(1.0)));
  Kernel k = make_kernel("axpb_f32", {{"a", DType::f32, n, false}, {"b", DType::f32, n, true}},
                         for_loop(0, imm(0), imm(n / 16), ForKind::Parallel, inner), n / 16);
  auto m = jit({prepare_for_codegen(k)});
  std::vector<float> a = linspace(-1, 1, n), b(n);
  call(*m, {a.data(), b.data()}, 0, n / 16);
  for (int64_t j = 0; j < n; ++j) // a*3+1 may be one fused multiply-add
    EXPECT_NEAR(b[j], a[j] * 3 + 1, 1e-6);
}

TEST(LlvmBackend, ScalarFmaLoopUsesZmmRegisters) {
  if (be().lowering_target().vector_lanes_f32 != 16)
    GTEST_SKIP() << "no AVX-512 on this host";
  Kernel k = map_kernel(
      DType::f32, DType::f32, 1, 4096,
      [](const std::vector<Expr> &a) { return a[0] * a[1] + a[2]; }, 3);
  k.name = "fma_f32";
  std::string text = compiled_asm(k);
  EXPECT_NE(text.find("zmm"), std::string::npos);
  EXPECT_NE(text.find("vfmadd"), std::string::npos);
}
