#include "codegen/llvm/LlvmBackend.h"

#include "codegen/llvm/KernelEmitter.h"
#include "ir/Diagnostics.h"
#include "ir/Error.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

namespace kiln {
namespace {

std::string to_string(llvm::Error err) { return llvm::toString(std::move(err)); }

/// Parallel compilation: at most this many threads, and a part has at least this many kernels
/// (a small module is not worth a thread).
constexpr size_t kMaxCompileThreads = 8;
constexpr size_t kKernelsPerPart = 8;

struct HostTarget {
  std::string triple;
  std::string cpu;
  std::string tm_features; ///< "+a,-b,..." for the TargetMachine, sorted
  std::string key;         ///< triple/cpu/+enabled,... sorted: the cache key part
};

HostTarget detect_host() {
  HostTarget h;
  h.triple = llvm::sys::getProcessTriple();
  if (const char *cpu = std::getenv("KILN_LLVM_CPU"); cpu && *cpu) {
    // Testing aid: code for an older CPU of this family (e.g. haswell, the AVX2 floor), which
    // still runs here. Its features are the ones the CPU name implies.
    h.cpu = cpu;
    h.key = h.triple + "/" + h.cpu + "/implied";
    return h;
  }
  h.cpu = llvm::sys::getHostCPUName().str();
  llvm::StringMap<bool> features;
  llvm::sys::getHostCPUFeatures(features);
  std::vector<std::pair<std::string, bool>> sorted;
  for (const auto &f : features)
    sorted.emplace_back(f.getKey().str(), f.getValue());
  std::sort(sorted.begin(), sorted.end());
  std::string enabled;
  for (const auto &[name, on] : sorted) {
    // Disabled features go to the TargetMachine too: the CPU name may imply a feature the OS
    // has switched off (e.g. AVX-512 state not enabled in XCR0).
    h.tm_features += (h.tm_features.empty() ? "" : ",") + std::string(on ? "+" : "-") + name;
    if (!on)
      continue;
    enabled += (enabled.empty() ? "+" : ",+") + name;
  }
  h.key = h.triple + "/" + h.cpu + "/" + enabled;
  return h;
}

void init_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

/// The process-wide JIT. Loaded modules share it (each in its own JITDylib) and keep it alive
/// through a shared_ptr, so static destruction order cannot leave one dangling.
struct Jit {
  std::mutex mu;
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  int next_dylib = 0;
};

class LlvmLoadedModule final : public LoadedModule {
public:
  LlvmLoadedModule(std::shared_ptr<Jit> jit, llvm::orc::JITDylib *jd, std::vector<KernelFn> fns)
      : jit_(std::move(jit)), jd_(jd), fns_(std::move(fns)) {}
  ~LlvmLoadedModule() override {
    std::lock_guard<std::mutex> lock(jit_->mu);
    // Frees the code memory; kernels of this module must not run any more.
    if (llvm::Error err = jit_->lljit->getExecutionSession().removeJITDylib(*jd_))
      llvm::consumeError(std::move(err));
  }
  KernelFn function(size_t kernel_index) const override {
    KILN_ASSERT(kernel_index < fns_.size(), "kernel index out of range");
    return fns_[kernel_index];
  }

private:
  std::shared_ptr<Jit> jit_;
  llvm::orc::JITDylib *jd_;
  std::vector<KernelFn> fns_;
};

/// Writes `text` to DIR/name when KILN_DUMP_LLVM=DIR is set.
void dump(const char *dir, const std::string &name, const std::string &text) {
  if (!dir)
    return;
  std::error_code ec;
  llvm::raw_fd_ostream os(std::string(dir) + "/" + name, ec, llvm::sys::fs::OF_Text);
  if (!ec)
    os << text;
}

std::string function_text(const llvm::Function *f) {
  std::string s;
  llvm::raw_string_ostream os(s);
  f->print(os);
  return s;
}

class LlvmCpuBackend final : public Backend {
public:
  // The first target machine is made here: it says whether the target has AVX-512F, which
  // the lowering's vector width depends on (every target machine is made alike).
  LlvmCpuBackend() : host_(detect_host()), jit_(std::make_shared<Jit>()) {
    tms_.push_back(make_target_machine());
    avx512_ = tms_[0]->getMCSubtargetInfo()->checkFeatures("+avx512f");
    fp16_ = tms_[0]->getMCSubtargetInfo()->checkFeatures("+avx512fp16");
  }

