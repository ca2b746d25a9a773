// kiln::Session: the lazy JIT. run() finds the schedule for its input shapes and dtypes; a
// miss loads it from the cache folder or compiles and captures it (and writes the cache), then
// every run replays it. Each schedule is a CompiledSchedule (shared, immutable) plus this
// session's RunState. CompiledModel::open is here too: a Session compiles or loads the one
// schedule and the CompiledModel keeps it (CompiledModel.cpp runs it).
#include "codegen/llvm/LlvmBackend.h"
#include "frontend/OnnxImporter.h"
#include "ir/AtomicFile.h"
#include "ir/Clock.h"
#include "ir/Diagnostics.h"
#include "runtime/Binding.h"
#include "runtime/CacheFile.h"
#include "runtime/CompiledModel.h"
#include "runtime/Compiler.h"
#include "runtime/Manifest.h"
#include "runtime/OpenclTarget.h"
#include "runtime/RunState.h"
#include "runtime/ThreadPool.h"
#include "runtime/TuningDb.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <kiln/kiln.h>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

// "images:f32:1x3x416x416;..." in model input order: the schedule map's key.
std::string signature(const std::vector<TensorInfo> &inputs) {
  std::string s;
  for (const TensorInfo &t : inputs)
    s += t.name + ":" + type_str(t.type, t.shape) + ";";
  return s;
}

nlohmann::json infos_to_json(const std::vector<TensorInfo> &v) {
  nlohmann::json a = nlohmann::json::array();
  for (const TensorInfo &t : v)
    a.push_back({{"name", t.name}, {"dtype", element_type_name(t.type)}, {"shape", t.shape}});
  return a;
}

std::vector<TensorInfo> infos_from_json(const nlohmann::json &a) {
  std::vector<TensorInfo> v;
  for (const auto &t : a) {
    std::optional<DType> d = parse_dtype(t.at("dtype").get<std::string>());
    if (!d)
      throw CacheFileError("corrupt", "manifest: unknown dtype");
    v.push_back({t.at("name").get<std::string>(), static_cast<ElementType>(*d),
                 t.at("shape").get<std::vector<int64_t>>()});
  }
  return v;
}

static_assert(static_cast<int>(LogLevel::error) == static_cast<int>(LogSeverity::error) &&
              static_cast<int>(LogLevel::debug) == static_cast<int>(LogSeverity::debug));

/// "compiled m.onnx for images f32[1x3x640x640] (81 launches) in 5712.3 ms"
std::string fmt_compiled(const std::string &what, const std::vector<TensorInfo> &inputs,
                         size_t launches, const char *verb, double ms) {
  std::string sig;
  for (const TensorInfo &t : inputs)
    sig += (sig.empty() ? "" : ", ") + t.name + " " + type_str(t.type, t.shape);
  char t[32];
  std::snprintf(t, sizeof t, "%.1f", ms);
  return std::string(verb) + " " + what + " for " + sig + " (" + std::to_string(launches) +
         " launches) in " + t + " ms";
}

/// SessionOptions' log and progress callbacks as the sink every layer reports to
/// (ir/Diagnostics.h); progress calls are serialised (codegen reports from worker threads).
DiagnosticSink diagnostic_sink(const SessionOptions &o) {
  DiagnosticSink d;
  d.level = static_cast<LogSeverity>(o.log_level);
  if (o.log)
    d.log = [f = o.log](LogSeverity s, const std::string &m) { f(static_cast<LogLevel>(s), m); };
  if (o.progress)
    d.progress = [f = o.progress, mu = std::make_shared<std::mutex>()](const std::string &stage,
                                                                       int done, int total) {
      std::lock_guard lock(*mu);
      f(CompileProgress{stage, done, total});
    };
  return d;
}

