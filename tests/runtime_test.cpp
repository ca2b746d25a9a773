// Runtime tests: hashes, the memory plan, the thread pool, the .kiln cache file (round trip and
// every kind of damage), and the lazy-JIT session (capture/replay, cache miss/hit, schedules per
// input shape, errors as values).
#include "codegen/llvm/LlvmBackend.h"
#include "frontend/OnnxImporter.h"
#include "ir/Reference.h"
#include "runtime/CacheFile.h"
#include "runtime/CompiledSchedule.h"
#include "runtime/Compiler.h"
#include "runtime/Hash.h"
#include "runtime/Manifest.h"
#include "runtime/RunState.h"
#include "runtime/ThreadPool.h"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <kiln/kiln.h>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

// Conv(3->4, 3x3, pad 1) + bias -> Relu -> Add(per-channel constant) -> Sigmoid, input
// x: f32[1x3xHxW] with symbolic H and W (made by onnx.helper; 731 bytes).
const char kTinyModel[] = "\x08\x08\x12\x0a\x6b\x69\x6c\x6e\x2d\x74\x65\x73\x74\x73\x3a\xc4\x05\x0a"
                          "\x40\x0a\x01\x78\x0a\x01"
                          "\x77\x0a\x01\x62\x12\x01\x79\x1a\x02\x6e\x30\x22\x04\x43\x6f\x6e\x76\x2a"
                          "\x15\x0a\x0c\x6b\x65\x72"
                          "\x6e\x65\x6c\x5f\x73\x68\x61\x70\x65\x40\x03\x40\x03\xa0\x01\x07\x2a\x11"
                          "\x0a\x04\x70\x61\x64\x73"
                          "\x40\x01\x40\x01\x40\x01\x40\x01\xa0\x01\x07\x0a\x10\x0a\x01\x79\x12\x01"
                          "\x72\x1a\x02\x6e\x31\x22"
                          "\x04\x52\x65\x6c\x75\x0a\x12\x0a\x01\x72\x0a\x01\x63\x12\x01\x73\x1a\x02"
                          "\x6e\x32\x22\x03\x41\x64"
                          "\x64\x0a\x15\x0a\x01\x73\x12\x03\x6f\x75\x74\x1a\x02\x6e\x33\x22\x07\x53"
                          "\x69\x67\x6d\x6f\x69\x64"
                          "\x12\x04\x74\x65\x73\x74\x2a\xc0\x03\x08\x04\x08\x03\x08\x03\x08\x03\x10"
                          "\x01\x42\x01\x77\x4a\xb0"
                          "\x03\x0a\xd7\x23\x3d\x0a\xd7\x23\xbd\x5c\x8f\x42\x3e\x8f\xc2\xf5\x3c\x0a"
                          "\xd7\x23\xbe\xae\x47\xe1"
                          "\x3d\x14\xae\xc7\x3e\x29\x5c\x8f\x3e\x3d\x0a\x57\xbe\x5c\x8f\xc2\xbe\x5c"
                          "\x8f\x42\xbe\x0a\xd7\x23"
                          "\x3c\x33\x33\x33\xbf\x29\x5c\x8f\xbd\xa4\x70\xbd\xbe\xae\x47\x61\xbe\x0a"
                          "\xd7\x23\xbe\xec\x51\xb8"
                          "\xbd\x8f\xc2\xf5\x3d\x52\xb8\x9e\x3e\x0a\xd7\x23\xbd\x85\xeb\xd1\x3e\xcd"
                          "\xcc\x4c\xbe\xae\x47\xe1"
                          "\x3d\x71\x3d\x8a\x3e\x8f\xc2\xf5\x3c\xae\x47\x61\xbe\x29\x5c\x8f\xbe\x29"
                          "\x5c\x0f\xbe\x29\x5c\x8f"
                          "\x3d\x9a\x99\x99\xbe\x8f\xc2\x75\xbd\xcd\xcc\x4c\xbd\x0a\xd7\x23\x3e\x8f"
                          "\xc2\x75\x3d\xae\x47\xe1"
                          "\x3d\xcd\xcc\x4c\xbe\x0a\xd7\x23\xbd\x8f\xc2\x75\x3e\x66\x66\xe6\x3e\x5c"
                          "\x8f\xc2\xbe\x66\x66\xe6"
                          "\x3e\xcd\xcc\xcc\x3e\x1f\x85\x6b\x3e\x0a\xd7\xa3\x3d\xec\x51\xb8\xbd\xae"
                          "\x47\xe1\x3e\x3d\x0a\x17"
                          "\x3f\x71\x3d\x0a\x3f\x14\xae\xc7\x3e\xae\x47\xe1\x3d\xec\x51\xb8\xbe\x00"
                          "\x00\x00\x80\xcd\xcc\x4c"
                          "\x3e\x14\xae\xc7\xbe\x8f\xc2\xf5\x3d\xb8\x1e\x05\x3e\x3d\x0a\x57\x3e\xec"
                          "\x51\xb8\xbe\xcd\xcc\x4c"
                          "\xbe\xb8\x1e\x05\xbe\x33\x33\xb3\xbe\xb8\x1e\x05\x3f\x9a\x99\x19\xbe\xcd"
                          "\xcc\xcc\x3d\x0a\xd7\xa3"
                          "\xbd\x8f\xc2\xf5\x3e\xcd\xcc\xcc\x3e\x5c\x8f\x42\x3e\xc3\xf5\x28\xbf\x0a"
                          "\xd7\xa3\x3c\x3d\x0a\x57"
                          "\x3e\x9a\x99\x99\x3e\x5c\x8f\x42\xbe\xcd\xcc\x0c\x3f\xcd\xcc\xcc\xbe\xcd"
                          "\xcc\x4c\xbe\x29\x5c\x8f"
                          "\x3e\x0a\xd7\x23\x3c\x9a\x99\x19\x3f\x8f\xc2\x75\x3d\x5c\x8f\x42\xbe\xae"
                          "\x47\xe1\xbd\xc3\xf5\xa8"
                          "\xbe\x5c\x8f\xc2\xbe\x5c\x8f\x42\x3e\x7b\x14\x2e\x3e\x14\xae\xc7\x3e\x1f"
                          "\x85\x6b\xbe\x5c\x8f\x02"
                          "\x3f\xec\x51\xb8\xbd\xd7\xa3\xf0\x3e\xb8\x1e\x05\xbe\xae\x47\x61\xbe\x29"
                          "\x5c\x8f\x3d\x52\xb8\x9e"
                          "\x3e\xcd\xcc\x4c\x3d\xec\x51\x38\xbe\xcd\xcc\xcc\xbe\x3d\x0a\xd7\xbe\x9a"
                          "\x99\x19\x3e\x9a\x99\x99"
                          "\x3e\xcd\xcc\x4c\xbd\x0a\xd7\xa3\xbe\xb8\x1e\x85\x3e\x5c\x8f\xc2\xbe\x3d"
                          "\x0a\x57\xbe\x5c\x8f\x42"
                          "\x3e\x2a\x19\x08\x04\x10\x01\x42\x01\x62\x4a\x10\xcd\xcc\xcc\x3d\xcd\xcc"
                          "\x4c\xbe\x9a\x99\x99\x3e"
                          "\x00\x00\x00\x00\x2a\x1f\x08\x01\x08\x04\x08\x01\x08\x01\x10\x01\x42\x01"
                          "\x63\x4a\x10\x00\x00\x00"
                          "\x3f\x00\x00\x00\xbf\x00\x00\x80\x3e\x00\x00\x80\x3f\x5a\x1d\x0a\x01\x78"
                          "\x12\x18\x0a\x16\x08\x01"
                          "\x12\x12\x0a\x02\x08\x01\x0a\x02\x08\x03\x0a\x03\x12\x01\x48\x0a\x03\x12"
                          "\x01\x57\x62\x1f\x0a\x03"
                          "\x6f\x75\x74\x12\x18\x0a\x16\x08\x01\x12\x12\x0a\x02\x08\x01\x0a\x02\x08"
                          "\x04\x0a\x03\x12\x01\x48"
                          "\x0a\x03\x12\x01\x57\x42\x04\x0a\x00\x10\x11";