  std::string target_key() const override { return host_.key; }
  LoweringTarget lowering_target() const override {
    LoweringTarget t;
    t.vector_lanes_f32 = avx512_ ? 16 : 8;
    t.native_f16 = fp16_;
    return t;
  }
  CompiledModule compile(const std::vector<Kernel> &kernels) override;
  std::unique_ptr<LoadedModule> load(const CompiledModule &m) override;
  int codegen_runs() const override { return codegen_runs_.load(); }

private:
  std::unique_ptr<llvm::TargetMachine> make_target_machine();
  llvm::TargetMachine &target_machine(size_t part);
  /// Emits, optimises and code-generates kernels[i] for every i in `part` as one object.
  std::vector<uint8_t> compile_part(const std::vector<Kernel> &kernels,
                                    const std::vector<std::string> &symbols,
                                    const std::vector<size_t> &part, llvm::TargetMachine &tm);

  const HostTarget host_;
  std::mutex mu_; ///< guards compile (a TargetMachine is not thread-safe: one per part)
  std::vector<std::unique_ptr<llvm::TargetMachine>> tms_;
  /// The target machine has AVX-512F: 16-lane kernels, and ask LLVM for 512-bit vectors. Set
  /// once, in the constructor.
  bool avx512_ = false;
  bool fp16_ = false; ///< AVX512-FP16: half arithmetic in f16 kernels (vfmadd231ph)
  std::atomic<int> codegen_runs_{0};
  std::atomic<int> dump_counter_{0};
  std::shared_ptr<Jit> jit_;
};

std::unique_ptr<llvm::TargetMachine> LlvmCpuBackend::make_target_machine() {
  init_llvm_once();
  std::string err;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(host_.triple, err);
  if (!target)
    throw Error("llvm backend: no target for " + host_.triple + ": " + err);
  llvm::TargetOptions opts;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      host_.triple, host_.cpu, host_.tm_features, opts, llvm::Reloc::PIC_, llvm::CodeModel::Small,
      llvm::CodeGenOpt::Aggressive));
  if (!tm)
    throw Error("llvm backend: cannot create a target machine for " + host_.key);
  return tm;
}

llvm::TargetMachine &LlvmCpuBackend::target_machine(size_t part) {
  while (tms_.size() <= part)
    tms_.push_back(make_target_machine());
  return *tms_[part];
}

void optimise(llvm::Module &m, llvm::TargetMachine &tm) {
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  pto.LoopUnrolling = true;
  pto.LoopInterleaving = true;
  llvm::PassBuilder pb(&tm, pto);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

std::vector<uint8_t> emit_object(llvm::Module &m, llvm::TargetMachine &tm,
                                 llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, type))
    throw Error("llvm backend: the target cannot emit object code");
  pm.run(m);
  return std::vector<uint8_t>(buf.begin(), buf.end());
}

// A module's code is one ELF object, or, when it was compiled in parts on several threads,
// a bundle of them: "KOBJ" u32 count, then per object u64 size + bytes.
constexpr char kBundleMagic[4] = {'K', 'O', 'B', 'J'};

