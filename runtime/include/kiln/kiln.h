#pragma once
/// Kiln's public C++ API: open a YOLO ONNX model (or a precompiled .kiln file), run it with
/// named tensors, read named outputs. This header is all an application needs.
///
///   #include <kiln/kiln.h>
///
///   kiln::SessionOptions opt;              // target "cpu", all cores, cache in ~/.cache/kiln
///   opt.input_shapes["images"] = {1, 3, 416, 416};
///   kiln::Result<kiln::Session> s = kiln::Session::open("yolox_nano.onnx", opt);
///   if (!s) {
///     std::fprintf(stderr, "%s\n", s.error().c_str());
///     return 1;
///   }
///   kiln::HostTensor img(kiln::ElementType::f32, {1, 3, 416, 416});
///   fill(img.data_as<float>());            // the application's pre-processing
///   auto out = s->run({{"images", img}});  // first run: compile (or load from cache), capture
///   if (!out)
///     return std::fprintf(stderr, "%s\n", out.error().c_str()), 1;
///   for (const kiln::NamedTensor &o : *out)
///     use(o.name, o.tensor.data_as<float>(), o.tensor.shape());
///
///   // Steady state: reuse the output tensors; replay allocates nothing.
///   std::vector<kiln::NamedTensor> outputs;
///   kiln::Status st = s->run({{"images", img}}, outputs);
///
/// Lazy JIT: the first run() with a given set of input shapes and dtypes compiles a schedule
/// for them (or loads it from the cache folder, with no LLVM work at all), runs the kernels that
/// depend only on weights once, and from then on replays the captured launch list. Another
/// input shape gets its own schedule. A session opened from a .kiln file holds exactly the one
/// schedule it was compiled for.
///
/// Errors are values: nothing throws out of this API. Messages are one line.
///
/// Threads: a Session is not safe for concurrent use; a run() that finds its session busy in
/// another thread fails at once with an error instead of waiting. To run one model from many
/// threads, compile it once and give each thread its own request:
///
///   auto model = kiln::CompiledModel::open("yolox_nano.onnx", opt);  // compile or load, once
///   if (!model)
///     return std::fprintf(stderr, "%s\n", model.error().c_str()), 1;
///   // in each thread:
///   kiln::Result<kiln::InferRequest> req = (*model)->create_request();  // cheap
///   kiln::Status st = req->run({{"images", img}}, outputs);
///
/// The CompiledModel (code, weights, schedule) is immutable and shared; each InferRequest owns
/// its activation memory and launch table. All sessions and requests of a process that ask for
/// the same number of threads share one thread pool: it runs one kernel launch at a time, and a
/// launch that finds it busy with another thread's launch runs on its own thread. Outputs do not
/// depend on which: kernels compute every index independently.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

/// What libkiln exports: it is built with hidden visibility, so only declarations marked
/// KILN_API are part of its ABI.
#ifndef KILN_API
#define KILN_API __attribute__((visibility("default")))
#endif

namespace kiln {

/// Element types of model inputs and outputs (the ONNX ones Kiln supports).
enum class ElementType : uint8_t { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean };

/// "f32", "f16", ... "bool".
KILN_API const char *element_type_name(ElementType t);
KILN_API size_t element_size(ElementType t);

/// A dense row-major tensor in host memory. Copies share the data (like a shared_ptr). It either
/// owns 64-byte aligned, zero-initialised memory or views memory the caller keeps alive.
class KILN_API HostTensor {
public:
  HostTensor() = default;
  /// Owning: allocates and zero-fills numel * element_size bytes.
  HostTensor(ElementType type, std::vector<int64_t> shape);
  /// Non-owning view of `data` (which must outlive every use of the view).
  static HostTensor view(ElementType type, std::vector<int64_t> shape, void *data);

