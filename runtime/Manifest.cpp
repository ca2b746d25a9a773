// The schedule's JSON form (the manifest section of a .kiln file), and its bounds checks.
#include "runtime/Manifest.h"

#include "runtime/CacheFile.h"

#include <limits>
#include <optional>

namespace kiln {

namespace {

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