std::vector<uint8_t> bundle_objects(const std::vector<std::vector<uint8_t>> &objects) {
  if (objects.size() == 1)
    return objects[0];
  std::vector<uint8_t> out(kBundleMagic, kBundleMagic + 4);
  auto put = [&](const void *p, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t *>(p), static_cast<const uint8_t *>(p) + n);
  };
  uint32_t count = static_cast<uint32_t>(objects.size());
  put(&count, 4);
  for (const std::vector<uint8_t> &o : objects) {
    uint64_t size = o.size();
    put(&size, 8);
    put(o.data(), o.size());
  }
  return out;
}

std::vector<llvm::StringRef> unbundle_objects(const std::vector<uint8_t> &bytes) {
  const char *p = reinterpret_cast<const char *>(bytes.data());
  if (bytes.size() < 8 || std::memcmp(p, kBundleMagic, 4) != 0)
    return {llvm::StringRef(p, bytes.size())};
  uint32_t count = 0;
  std::memcpy(&count, p + 4, 4);
  std::vector<llvm::StringRef> objects;
  size_t at = 8;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t size = 0;
    if (bytes.size() - at < 8 || (std::memcpy(&size, p + at, 8), bytes.size() - at - 8 < size))
      throw Error("llvm backend: object bundle is truncated (object " + std::to_string(i + 1) +
                  " of " + std::to_string(count) + ")");
    objects.emplace_back(p + at + 8, size);
    at += 8 + size;
  }
  if (at != bytes.size())
    throw Error("llvm backend: object bundle has " + std::to_string(bytes.size() - at) +
                " bytes after its last object");
  return objects;
}

std::vector<uint8_t> LlvmCpuBackend::compile_part(const std::vector<Kernel> &kernels,
                                                  const std::vector<std::string> &symbols,
                                                  const std::vector<size_t> &part,
                                                  llvm::TargetMachine &tm) {
  const char *dump_dir = std::getenv("KILN_DUMP_LLVM");
  llvm::LLVMContext ctx;
  llvm::Module mod("kiln", ctx);
  mod.setTargetTriple(host_.triple);
  mod.setDataLayout(tm.createDataLayout());
  cpu::TargetAttrs attrs{host_.cpu, host_.tm_features, avx512_, fp16_};
  for (size_t i : part) {
    cpu::emit_kernel(mod, kernels[i], symbols[i], attrs);
    if (dump_dir) // the body: the exported wrapper only unpacks args[]
      dump(dump_dir, symbols[i] + ".ll", function_text(mod.getFunction(symbols[i] + ".body")));
  }
  std::string verify_errors;
  llvm::raw_string_ostream verify_os(verify_errors);
  KILN_ASSERT(!llvm::verifyModule(mod, &verify_os),
              "llvm backend emitted invalid IR: " + verify_errors);

  optimise(mod, tm);
  if (dump_dir) {
    for (size_t i : part)
      dump(dump_dir, symbols[i] + ".opt.ll", function_text(mod.getFunction(symbols[i])));
    // Code generation mutates the module, so the listing is made from a copy.
    std::unique_ptr<llvm::Module> copy = llvm::CloneModule(mod);
    std::vector<uint8_t> s = emit_object(*copy, tm, llvm::CGFT_AssemblyFile);
    dump(dump_dir, "module" + std::to_string(dump_counter_++) + ".s",
         std::string(s.begin(), s.end()));
  }
  return emit_object(mod, tm, llvm::CGFT_ObjectFile);
}