std::string tiny_model_bytes() { return std::string(kTinyModel, sizeof kTinyModel - 1); }

// A fresh folder under the test temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("kiln_runtime_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

fs::path write_tiny_model(const fs::path &dir) {
  fs::path p = dir / "tiny.onnx";
  std::ofstream(p, std::ios::binary) << tiny_model_bytes();
  return p;
}

HostTensor make_input(int64_t h, int64_t w, uint32_t seed = 1) {
  HostTensor t(ElementType::f32, {1, 3, h, w});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data_as<float>()[i] = u(rng);
  return t;
}

// The reference interpreter's output for the same input.
Tensor reference_output(const HostTensor &x) {
  ImportOptions io;
  io.input_shapes["x"] = x.shape();
  std::unique_ptr<Graph> g = import_onnx_bytes(tiny_model_bytes(), "", "tiny", io);
  Tensor in(DType::f32, x.shape());
  std::memcpy(in.raw(), x.data(), x.nbytes());
  return run_reference(*g, {in})[0];
}

void expect_close_to_reference(const HostTensor &got, const HostTensor &x) {
  Tensor want = reference_output(x);
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_NEAR(got.data_as<float>()[i], want.data<float>()[i], 1e-5) << "element " << i;
}

bool bitwise_equal(const HostTensor &a, const HostTensor &b) {
  return a.type() == b.type() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

SessionOptions tiny_options(const fs::path &cache_dir, int64_t h = 8, int64_t w = 8) {
  SessionOptions o;
  o.threads = 2;
  o.input_shapes["x"] = {1, 3, h, w};
  if (cache_dir.empty())
    o.use_cache = false;
  else
    o.cache_dir = cache_dir.string();
  return o;
}

HostTensor run_once(Session &s, const HostTensor &x) {
  Result<std::vector<NamedTensor>> r = s.run({{"x", x}});
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? (*r)[0].tensor : HostTensor();
}

std::vector<uint8_t> read_file(const fs::path &p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void write_file(const fs::path &p, const std::vector<uint8_t> &b) {
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
}

// The one .kiln file in a cache folder (next to it: the model index, *.model.json).
fs::path only_cache_file(const fs::path &dir) {
  std::vector<fs::path> files;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().extension() == ".kiln")
      files.push_back(e.path());
  EXPECT_EQ(files.size(), 1u);
  return files.empty() ? fs::path() : files[0];
}

// Offset and size of section i (0 manifest, 1 object, 2 weights) from the header's table.
std::pair<uint64_t, uint64_t> section(const std::vector<uint8_t> &file, int i) {
  uint64_t off, size;
  std::memcpy(&off, file.data() + 72 + 40 * i + 16, 8);
  std::memcpy(&size, file.data() + 72 + 40 * i + 24, 8);
  return {off, size};
}

} // namespace