/// Writes the model index (Session::Impl::model_index_file) atomically; a failure only costs
/// an import next time, so it is silent. The model's path and hash and the compiler tell
/// `kiln cache prune` (runtime/CacheFolder.h) when nothing can reach the index any more.
void write_model_index(const std::string &file, const std::string &model,
                       const std::string &model_hash, const std::vector<TensorInfo> &inputs,
                       const std::vector<TensorInfo> &outputs, const Metadata &metadata) {
  std::error_code ec;
  fs::create_directories(fs::path(file).parent_path(), ec);
  try {
    // A model opened from bytes is "<memory>": no file to find again.
    std::string where =
        model.starts_with('<') ? model : fs::absolute(model).lexically_normal().string();
    write_text_file(file, nlohmann::json{{"model", where},
                                         {"model_xxh3_128", model_hash},
                                         {"compiler", compiler_identity()},
                                         {"inputs", infos_to_json(inputs)},
                                         {"outputs", infos_to_json(outputs)},
                                         {"metadata", metadata}}
                              .dump());
  } catch (const Error &) {
  }
}

std::vector<TensorInfo> infos_of(const std::vector<Value *> &values) {
  std::vector<TensorInfo> v;
  for (const Value *x : values)
    v.push_back({x->name, static_cast<ElementType>(x->dtype), x->shape});
  return v;
}

/// The path a session opened from bytes names its model by, in messages and manifests.
constexpr const char *kMemoryModel = "<memory>";

} // namespace

/// One compiled schedule with its model-level view, and this session's state for running it.
struct Entry {
  std::vector<TensorInfo> inputs, outputs;
  std::shared_ptr<const CompiledSchedule> exec;
  std::unique_ptr<RunState> state;  ///< target cpu: arena and launch table, made on first run
  std::unique_ptr<OpenclRunner> cl; ///< --target opencl: replays exec's schedule on the device
  Digest key{};
  Metadata metadata;    ///< the model's, kept in the manifest
  std::string manifest; ///< as stored in the .kiln file
  /// SessionOptions::profile: summed wall time per replay launch, and the runs summed.
  LaunchTimes times;
};

// Hidden: the nested class would otherwise share Session's exported visibility.
struct __attribute__((visibility("hidden"))) Session::Impl {
  SessionOptions opt;
  Pipeline passes;              ///< opt.pipeline parsed; its expanded form is what cache keys hash
  DType precision = DType::f32; ///< opt.precision parsed (PassOptions::precision)
  std::string path;             ///< kMemoryModel for a model opened from bytes
  bool from_file = false;
  bool in_memory = false; ///< open_bytes: model_bytes_ is kept, there is no file to read again
  /// The ONNX model's bytes and its imported graph (default shapes) are held only while a
  /// compile may need them: a session whose model index and schedule come from the cache never
  /// imports the model, and one that loaded its schedule drops both (model_bytes() reads the
  /// file again, checking its hash, when another shape must be compiled).
  std::string model_bytes_;
  std::string model_hash; ///< XXH3-128 of the model file, hex
  std::unique_ptr<Graph> graph;
  std::vector<TensorInfo> inputs, outputs;
  Metadata metadata;
  std::string cache_dir; ///< "" when the cache is off
  /// The tuning database's tiles for this machine (SessionOptions::tuning_db), and their text
  /// (each "key: tiles" line), which the cache key hashes: "" without tuning.
  ConvTuning tuning;
  std::string tuning_text;
  Backend *backend = nullptr;
  std::unique_ptr<OpenclDevice> ocl; ///< --target opencl; backend is then ocl_backend
  std::unique_ptr<OpenclBackend> ocl_backend;
  std::shared_ptr<ThreadPool> pool; ///< the process's pool of opt.threads (shared_thread_pool)
  std::map<std::string, std::unique_ptr<Entry>> schedules;
  Entry *last = nullptr;
  SessionStats stats;
  std::mutex busy;
  DiagnosticSink diagnostics; ///< SessionOptions::log and ::progress, for every API call
  // Per-run scratch, sized once per schedule so replay allocates nothing.
  std::vector<const HostTensor *> found;
  std::vector<const void *> in_ptrs;
  std::vector<void *> out_ptrs;

  /// Session::open (bytes null) and open_bytes (the model's bytes, moved from).
  Status open(const std::string &path, std::string *bytes, const SessionOptions &options);
  Entry &schedule_for(const std::vector<TensorInfo> &shapes);
  const std::string &model_bytes();
  void drop_model();
  std::string model_index_file() const;
  std::unique_ptr<Entry> load_entry(const std::string &file, const Digest *key);
  std::unique_ptr<Entry> compile_entry(const std::vector<TensorInfo> &shapes, const Digest &key);
  Digest key_for(const std::string &sig) const;
  void note(const Entry &e); ///< stats of the schedule now in use
  Status run(const std::vector<NamedTensor> &in, std::vector<NamedTensor> &out);
};

