#pragma once
/// The `opencl` target of a Session: compile a graph into a schedule whose kernels are one
/// OpenCL program, and replay it on an in-order queue.
///
/// The schedule itself (buffer table, memory plan, weights, manifest) is the CPU target's
/// Executable, so the .kiln format and planning are shared; its "object" section holds the
/// OpenCL program instead of machine code:
///
///   "KCLP" u32 version, u64 n + OpenCL C source, u64 n + device key, u64 n + binary,
///   u64 checksum64 of the binary
///
/// Weight-only launches (packing weights) run once at capture on the host through the LLVM
/// backend, like on the CPU target; every other launch runs on the device.
///
/// Replay: write the inputs, enqueue every launch (arguments were set once, at load), copy
/// out, read the outputs, one clFinish. No allocation, no host synchronisation in between.
#include "runtime/CompiledSchedule.h"
#include "runtime/Compiler.h"
#include "runtime/OpenclDevice.h"

#include <memory>
#include <string>

namespace kiln {

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
  void run(const void *const *inputs, void *const *outputs, double *launch_ms = nullptr);
  /// How the program was obtained: "source", "binary" (from the cache), "source (rebuilt)".
  const std::string &program_origin() const { return origin_; }

  struct Impl;

private:
  friend std::unique_ptr<OpenclRunner> make_runner(OpenclDevice &, const Executable &,
                                                   std::unique_ptr<OpenclProgram>,
                                                   std::string origin);
  std::unique_ptr<Impl> impl_;
  std::string origin_;
};

struct OpenclCompiled {
  std::unique_ptr<Executable> exec;
  std::unique_ptr<OpenclRunner> runner;
};

/// The backend to give compile_graph (runtime/Compiler.h) so the OpenCL target runs exactly the
/// CPU target's pipeline up to code generation: it only collects the prepared kernels. Its
/// host_target() is "opencl" (the manifest's target) and its load() gives the (empty) host
/// module of a schedule loaded from a .kiln file.
/// `gpu_device`: the device is a GPU (else a CPU driver such as PoCL); it selects the tile
/// sizes of the GPU-shaped conv kernels (opencl_lower_options).
std::unique_ptr<CpuBackend> opencl_kernel_collector(bool gpu_device = true);

/// The lowering options of the OpenCL target (compile_graph calls it when `collector` is an
/// opencl_kernel_collector): GPU-shaped kernels (LowerOptions::gpu) with 4-lane chunks, one
/// per work item, for the simple ops.
void opencl_lower_options(const CpuBackend &collector, LowerOptions &lo);

/// After compile_graph(g, *collector, ...): renders and builds the program, captures the
/// schedule (weight-only launches on the host) and binds it to the device.
OpenclCompiled opencl_capture(OpenclDevice &dev, CpuBackend &collector, const CompileResult &cr);

/// Binds a schedule loaded from a .kiln file to `dev`: loads the cached binary when it was
/// built for this device and driver, else builds the source and says so on stderr in one
/// line. Throws CacheFileError("corrupt") for a damaged program section.
std::unique_ptr<OpenclRunner> opencl_load(OpenclDevice &dev, const Executable &exec,
                                          const std::string &file);

} // namespace kiln
