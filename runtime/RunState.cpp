#include "runtime/RunState.h"

#include "ir/Error.h"

#include <chrono>
#include <cstring>

namespace kiln {

RunState::RunState(const CompiledSchedule &schedule)
    : schedule_(&schedule), arena_(static_cast<size_t>(schedule.desc().arena_bytes)) {
  const ScheduleDesc &d = schedule.desc();
  const std::vector<KernelFn> &fns = schedule.launch_fns();
  size_t slots = 0;
  for (const LaunchDesc &l : d.launches)
    slots += l.args.size();
  table_.assign(slots, nullptr);
  ops_.reserve(d.launches.size());
  size_t at = 0;
  for (size_t i = 0; i < d.launches.size(); ++i) {
    const LaunchDesc &l = d.launches[i];
    ops_.push_back({fns[i], table_.data() + at, l.extent});
    for (int b : l.args) {
      const SlotDesc &s = d.buffers[b];
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

uint8_t *RunState::slot_ptr(int buffer, const void *const *inputs, void *const *outputs) const {
  const SlotDesc &s = schedule_->desc().buffers[buffer];
  switch (s.place) {
  case Place::Input: return static_cast<uint8_t *>(const_cast<void *>(inputs[s.io])) + s.offset;
  case Place::Output: return static_cast<uint8_t *>(outputs[s.io]) + s.offset;
  case Place::Weights: return schedule_->weights_data() + s.offset;
  case Place::Arena: return arena_.data() + s.offset;
  case Place::None: break;
  }
  KILN_ASSERT(false, "buffer '" + s.name + "' has no place in the schedule");
  return nullptr;
}

void RunState::run(ThreadPool &pool, const void *const *inputs, void *const *outputs,
                   LaunchTimes *times) {
  for (const Patch &x : input_patches_)
    table_[x.slot] = static_cast<uint8_t *>(const_cast<void *>(inputs[x.io])) + x.offset;
  for (const Patch &x : output_patches_)
    table_[x.slot] = static_cast<uint8_t *>(outputs[x.io]) + x.offset;
  if (times) {
    using ms = std::chrono::duration<double, std::milli>;
    std::chrono::steady_clock::time_point start;
    for (size_t i = 0; i < ops_.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      if (i == 0)
        start = t0;
      pool.launch(ops_[i].fn, ops_[i].args, ops_[i].extent);
      times->ms[i] += ms(std::chrono::steady_clock::now() - t0).count();
      times->start_ms[i] += ms(t0 - start).count();
    }
  } else {
    for (const Op &op : ops_)
      pool.launch(op.fn, op.args, op.extent);
  }
  const ScheduleDesc &d = schedule_->desc();
  for (auto [o, b] : d.output_copies)
    std::memcpy(outputs[o], slot_ptr(b, inputs, outputs), d.buffers[b].bytes);
}

std::vector<LaunchProfile> LaunchTimes::profile(const ScheduleDesc &d) const {
  std::vector<LaunchProfile> r;
  if (runs == 0)
    return r;
  for (size_t i = 0; i < d.launches.size(); ++i) {
    const LaunchDesc &l = d.launches[i];
    r.push_back({l.node, d.kernel_names[l.kernel], l.extent, ms[i] / runs, start_ms[i] / runs});
  }
  return r;
}

} // namespace kiln
