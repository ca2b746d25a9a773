#pragma once
/// The `opencl` target of a Session: OpenclBackend compiles a graph (compile_graph, the same
/// pipeline as the CPU target) into one OpenCL program; opencl_capture/opencl_load bind the
/// schedule to the device; OpenclRunner replays it on an in-order queue.
///
///   OpenclBackend be(dev);
///   CompileResult cr = compile_graph(g, be, "default");
///   OpenclCompiled c = opencl_capture(be, cr);  // c.runner->run(inputs, outputs)
///
/// The schedule itself (buffer table, memory plan, weights, manifest) is the CPU target's
/// CompiledSchedule, so the .kiln format and planning are shared; the manifest's kernel names are
/// the kernels' own, and its "object" section holds the OpenCL program instead of machine code:
///
///   "KCLP" u32 version, u64 n + OpenCL C source, u64 n + device key,
///   u64 count + count x (u64 n + the program's symbol of kernel i), u64 n + binary,
///   u64 checksum64 of the binary
///
/// Weight-only launches (packing weights) run once at capture on the host through the LLVM
/// backend, like on the CPU target; every other launch runs on the device.
///
/// Replay: write the inputs, enqueue every launch (arguments were set once, at load), copy
/// out, read the outputs, one clFinish. No allocation, no host synchronisation in between.
#include "codegen/Backend.h"
#include "runtime/CompiledSchedule.h"
#include "runtime/OpenclDevice.h"
#include "runtime/RunState.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct CompileResult; // runtime/Compiler.h

/// A schedule bound to a device: buffers allocated, program built, kernels' arguments set.
class OpenclRunner {
public:
  ~OpenclRunner();
  /// launch_ms: when given (SessionOptions::profile), the run goes through a profiling queue
  /// and each launch's device time (OpenCL event start to end) is added to launch_ms[i], one
  /// entry per launch of the schedule (weight-only ones get nothing).
  /// inputs == nullptr: the device's input buffers keep what the previous run wrote;
  /// outputs == nullptr: the outputs stay on the device (not read back). For timing the device
  /// alone (Session::run_on_device).
  void run(const void *const *inputs, void *const *outputs, LaunchTimes *times = nullptr);
  /// How the program was obtained: "source", "binary" (from the cache), "source (rebuilt)".
  const std::string &program_origin() const { return origin_; }

  struct Impl;

private:
  friend std::unique_ptr<OpenclRunner> make_runner(OpenclDevice &, const CompiledSchedule &,
                                                   std::unique_ptr<OpenclProgram>,
                                                   const std::vector<std::string> &symbols,
                                                   std::string origin);
  std::unique_ptr<Impl> impl_;
  std::string origin_;
};

struct OpenclCompiled {
  std::unique_ptr<CompiledSchedule> exec;
  std::unique_ptr<OpenclRunner> runner;
};

/// The OpenCL target's backend. It asks the lowering for GPU-shaped kernels (LoweringTarget::gpu)
/// with 4-lane chunks, one per work item, for the simple ops; compile() renders the prepared
/// kernels into one program (codegen/opencl) and builds it for the device. target_key() is
/// "opencl": the device and driver a binary is valid for are in the program section (and the
/// session adds them to its cache key), so a .kiln file from another device rebuilds from
/// source instead of being rejected. load() gives the host side of a schedule loaded from a
/// .kiln file: nothing, since its weight-only launches ran at capture.
class OpenclBackend final : public Backend {
public:
  /// Conv tiles for a GPU when `dev` is one, else for a CPU driver such as PoCL.
  explicit OpenclBackend(OpenclDevice &dev);
  /// gpu_tiles: conv tiles for a GPU (true) or a CPU driver (false), whatever the device.
  OpenclBackend(OpenclDevice &dev, bool gpu_tiles);
  ~OpenclBackend() override;

  std::string target_key() const override { return "opencl"; }
  LoweringTarget lowering_target() const override;
  /// The module's names are the kernels' own; its object is the program section (above).
  CompiledModule compile(const std::vector<Kernel> &kernels) override;
  std::unique_ptr<LoadedModule> load(const CompiledModule &m) override;
  /// 0: it runs no LLVM code generation (weight-only kernels go to llvm_cpu_backend()).
  int codegen_runs() const override { return 0; }

  OpenclDevice &device() const { return dev_; }

private:
  friend OpenclCompiled opencl_capture(OpenclBackend &backend, const CompileResult &cr);
  OpenclDevice &dev_;
  bool gpu_tiles_;
  // What the last compile() made, for opencl_capture: the prepared kernels (weight-only ones
  // run on the host), the built program and its symbols.
  std::vector<Kernel> kernels_;
  std::unique_ptr<OpenclProgram> program_;
  std::vector<std::string> symbols_;
};

/// After compile_graph(g, backend, ...): captures the schedule (weight-only launches on the
/// host, through the LLVM backend) and binds it and the program backend.compile() built to the
/// device. Throws kiln::InternalError when `cr` was not compiled by `backend`.
OpenclCompiled opencl_capture(OpenclBackend &backend, const CompileResult &cr);

/// Binds a schedule loaded from a .kiln file to the backend's device: loads the cached binary when
/// it was built for this device and driver, else builds the source and says so on stderr in one
/// line. Throws CacheFileError("corrupt") for a damaged program section.
std::unique_ptr<OpenclRunner> opencl_load(OpenclBackend &backend, const CompiledSchedule &exec,
                                          const std::string &file);

} // namespace kiln