// ---- hashes ----

TEST(Hash, Xxh3KnownVectorsAndStreaming) {
  // XXH3-128 of "" and "abc" (xxhsum -H2), big-endian as xxhsum prints them.
  EXPECT_EQ(digest_hex(Hasher().finish()), "99aa06d3014798d86001c324468d497f");
  Hasher b;
  b.update("abc");
  EXPECT_EQ(digest_hex(b.finish()), "06b05ab6733a618578af5f94892f3950");
  EXPECT_EQ(digest_hex(hash128("abc", 3)), "06b05ab6733a618578af5f94892f3950");
  // Longer than XXH3's stripes and blocks, fed in uneven pieces: the same digest.
  std::string msg(5000, 'a');
  for (size_t i = 0; i < msg.size(); ++i)
    msg[i] = char(i * 131 + (i >> 7));
  Hasher c, d;
  c.update(msg);
  d.update(msg.substr(0, 7));
  d.update(msg.substr(7, 1100));
  d.update(msg.substr(1107));
  EXPECT_EQ(c.finish(), d.finish());
  EXPECT_EQ(c.finish(), hash128(msg.data(), msg.size()));
  // Fields are length-prefixed: "ab"+"c" and "a"+"bc" differ.
  Hasher e, f;
  e.field("ab");
  e.field("c");
  f.field("a");
  f.field("bc");
  EXPECT_NE(e.finish(), f.finish());
}

TEST(Hash, ChecksumSeesEveryByte) {
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = uint8_t(i * 7);
  uint64_t base = checksum64(data.data(), data.size());
  for (size_t i = 0; i < data.size(); i += 37) {
    data[i] ^= 0x10;
    EXPECT_NE(checksum64(data.data(), data.size()), base) << "byte " << i;
    data[i] ^= 0x10;
  }
}

// ---- memory plan ----

