#include "runtime/OpenclTarget.h"

#include "runtime/Binding.h"

#include "codegen/llvm/LlvmBackend.h"
#include "codegen/opencl/OpenclEmitter.h"
#include "ir/Error.h"
#include "runtime/CacheFile.h"
#include "runtime/Compiler.h"
#include "runtime/Hash.h"
#include "runtime/OpenclCl.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kiln {
namespace {

// ---- the program section of the .kiln file ----

constexpr char kMagic[4] = {'K', 'C', 'L', 'P'};
constexpr uint32_t kPayloadVersion = 2; // 2: the program's symbols

struct Payload {
  std::string source, key;
  std::vector<std::string> symbols; ///< the __kernel function of kernel i
  std::span<const uint8_t> binary;
  uint64_t checksum = 0;
};

void put_u64(std::vector<uint8_t> &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_bytes(std::vector<uint8_t> &out, const void *p, size_t n) {
  put_u64(out, n);
  auto *b = static_cast<const uint8_t *>(p);
  out.insert(out.end(), b, b + n);
}

std::vector<uint8_t> pack(const std::string &source, const std::string &key,
                          const std::vector<std::string> &symbols,
                          const std::vector<uint8_t> &binary) {
  std::vector<uint8_t> out(kMagic, kMagic + 4);
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<uint8_t>(kPayloadVersion >> (8 * i)));
  put_bytes(out, source.data(), source.size());
  put_bytes(out, key.data(), key.size());
  put_u64(out, symbols.size());
  for (const std::string &s : symbols)
    put_bytes(out, s.data(), s.size());
  put_bytes(out, binary.data(), binary.size());
  put_u64(out, checksum64(binary.data(), binary.size()));
  return out;
}

Payload unpack(std::span<const uint8_t> in) {
  auto corrupt = [](const std::string &what) {
    return CacheFileError("corrupt", "OpenCL program section: " + what);
  };
  size_t at = 0;
  auto u64 = [&]() {
    if (in.size() - at < 8)
      throw corrupt("truncated");
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= uint64_t(in[at + i]) << (8 * i);
    at += 8;
    return v;
  };
  auto bytes = [&]() {
    uint64_t n = u64();
    if (n > in.size() - at)
      throw corrupt("truncated");
    std::span<const uint8_t> s = in.subspan(at, n);
    at += n;
    return s;
  };
  if (in.size() < 8 || std::memcmp(in.data(), kMagic, 4) != 0)
    throw corrupt("not an OpenCL program (was the file built for --target cpu?)");
  uint32_t version = in[4] | in[5] << 8 | in[6] << 16 | uint32_t(in[7]) << 24;
  if (version != kPayloadVersion)
    throw corrupt("unknown version " + std::to_string(version));
  at = 8;
  Payload p;
  std::span<const uint8_t> s = bytes();
  p.source.assign(s.begin(), s.end());
  s = bytes();
  p.key.assign(s.begin(), s.end());
  uint64_t n = u64();
  if (n > (in.size() - at) / 8) // each symbol takes at least its length
    throw corrupt("truncated");
  for (uint64_t i = 0; i < n; ++i) {
    s = bytes();
    p.symbols.emplace_back(s.begin(), s.end());
  }
  p.binary = bytes();
  p.checksum = u64();
  return p;
}

// ---- host code ----

/// Host code for the weight-only kernels (the rest have none: they run on the device).
class HostModule : public LoadedModule {
public:
  HostModule(std::unique_ptr<LoadedModule> code, std::vector<int> index)
      : code_(std::move(code)), index_(std::move(index)) {}
  KernelFn function(size_t k) const override {
    if (k >= index_.size() || index_[k] < 0)
      return nullptr;
    return code_->function(static_cast<size_t>(index_[k]));
  }

private:
  std::unique_ptr<LoadedModule> code_;
  std::vector<int> index_;
};

size_t pow2_floor(size_t v) {
  size_t p = 1;
  while (p * 2 <= v)
    p *= 2;
  return p;
}

} // namespace

// ---- the runner ----

