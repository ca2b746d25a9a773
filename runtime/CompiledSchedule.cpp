#include "runtime/CompiledSchedule.h"

#include "passes/MemPlan.h"
#include "runtime/CacheFile.h"

#include <algorithm>
#include <cstring>

namespace kiln {

namespace {

int64_t align_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

int64_t buffer_bytes(const BufferDecl &b) {
  return shape_numel(b.shape, "buffer '" + b.name + "'") *
         static_cast<int64_t>(dtype_size(b.dtype));
}

} // namespace

// ---- aligned memory ----

AlignedBytes::AlignedBytes(size_t n) : size_(n) {
  size_t alloc = std::max<size_t>(64, (n + 63) / 64 * 64);
  auto *p = static_cast<uint8_t *>(::operator new (alloc, std::align_val_t{64}));
  std::memset(p, 0, alloc);
  data_.reset(p);
}

void AlignedBytes::Free::operator()(uint8_t *p) const {
  ::operator delete (p, std::align_val_t{64});
}

// ---- capture ----

std::unique_ptr<CompiledSchedule> CompiledSchedule::capture(const Program &p,
                                                            const std::vector<int> &launch_kernel,
                                                            CompiledModule module,
                                                            std::unique_ptr<LoadedModule> loaded) {
  using Kind = BufferDecl::Kind;
  const size_t nb = p.buffers.size(), nl = p.launches.size();
  KILN_ASSERT(launch_kernel.size() == nl, "capture: one kernel per launch");
  std::vector<int64_t> bytes(nb);
  for (size_t b = 0; b < nb; ++b)
    bytes[b] = buffer_bytes(p.buffers[b]);

  // A weight-only launch stays one only if it touches no input or output: an output that
  // depends only on weights must still be written into the caller's buffer on every run.
  std::vector<bool> weight_launch(nl, false), in_capture(nb, false);
  for (size_t i = 0; i < nl; ++i) {
    const Launch &l = p.launches[i];
    KILN_ASSERT(l.args.size() == l.kernel.params.size(), "launch '" + l.kernel.name + "': arity");
    weight_launch[i] = l.weight_only && std::none_of(l.args.begin(), l.args.end(), [&](int b) {
                         Kind k = p.buffers[b].kind;
                         return k == Kind::Input || k == Kind::Output;
                       });
    if (weight_launch[i])
      for (int b : l.args)
        in_capture[b] = true;
  }
  for (size_t b = 0; b < nb; ++b)
    in_capture[b] = in_capture[b] || p.buffers[b].kind == Kind::Constant;

  // The capture block: every constant and everything the weight-only launches touch.
  std::vector<int64_t> cap_off(nb, -1);
  int64_t cap_bytes = 0;
  for (size_t b = 0; b < nb; ++b)
    if (in_capture[b]) {
      cap_off[b] = cap_bytes;
      cap_bytes += align_up(bytes[b], 64);
    }
  AlignedBytes cap(static_cast<size_t>(cap_bytes));
  for (size_t b = 0; b < nb; ++b) {
    const BufferDecl &d = p.buffers[b];
    if (d.kind != Kind::Constant)
      continue;
    KILN_ASSERT(d.constant && d.constant->nbytes() == size_t(bytes[b]),
                "constant buffer '" + d.name + "' has no data of its size");
    std::memcpy(cap.data() + cap_off[b], d.constant->raw(), d.constant->nbytes());
  }
  int weight_only = 0;
  std::vector<void *> args;
  for (size_t i = 0; i < nl; ++i) {
    if (!weight_launch[i])
      continue;
    ++weight_only;
    args.clear();
    for (int b : p.launches[i].args)
      args.push_back(cap.data() + cap_off[b]);
    KernelFn fn = loaded->function(launch_kernel[i]);
    int64_t extent = p.launches[i].kernel.parallel_extent;
    if (extent > 0)
      fn(args.data(), 0, extent);
  }

  // The schedule: replay launches, slots, and which weights the replay still reads.
  auto ex = std::unique_ptr<CompiledSchedule>(new CompiledSchedule);
  ScheduleDesc &d = ex->desc_;
  d.kernel_names = module.kernel_names;
  d.weight_only_launches = weight_only;
  d.buffers.resize(nb);
  std::vector<int> first(nb, -1), last(nb, -1);
  for (size_t i = 0; i < nl; ++i) {
    if (weight_launch[i])
      continue;
    const Launch &l = p.launches[i];
    int idx = static_cast<int>(d.launches.size());
    d.launches.push_back({launch_kernel[i], l.args, l.kernel.parallel_extent, l.node});
    for (int b : l.args) {
      if (first[b] < 0)
        first[b] = idx;
      last[b] = idx;
    }
  }
  int end = static_cast<int>(d.launches.size());
  for (size_t b = 0; b < nb; ++b) {
    const BufferDecl &bd = p.buffers[b];
    d.buffers[b] = {bd.name, bd.dtype, bd.shape, Place::None, 0, bytes[b], -1, -1};
  }
  // Views share their root's memory: the root lives from the first write of any of its views
  // to the last read of any of them, and only roots are placed.
  std::vector<int> root(nb);
  std::vector<int64_t> root_off(nb, 0);
  for (size_t b = 0; b < nb; ++b) {
    int r = static_cast<int>(b);
    for (size_t hops = 0; p.buffers[r].alias_of >= 0; ++hops) {
      KILN_ASSERT(hops < nb && p.buffers[r].alias_of < int(nb),
                  "buffer '" + p.buffers[b].name + "': alias chain is broken");
      root_off[b] += p.buffers[r].alias_offset;
      r = p.buffers[r].alias_of;
    }
    root[b] = r;
    if (r == int(b))
      continue;
    KILN_ASSERT(!in_capture[b] && !in_capture[r] && p.buffers[b].kind == Kind::Intermediate,
                "buffer '" + p.buffers[b].name + "': a view of a weight, input or output slot");
    KILN_ASSERT(root_off[b] >= 0 && root_off[b] + bytes[b] <= bytes[r],
                "buffer '" + p.buffers[b].name + "' lies outside the buffer it views");
    if (first[b] < 0)
      continue;
    first[r] = first[r] < 0 ? first[b] : std::min(first[r], first[b]);
    last[r] = std::max(last[r], last[b]);
  }
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    SlotDesc &s = d.buffers[p.inputs[i]];
    s.place = Place::Input;
    s.io = static_cast<int>(i);
  }
  d.inputs = p.inputs;
  d.outputs = p.outputs;
  for (size_t o = 0; o < p.outputs.size(); ++o) {
    int b = p.outputs[o];
    SlotDesc &s = d.buffers[b];
    if (p.buffers[b].kind == Kind::Output && s.place == Place::None) {
      s.place = Place::Output;
      s.io = static_cast<int>(o);
      continue;
    }
    d.output_copies.push_back({static_cast<int>(o), b});
    if (first[b] < 0)
      first[b] = end;
    last[b] = end; // a copied-out buffer lives to the end of the run
  }