TEST(MemoryPlan, CompiledScheduleHasNoOverlapsAndDropsWeightOnlyLaunches) {
  ImportOptions io;
  io.input_shapes["x"] = {1, 3, 8, 8};
  std::unique_ptr<Graph> g = import_onnx_bytes(tiny_model_bytes(), "", "tiny", io);
  Backend &be = llvm_cpu_backend();
  CompileResult cr = compile_graph(*g, be, "default");
  std::unique_ptr<LoadedModule> loaded = be.load(cr.module);
  std::unique_ptr<CompiledSchedule> ex = CompiledSchedule::capture(
      cr.program, cr.launch_kernel, std::move(cr.module), std::move(loaded));
  const ScheduleDesc &d = ex->desc();
  EXPECT_EQ(d.launches.size() + size_t(d.weight_only_launches), cr.program.launches.size());
  // Lifetimes from the replay list; arena buffers alive at the same launch must be disjoint.
  std::vector<int> first(d.buffers.size(), -1), last(d.buffers.size(), -1);
  for (size_t i = 0; i < d.launches.size(); ++i)
    for (int b : d.launches[i].args) {
      if (first[b] < 0)
        first[b] = int(i);
      last[b] = int(i);
    }
  for (size_t a = 0; a < d.buffers.size(); ++a) {
    const SlotDesc &x = d.buffers[a];
    if (x.place == Place::Arena || x.place == Place::Weights) {
      EXPECT_EQ(x.offset % 64, 0) << x.name;
    }
    if (x.place != Place::Arena)
      continue;
    EXPECT_LE(x.offset + x.bytes, d.arena_bytes);
    for (size_t b = a + 1; b < d.buffers.size(); ++b) {
      const SlotDesc &y = d.buffers[b];
      if (y.place != Place::Arena || first[a] > last[b] || first[b] > last[a])
        continue;
      EXPECT_TRUE(x.offset + x.bytes <= y.offset || y.offset + y.bytes <= x.offset)
          << x.name << " and " << y.name << " overlap while both are live";
    }
  }
  // The manifest round-trips.
  ScheduleDesc back = schedule_from_json(schedule_to_json(d), size_t(d.weights_bytes));
  EXPECT_EQ(schedule_to_json(back), schedule_to_json(d));
}

TEST(RunState, StatesOfOneScheduleHaveTheirOwnArenasAndAgree) {
  ImportOptions io;
  io.input_shapes["x"] = {1, 3, 8, 8};
  std::unique_ptr<Graph> g = import_onnx_bytes(tiny_model_bytes(), "", "tiny", io);
  Backend &be = llvm_cpu_backend();
  CompileResult cr = compile_graph(*g, be, "default");
  std::unique_ptr<LoadedModule> loaded = be.load(cr.module);
  std::unique_ptr<const CompiledSchedule> ex = CompiledSchedule::capture(
      cr.program, cr.launch_kernel, std::move(cr.module), std::move(loaded));
  const int64_t arena = ex->desc().arena_bytes;
  ASSERT_GT(arena, 0);
  RunState a(*ex), b(*ex);
  EXPECT_EQ(&a.schedule(), &b.schedule());
  ASSERT_NE(a.arena(), nullptr);
  ASSERT_NE(b.arena(), nullptr);
  EXPECT_TRUE(a.arena() + arena <= b.arena() || b.arena() + arena <= a.arena())
      << "two states share arena bytes";
  // Interleaved: a runs x, b runs y, a runs x again; each matches the reference.
  HostTensor x = make_input(8, 8, 1), y = make_input(8, 8, 2);
  HostTensor ax(ElementType::f32, {1, 4, 8, 8}), by(ElementType::f32, {1, 4, 8, 8}),
      ax2(ElementType::f32, {1, 4, 8, 8});
  ThreadPool pool(2);
  const void *in[1];
  void *out[1];
  in[0] = x.data(), out[0] = ax.data();
  a.run(pool, in, out);
  in[0] = y.data(), out[0] = by.data();
  b.run(pool, in, out);
  in[0] = x.data(), out[0] = ax2.data();
  a.run(pool, in, out);
  expect_close_to_reference(ax, x);
  expect_close_to_reference(by, y);
  EXPECT_TRUE(bitwise_equal(ax, ax2));
}

// ---- thread pool ----

namespace {
std::atomic<int> g_hits[1000];
void mark(void *const *, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    g_hits[i].fetch_add(1);
}
} // namespace

TEST(ThreadPool, EveryIndexRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t extent : {1, 2, 3, 7, 64, 999}) {
      for (int rep = 0; rep < 20; ++rep) {
        for (auto &h : g_hits)
          h.store(0);
        pool.launch(mark, nullptr, extent);
        for (int64_t i = 0; i < 1000; ++i)
          ASSERT_EQ(g_hits[i].load(), i < extent ? 1 : 0)
              << "threads " << threads << " extent " << extent << " index " << i;
      }
    }
  }
}

namespace {
// args[0]: the launching thread's own hit counters.
void mark_own(void *const *args, int64_t begin, int64_t end) {
  auto *hits = static_cast<std::atomic<int> *>(args[0]);
  for (int64_t i = begin; i < end; ++i)
    hits[i].fetch_add(1);
}
} // namespace