Digest Session::Impl::key_for(const std::string &sig) const {
  Hasher h;
  h.field("kiln-cache-key v2");
  h.field(model_hash);
  h.field(sig);
  h.field(passes.str());
  if (precision != DType::f32) // f32 keys stay what they were before precisions existed
    h.field("precision " + std::string(dtype_name(precision)));
  h.field(tuning_text);
  h.field(backend->target_key());
  if (ocl) // program binaries are per device and driver
    h.field(ocl->key());
  h.field(compiler_identity());
  return h.finish();
}

std::unique_ptr<Entry> Session::Impl::load_entry(const std::string &file, const Digest *key) {
  auto t0 = Clock::now();
  std::unique_ptr<CacheFile> f = CacheFile::open(file, key);
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(f->manifest());
  } catch (const nlohmann::json::exception &) {
    throw CacheFileError("corrupt", "manifest is not JSON");
  }
  auto e = std::make_unique<Entry>();
  std::string target;
  ScheduleDesc desc;
  try {
    std::string release = m.at("release").get<std::string>();
    if (release != compiler_release())
      throw CacheFileError("stale", "built by " + release + ", this is " + compiler_release());
    target = m.at("target").get<std::string>();
    if (target != backend->target_key())
      throw CacheFileError("foreign", "built for target " + target + ", this host is " +
                                          backend->target_key());
    e->inputs = infos_from_json(m.at("inputs"));
    e->metadata = m.value("metadata", Metadata{});
    e->outputs = infos_from_json(m.at("outputs"));
    desc = schedule_from_json(m.at("schedule"), f->weights_size());
  } catch (const nlohmann::json::exception &x) {
    throw CacheFileError("corrupt", std::string("manifest: ") + x.what());
  }
  if (desc.inputs.size() != e->inputs.size() || desc.outputs.size() != e->outputs.size())
    throw CacheFileError("corrupt", "manifest: input/output count mismatch");
  CompiledModule cm{target, desc.kernel_names, {f->object().begin(), f->object().end()}};
  std::unique_ptr<LoadedModule> loaded;
  try {
    loaded = backend->load(cm);
  } catch (const std::exception &x) {
    throw CacheFileError("corrupt", std::string("cannot link its object code: ") + x.what());
  }
  e->key = f->key();
  e->manifest = std::string(f->manifest());
  e->exec = CompiledSchedule::from_cache(std::move(desc), std::move(f), std::move(loaded));
  if (ocl)
    e->cl = opencl_load(*ocl_backend, *e->exec, file);
  stats.load_ms = ms_since(t0);
  log(LogSeverity::info,
      fmt_compiled(file, e->inputs, e->exec->desc().launches.size(), "loaded", stats.load_ms));
  stats.compile_ms = 0;
  stats.passes.clear();
  return e;
}

