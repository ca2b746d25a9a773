// One compiled model, many threads (kiln::CompiledModel / kiln::InferRequest), and .kiln
// determinism, on the YOLOX-Nano model shipped in models/ at a small input shape.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <kiln/kiln.h>
#include <random>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace kiln;

// Counts every allocation of this process, to check that steady-state runs make none.
static std::atomic<long> g_allocations{0};
void *operator new(size_t n) {
  ++g_allocations;
  if (void *p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, size_t) noexcept { std::free(p); }

namespace {

const std::string kModel = std::string(KILN_SOURCE_DIR) + "/models/yolox_nano.onnx";
const std::vector<int64_t> kShape = {1, 3, 64, 64};

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("kiln_compiled_model_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

SessionOptions options(const fs::path &cache_dir, int threads) {
  SessionOptions o;
  o.threads = threads;
  o.input_shapes["images"] = kShape;
  if (cache_dir.empty())
    o.use_cache = false;
  else
    o.cache_dir = cache_dir.string();
  return o;
}

HostTensor image(uint32_t seed) {
  HostTensor t(ElementType::f32, kShape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 255.f);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data_as<float>()[i] = u(rng);
  return t;
}

bool bitwise_equal(const std::vector<NamedTensor> &a, const std::vector<NamedTensor> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const HostTensor &x = a[i].tensor, &y = b[i].tensor;
    if (a[i].name != b[i].name || x.type() != y.type() || x.shape() != y.shape() ||
        std::memcmp(x.data(), y.data(), x.nbytes()) != 0)
      return false;
  }
  return true;
}

std::vector<uint8_t> read_bytes(const fs::path &p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// A cache folder in the build tree shared by the tests of this file (ctest runs each in its
// own process): only the first to run pays for the compile, the others are cache hits.
fs::path shared_cache() { return fs::path(KILN_BINARY_DIR) / "compiled_model_test_cache"; }

} // namespace

TEST(CompiledModel, FourThreadsFiftyRunsGiveTheSingleThreadOutputsBitForBit) {
  // Single-thread reference: a model on a pool of one thread, one request, run in this thread.
  Result<std::shared_ptr<const CompiledModel>> single =
      CompiledModel::open(kModel, options(shared_cache(), 1));
  ASSERT_TRUE(single.ok()) << single.error();
  constexpr int kThreads = 4, kRuns = 50;
  std::vector<HostTensor> inputs;
  std::vector<std::vector<NamedTensor>> want(kThreads);
  {
    Result<InferRequest> r = (*single)->create_request();
    ASSERT_TRUE(r.ok()) << r.error();
    for (int t = 0; t < kThreads; ++t) {
      inputs.push_back(image(100 + t));
      Result<std::vector<NamedTensor>> out = r->run({{"images", inputs[t]}});
      ASSERT_TRUE(out.ok()) << out.error();
      want[t] = *out;
    }
    ASSERT_FALSE(bitwise_equal(want[0], want[1])) << "different images must give different "
                                                     "outputs, or the test proves nothing";
  }

  // One model on a pool of 4 threads, run by 4 threads at once, each with its own request; each
  // thread cycles through all the images so that requests run different inputs concurrently.
  Result<std::shared_ptr<const CompiledModel>> model =
      CompiledModel::open(kModel, options(shared_cache(), 4));
  ASSERT_TRUE(model.ok()) << model.error();
  EXPECT_EQ((*model)->stats().cache, "hit");
  std::atomic<int> mismatches{0}, failures{0}, runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      Result<InferRequest> r = (*model)->create_request();
      if (!r.ok()) {
        ++failures;
        return;
      }
      std::vector<NamedTensor> out;
      for (int i = 0; i < kRuns; ++i) {
        int which = (t + i) % kThreads;
        if (!r->run({{"images", inputs[which]}}, out).ok()) {
          ++failures;
          return;
        }
        ++runs;
        mismatches += !bitwise_equal(out, want[which]);
      }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(runs.load(), kThreads * kRuns);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(CompiledModel, RequestsHaveTheirOwnArenaAndShareCodeAndWeights) {
  Result<std::shared_ptr<const CompiledModel>> model =
      CompiledModel::open(kModel, options(shared_cache(), 2));
  ASSERT_TRUE(model.ok()) << model.error();
  ASSERT_GT((*model)->stats().arena_bytes, 0);
  // Interleaved runs of two requests on different images: each keeps its own result.
  Result<InferRequest> a = (*model)->create_request(), b = (*model)->create_request();
  ASSERT_TRUE(a.ok() && b.ok());
  HostTensor x = image(1), y = image(2);
  std::vector<NamedTensor> ax, by, ax2;
  ASSERT_TRUE(a->run({{"images", x}}, ax).ok());
  ASSERT_TRUE(b->run({{"images", y}}, by).ok());
  ASSERT_TRUE(a->run({{"images", x}}, ax2).ok());
  EXPECT_TRUE(bitwise_equal(ax, ax2));
  EXPECT_FALSE(bitwise_equal(ax, by));
  Result<InferRequest> fresh = (*model)->create_request();
  ASSERT_TRUE(fresh.ok());
  Result<std::vector<NamedTensor>> by2 = fresh->run({{"images", y}});
  ASSERT_TRUE(by2.ok()) << by2.error();
  EXPECT_TRUE(bitwise_equal(*by2, by));
  // The output tensors are reused in place by a request's steady-state runs.
  const void *where = ax[0].tensor.data();
  ASSERT_TRUE(a->run({{"images", x}}, ax).ok());
  EXPECT_EQ(ax[0].tensor.data(), where);
}

TEST(CompiledModel, SteadyStateRunsAllocateNothing) {
  Result<std::shared_ptr<const CompiledModel>> model =
      CompiledModel::open(kModel, options(shared_cache(), 2));
  ASSERT_TRUE(model.ok()) << model.error();
  long before = g_allocations.load();
  Result<InferRequest> r = (*model)->create_request();
  ASSERT_TRUE(r.ok());
  EXPECT_GT(g_allocations.load() - before, 0) << "the counter must see the request's arena";
  std::vector<NamedTensor> in = {{"images", image(3)}}, out;
  ASSERT_TRUE(r->run(in, out).ok()); // the first run allocates the outputs
  before = g_allocations.load();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(r->run(in, out).ok());
  EXPECT_EQ(g_allocations.load() - before, 0);
  // The same for a Session's replay.
  Result<Session> s = Session::open(kModel, options(shared_cache(), 2));
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_TRUE(s->run(in, out).ok());
  before = g_allocations.load();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(s->run(in, out).ok());
  EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST(CompiledModel, ProfiledRequestTimesEveryLaunch) {
  SessionOptions o = options(shared_cache(), 2);
  o.profile = true;
  Result<std::shared_ptr<const CompiledModel>> model = CompiledModel::open(kModel, o);
  ASSERT_TRUE(model.ok()) << model.error();
  Result<InferRequest> r = (*model)->create_request();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->profile().empty()) << "no run yet";
  std::vector<NamedTensor> out;
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(r->run({{"images", image(5)}}, out).ok());
  std::vector<LaunchProfile> p = r->profile();
  ASSERT_EQ(int(p.size()), (*model)->stats().kernels);
  for (const LaunchProfile &l : p) {
    EXPECT_FALSE(l.node.empty());
    EXPECT_FALSE(l.kernel.empty());
    EXPECT_GT(l.extent, 0);
    EXPECT_GE(l.ms, 0.0);
  }
}

TEST(CompiledModel, SavedFileRunsTheSameAndErrorsAreValues) {
  TempDir dir;
  Result<std::shared_ptr<const CompiledModel>> model =
      CompiledModel::open(kModel, options(shared_cache(), 2));
  ASSERT_TRUE(model.ok()) << model.error();
  fs::path file = dir.path / "yolox.kiln";
  ASSERT_TRUE((*model)->save(file.string()).ok());
  Result<std::shared_ptr<const CompiledModel>> loaded =
      CompiledModel::open(file.string(), options({}, 2));
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ((*loaded)->stats().cache, "file");
  EXPECT_EQ((*loaded)->inputs()[0].shape, kShape);
  HostTensor x = image(7);
  Result<InferRequest> r1 = (*model)->create_request(), r2 = (*loaded)->create_request();
  ASSERT_TRUE(r1.ok() && r2.ok());
  Result<std::vector<NamedTensor>> o1 = r1->run({{"images", x}}), o2 = r2->run({{"images", x}});
  ASSERT_TRUE(o1.ok() && o2.ok());
  EXPECT_TRUE(bitwise_equal(*o1, *o2));

  // A request runs only the compiled shapes; a model compiles only for the CPU.
  Result<std::vector<NamedTensor>> bad =
      r1->run({{"images", HostTensor(ElementType::f32, {1, 3, 32, 32})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "input 'images' is f32[1x3x32x32] but the model was compiled for "
                         "f32[1x3x64x64]");
  Result<std::vector<NamedTensor>> missing = r1->run({});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "missing input 'images' (f32[1x3x64x64])");
  SessionOptions cl = options({}, 1);
  cl.target = "opencl";
  Result<std::shared_ptr<const CompiledModel>> gpu = CompiledModel::open(kModel, cl);
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.error(),
            "CompiledModel: target 'opencl' is not supported (only \"cpu\"); use a Session for it");
  Result<std::shared_ptr<const CompiledModel>> none =
      CompiledModel::open((dir.path / "none.onnx").string(), options({}, 1));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error(), (dir.path / "none.onnx").string() + ": cannot open file");
}

TEST(Determinism, TwoCompilesGiveByteIdenticalKilnFiles) {
  TempDir dir;
  for (int i = 0; i < 2; ++i) {
    Result<Session> s = Session::open(kModel, options({}, 2)); // cache off: a real compile
    ASSERT_TRUE(s.ok()) << s.error();
    ASSERT_TRUE(s->save((dir.path / (std::to_string(i) + ".kiln")).string()).ok());
    EXPECT_EQ(s->stats().cache, "off");
  }
  std::vector<uint8_t> a = read_bytes(dir.path / "0.kiln"), b = read_bytes(dir.path / "1.kiln");
  ASSERT_GT(a.size(), 1000u);
  ASSERT_EQ(a.size(), b.size());
  size_t first_diff = 0;
  while (first_diff < a.size() && a[first_diff] == b[first_diff])
    ++first_diff;
  EXPECT_EQ(first_diff, a.size()) << "the files differ first at byte " << first_diff;
}