TEST(ThreadPool, ConcurrentLaunchesFromManyThreadsEachRunEveryIndexOnce) {
  std::shared_ptr<ThreadPool> pool = shared_thread_pool(3);
  EXPECT_EQ(pool, shared_thread_pool(3)) << "one pool per thread count in the process";
  EXPECT_NE(pool, shared_thread_pool(2));
  EXPECT_EQ(pool->threads(), 3);
  constexpr int kThreads = 4, kExtent = 500;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      std::vector<std::atomic<int>> hits(kExtent);
      void *args[1] = {hits.data()};
      for (int rep = 0; rep < 200; ++rep) {
        for (auto &h : hits)
          h.store(0);
        pool->launch(mark_own, args, kExtent);
        for (int i = 0; i < kExtent; ++i)
          bad += hits[i].load() != 1;
      }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---- cache file ----

TEST(CacheFile, RoundTrip) {
  TempDir dir;
  Digest key = Hasher().finish();
  std::string manifest = R"({"hello": "world"})";
  std::vector<uint8_t> object(1001), weights(4096 + 3);
  for (size_t i = 0; i < object.size(); ++i)
    object[i] = uint8_t(i);
  for (size_t i = 0; i < weights.size(); ++i)
    weights[i] = uint8_t(255 - i % 251);
  std::string path = (dir.path / "x.kiln").string();
  write_cache_file(path, key, manifest, object, weights);
  std::unique_ptr<CacheFile> f = CacheFile::open(path, &key);
  EXPECT_EQ(f->manifest(), manifest);
  EXPECT_TRUE(std::equal(object.begin(), object.end(), f->object().begin(), f->object().end()));
  ASSERT_EQ(f->weights_size(), weights.size());
  EXPECT_EQ(std::memcmp(f->weights(), weights.data(), weights.size()), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->weights()) % 64, 0u) << "weights are used in place";
  // Nothing but the file itself is left in the folder (the temporary was renamed).
  EXPECT_EQ(only_cache_file(dir.path), fs::path(path));
  // Another key is a stale file.
  Digest other = key;
  other[0] ^= 1;
  EXPECT_THROW(CacheFile::open(path, &other), CacheFileError);
}

TEST(CacheFile, DamageIsDetected) {
  TempDir dir;
  Digest key = Hasher().finish();
  std::vector<uint8_t> object(300, 7), weights(200, 9);
  fs::path path = dir.path / "x.kiln";
  write_cache_file(path.string(), key, R"({"a":1})", object, weights);
  const std::vector<uint8_t> good = read_file(path);
  auto expect_error = [&](const std::vector<uint8_t> &bytes, const std::string &kind,
                          const std::string &detail) {
    write_file(path, bytes);
    try {
      CacheFile::open(path.string(), &key);
      ADD_FAILURE() << "no error for " << detail;
    } catch (const CacheFileError &e) {
      EXPECT_EQ(e.kind, kind) << e.what();
      EXPECT_NE(e.detail.find(detail), std::string::npos) << e.what();
    }
  };
  expect_error({good.begin(), good.begin() + 100}, "corrupt", "truncated");
  expect_error({good.begin(), good.end() - 10}, "corrupt", "truncated");
  const char *names[3] = {"manifest", "object", "weights"};
  for (int i = 0; i < 3; ++i) {
    std::vector<uint8_t> b = good;
    b[section(good, i).first + 1] ^= 0x40;
    expect_error(b, "corrupt", std::string("checksum mismatch in section '") + names[i] + "'");
  }
  std::vector<uint8_t> pad = good; // a byte between the manifest and the object section
  pad[section(good, 0).first + section(good, 0).second] ^= 1;
  expect_error(pad, "corrupt", "checksum mismatch in the padding between sections");
  std::vector<uint8_t> v = good;
  v[8] = 99; // format version
  expect_error(v, "stale", "format version 99");
  std::vector<uint8_t> m = good;
  m[1] = 'X';
  expect_error(m, "foreign", "bad magic");
  std::vector<uint8_t> h = good;
  h[24] ^= 1; // a key byte: the header checksum no longer matches
  expect_error(h, "corrupt", "checksum mismatch in the header");
}

// ---- session ----

TEST(Session, RunOnDeviceNeedsAnOpenclRun) {
  TempDir dir;
  Result<Session> s = Session::open(write_tiny_model(dir.path).string(), tiny_options({}));
  ASSERT_TRUE(s.ok()) << s.error();
  Status before = s->run_on_device();
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.error(), "run_on_device: no run() yet, so the device holds no inputs");
  run_once(*s, make_input(8, 8));
  Status cpu = s->run_on_device();
  ASSERT_FALSE(cpu.ok());
  EXPECT_EQ(cpu.error(),
            "run_on_device: target 'cpu' has no device memory (only target 'opencl' does)");
}