std::unique_ptr<Entry> Session::Impl::compile_entry(const std::vector<TensorInfo> &shapes,
                                                    const Digest &key) {
  auto t0 = Clock::now();
  // The default graph serves its own shapes; other shapes re-import the model with them.
  // Graph passes rewrite the graph they compile, so the default graph is consumed here.
  std::unique_ptr<Graph> other;
  if (graph && signature(infos_of(graph->inputs())) == signature(shapes))
    other = std::move(graph);
  Graph *g = other.get();
  if (!g) {
    ImportOptions io;
    for (const TensorInfo &t : shapes)
      io.input_shapes[t.name] = t.shape;
    progress("import", 0, 1);
    other = import_onnx_bytes(model_bytes(), fs::path(path).parent_path().string(), path, io);
    progress("import", 1, 1);
    stats.imported = true;
    g = other.get();
    for (size_t i = 0; i < shapes.size(); ++i)
      if (static_cast<ElementType>(g->inputs()[i]->dtype) != shapes[i].type)
        throw Error("input '" + shapes[i].name + "' expects " +
                    element_type_name(static_cast<ElementType>(g->inputs()[i]->dtype)) +
                    " but got " + element_type_name(shapes[i].type));
  }
  PassOptions po;
  po.precision = precision;
  if (!opt.print_ir_after.empty()) {
    po.print = opt.print_ir_after == "all" ? PassOptions::Print::AfterAll
                                           : PassOptions::Print::AfterChange;
    po.print_to = &std::cerr;
  }
  PassReport report;
  CompileResult cr = compile_graph(*g, *backend, passes.str(), po, &report, &tuning);
  stats.passes.clear();
  for (const PassRecord &r : report)
    stats.passes.push_back({r.name, r.ms, r.changed});
  std::string target = cr.module.target;
  auto e = std::make_unique<Entry>();
  e->inputs = infos_of(g->inputs());
  e->outputs = infos_of(g->outputs());
  e->metadata = g->metadata();
  if (ocl) {
    OpenclCompiled c = opencl_capture(*ocl_backend, cr);
    e->exec = std::move(c.exec);
    e->cl = std::move(c.runner);
  } else {
    progress("capture", 0, 1);
    std::unique_ptr<LoadedModule> loaded = backend->load(cr.module);
    e->exec = CompiledSchedule::capture(cr.program, cr.launch_kernel, std::move(cr.module),
                                        std::move(loaded));
    progress("capture", 1, 1);
  }
  e->key = key;
  nlohmann::json m = {{"format", "kiln-schedule"},
                      {"release", compiler_release()},
                      {"compiler", compiler_identity()},
                      {"target", target},
                      {"pipeline", passes.str()},
                      {"precision", std::string(dtype_name(precision))},
                      {"key", digest_hex(key)},
                      {"model",
                       {{"path", in_memory ? path : fs::absolute(path).lexically_normal().string()},
                        {"xxh3_128", model_hash}}},
                      {"inputs", infos_to_json(e->inputs)},
                      {"outputs", infos_to_json(e->outputs)},
                      {"metadata", e->metadata},
                      {"schedule", schedule_to_json(e->exec->desc())}};
  e->manifest = m.dump();
  stats.compile_ms = ms_since(t0);
  progress("done", 1, 1);
  log(LogSeverity::info,
      fmt_compiled(path, e->inputs, e->exec->desc().launches.size(), "compiled", stats.compile_ms));
  stats.load_ms = 0;
  return e;
}

const std::string &Session::Impl::model_bytes() {
  if (!model_bytes_.empty())
    return model_bytes_;
  std::string bytes;
  if (!read_whole_file(path, bytes))
    throw Error(path + ": cannot read the model");
  if (digest_hex(hash128(bytes.data(), bytes.size())) != model_hash)
    throw Error(path + ": the model file changed since the session opened it; open it again");
  model_bytes_ = std::move(bytes);
  return model_bytes_;
}

void Session::Impl::drop_model() {
  graph.reset();
  if (!in_memory) // there is no file to read the bytes again from
    std::string().swap(model_bytes_);
}

/// The cache folder's record of a model's inputs and outputs (for the shapes it was opened
/// with), so that a session can find its schedule without importing the model.
std::string Session::Impl::model_index_file() const {
  if (cache_dir.empty())
    return "";
  Hasher h;
  h.field("kiln-model-index v2");
  h.field(model_hash);
  for (const auto &[name, shape] : opt.input_shapes) {
    h.field(name);
    for (int64_t d : shape)
      h.field(std::to_string(d));
  }
  h.field(compiler_identity());
  return (fs::path(cache_dir) / (digest_hex(h.finish()) + ".model.json")).string();
}