  bool defined() const { return defined_; }
  ElementType type() const { return type_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * element_size(type_); }
  void *data() { return data_; }
  const void *data() const { return data_; }
  template <class T> T *data_as() { return static_cast<T *>(data_); }
  template <class T> const T *data_as() const { return static_cast<const T *>(data_); }

private:
  ElementType type_ = ElementType::f32;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> owner_;
  void *data_ = nullptr;
  bool defined_ = false;
};

struct NamedTensor {
  std::string name;
  HostTensor tensor;
};

/// The model's metadata: ONNX metadata_props (Ultralytics' class `names`, `stride`, `imgsz`,
/// ...) as key/value pairs in file order. A .kiln file and the cache folder keep them.
using Metadata = std::vector<std::pair<std::string, std::string>>;

/// Name, element type and shape of a model input or output.
struct TensorInfo {
  std::string name;
  ElementType type = ElementType::f32;
  std::vector<int64_t> shape;
};

/// Success or a one-line error message.
class [[nodiscard]] Status {
public:
  Status() = default;
  static Status failure(std::string message) {
    Status s;
    s.error_ = std::move(message);
    return s;
  }
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string &error() const { return *error_; }

private:
  std::optional<std::string> error_;
};

/// A value or a one-line error message.
template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : value_(std::move(value)) {}
  /// From a failed Status (a successful one makes an error result: there is no value).
  Result(Status failed) : error_(failed.ok() ? "no value" : failed.error()) {}
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string &error() const { return error_; }
  T &value() { return *value_; }
  const T &value() const { return *value_; }
  T &operator*() { return *value_; }
  const T &operator*() const { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }

private:
  std::optional<T> value_;
  std::string error_;
};

/// How much the library says (SessionOptions::log_level), in increasing verbosity.
enum class LogLevel : uint8_t { error, warning, info, debug };

/// Where a compile is (SessionOptions::progress): `stage` is "import", "passes", "lower",
/// "codegen" (done/total: parts of the module compiled, in parallel), "capture" or "done".
struct CompileProgress {
  std::string stage;
  int done = 0, total = 0;
};

struct SessionOptions {
  /// Where kernels run: "cpu" (LLVM-generated code for the host CPU) or "opencl" (generated
  /// OpenCL C on an OpenCL device: a GPU, or PoCL on the CPU).
  std::string target = "cpu";
  /// --target opencl: device index or name substring; empty: $KILN_OPENCL_DEVICE, else the
  /// first GPU, else the first device.
  std::string device;
  /// Worker threads for one run, including the calling thread; 0: the hardware's cores.
  int threads = 0;
  /// What the conv network computes in: "f32" (the model's own types), "f16" or "bf16" (the
  /// `precision` pass, passes/Precision.h: convs, pools, resizes, concats and the elementwise
  /// ops between them in the low type; the box decode, softmax and reshapes stay f32). CPU
  /// f16 needs AVX512-FP16 (f16 arithmetic at twice the f32 rate); bf16 stores activations in
  /// bf16 and computes in f32. Part of the cache key.
  std::string precision = "f32";
  /// Pass pipeline: levels "O0".."O3" ("default" is O3), pass names ("fold,dce,fuse") and
  /// "-name" to drop one ("O3,-fuse"). Its expanded pass list is part of the cache key.
  std::string pipeline = "default";
  /// "all": print the graph IR to stderr after every pass; "changed": after each pass that
  /// changed it; "": never. Only a compile (not a cache hit) runs passes.
  std::string print_ir_after;
  /// Cache folder for compiled schedules; empty: $KILN_CACHE_DIR, else ~/.cache/kiln.
  std::string cache_dir;
  /// Off: always compile, never read or write the cache folder.
  bool use_cache = true;
  /// The conv tuning database compiles read (`kiln tune` writes it): the tiles measured on this
  /// machine per conv layer shape. Empty: tuning.json in the cache folder (cache_dir, else
  /// $KILN_CACHE_DIR or ~/.cache/kiln; read even when use_cache is off). A missing file means
  /// no tuning; a corrupt one fails open(). The tiles used are part of the cache key.
  std::string tuning_db;
  /// Off: ignore the tuning database; every conv tile comes from the cost model.
  bool use_tuning = true;
  /// Shapes to import the model with, by input name (needed for symbolic dimensions). run()
  /// with other shapes compiles another schedule.
  std::map<std::string, std::vector<int64_t>> input_shapes;
  /// The library never prints on its own: its messages (a damaged cache file recompiled, a
  /// cache folder it cannot write, what a compile or load did) go to `log`, one line each
  /// without a prefix, when they are at most as verbose as `log_level`; without a `log` they
  /// are dropped. Called on the thread that called the API.
  LogLevel log_level = LogLevel::warning;
  std::function<void(LogLevel, const std::string &)> log;
  /// Called while a compile runs (not for a cache hit): each stage as it starts and ends, and
  /// codegen's parts as they finish. Never two calls at once, but "codegen" calls may come
  /// from the compiler's worker threads.
  std::function<void(const CompileProgress &)> progress;
  /// Time every kernel launch of every run; read with Session::profile() or
  /// InferRequest::profile(). Target "cpu": a clock read per launch, nothing else. Target
  /// "opencl": the device's times from OpenCL event profiling (see docs/OPENCL.md).
  bool profile = false;
};