TEST(Session, ReplayIsBitIdenticalToCaptureAndMatchesReference) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  Result<Session> s = Session::open(model.string(), tiny_options({}));
  ASSERT_TRUE(s.ok()) << s.error();
  HostTensor x = make_input(8, 8);
  HostTensor first = run_once(*s, x);
  EXPECT_EQ(s->stats().cache, "off");
  EXPECT_GT(s->stats().weight_only_kernels + s->stats().kernels, 0);
  expect_close_to_reference(first, x);
  std::vector<NamedTensor> out;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s->run({{"x", x}}, out).ok());
    EXPECT_TRUE(bitwise_equal(out[0].tensor, first)) << "replay " << i;
  }
  // The output tensors are reused in place once they have the right shape.
  const void *where = out[0].tensor.data();
  ASSERT_TRUE(s->run({{"x", x}}, out).ok());
  EXPECT_EQ(out[0].tensor.data(), where);
}

TEST(Session, CacheMissThenHitRunsNoCodegen) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  fs::path cache = dir.path / "cache";
  HostTensor x = make_input(8, 8);
  HostTensor miss_out;
  {
    Result<Session> s = Session::open(model.string(), tiny_options(cache));
    ASSERT_TRUE(s.ok()) << s.error();
    miss_out = run_once(*s, x);
    EXPECT_EQ(s->stats().cache, "miss");
    EXPECT_GT(s->stats().compile_ms, 0);
  }
  only_cache_file(cache);
  int runs_before = llvm_cpu_backend().codegen_runs();
  Result<Session> s = Session::open(model.string(), tiny_options(cache));
  ASSERT_TRUE(s.ok()) << s.error();
  HostTensor hit_out = run_once(*s, x);
  EXPECT_EQ(s->stats().cache, "hit");
  EXPECT_GT(s->stats().load_ms, 0);
  EXPECT_EQ(llvm_cpu_backend().codegen_runs(), runs_before) << "a cache hit ran LLVM";
  EXPECT_FALSE(s->stats().imported) << "the model index should spare the import";
  EXPECT_TRUE(bitwise_equal(hit_out, miss_out));
}

TEST(Session, ModelIndexWithoutScheduleImportsToCompile) {
  // The index is there but the schedule was evicted: the session imports the model (reading
  // the file again) and compiles. A damaged index is reported and the model imported.
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  fs::path cache = dir.path / "cache";
  HostTensor x = make_input(8, 8);
  HostTensor first;
  {
    Result<Session> s = Session::open(model.string(), tiny_options(cache));
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_TRUE(s->stats().imported);
    first = run_once(*s, x);
  }
  fs::remove(only_cache_file(cache));
  {
    Result<Session> s = Session::open(model.string(), tiny_options(cache));
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_FALSE(s->stats().imported);
    EXPECT_TRUE(bitwise_equal(run_once(*s, x), first));
    EXPECT_EQ(s->stats().cache, "miss");
    EXPECT_TRUE(s->stats().imported);
  }
  for (const auto &e : fs::directory_iterator(cache))
    if (e.path().string().ends_with(".model.json"))
      write_file(e.path(), {'{', '"', 'x'});
  Result<Session> s = Session::open(model.string(), tiny_options(cache));
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_TRUE(s->stats().imported);
  EXPECT_TRUE(bitwise_equal(run_once(*s, x), first));
}

TEST(Session, EachInputShapeGetsItsOwnSchedule) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  Result<Session> s = Session::open(model.string(), tiny_options({}));
  ASSERT_TRUE(s.ok()) << s.error();
  HostTensor a = make_input(8, 8, 1), b = make_input(16, 12, 2);
  HostTensor out_a = run_once(*s, a);
  HostTensor out_b = run_once(*s, b);
  EXPECT_EQ(s->stats().schedules, 2);
  EXPECT_EQ(out_b.shape(), (std::vector<int64_t>{1, 4, 16, 12}));
  expect_close_to_reference(out_b, b);
  // Back to the first shape: its schedule is reused, not recompiled.
  int runs = llvm_cpu_backend().codegen_runs();
  EXPECT_TRUE(bitwise_equal(run_once(*s, a), out_a));
  EXPECT_EQ(llvm_cpu_backend().codegen_runs(), runs);
  EXPECT_EQ(s->stats().schedules, 2);
}