Entry &Session::Impl::schedule_for(const std::vector<TensorInfo> &shapes) {
  std::string sig = signature(shapes);
  if (auto it = schedules.find(sig); it != schedules.end()) {
    note(*it->second);
    return *it->second;
  }
  if (from_file)
    throw Error(path + " was compiled for " + signature(inputs) + " but the inputs are " + sig +
                "; compile the model again for these shapes");
  Digest key = key_for(sig);
  std::unique_ptr<Entry> e;
  std::string file =
      cache_dir.empty() ? "" : (fs::path(cache_dir) / (digest_hex(key) + ".kiln")).string();
  if (!file.empty() && fs::exists(file)) {
    try {
      e = load_entry(file, &key);
      stats.cache = "hit";
      drop_model(); // the schedule needs neither; another shape reads the file again
    } catch (const CacheFileError &x) {
      notice("cache file " + file + " is " + x.kind + " (" + x.detail + "); recompiling");
    } catch (const Error &x) {
      notice(std::string(x.what()) + "; recompiling");
    }
  }
  if (!e) {
    e = compile_entry(shapes, key);
    stats.cache = file.empty() ? "off" : "miss";
    if (!file.empty()) {
      try {
        std::error_code ec;
        fs::create_directories(cache_dir, ec);
        if (ec)
          throw Error("cannot create cache folder " + cache_dir + ": " + ec.message());
        auto w = e->exec->weights();
        write_cache_file(file, key, e->manifest, e->exec->object(), w);
      } catch (const Error &x) {
        notice(std::string(x.what()) + "; continuing without the cache");
      }
    }
  }
  Entry &ref = *e;
  schedules[sig] = std::move(e);
  note(ref);
  return ref;
}

void Session::Impl::note(const Entry &e) {
  const ScheduleDesc &d = e.exec->desc();
  stats.kernels = static_cast<int>(d.launches.size());
  stats.weight_only_kernels = d.weight_only_launches;
  stats.arena_bytes = d.arena_bytes;
  stats.arena_lower_bound_bytes = d.arena_lower_bound_bytes;
  stats.arena_naive_bytes = d.arena_naive_bytes;
  stats.weights_bytes = d.weights_bytes;
  stats.schedules = static_cast<int>(schedules.size());
}

Status Session::Impl::run(const std::vector<NamedTensor> &in, std::vector<NamedTensor> &out) {
  // Bind inputs by name, in model order, without allocating (the model has few inputs).
  if (Status st = match_inputs(inputs, in, found); !st)
    return st;
  const size_t n_in = inputs.size();
  // The last schedule usually matches: compare types and shapes in place.
  Entry *e = last;
  for (size_t i = 0; e && i < n_in; ++i)
    if (found[i]->type() != e->inputs[i].type || found[i]->shape() != e->inputs[i].shape)
      e = nullptr;
  if (!e) {
    std::vector<TensorInfo> shapes = inputs;
    for (size_t i = 0; i < n_in; ++i) {
      shapes[i].type = found[i]->type();
      shapes[i].shape = found[i]->shape();
    }
    e = &schedule_for(shapes);
    last = e;
  }
  in_ptrs.resize(n_in);
  for (size_t i = 0; i < n_in; ++i)
    in_ptrs[i] = found[i]->data();

  // Outputs already of the right name, type and shape are reused as they are.
  bind_outputs(e->outputs, out, out_ptrs);
  if (!e->cl && !e->state)
    e->state = std::make_unique<RunState>(*e->exec);
  LaunchTimes *times = nullptr;
  if (opt.profile) {
    e->times.begin_run(e->exec->desc().launches.size());
    times = &e->times;
  }
  if (e->cl)
    e->cl->run(in_ptrs.data(), out_ptrs.data(), times); // device times when profiling
  else
    e->state->run(*pool, in_ptrs.data(), out_ptrs.data(), times);
  return Status();
}

// ---- the public surface: no exception crosses it ----

namespace {

/// `f` under the session's busy lock (guarded), or a failure when another thread holds it.
template <class F> Status exclusive(Session::Impl &impl, F &&f) {
  std::unique_lock lock(impl.busy, std::try_to_lock);
  if (!lock.owns_lock())
    return Status::failure("this session is running in another thread; use one session per "
                           "thread, or one CompiledModel with an InferRequest per thread");
  ScopedDiagnostics diagnostics(&impl.diagnostics);
  return guarded(std::forward<F>(f));
}

} // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session &&) noexcept = default;
Session &Session::operator=(Session &&) noexcept = default;
Session::~Session() = default;

Result<Session> Session::open(const std::string &path, const SessionOptions &options) {
  auto impl = std::make_unique<Impl>();
  if (Status st = impl->open(path, nullptr, options); !st)
    return st;
  return Session(std::move(impl));
}