CompiledModule LlvmCpuBackend::compile(const std::vector<Kernel> &kernels) {
  std::lock_guard<std::mutex> lock(mu_);
  CompiledModule out;
  out.target = host_.key;
  // Kernel names need not be unique (two relu_f32 of different sizes): suffix repeats.
  std::set<std::string> used;
  for (const Kernel &k : kernels) {
    std::string sym = k.name;
    for (int n = 1; used.count(sym); ++n)
      sym = k.name + "." + std::to_string(n);
    used.insert(sym);
    out.kernel_names.push_back(sym);
  }
  // LLVM's optimiser and code generator run one function after another, so a model's kernels
  // are split into one module per core (kernel i into part i % parts: a model's big convs are
  // spread out), each compiled on its own thread with its own context and target machine.
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t parts =
      std::min({cores, kMaxCompileThreads, std::max<size_t>(1, kernels.size() / kKernelsPerPart)});
  std::vector<std::vector<size_t>> part(parts);
  for (size_t i = 0; i < kernels.size(); ++i)
    part[i % parts].push_back(i);
  for (size_t t = 0; t < parts; ++t)
    target_machine(t); // made here, not on the worker threads
  std::vector<std::vector<uint8_t>> objects(parts);
  std::vector<std::exception_ptr> errors(parts);
  // Progress goes to the caller's sink, also from the worker threads (which have none).
  const DiagnosticSink *sink = current_diagnostics();
  std::mutex progress_mu; // parts report in the order they finish, counting up
  int parts_done = 0;
  progress("codegen", 0, static_cast<int>(parts), sink);
  auto work = [&](size_t t) {
    try {
      objects[t] = compile_part(kernels, out.kernel_names, part[t], *tms_[t]);
      std::lock_guard lock(progress_mu);
      progress("codegen", ++parts_done, static_cast<int>(parts), sink);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < parts; ++t)
    threads.emplace_back(work, t);
  work(0);
  for (std::thread &th : threads)
    th.join();
  for (const std::exception_ptr &e : errors)
    if (e)
      std::rethrow_exception(e);
  out.object = bundle_objects(objects);
  ++codegen_runs_;
  return out;
}

std::unique_ptr<LoadedModule> LlvmCpuBackend::load(const CompiledModule &m) {
  if (m.target != host_.key)
    throw Error("llvm backend: code compiled for '" + m.target + "' cannot run on this host ('" +
                host_.key + "')");
  init_llvm_once();
  std::lock_guard<std::mutex> lock(jit_->mu);
  if (!jit_->lljit) {
    auto j = llvm::orc::LLJITBuilder().create();
    if (!j)
      throw Error("llvm backend: cannot start the JIT: " + to_string(j.takeError()));
    jit_->lljit = std::move(*j);
  }
  llvm::orc::LLJIT &lljit = *jit_->lljit;
  std::string name = "kiln.module." + std::to_string(jit_->next_dylib++);
  llvm::orc::JITDylib &jd = lljit.getExecutionSession().createBareJITDylib(name);
  // libm (f64 math, fmodf for float Mod) and memset/memcpy come from the process.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      lljit.getDataLayout().getGlobalPrefix());
  if (!gen)
    throw Error("llvm backend: cannot search process symbols: " + to_string(gen.takeError()));
  jd.addGenerator(std::move(*gen));
  auto fail = [&](const std::string &what, llvm::Error err) {
    std::string msg = to_string(std::move(err));
    llvm::consumeError(lljit.getExecutionSession().removeJITDylib(jd));
    throw Error("llvm backend: " + what + ": " + msg);
  };
  std::vector<llvm::StringRef> objects;
  try {
    objects = unbundle_objects(m.object);
  } catch (const Error &e) {
    llvm::consumeError(lljit.getExecutionSession().removeJITDylib(jd));
    throw;
  }
  for (llvm::StringRef bytes : objects)
    if (llvm::Error err =
            lljit.addObjectFile(jd, llvm::MemoryBuffer::getMemBufferCopy(bytes, name)))
      fail("cannot load object code", std::move(err));
  std::vector<KernelFn> fns;
  for (const std::string &k : m.kernel_names) {
    auto addr = lljit.lookup(jd, k);
    if (!addr)
      fail("kernel '" + k + "' not in object code", addr.takeError());
    fns.push_back(addr->toPtr<KernelFn>());
  }
  return std::make_unique<LlvmLoadedModule>(jit_, &jd, std::move(fns));
}

} // namespace

Backend &llvm_cpu_backend() {
  static LlvmCpuBackend backend;
  return backend;
}

} // namespace kiln