TEST(Session, SavedKilnFileRunsWithoutTheModel) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  HostTensor x = make_input(8, 8);
  HostTensor want;
  {
    Result<Session> s = Session::open(model.string(), tiny_options({}));
    ASSERT_TRUE(s.ok()) << s.error();
    ASSERT_TRUE(s->save((dir.path / "tiny.kiln").string()).ok());
    want = run_once(*s, x);
  }
  fs::remove(model);
  int runs = llvm_cpu_backend().codegen_runs();
  Result<Session> s = Session::open((dir.path / "tiny.kiln").string(), tiny_options({}));
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->stats().cache, "file");
  ASSERT_EQ(s->inputs().size(), 1u);
  EXPECT_EQ(s->inputs()[0].shape, (std::vector<int64_t>{1, 3, 8, 8}));
  EXPECT_TRUE(bitwise_equal(run_once(*s, x), want));
  EXPECT_EQ(llvm_cpu_backend().codegen_runs(), runs);
  // Another shape cannot be compiled without the model: a clear error, not a crash.
  Result<std::vector<NamedTensor>> r = s->run({{"x", make_input(4, 4)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("was compiled for x:f32[1x3x8x8]"), std::string::npos) << r.error();
}

namespace {

// Damages the cache file of `model` with `damage`, reopens, and checks the one-line notice
// (containing `notice`), the recompile, the correct output and the rewritten, valid file.
void expect_recompiled(const std::function<void(std::vector<uint8_t> &, const fs::path &)> &damage,
                       const std::string &notice) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  fs::path cache = dir.path / "cache";
  HostTensor x = make_input(8, 8);
  HostTensor want;
  {
    Result<Session> s = Session::open(model.string(), tiny_options(cache));
    ASSERT_TRUE(s.ok()) << s.error();
    want = run_once(*s, x);
  }
  fs::path file = only_cache_file(cache);
  std::vector<uint8_t> bytes = read_file(file);
  damage(bytes, file);

  // The notice goes to the log callback as one warning; the library itself prints nothing.
  std::vector<std::pair<LogLevel, std::string>> logged;
  SessionOptions o = tiny_options(cache);
  o.log = [&](LogLevel l, const std::string &m) { logged.push_back({l, m}); };
  Result<Session> s = Session::open(model.string(), o);
  ASSERT_TRUE(s.ok()) << s.error();
  testing::internal::CaptureStderr();
  HostTensor got = run_once(*s, x);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  ASSERT_EQ(logged.size(), 1u);
  const std::string &err = logged[0].second;
  EXPECT_EQ(logged[0].first, LogLevel::warning);
  EXPECT_EQ(err.rfind("cache file " + file.string() + " is ", 0), 0u) << err;
  EXPECT_NE(err.find(notice), std::string::npos) << err;
  EXPECT_NE(err.find("; recompiling"), std::string::npos) << err;
  EXPECT_EQ(s->stats().cache, "miss");
  EXPECT_TRUE(bitwise_equal(got, want));
  // The file was rewritten: the next session loads it with no warning (at info: one line).
  logged.clear();
  o.log_level = LogLevel::info;
  Result<Session> again = Session::open(model.string(), o);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(bitwise_equal(run_once(*again, x), want));
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].first, LogLevel::info);
  EXPECT_EQ(logged[0].second.rfind("loaded " + file.string() + " for x f32[1x3x8x8] (", 0), 0u)
      << logged[0].second;
  EXPECT_EQ(again->stats().cache, "hit");
}

} // namespace

TEST(Session, ProgressReportsEveryStageOfACompileAndNothingOnAHit) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  std::vector<CompileProgress> seen;
  SessionOptions o = tiny_options(dir.path / "cache");
  o.progress = [&](const CompileProgress &p) { seen.push_back(p); };
  {
    Result<Session> s = Session::open(model.string(), o);
    ASSERT_TRUE(s.ok()) << s.error();
    run_once(*s, make_input(8, 8));
  }
  std::vector<std::string> stages;
  for (const CompileProgress &p : seen)
    if (stages.empty() || stages.back() != p.stage)
      stages.push_back(p.stage);
  EXPECT_EQ(stages, (std::vector<std::string>{"passes", "lower", "codegen", "capture", "done"}));
  int codegen_total = 0, codegen_last = -1;
  for (const CompileProgress &p : seen) {
    EXPECT_GE(p.done, 0);
    EXPECT_LE(p.done, p.total) << p.stage;
    if (p.stage == "codegen") {
      codegen_total = p.total;
      codegen_last = p.done;
    }
  }
  EXPECT_GE(codegen_total, 1);
  EXPECT_EQ(codegen_last, codegen_total) << "every part reported";
  // A cache hit compiles nothing.
  seen.clear();
  Result<Session> hit = Session::open(model.string(), o);
  ASSERT_TRUE(hit.ok());
  run_once(*hit, make_input(8, 8));
  EXPECT_EQ(hit->stats().cache, "hit");
  EXPECT_TRUE(seen.empty());
}