Result<Session> Session::open_bytes(const void *data, size_t size, const SessionOptions &options) {
  if (!data && size > 0)
    return Status::failure("open_bytes: data is null but size is " + std::to_string(size));
  if (has_kiln_magic(data, size))
    return Status::failure("open_bytes: a .kiln file in memory is not supported; open it by path");
  std::string bytes(static_cast<const char *>(data), size);
  auto impl = std::make_unique<Impl>();
  if (Status st = impl->open(kMemoryModel, &bytes, options); !st)
    return st;
  return Session(std::move(impl));
}

Status Session::Impl::open(const std::string &path, std::string *bytes,
                           const SessionOptions &options) {
  diagnostics = diagnostic_sink(options);
  ScopedDiagnostics scope(&diagnostics);
  return guarded([&]() -> Status {
    Impl &s = *this;
    s.opt = options;
    s.path = path;
    if (options.target != "cpu" && options.target != "opencl")
      return Status::failure("target '" + options.target +
                             "' is not available (available: cpu, opencl)");
    s.passes = check_pipeline(options.pipeline);
    s.precision = parse_precision(options.precision);
    if (!options.print_ir_after.empty() && options.print_ir_after != "all" &&
        options.print_ir_after != "changed")
      return Status::failure("print_ir_after '" + options.print_ir_after +
                             "' must be \"all\", \"changed\" or empty");
    s.backend = &llvm_cpu_backend();
    int threads = options.threads > 0 ? options.threads
                                      : static_cast<int>(std::thread::hardware_concurrency());
    s.stats.threads = std::max(1, threads);
    s.stats.target = s.backend->target_key();
    if (options.target == "opencl") {
      s.ocl = OpenclDevice::open(options.device);
      s.ocl_backend = std::make_unique<OpenclBackend>(*s.ocl);
      s.backend = s.ocl_backend.get();
      s.stats.target = "opencl: " + s.ocl->key();
    }
    if (s.precision == DType::f16 && !s.ocl && !s.backend->lowering_target().native_f16)
      return Status::failure("precision f16 needs a CPU with AVX512-FP16 (f16 arithmetic), "
                             "which this CPU lacks; use --precision f32 or bf16");
    s.in_memory = bytes != nullptr;
    if (!s.in_memory && !fs::exists(path))
      return Status::failure(path + ": cannot open file");
    if (!s.in_memory && is_kiln_file(path)) {
      s.from_file = true;
      std::unique_ptr<Entry> e;
      try {
        e = s.load_entry(path, nullptr);
      } catch (const CacheFileError &x) {
        return Status::failure("cache file " + path + " is " + x.kind + " (" + x.detail +
                               "); compile it again with 'kiln compile'");
      }
      s.inputs = e->inputs;
      s.outputs = e->outputs;
      s.metadata = e->metadata;
      s.stats.cache = "file";
      Entry &ref = *e;
      s.schedules[signature(s.inputs)] = std::move(e);
      s.note(ref);
    } else {
      auto t0 = Clock::now();
      if (s.in_memory)
        s.model_bytes_ = std::move(*bytes);
      else if (!read_whole_file(path, s.model_bytes_))
        return Status::failure(path + ": cannot read the model");
      if (s.model_bytes_.empty())
        return Status::failure(path + ": the model is empty");
      s.model_hash = digest_hex(hash128(s.model_bytes_.data(), s.model_bytes_.size()));
      s.cache_dir = options.use_cache
                        ? (options.cache_dir.empty() ? default_cache_dir() : options.cache_dir)
                        : "";
      if (options.use_tuning) {
        std::string db = tuning_db_path(options.tuning_db, options.cache_dir);
        TuningDb tdb = db.empty() ? TuningDb() : TuningDb::load(db);
        if (const TuningSection *sec = tdb.find(s.backend->target_key(), cpu_model_name()))
          s.tuning = conv_tuning_of(*sec);
        for (const auto &[key, t] : s.tuning.tiles)
          s.tuning_text += key + ": " + conv_tiles_str(t) + "\n";
      }
      // The inputs and outputs from the cache folder's index when a session saw this model
      // before (no import: the schedule is probably cached too), else from an import.
      std::string index = s.model_index_file();
      if (!index.empty() && fs::exists(index)) {
        try {
          std::ifstream in(index);
          nlohmann::json j = nlohmann::json::parse(in);
          s.inputs = infos_from_json(j.at("inputs"));
          s.outputs = infos_from_json(j.at("outputs"));
          s.metadata = j.at("metadata").get<Metadata>();
        } catch (const std::exception &x) {
          s.inputs.clear(), s.outputs.clear();
          notice("cache file " + index + " is corrupt (" + x.what() + "); importing the model");
        }
      }
      if (s.inputs.empty()) {
        ImportOptions io;
        for (const auto &[name, shape] : options.input_shapes)
          io.input_shapes[name] = shape;
        s.graph =
            import_onnx_bytes(s.model_bytes_, fs::path(path).parent_path().string(), path, io);
        s.inputs = infos_of(s.graph->inputs());
        s.outputs = infos_of(s.graph->outputs());
        s.metadata = s.graph->metadata();
        s.stats.imported = true;
        if (!index.empty())
          write_model_index(index, path, s.model_hash, s.inputs, s.outputs, s.metadata);
      } else if (!s.in_memory) {
        std::string().swap(s.model_bytes_); // read again only if a compile needs it
      }
      s.stats.import_ms = ms_since(t0);
    }
    s.pool = shared_thread_pool(s.stats.threads);
    return Status();
  });
}

