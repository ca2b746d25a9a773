#include "runtime/Compiler.h"

#include "ir/Diagnostics.h"
#include "passes/KernelPasses.h"

#include <algorithm>
#include <elf.h>
#include <link.h>
#include <map>
#include <sstream>
#include <unordered_map>

#ifndef KILN_VERSION
#define KILN_VERSION "0.1.0"
#endif
#ifndef KILN_LLVM_VERSION
#define KILN_LLVM_VERSION "15"
#endif

namespace kiln {

Pipeline check_pipeline(const std::string &pipeline) {
  try {
    return parse_pipeline(pipeline);
  } catch (const Error &e) {
    throw Error("unknown pass pipeline '" + pipeline + "': " + e.what());
  }
}

LowerOptions lower_options(const LoweringTarget &t, const Pipeline &passes,
                           const ConvTuning *conv_tuning) {
  LowerOptions lo;
  lo.vector_lanes_f32 = t.vector_lanes_f32;
  lo.native_f16 = t.native_f16;
  lo.gpu = t.gpu;
  lo.gpu_device = t.gpu_device;
  lo.task_elems = t.task_elems;
  lo.tile = passes.has("tile");
  lo.tile_oc = passes.tile_oc;
  lo.tile_px = passes.tile_px;
  lo.conv_tuning = conv_tuning;
  return lo;
}

DType parse_precision(const std::string &name) {
  if (name == "f32" || name == "fp32")
    return DType::f32;
  if (name == "f16" || name == "fp16")
    return DType::f16;
  if (name == "bf16")
    return DType::bf16;
  throw Error("unknown precision '" + name + "' (valid: f32, f16, bf16)");
}

namespace {

/// `precision` runs whenever the session asks for a low precision, whatever the pipeline says:
/// after the cleanup passes (so BatchNorm folds in f32), before fusion and layout.
void insert_precision_pass(Pipeline &p) {
  auto &v = p.passes;
  v.erase(std::remove(v.begin(), v.end(), "precision"), v.end());
  size_t at = 0;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == "fold" || v[i] == "dce" || v[i] == "cse" || v[i] == "bnfold")
      at = i + 1;
  v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), "precision");
}

} // namespace

CompileResult compile_graph(Graph &g, Backend &backend, const std::string &pipeline,
                            const PassOptions &pass_options, PassReport *report,
                            const ConvTuning *conv_tuning) {
  Pipeline passes = check_pipeline(pipeline);
  if (pass_options.precision != DType::f32)
    insert_precision_pass(passes);
  const LoweringTarget target = backend.lowering_target();
  PassOptions graph_options = pass_options;
  // The blocked layout's channel block is one vector (f16: of f16 lanes where the target
  // computes f16 natively); the GPU lowering keeps NCHW.
  graph_options.layout_block = target.gpu ? 0 : target.vector_lanes_f32;
  graph_options.layout_block_f16 =
      target.gpu ? 0 : target.vector_lanes_f32 * (target.native_f16 ? 2 : 1);
  progress("passes", 0, 1);
  run_graph_passes(g, passes, graph_options, report);
  progress("passes", 1, 1);
  progress("lower", 0, 1);
  CompileResult r;
  LowerOptions lo = lower_options(target, passes, conv_tuning);
  // f16 accumulators are what --precision f16 asks for; an fp16 model keeps f32 sums (its
  // exporter's numbers, as ONNX Runtime computes them).
  lo.native_f16 = lo.native_f16 && pass_options.precision == DType::f16;
  r.program = lower(g, lo);
  r.program.plan_memory = passes.has("memplan");
  run_program_passes(r.program, passes, pass_options, report);

  // Identical kernels (same name and body: e.g. two equal 3x3 convs) are compiled once.
  std::unordered_map<std::string, int> by_text;
  std::map<std::string, int> name_uses;
  std::vector<Kernel> kernels;
  for (const Launch &l : r.program.launches) {
    std::string text = kernel_to_string(l.kernel);
    auto it = by_text.find(text);
    if (it != by_text.end()) {
      r.launch_kernel.push_back(it->second);
      continue;
    }
    Kernel k = prepare_for_codegen(l.kernel);
    // Names are unique in a module (the backends derive symbols from them, profiles show them):
    // a second kernel named like an earlier one gets _N.
    int n = name_uses[k.name]++;
    if (n > 0)
      k.name += "_" + std::to_string(n);
    int idx = static_cast<int>(kernels.size());
    by_text.emplace(std::move(text), idx);
    r.launch_kernel.push_back(idx);
    kernels.push_back(std::move(k));
  }
  progress("lower", 1, 1);
  r.module = backend.compile(kernels);
  KILN_ASSERT(r.module.kernel_names.size() == kernels.size(), "backend: one name per kernel");
  return r;
}

namespace {

// The GNU build id of the object Kiln's code was linked into (unique per link): the `kiln`
// executable, libkiln.so or whatever links the static libraries; "" when it has none. Not the
// main executable's: an application's own build says nothing about the libkiln it loads.
std::string kiln_build_id() {
  struct Search {
    uintptr_t code = reinterpret_cast<uintptr_t>(&kiln_build_id);
    std::string id;
  } search;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *arg) -> int {
        auto &s = *static_cast<Search *>(arg);
        bool ours = false;
        for (int i = 0; i < info->dlpi_phnum && !ours; ++i) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
          ours = ph.p_type == PT_LOAD && s.code >= begin && s.code < begin + ph.p_memsz;
        }
        if (!ours)
          return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE)
            continue;
          auto *p = reinterpret_cast<const uint8_t *>(info->dlpi_addr + ph.p_vaddr);
          const uint8_t *end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            auto *nh = reinterpret_cast<const ElfW(Nhdr) *>(p);
            const uint8_t *name = p + sizeof(ElfW(Nhdr));
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && desc + nh->n_descsz <= end) {
              static const char *hex = "0123456789abcdef";
              for (uint32_t k = 0; k < nh->n_descsz; ++k) {
                s.id += hex[desc[k] >> 4];
                s.id += hex[desc[k] & 15];
              }
              return 1;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
          }
        }
        return 1; // the object holding Kiln's code has no build id
      },
      &search);
  return search.id;
}

} // namespace

const std::string &compiler_release() {
  static const std::string r = "kiln " KILN_VERSION " (LLVM " KILN_LLVM_VERSION ")";
  return r;
}

const std::string &compiler_identity() {
  static const std::string id = [] {
    std::string s = compiler_release();
    std::string build = kiln_build_id();
    return build.empty() ? s : s + " build " + build;
  }();
  return id;
}

} // namespace kiln