TEST(Session, TruncatedCacheFileIsRecompiled) {
  expect_recompiled(
      [](std::vector<uint8_t> &b, const fs::path &f) {
        b.resize(b.size() / 2);
        write_file(f, b);
      },
      "is corrupt (truncated");
}

TEST(Session, FlippedByteInEachSectionIsRecompiled) {
  for (int i = 0; i < 3; ++i) {
    const char *names[3] = {"manifest", "object", "weights"};
    expect_recompiled(
        [i](std::vector<uint8_t> &b, const fs::path &f) {
          auto [off, size] = section(b, i);
          b[off + size / 2] ^= 0x01;
          write_file(f, b);
        },
        std::string("is corrupt (checksum mismatch in section '") + names[i] + "')");
  }
}

TEST(Session, WrongFormatVersionIsRecompiled) {
  expect_recompiled(
      [](std::vector<uint8_t> &b, const fs::path &f) {
        b[8] = 0x7f;
        write_file(f, b);
      },
      "is stale (format version 127");
}

TEST(Session, WrongCpuFeaturesAreRecompiled) {
  // A well-formed file (right key, valid checksums) whose code is for another CPU.
  expect_recompiled(
      [](std::vector<uint8_t> &b, const fs::path &f) {
        std::unique_ptr<CacheFile> cf = CacheFile::open(f.string(), nullptr);
        nlohmann::json m = nlohmann::json::parse(cf->manifest());
        m["target"] = "x86_64-pc-linux-gnu/i486/+x87";
        std::vector<uint8_t> object(cf->object().begin(), cf->object().end());
        std::vector<uint8_t> weights(cf->weights(), cf->weights() + cf->weights_size());
        Digest key = cf->key();
        cf.reset();
        write_cache_file(f.string(), key, m.dump(), object, weights);
      },
      "is foreign (built for target x86_64-pc-linux-gnu/i486/+x87, this host is ");
}

TEST(Session, ErrorsAreValues) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  Result<Session> missing = Session::open((dir.path / "nope.onnx").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("nope.onnx"), std::string::npos);

  SessionOptions bad_target = tiny_options({});
  bad_target.target = "tpu";
  EXPECT_NE(Session::open(model.string(), bad_target).error().find("target 'tpu'"),
            std::string::npos);
  SessionOptions bad_pipe = tiny_options({});
  bad_pipe.pipeline = "fold,frobnicate";
  EXPECT_NE(Session::open(model.string(), bad_pipe).error().find("unknown pass pipeline"),
            std::string::npos);
  // Symbolic dimensions need a shape.
  SessionOptions no_shape;
  no_shape.use_cache = false;
  Result<Session> ns = Session::open(model.string(), no_shape);
  ASSERT_FALSE(ns.ok());
  EXPECT_NE(ns.error().find("'x'"), std::string::npos) << ns.error();

  Result<Session> s = Session::open(model.string(), tiny_options({}));
  ASSERT_TRUE(s.ok()) << s.error();
  Result<std::vector<NamedTensor>> r = s->run({{"images", make_input(8, 8)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("no input named 'images'"), std::string::npos) << r.error();
  r = s->run({});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("missing input 'x'"), std::string::npos) << r.error();
  r = s->run({{"x", HostTensor(ElementType::i64, {1, 3, 8, 8})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("'x'"), std::string::npos) << r.error();
}

TEST(Session, OneSessionPerThread) {
  TempDir dir;
  fs::path model = write_tiny_model(dir.path);
  HostTensor x = make_input(8, 8);
  HostTensor want;
  {
    Result<Session> s = Session::open(model.string(), tiny_options(dir.path / "cache"));
    ASSERT_TRUE(s.ok());
    want = run_once(*s, x);
  }
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      Result<Session> s = Session::open(model.string(), tiny_options(dir.path / "cache"));
      if (!s.ok())
        return;
      std::vector<NamedTensor> out;
      bool ok = true;
      for (int i = 0; i < 20 && ok; ++i)
        ok = s->run({{"x", x}}, out).ok() && bitwise_equal(out[0].tensor, want);
      good += ok;
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(good.load(), 4);
}