struct OpenclRunner::Impl {
  OpenclDevice *dev = nullptr;
  std::unique_ptr<OpenclProgram> program;
  cl_mem weights = nullptr, arena = nullptr;
  std::vector<cl_mem> ins, outs;
  std::vector<size_t> in_bytes, out_bytes;
  struct Op {
    cl_kernel kernel;
    size_t global, local;
    size_t launch; ///< index into the schedule's launches
  };
  cl_command_queue prof_queue = nullptr; ///< made at the first profiled run
  std::vector<cl_event> events;
  std::vector<Op> ops;
  struct Copy {
    cl_mem src;
    size_t offset, bytes;
    int output;
  };
  std::vector<Copy> copies;

  ~Impl() {
    if (prof_queue)
      clReleaseCommandQueue(prof_queue);
    for (Op &op : ops)
      clReleaseKernel(op.kernel);
    for (cl_mem m : ins)
      clReleaseMemObject(m);
    for (cl_mem m : outs)
      clReleaseMemObject(m);
    if (weights)
      clReleaseMemObject(weights);
    if (arena)
      clReleaseMemObject(arena);
  }

  cl_mem buffer(size_t bytes, const std::string &what) {
    cl_int err = CL_SUCCESS;
    // Never zero bytes: OpenCL rejects empty buffers.
    cl_mem m = clCreateBuffer(dev->impl().context, CL_MEM_READ_WRITE, std::max<size_t>(bytes, 64),
                              nullptr, &err);
    cl_check(err, "allocating " + std::to_string(bytes) + " bytes for " + what);
    return m;
  }
};

OpenclRunner::~OpenclRunner() = default;

std::unique_ptr<OpenclRunner> make_runner(OpenclDevice &dev, const CompiledSchedule &exec,
                                          std::unique_ptr<OpenclProgram> program,
                                          const std::vector<std::string> &symbols,
                                          std::string origin) {
  const ScheduleDesc &d = exec.desc();
  KILN_ASSERT(symbols.size() == d.kernel_names.size(), "OpenCL program: one symbol per kernel");
  auto r = std::unique_ptr<OpenclRunner>(new OpenclRunner);
  r->impl_ = std::make_unique<OpenclRunner::Impl>();
  r->origin_ = std::move(origin);
  OpenclRunner::Impl &m = *r->impl_;
  m.dev = &dev;
  m.program = std::move(program);
  cl_command_queue q = dev.impl().queue;

  m.weights = m.buffer(static_cast<size_t>(d.weights_bytes), "the weights");
  if (d.weights_bytes > 0)
    cl_check(clEnqueueWriteBuffer(q, m.weights, CL_TRUE, 0, exec.weights().size(),
                                  exec.weights().data(), 0, nullptr, nullptr),
             "uploading the weights");
  m.arena = m.buffer(static_cast<size_t>(d.arena_bytes), "the activation arena");
  for (int b : d.inputs) {
    m.in_bytes.push_back(static_cast<size_t>(d.buffers[b].bytes));
    m.ins.push_back(m.buffer(m.in_bytes.back(), "input '" + d.buffers[b].name + "'"));
  }
  for (int b : d.outputs) {
    m.out_bytes.push_back(static_cast<size_t>(d.buffers[b].bytes));
    m.outs.push_back(m.buffer(m.out_bytes.back(), "output '" + d.buffers[b].name + "'"));
  }
  auto place = [&](int b) -> std::pair<cl_mem, cl_long> {
    const SlotDesc &s = d.buffers[b];
    switch (s.place) {
    case Place::Input: return {m.ins[s.io], s.offset};
    case Place::Output: return {m.outs[s.io], s.offset};
    case Place::Weights: return {m.weights, s.offset};
    case Place::Arena: return {m.arena, s.offset};
    case Place::None: break;
    }
    throw Error("buffer '" + s.name + "' has no place in the schedule");
  };

  auto prog = static_cast<cl_program>(m.program->handle());
  cl_device_id device = dev.impl().device;
  for (size_t li = 0; li < d.launches.size(); ++li) {
    const LaunchDesc &l = d.launches[li];
    if (l.extent <= 0)
      continue;
    const std::string &name = symbols.at(static_cast<size_t>(l.kernel));
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(prog, name.c_str(), &err);
    cl_check(err, "clCreateKernel(" + name + ")");
    m.ops.push_back({k, 0, 0, li});
    cl_uint arg = 0;
    for (int b : l.args) {
      auto [mem, off] = place(b);
      cl_check(clSetKernelArg(k, arg++, sizeof mem, &mem), "setting an argument of " + name);
      cl_check(clSetKernelArg(k, arg++, sizeof off, &off), "setting an argument of " + name);
    }
    cl_long begin = 0, end = l.extent;
    cl_check(clSetKernelArg(k, arg++, sizeof begin, &begin), "setting an argument of " + name);
    cl_check(clSetKernelArg(k, arg++, sizeof end, &end), "setting an argument of " + name);

    // Work-group size: 64 work items on a GPU; on a CPU (PoCL) a work-group is a task, so
    // aim for a few per core.
    size_t max_wg = 1;
    clGetKernelWorkGroupInfo(k, device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, nullptr);
    size_t extent = static_cast<size_t>(l.extent);
    size_t want = dev.is_gpu() ? 64 : std::clamp<size_t>(extent / (4 * dev.compute_units()), 1, 64);
    size_t local = pow2_floor(std::max<size_t>(1, std::min({want, max_wg, extent})));
    m.ops.back().local = local;
    m.ops.back().global = (extent + local - 1) / local * local;
  }
  for (auto [o, b] : d.output_copies) {
    auto [mem, off] = place(b);
    m.copies.push_back({mem, static_cast<size_t>(off), static_cast<size_t>(d.buffers[b].bytes), o});
  }
  return r;
}