  const MemPlan plan = plan_memory(p); // passes/MemPlan.h: plan, then allocate
  for (size_t b = 0; b < nb; ++b) {
    SlotDesc &s = d.buffers[b];
    if (s.place != Place::None || first[b] < 0 || root[b] != int(b))
      continue;
    if (in_capture[b]) {
      s.place = Place::Weights;
      s.offset = d.weights_bytes;
      d.weights_bytes += align_up(bytes[b], 64);
      continue;
    }
    s.place = Place::Arena;
    s.offset = plan.offset[b];
    KILN_ASSERT(s.offset >= 0, "buffer '" + s.name + "': not in the memory plan's arena");
  }
  d.arena_bytes = plan.arena_bytes;
  d.arena_lower_bound_bytes = plan.lower_bound;
  d.arena_naive_bytes = plan.naive_bytes;
  for (size_t b = 0; b < nb; ++b) {
    if (root[b] == int(b))
      continue;
    const SlotDesc &r = d.buffers[root[b]];
    SlotDesc &s = d.buffers[b];
    s.place = r.place;
    s.io = r.io;
    s.offset = r.offset + root_off[b];
    s.view_of = root[b];
  }

  ex->weights_storage_ = AlignedBytes(static_cast<size_t>(d.weights_bytes));
  ex->weights_ = ex->weights_storage_.data();
  for (size_t b = 0; b < nb; ++b)
    if (d.buffers[b].place == Place::Weights)
      std::memcpy(ex->weights_ + d.buffers[b].offset, cap.data() + cap_off[b], bytes[b]);
  ex->object_storage_ = std::move(module.object);
  ex->object_ = ex->object_storage_;
  ex->link(std::move(loaded));
  return ex;
}

std::unique_ptr<CompiledSchedule>
CompiledSchedule::from_cache(ScheduleDesc desc, std::unique_ptr<CacheFile> file,
                             std::unique_ptr<LoadedModule> loaded) {
  auto ex = std::unique_ptr<CompiledSchedule>(new CompiledSchedule);
  ex->desc_ = std::move(desc);
  ex->weights_ = file->weights();
  ex->object_ = file->object();
  ex->file_ = std::move(file);
  ex->link(std::move(loaded));
  return ex;
}

CompiledSchedule::~CompiledSchedule() = default;

void CompiledSchedule::link(std::unique_ptr<LoadedModule> loaded) {
  launch_fns_.clear();
  launch_fns_.reserve(desc_.launches.size());
  for (const LaunchDesc &l : desc_.launches)
    launch_fns_.push_back(loaded->function(static_cast<size_t>(l.kernel)));
  loaded_ = std::move(loaded);
}

} // namespace kiln