/// One launch of the replayed schedule, timed over the profiled runs (SessionOptions::profile).
struct LaunchProfile {
  std::string node;   ///< the graph node(s) the kernel computes
  std::string kernel; ///< the generated kernel's name
  int64_t extent = 0; ///< parallel iterations split over the threads
  double ms = 0;      ///< mean wall time per run
  /// Mean start after the run's first launch began: with `ms`, the run's timeline (the gaps
  /// are the launch overhead between kernels).
  double start_ms = 0;
};

/// What the session did for the schedule of the most recent run() or compile().
struct SessionStats {
  /// "miss" (compiled and written to the cache), "hit" (loaded from the cache folder), "off"
  /// (compiled, no cache), "file" (opened from a .kiln file).
  std::string cache;
  double import_ms = 0; ///< reading the ONNX model (0 for a .kiln file)
  /// The ONNX model was parsed and imported. False when a session found the model's inputs in
  /// the cache folder (it then reads and hashes the file but imports it only to compile).
  bool imported = false;
  double compile_ms = 0;       ///< lowering + code generation + capture (0 when loaded)
  double load_ms = 0;          ///< reading, checking and linking a .kiln file (0 when compiled)
  int kernels = 0;             ///< kernel launches per replayed run
  int weight_only_kernels = 0; ///< launches run once at capture and dropped
  int64_t arena_bytes = 0;     ///< activation memory shared by intermediate buffers
  /// The memory plan's yardsticks: the most activation bytes live at once (no plan can use
  /// less) and the sum of all activation buffers (a plan without reuse).
  int64_t arena_lower_bound_bytes = 0;
  int64_t arena_naive_bytes = 0;
  int64_t weights_bytes = 0; ///< constants and precomputed (packed) weights
  /// The pipeline's passes as run by the last compile, in order (empty when loaded).
  struct PassTime {
    std::string name;
    double ms = 0;
    bool changed = false;
  };
  std::vector<PassTime> passes;
  int schedules = 0; ///< schedules this session holds
  int threads = 1;
  int llvm_codegen_runs = 0; ///< LLVM optimiser + code generator runs in this process
  std::string target;        ///< the host target code was compiled for
};

class KILN_API Session {
public:
  /// Opens MODEL.onnx (compiled lazily, on the first run) or a .kiln file (loaded now).
  static Result<Session> open(const std::string &path, const SessionOptions &options = {});
  /// Opens an ONNX model held in memory (`size` bytes at `data`, copied). The model must not
  /// use external data files (they are found next to a model file). A .kiln file in memory is
  /// an error: open it by path.
  static Result<Session> open_bytes(const void *data, size_t size,
                                    const SessionOptions &options = {});

  Session(Session &&) noexcept;
  Session &operator=(Session &&) noexcept;
  ~Session();

