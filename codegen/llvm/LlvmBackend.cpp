#include "codegen/llvm/LlvmBackend.h"

#include "codegen/llvm/KernelEmitter.h"
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
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>

namespace kiln {
namespace {

std::string to_string(llvm::Error err) { return llvm::toString(std::move(err)); }

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

class LlvmCpuBackend final : public CpuBackend {
public:
  LlvmCpuBackend() : host_(detect_host()), jit_(std::make_shared<Jit>()) {}

  std::string host_target() const override { return host_.key; }
  CompiledModule compile(const std::vector<Kernel> &kernels) override;
  std::unique_ptr<LoadedModule> load(const CompiledModule &m) override;
  int codegen_runs() const override { return codegen_runs_.load(); }

private:
  llvm::TargetMachine &target_machine();
  void optimise(llvm::Module &m);
  std::vector<uint8_t> emit_object(llvm::Module &m, llvm::CodeGenFileType type);

  const HostTarget host_;
  std::mutex mu_; ///< guards compile (the TargetMachine is not thread-safe)
  std::unique_ptr<llvm::TargetMachine> tm_;
  bool avx512_ = false; ///< the target machine has AVX-512F: ask for 512-bit vectors
  std::atomic<int> codegen_runs_{0};
  std::atomic<int> dump_counter_{0};
  std::shared_ptr<Jit> jit_;
};

llvm::TargetMachine &LlvmCpuBackend::target_machine() {
  if (tm_)
    return *tm_;
  init_llvm_once();
  std::string err;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(host_.triple, err);
  if (!target)
    throw Error("llvm backend: no target for " + host_.triple + ": " + err);
  llvm::TargetOptions opts;
  tm_.reset(target->createTargetMachine(host_.triple, host_.cpu, host_.tm_features, opts,
                                        llvm::Reloc::PIC_, llvm::CodeModel::Small,
                                        llvm::CodeGenOpt::Aggressive));
  if (!tm_)
    throw Error("llvm backend: cannot create a target machine for " + host_.key);
  avx512_ = tm_->getMCSubtargetInfo()->checkFeatures("+avx512f");
  return *tm_;
}

void LlvmCpuBackend::optimise(llvm::Module &m) {
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  pto.LoopUnrolling = true;
  pto.LoopInterleaving = true;
  llvm::PassBuilder pb(&target_machine(), pto);
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

std::vector<uint8_t> LlvmCpuBackend::emit_object(llvm::Module &m, llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::legacy::PassManager pm;
  if (target_machine().addPassesToEmitFile(pm, os, nullptr, type))
    throw Error("llvm backend: the target cannot emit object code");
  pm.run(m);
  return std::vector<uint8_t>(buf.begin(), buf.end());
}

CompiledModule LlvmCpuBackend::compile(const std::vector<Kernel> &kernels) {
  std::lock_guard<std::mutex> lock(mu_);
  llvm::TargetMachine &tm = target_machine();
  const char *dump_dir = std::getenv("KILN_DUMP_LLVM");

  CompiledModule out;
  out.target = host_.key;
  llvm::LLVMContext ctx;
  llvm::Module mod("kiln", ctx);
  mod.setTargetTriple(host_.triple);
  mod.setDataLayout(tm.createDataLayout());
  cpu::TargetAttrs attrs{host_.cpu, host_.tm_features, avx512_};
  // Kernel names need not be unique (two relu_f32 of different sizes): suffix repeats.
  std::set<std::string> used;
  for (const Kernel &k : kernels) {
    std::string sym = k.name;
    for (int n = 1; used.count(sym); ++n)
      sym = k.name + "." + std::to_string(n);
    used.insert(sym);
    cpu::emit_kernel(mod, k, sym, attrs);
    if (dump_dir) // the body: the exported wrapper only unpacks args[]
      dump(dump_dir, sym + ".ll", function_text(mod.getFunction(sym + ".body")));
    out.kernel_names.push_back(sym);
  }
  std::string verify_errors;
  llvm::raw_string_ostream verify_os(verify_errors);
  KILN_ASSERT(!llvm::verifyModule(mod, &verify_os),
              "llvm backend emitted invalid IR: " + verify_errors);

  optimise(mod);
  if (dump_dir) {
    for (const std::string &sym : out.kernel_names)
      dump(dump_dir, sym + ".opt.ll", function_text(mod.getFunction(sym)));
    // Code generation mutates the module, so the listing is made from a copy.
    std::unique_ptr<llvm::Module> copy = llvm::CloneModule(mod);
    std::vector<uint8_t> s = emit_object(*copy, llvm::CGFT_AssemblyFile);
    dump(dump_dir, "module" + std::to_string(dump_counter_++) + ".s",
         std::string(s.begin(), s.end()));
  }
  out.object = emit_object(mod, llvm::CGFT_ObjectFile);
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
  llvm::StringRef bytes(reinterpret_cast<const char *>(m.object.data()), m.object.size());
  if (llvm::Error err = lljit.addObjectFile(jd, llvm::MemoryBuffer::getMemBufferCopy(bytes, name)))
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

CpuBackend &llvm_cpu_backend() {
  static LlvmCpuBackend backend;
  return backend;
}

} // namespace kiln
