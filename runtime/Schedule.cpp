#include "runtime/Schedule.h"

#include "passes/MemPlan.h"
#include "runtime/CacheFile.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>

namespace kiln {

namespace {

int64_t align_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

int64_t buffer_bytes(const BufferDecl &b) {
  return shape_numel(b.shape, "buffer '" + b.name + "'") *
         static_cast<int64_t>(dtype_size(b.dtype));
}

const char *place_name(Place p) {
  switch (p) {
  case Place::None: return "none";
  case Place::Input: return "input";
  case Place::Output: return "output";
  case Place::Weights: return "weights";
  case Place::Arena: return "arena";
  }
  return "none";
}

Place parse_place(const std::string &s) {
  for (Place p : {Place::None, Place::Input, Place::Output, Place::Weights, Place::Arena})
    if (s == place_name(p))
      return p;
  throw CacheFileError("corrupt", "manifest: unknown buffer place '" + s + "'");
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

std::unique_ptr<Executable> Executable::capture(const Program &p,
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
  auto ex = std::unique_ptr<Executable>(new Executable);
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

  const MemPlan plan = plan_memory(p); // passes/MemPlan.h
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
  ex->link(*loaded);
  ex->loaded_ = std::move(loaded);
  return ex;
}

std::unique_ptr<Executable> Executable::from_cache(ScheduleDesc desc,
                                                   std::unique_ptr<CacheFile> file,
                                                   std::unique_ptr<LoadedModule> loaded) {
  auto ex = std::unique_ptr<Executable>(new Executable);
  ex->desc_ = std::move(desc);
  ex->weights_ = file->weights();
  ex->object_ = file->object();
  ex->file_ = std::move(file);
  ex->link(*loaded);
  ex->loaded_ = std::move(loaded);
  return ex;
}

Executable::~Executable() = default;

// ---- replay ----

void Executable::link(LoadedModule &loaded) {
  arena_ = AlignedBytes(static_cast<size_t>(desc_.arena_bytes));
  std::vector<KernelFn> fns(desc_.kernel_names.size());
  for (size_t k = 0; k < fns.size(); ++k)
    fns[k] = loaded.function(k);
  size_t slots = 0;
  for (const LaunchDesc &l : desc_.launches)
    slots += l.args.size();
  table_.assign(slots, nullptr);
  ops_.clear();
  size_t at = 0;
  for (const LaunchDesc &l : desc_.launches) {
    ops_.push_back({fns[l.kernel], table_.data() + at, l.extent});
    for (int b : l.args) {
      const SlotDesc &s = desc_.buffers[b];
      if (s.place == Place::Input)
        input_patches_.push_back({at, s.io, s.offset});
      else if (s.place == Place::Output)
        output_patches_.push_back({at, s.io, s.offset});
      else
        table_[at] = slot_ptr(b, nullptr, nullptr);
      ++at;
    }
  }
}

uint8_t *Executable::slot_ptr(int buffer, const void *const *inputs, void *const *outputs) const {
  const SlotDesc &s = desc_.buffers[buffer];
  switch (s.place) {
  case Place::Input: return static_cast<uint8_t *>(const_cast<void *>(inputs[s.io])) + s.offset;
  case Place::Output: return static_cast<uint8_t *>(outputs[s.io]) + s.offset;
  case Place::Weights: return weights_ + s.offset;
  case Place::Arena: return arena_.data() + s.offset;
  case Place::None: break;
  }
  KILN_ASSERT(false, "buffer '" + s.name + "' has no place in the schedule");
  return nullptr;
}

void Executable::run(ThreadPool &pool, const void *const *inputs, void *const *outputs,
                     double *launch_ms) {
  for (const Patch &x : input_patches_)
    table_[x.slot] = static_cast<uint8_t *>(const_cast<void *>(inputs[x.io])) + x.offset;
  for (const Patch &x : output_patches_)
    table_[x.slot] = static_cast<uint8_t *>(outputs[x.io]) + x.offset;
  if (launch_ms) {
    for (size_t i = 0; i < ops_.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      pool.launch(ops_[i].fn, ops_[i].args, ops_[i].extent);
      launch_ms[i] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
  } else {
    for (const Op &op : ops_)
      pool.launch(op.fn, op.args, op.extent);
  }
  for (auto [o, b] : desc_.output_copies)
    std::memcpy(outputs[o], slot_ptr(b, inputs, outputs), desc_.buffers[b].bytes);
}

// ---- manifest ----

nlohmann::json schedule_to_json(const ScheduleDesc &d) {
  nlohmann::json bufs = nlohmann::json::array();
  for (const SlotDesc &s : d.buffers) {
    nlohmann::json b = {{"name", s.name},     {"dtype", dtype_name(s.dtype)},
                        {"shape", s.shape},   {"place", place_name(s.place)},
                        {"offset", s.offset}, {"bytes", s.bytes},
                        {"io", s.io}};
    if (s.view_of >= 0)
      b["view_of"] = s.view_of;
    bufs.push_back(std::move(b));
  }
  nlohmann::json launches = nlohmann::json::array();
  for (const LaunchDesc &l : d.launches)
    launches.push_back(
        {{"kernel", l.kernel}, {"args", l.args}, {"extent", l.extent}, {"node", l.node}});
  return {{"buffers", bufs},
          {"inputs", d.inputs},
          {"outputs", d.outputs},
          {"output_copies", d.output_copies},
          {"launches", launches},
          {"kernels", d.kernel_names},
          {"weight_only_launches", d.weight_only_launches},
          {"arena_bytes", d.arena_bytes},
          {"arena_lower_bound_bytes", d.arena_lower_bound_bytes},
          {"arena_naive_bytes", d.arena_naive_bytes},
          {"weights_bytes", d.weights_bytes}};
}

ScheduleDesc schedule_from_json(const nlohmann::json &j, size_t weights_size) {
  ScheduleDesc d;
  auto bad = [](const std::string &what) { return CacheFileError("corrupt", "manifest: " + what); };
  try {
    d.inputs = j.at("inputs").get<std::vector<int>>();
    d.outputs = j.at("outputs").get<std::vector<int>>();
    d.output_copies = j.at("output_copies").get<std::vector<std::pair<int, int>>>();
    d.kernel_names = j.at("kernels").get<std::vector<std::string>>();
    d.weight_only_launches = j.at("weight_only_launches").get<int>();
    d.arena_bytes = j.at("arena_bytes").get<int64_t>();
    d.weights_bytes = j.at("weights_bytes").get<int64_t>();
    d.arena_lower_bound_bytes = j.value("arena_lower_bound_bytes", int64_t(0));
    d.arena_naive_bytes = j.value("arena_naive_bytes", int64_t(0));
    for (const auto &b : j.at("buffers")) {
      SlotDesc s;
      s.name = b.at("name").get<std::string>();
      std::optional<DType> t = parse_dtype(b.at("dtype").get<std::string>());
      if (!t)
        throw bad("buffer '" + s.name + "' has an unknown dtype");
      s.dtype = *t;
      s.shape = b.at("shape").get<Shape>();
      s.place = parse_place(b.at("place").get<std::string>());
      s.offset = b.at("offset").get<int64_t>();
      s.bytes = b.at("bytes").get<int64_t>();
      s.io = b.at("io").get<int>();
      s.view_of = b.value("view_of", -1);
      d.buffers.push_back(std::move(s));
    }
    for (const auto &l : j.at("launches"))
      d.launches.push_back({l.at("kernel").get<int>(), l.at("args").get<std::vector<int>>(),
                            l.at("extent").get<int64_t>(), l.at("node").get<std::string>()});
  } catch (const nlohmann::json::exception &e) {
    throw bad(e.what());
  }

  // Never trust the manifest: every index and byte range must be in bounds.
  const int nb = static_cast<int>(d.buffers.size());
  if (d.arena_bytes < 0 || d.arena_bytes > (int64_t(1) << 40) || d.weights_bytes < 0 ||
      size_t(d.weights_bytes) > weights_size)
    throw bad("arena or weights size out of range");
  for (const SlotDesc &s : d.buffers) {
    int64_t numel = 1;
    for (int64_t x : s.shape)
      numel = x < 0 || (x > 0 && numel > (int64_t(1) << 40) / x) ? -1 : numel * x;
    if (numel < 0 || s.bytes != numel * int64_t(dtype_size(s.dtype)) || s.offset < 0)
      throw bad("buffer '" + s.name + "' has an inconsistent size");
    int64_t limit = s.place == Place::Weights ? d.weights_bytes
                    : s.place == Place::Arena ? d.arena_bytes
                                              : std::numeric_limits<int64_t>::max();
    if (s.offset > limit || s.bytes > limit - s.offset)
      throw bad("buffer '" + s.name + "' lies outside its block");
    const std::vector<int> &io = s.place == Place::Input ? d.inputs : d.outputs;
    bool is_io = s.place == Place::Input || s.place == Place::Output;
    if (is_io && (s.io < 0 || s.io >= int(io.size())))
      throw bad("buffer '" + s.name + "' has a bad input/output index");
    // A view into an input or output tensor must lie inside it.
    if (is_io && s.offset != 0) {
      int whole = io[s.io];
      if (whole < 0 || whole >= nb || s.bytes > d.buffers[whole].bytes - s.offset)
        throw bad("buffer '" + s.name + "' lies outside its input/output tensor");
    }
    if (s.view_of < -1 || s.view_of >= nb)
      throw bad("buffer '" + s.name + "' is a view of a buffer out of range");
  }
  auto check_buffer = [&](int b) {
    if (b < 0 || b >= nb || d.buffers[b].place == Place::None)
      throw bad("buffer index " + std::to_string(b) + " out of range");
  };
  for (size_t i = 0; i < d.inputs.size(); ++i) {
    check_buffer(d.inputs[i]);
    if (d.buffers[d.inputs[i]].place != Place::Input || d.buffers[d.inputs[i]].io != int(i))
      throw bad("input " + std::to_string(i) + " is not bound to an input slot");
  }
  for (int b : d.outputs)
    if (b < 0 || b >= nb)
      throw bad("output buffer out of range");
  for (auto [o, b] : d.output_copies) {
    check_buffer(b);
    if (o < 0 || o >= int(d.outputs.size()) || d.outputs[o] != b ||
        d.buffers[b].bytes != d.buffers[d.outputs[o]].bytes)
      throw bad("bad output copy");
  }
  for (const LaunchDesc &l : d.launches) {
    if (l.kernel < 0 || l.kernel >= int(d.kernel_names.size()) || l.extent < 0)
      throw bad("launch of node '" + l.node + "' is out of range");
    for (int b : l.args)
      check_buffer(b);
  }
  return d;
}

} // namespace kiln