  /// The model's inputs and outputs with the shapes of the default schedule.
  const std::vector<TensorInfo> &inputs() const;
  const std::vector<TensorInfo> &outputs() const;
  /// The model's metadata (class names and the like), without parsing the ONNX file again.
  const Metadata &metadata() const;

  /// Runs the model; returns new output tensors in model output order.
  Result<std::vector<NamedTensor>> run(const std::vector<NamedTensor> &inputs);
  /// Runs the model into `outputs`: tensors already there with the right name, type and shape
  /// are written in place (no allocation); the vector is filled in when empty or mismatched.
  Status run(const std::vector<NamedTensor> &inputs, std::vector<NamedTensor> &outputs);

  /// Target "opencl": replays the most recent run()'s schedule with no host transfers: the
  /// device keeps that run's inputs and the outputs stay in device memory. What an application
  /// that keeps its tensors on the GPU would pay per inference; for benchmarks. Fails on other
  /// targets (a CPU run() has no transfers to leave out) and before the first run().
  Status run_on_device();

  /// Compiles (or loads) the schedule for the default input shapes without running it.
  Status compile();
  /// Writes the default schedule as a .kiln file (atomically), compiling it first if needed.
  Status save(const std::string &kiln_path);

  SessionStats stats() const;
  /// Per-launch times of the most recent schedule, in launch order (empty unless
  /// SessionOptions::profile was set and a run happened).
  std::vector<LaunchProfile> profile() const;

  struct Impl;

private:
  friend class CompiledModel;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class InferRequest;

/// A model compiled (or loaded from the cache folder or a .kiln file) for one set of input
/// shapes: its code, weights and schedule, immutable. Safe to use from many threads at once;
/// each thread runs it through its own InferRequest. Target "cpu" only: for "opencl" open()
/// fails (use a Session).
class KILN_API CompiledModel {
public:
  /// Compiles MODEL.onnx for options.input_shapes now (or loads it from the cache folder), or
  /// loads a .kiln file. options.threads sizes the thread pool its requests run on.
  static Result<std::shared_ptr<const CompiledModel>> open(const std::string &path,
                                                           const SessionOptions &options = {});

  const std::vector<TensorInfo> &inputs() const;
  const std::vector<TensorInfo> &outputs() const;
  const Metadata &metadata() const;

  /// A new request: its own activation memory (zero-filled) and launch table. Cheap: no
  /// compile, no copy of code or weights. The request keeps this model alive.
  Result<InferRequest> create_request() const;

  /// Writes the model as a .kiln file (atomically).
  Status save(const std::string &kiln_path) const;

  /// How the model was compiled or loaded (the run-independent fields of SessionStats).
  SessionStats stats() const;

  struct Impl;
  explicit CompiledModel(std::shared_ptr<const Impl> impl);

private:
  std::shared_ptr<const Impl> impl_;
};

/// One thread's way to run a CompiledModel. Not safe for concurrent use (a run() that finds
/// it busy in another thread fails); requests of one model are independent of each other.
class KILN_API InferRequest {
public:
  InferRequest(InferRequest &&) noexcept;
  InferRequest &operator=(InferRequest &&) noexcept;
  ~InferRequest();

  const std::vector<TensorInfo> &inputs() const;
  const std::vector<TensorInfo> &outputs() const;

  /// Runs the model; returns new output tensors in model output order. The inputs must have
  /// exactly the compiled types and shapes.
  Result<std::vector<NamedTensor>> run(const std::vector<NamedTensor> &inputs);
  /// Runs the model into `outputs`, reusing tensors already there as Session::run does; with
  /// reused outputs a run allocates nothing.
  Status run(const std::vector<NamedTensor> &inputs, std::vector<NamedTensor> &outputs);

  /// Per-launch times of this request's runs (empty unless SessionOptions::profile was set).
  std::vector<LaunchProfile> profile() const;

  struct Impl;

private:
  friend class CompiledModel;
  explicit InferRequest(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// "kiln 0.1.0 (LLVM 15.0.6)": part of every cache key.
KILN_API std::string version();

} // namespace kiln