const std::vector<TensorInfo> &Session::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo> &Session::outputs() const { return impl_->outputs; }
const Metadata &Session::metadata() const { return impl_->metadata; }

Status Session::run_on_device() {
  return exclusive(*impl_, [&] {
    Entry *e = impl_->last;
    if (!e || !e->cl)
      return Status::failure(e ? "run_on_device: target '" + impl_->opt.target +
                                     "' has no device memory (only target 'opencl' does)"
                               : "run_on_device: no run() yet, so the device holds no inputs");
    e->cl->run(nullptr, nullptr);
    return Status();
  });
}

Status Session::run(const std::vector<NamedTensor> &inputs, std::vector<NamedTensor> &outputs) {
  return exclusive(*impl_, [&] { return impl_->run(inputs, outputs); });
}

Result<std::vector<NamedTensor>> Session::run(const std::vector<NamedTensor> &inputs) {
  std::vector<NamedTensor> out;
  Status st = run(inputs, out);
  if (!st)
    return st;
  return out;
}

Status Session::compile() {
  return exclusive(*impl_, [&] {
    impl_->schedule_for(impl_->inputs);
    return Status();
  });
}

Status Session::save(const std::string &kiln_path) {
  Status st = compile();
  if (!st)
    return st;
  return exclusive(*impl_, [&] {
    Entry &e = impl_->schedule_for(impl_->inputs);
    write_cache_file(kiln_path, e.key, e.manifest, e.exec->object(), e.exec->weights());
    return Status();
  });
}

SessionStats Session::stats() const {
  SessionStats s = impl_->stats;
  s.llvm_codegen_runs = impl_->backend ? impl_->backend->codegen_runs() : 0;
  return s;
}

// ---- CompiledModel: a Session compiles (or loads) the one schedule, the model keeps it ----

Result<std::shared_ptr<const CompiledModel>> CompiledModel::open(const std::string &path,
                                                                 const SessionOptions &options) {
  if (options.target != "cpu")
    return Status::failure("CompiledModel: target '" + options.target +
                           "' is not supported (only \"cpu\"); use a Session for it");
  Result<Session> session = Session::open(path, options);
  if (!session)
    return Status::failure(session.error());
  auto m = std::make_shared<CompiledModel::Impl>();
  Status st = exclusive(*session->impl_, [&] {
    Session::Impl &s = *session->impl_;
    Entry &e = s.schedule_for(s.inputs);
    m->inputs = e.inputs;
    m->outputs = e.outputs;
    m->metadata = s.metadata;
    m->schedule = e.exec;
    m->key = e.key;
    m->manifest = e.manifest;
    m->pool = s.pool;
    m->profile = s.opt.profile;
    m->stats = s.stats;
    m->stats.llvm_codegen_runs = s.backend->codegen_runs();
    return Status();
  });
  if (!st)
    return st;
  return std::make_shared<const CompiledModel>(std::move(m));
}

std::vector<LaunchProfile> Session::profile() const {
  const Entry *e = impl_->last;
  if (!e || !e->exec)
    return {};
  return e->times.profile(e->exec->desc());
}

} // namespace kiln
