#include "runtime/Binding.h"

#include "ir/Diagnostics.h"
#include "ir/Tensor.h"

#include <cstdio>

namespace kiln {

std::string type_str(ElementType t, const std::vector<int64_t> &shape) {
  return std::string(element_type_name(t)) + "[" + shape_str(shape) + "]";
}

Status match_inputs(const std::vector<TensorInfo> &model, const std::vector<NamedTensor> &in,
                    std::vector<const HostTensor *> &found) {
  found.assign(model.size(), nullptr);
  for (const NamedTensor &t : in) {
    bool known = false;
    for (size_t i = 0; i < model.size(); ++i)
      if (model[i].name == t.name) {
        known = true;
        if (!found[i])
          found[i] = &t.tensor;
      }
    if (known)
      continue;
    std::string names;
    for (const TensorInfo &i : model)
      names += (names.empty() ? "" : ", ") + i.name;
    return Status::failure("the model has no input named '" + t.name + "' (inputs: " + names + ")");
  }
  for (size_t i = 0; i < model.size(); ++i)
    if (!found[i] || !found[i]->defined())
      return Status::failure("missing input '" + model[i].name + "' (" +
                             type_str(model[i].type, model[i].shape) + ")");
  return Status();
}

void bind_outputs(const std::vector<TensorInfo> &infos, std::vector<NamedTensor> &out,
                  std::vector<void *> &ptrs) {
  const size_t n = infos.size();
  bool reuse = out.size() == n;
  for (size_t o = 0; reuse && o < n; ++o) {
    const HostTensor &t = out[o].tensor;
    reuse = out[o].name == infos[o].name && t.defined() && t.type() == infos[o].type &&
            t.shape() == infos[o].shape && (t.data() || t.numel() == 0);
  }
  if (!reuse) {
    out.clear();
    for (const TensorInfo &info : infos)
      out.push_back({info.name, HostTensor(info.type, info.shape)});
  }
  ptrs.resize(n);
  for (size_t o = 0; o < n; ++o)
    ptrs[o] = out[o].tensor.data();
}

void notice(const std::string &line) { log(LogSeverity::warning, line); }

} // namespace kiln