void OpenclRunner::run(const void *const *inputs, void *const *outputs, LaunchTimes *times) {
  Impl &m = *impl_;
  cl_command_queue q = m.dev->impl().queue;
  if (times) {
    // Profiling: the same commands on a queue with event timestamps (made once).
    if (!m.prof_queue) {
      cl_int err = CL_SUCCESS;
      m.prof_queue = clCreateCommandQueue(m.dev->impl().context, m.dev->impl().device,
                                          CL_QUEUE_PROFILING_ENABLE, &err);
      cl_check(err, "creating a profiling queue on " + m.dev->name());
    }
    q = m.prof_queue;
    m.events.assign(m.ops.size(), nullptr);
  }
  // Every command is enqueued without waiting; the in-order queue orders them and the one
  // clFinish at the end is the only synchronisation with the host.
  for (size_t i = 0; inputs && i < m.ins.size(); ++i)
    if (m.in_bytes[i])
      cl_check(clEnqueueWriteBuffer(q, m.ins[i], CL_FALSE, 0, m.in_bytes[i], inputs[i], 0, nullptr,
                                    nullptr),
               "writing an input");
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const Impl::Op &op = m.ops[i];
    cl_int err = clEnqueueNDRangeKernel(q, op.kernel, 1, nullptr, &op.global, &op.local, 0, nullptr,
                                        times ? &m.events[i] : nullptr);
    if (err != CL_SUCCESS)
      cl_check(err, "clEnqueueNDRangeKernel");
  }
  for (const Impl::Copy &c : m.copies)
    if (c.bytes)
      cl_check(clEnqueueCopyBuffer(q, c.src, m.outs[c.output], c.offset, 0, c.bytes, 0, nullptr,
                                   nullptr),
               "copying an output");
  for (size_t o = 0; outputs && o < m.outs.size(); ++o)
    if (m.out_bytes[o])
      cl_check(clEnqueueReadBuffer(q, m.outs[o], CL_FALSE, 0, m.out_bytes[o], outputs[o], 0,
                                   nullptr, nullptr),
               "reading an output");
  cl_check(clFinish(q), "running the schedule on " + m.dev->name());
  if (times) {
    cl_ulong first = 0; // the device clock when the run's first launch started
    for (size_t i = 0; i < m.ops.size(); ++i) {
      cl_ulong t0 = 0, t1 = 0;
      if (clGetEventProfilingInfo(m.events[i], CL_PROFILING_COMMAND_START, sizeof t0, &t0,
                                  nullptr) == CL_SUCCESS &&
          clGetEventProfilingInfo(m.events[i], CL_PROFILING_COMMAND_END, sizeof t1, &t1, nullptr) ==
              CL_SUCCESS &&
          t1 >= t0) {
        first = first == 0 ? t0 : std::min(first, t0);
        times->ms[m.ops[i].launch] += 1e-6 * static_cast<double>(t1 - t0);
        times->start_ms[m.ops[i].launch] += 1e-6 * static_cast<double>(t0 - first);
      }
      clReleaseEvent(m.events[i]);
    }
    m.events.clear();
  }
}

// ---- compile and load ----

OpenclBackend::OpenclBackend(OpenclDevice &dev) : OpenclBackend(dev, dev.is_gpu()) {}

