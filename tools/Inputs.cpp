// The command line's model inputs and outputs (see Inputs.h).
#include "tools/Inputs.h"

#include "ir/Error.h"
#include "ir/Npy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <random>

namespace fs = std::filesystem;

namespace kiln {

std::pair<std::string, Shape> parse_input_shape(const std::string &spec) {
  size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--input-shape '" + spec + "': expected NAME=DxDx... (e.g. images=1x3x640x640)");
  Shape shape;
  std::string dims = spec.substr(eq + 1);
  size_t pos = 0;
  while (pos <= dims.size()) {
    size_t x = dims.find_first_of("x,", pos);
    std::string d = dims.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    char *end = nullptr;
    long long v = std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || *end != '\0' || v <= 0)
      throw Error("--input-shape '" + spec + "': dimension '" + d + "' is not a positive integer");
    shape.push_back(v);
    if (x == std::string::npos)
      break;
    pos = x + 1;
  }
  return {spec.substr(0, eq), shape};
}

ImportOptions import_options(const std::vector<std::string> &shape_specs) {
  ImportOptions opt;
  for (const std::string &s : shape_specs)
    opt.input_shapes.insert(parse_input_shape(s));
  return opt;
}

std::vector<InputSpec> input_specs(const Graph &g) {
  std::vector<InputSpec> v;
  for (const Value *x : g.inputs())
    v.push_back({x->name, x->dtype, x->shape});
  return v;
}

std::vector<InputSpec> input_specs(const std::vector<TensorInfo> &inputs) {
  std::vector<InputSpec> v;
  for (const TensorInfo &t : inputs)
    v.push_back({t.name, static_cast<DType>(t.type), t.shape});
  return v;
}

Tensor random_input(const InputSpec &v, uint32_t seed) {
  Tensor t(v.dtype, v.shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  dispatch_dtype(v.dtype, [&](auto tag) {
    using T = decltype(tag);
    T *p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = is_float(v.dtype) ? from_f64<T>(uni(rng)) : from_f64<T>(0.0);
  });
  return t;
}

std::vector<Tensor> load_inputs(const std::vector<InputSpec> &specs,
                                const std::vector<std::string> &files, uint32_t seed) {
  std::vector<Tensor> inputs(specs.size());
  for (const std::string &spec : files) {
    size_t eq = spec.find('=');
    std::string name = eq == std::string::npos ? "" : spec.substr(0, eq);
    std::string file = eq == std::string::npos ? spec : spec.substr(eq + 1);
    if (name.empty() && specs.size() == 1)
      name = specs[0].name;
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const InputSpec &v) { return v.name == name; });
    if (it == specs.end()) {
      std::string names;
      for (const InputSpec &v : specs)
        names += (names.empty() ? "" : ", ") + v.name;
      throw Error("--input '" + spec + "': the model has no input named '" + name +
                  "' (inputs: " + names + ")");
    }
    const InputSpec &v = *it;
    Tensor t = read_npy(file);
    if (t.dtype() != v.dtype || t.shape() != v.shape)
      throw Error("input '" + v.name + "' expects " + type_str(v.dtype, v.shape) + " but " + file +
                  " holds " + type_str(t.dtype(), t.shape()));
    inputs[it - specs.begin()] = t;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      inputs[i] = random_input(specs[i], seed + static_cast<uint32_t>(i));
  return inputs;
}

CheckResult check_outputs(const std::vector<std::string> &names, const std::vector<Tensor> &got,
                          const std::vector<Tensor> &want, double rtol, double atol) {
  CheckResult r;
  std::string first_bad;
  for (size_t o = 0; o < got.size(); ++o) {
    std::vector<double> g = got[o].to_f64_vector(), w = want[o].to_f64_vector();
    KILN_ASSERT(g.size() == w.size(), "check: output sizes differ");
    for (size_t i = 0; i < g.size(); ++i) {
      bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
      double d = both_nan ? 0.0 : std::fabs(g[i] - w[i]);
      if (std::isnan(d))
        d = INFINITY;
      r.max_abs = std::max(r.max_abs, d);
      if (w[i] != 0)
        r.max_rel = std::max(r.max_rel, d / std::fabs(w[i]));
      if (d > atol + rtol * std::fabs(w[i]) && first_bad.empty())
        first_bad =
            fmt::format("output '{}' element {}: {} vs reference {}", names[o], i, g[i], w[i]);
    }
  }
  if (!first_bad.empty())
    throw Error(fmt::format("--check failed: {} (max abs err {:.3g}, max rel err {:.3g}; "
                            "rtol {:g}, atol {:g})",
                            first_bad, r.max_abs, r.max_rel, rtol, atol));
  return r;
}

double max_abs_err(const std::vector<std::string> &names, const std::vector<Tensor> &got,
                   const std::vector<Tensor> &want) {
  return check_outputs(names, got, want, INFINITY, INFINITY).max_abs;
}

std::string file_stem(const std::string &name) {
  std::string r = name;
  for (char &c : r)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      c = '_';
  return r;
}

std::vector<std::string> write_outputs(const std::string &dir,
                                       const std::vector<std::string> &names,
                                       const std::vector<Tensor> &outputs) {
  std::vector<std::string> files(outputs.size());
  if (dir.empty())
    return files;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error("--output-dir '" + dir + "': " + ec.message());
  for (size_t i = 0; i < outputs.size(); ++i) {
    files[i] = (fs::path(dir) / (file_stem(names[i]) + ".npy")).string();
    write_npy(files[i], outputs[i]);
  }
  return files;
}

Tensor to_tensor(const HostTensor &t) {
  Tensor x(static_cast<DType>(t.type()), t.shape());
  std::memcpy(x.raw(), t.data(), x.nbytes());
  return x;
}

HostTensor host_view(Tensor &t) {
  return HostTensor::view(static_cast<ElementType>(t.dtype()), t.shape(), t.raw());
}

} // namespace kiln