OpenclBackend::OpenclBackend(OpenclDevice &dev, bool gpu_tiles)
    : dev_(dev), gpu_tiles_(gpu_tiles) {}

OpenclBackend::~OpenclBackend() = default;

LoweringTarget OpenclBackend::lowering_target() const {
  // One work item per parallel iteration (the emitter): GPU-shaped conv tiles, and one 4-lane
  // chunk per work item for the simple ops.
  LoweringTarget t;
  t.gpu = true;
  t.gpu_device = gpu_tiles_;
  t.vector_lanes_f32 = 4;
  t.task_elems = 4;
  return t;
}

CompiledModule OpenclBackend::compile(const std::vector<Kernel> &kernels) {
  OpenclSource src = render_opencl(kernels);
  if (const char *dump = std::getenv("KILN_OPENCL_DUMP"); dump && *dump) {
    // Debugging aid: the generated program as the driver sees it.
    if (FILE *f = std::fopen(dump, "w")) {
      std::fwrite(src.source.data(), 1, src.source.size(), f);
      std::fclose(f);
    }
  }
  std::unique_ptr<OpenclProgram> prog = OpenclProgram::from_source(dev_, src.source);
  CompiledModule m;
  m.target = target_key();
  for (const Kernel &k : kernels)
    m.kernel_names.push_back(k.name);
  m.object = pack(src.source, dev_.key(), src.kernel_names, prog->binary());
  kernels_ = kernels;
  program_ = std::move(prog);
  symbols_ = std::move(src.kernel_names);
  return m;
}

std::unique_ptr<LoadedModule> OpenclBackend::load(const CompiledModule &) {
  return std::make_unique<HostModule>(nullptr, std::vector<int>{});
}

OpenclCompiled opencl_capture(OpenclBackend &backend, const CompileResult &cr) {
  KILN_ASSERT(backend.program_ && backend.kernels_.size() == cr.module.kernel_names.size(),
              "opencl_capture: the schedule was not compiled by this backend");
  const std::vector<Kernel> &kernels = backend.kernels_;
  // Weight-only kernels (weight packing) run once, on the host.
  std::vector<int> index(kernels.size(), -1);
  std::vector<Kernel> host;
  for (size_t i = 0; i < cr.program.launches.size(); ++i) {
    int k = cr.launch_kernel[i];
    if (!cr.program.launches[i].weight_only || index[k] >= 0)
      continue;
    index[k] = static_cast<int>(host.size());
    host.push_back(kernels[k]);
  }
  std::unique_ptr<LoadedModule> code;
  if (!host.empty()) {
    Backend &llvm = llvm_cpu_backend();
    code = llvm.load(llvm.compile(host));
  }
  OpenclCompiled r;
  r.exec =
      CompiledSchedule::capture(cr.program, cr.launch_kernel, cr.module,
                                std::make_unique<HostModule>(std::move(code), std::move(index)));
  r.runner = make_runner(backend.device(), *r.exec, std::move(backend.program_), backend.symbols_,
                         "source");
  backend.kernels_.clear();
  backend.symbols_.clear();
  return r;
}

std::unique_ptr<OpenclRunner> opencl_load(OpenclBackend &backend, const CompiledSchedule &exec,
                                          const std::string &file) {
  OpenclDevice &dev = backend.device();
  Payload p = unpack(exec.object());
  if (checksum64(p.binary.data(), p.binary.size()) != p.checksum)
    throw CacheFileError("corrupt", "OpenCL program binary checksum mismatch");
  if (p.symbols.size() != exec.desc().kernel_names.size())
    throw CacheFileError("corrupt", "OpenCL program has " + std::to_string(p.symbols.size()) +
                                        " kernels, the schedule " +
                                        std::to_string(exec.desc().kernel_names.size()));
  if (p.key == dev.key() && !p.binary.empty()) {
    try {
      return make_runner(dev, exec, OpenclProgram::from_binary(dev, p.binary), p.symbols, "binary");
    } catch (const Error &x) {
      notice(file + ": cached OpenCL binary does not load (" + x.what() +
             "); building from source");
    }
  } else {
    notice(file + ": OpenCL program was built for " + p.key + "; building it from source for " +
           dev.key());
  }
  return make_runner(dev, exec, OpenclProgram::from_source(dev, p.source), p.symbols,
                     "source (rebuilt)");
}

} // namespace kiln
