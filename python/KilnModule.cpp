// kiln._kiln: the public C++ API (kiln/kiln.h) for Python, through nanobind. python/kiln/
// __init__.py puts the keyword-argument face on it (kiln.Session(path, target=..., ...)).
//
// Tensors cross without copies where the layout allows: a C-contiguous NumPy input of the
// model's dtype is viewed (HostTensor::view), anything else is converted once; every output
// array owns the HostTensor the run returned (a capsule holds it). The GIL is released while
// a model compiles or runs. Every error is a kiln.KilnError (a RuntimeError) with the API's
// one-line message.
#include <kiln/kiln.h>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

/// Raised as kiln.KilnError.
struct KilnError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(const kiln::Status &st) {
  if (!st)
    throw KilnError(st.error());
}

template <class T> T take(kiln::Result<T> r) {
  if (!r)
    throw KilnError(r.error());
  return std::move(*r);
}

/// The NumPy dtype name of an element type ("float32", ...; bf16 has none in NumPy itself).
const char *numpy_name(kiln::ElementType t) {
  switch (t) {
  case kiln::ElementType::f32: return "float32";
  case kiln::ElementType::f16: return "float16";
  case kiln::ElementType::bf16: return "bfloat16";
  case kiln::ElementType::f64: return "float64";
  case kiln::ElementType::i64: return "int64";
  case kiln::ElementType::i32: return "int32";
  case kiln::ElementType::i16: return "int16";
  case kiln::ElementType::i8: return "int8";
  case kiln::ElementType::u8: return "uint8";
  case kiln::ElementType::boolean: return "bool";
  }
  return "?";
}

nb::dlpack::dtype dlpack_type(kiln::ElementType t) {
  using Code = nb::dlpack::dtype_code;
  auto dt = [](Code c, int bits) {
    return nb::dlpack::dtype{static_cast<uint8_t>(c), static_cast<uint8_t>(bits), 1};
  };
  switch (t) {
  case kiln::ElementType::f32: return dt(Code::Float, 32);
  case kiln::ElementType::f16: return dt(Code::Float, 16);
  case kiln::ElementType::bf16: return dt(Code::Bfloat, 16);
  case kiln::ElementType::f64: return dt(Code::Float, 64);
  case kiln::ElementType::i64: return dt(Code::Int, 64);
  case kiln::ElementType::i32: return dt(Code::Int, 32);
  case kiln::ElementType::i16: return dt(Code::Int, 16);
  case kiln::ElementType::i8: return dt(Code::Int, 8);
  case kiln::ElementType::u8: return dt(Code::UInt, 8);
  case kiln::ElementType::boolean: return dt(Code::Bool, 8);
  }
  return dt(Code::Float, 32);
}

nb::object numpy_dtype(kiln::ElementType t) {
  return nb::module_::import_("numpy").attr("dtype")(numpy_name(t));
}

using InArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

/// The model's declared input `name`, or null (the API then names the valid inputs).
const kiln::TensorInfo *find_info(const std::vector<kiln::TensorInfo> &infos,
                                  const std::string &name) {
  for (const kiln::TensorInfo &i : infos)
    if (i.name == name)
      return &i;
  return nullptr;
}

/// Input `name` as a HostTensor: a view of `value` when it is a C-contiguous CPU array of the
/// model's dtype; otherwise converted once by NumPy (an ndarray keeps its dtype, anything else
/// takes the model's). `keep` holds the arrays viewed until the run is over.
kiln::HostTensor as_tensor(const std::string &name, nb::handle value,
                           const std::vector<kiln::TensorInfo> &infos, std::vector<InArray> &keep) {
  const kiln::TensorInfo *info = find_info(infos, name);
  InArray a;
  if (!nb::try_cast(value, a, false)) {
    nb::module_ np = nb::module_::import_("numpy");
    nb::object dtype = nb::none();
    if (nb::isinstance(value, np.attr("ndarray")))
      dtype = value.attr("dtype");
    else if (info)
      dtype = numpy_dtype(info->type);
    nb::object converted;
    try {
      converted = np.attr("ascontiguousarray")(value, "dtype"_a = dtype);
    } catch (nb::python_error &e) {
      throw KilnError("input '" + name + "': cannot make an array of it (" + e.what() + ")");
    }
    if (!nb::try_cast(converted, a, false))
      throw KilnError("input '" + name + "': not an array of a supported dtype");
  }
  bool known = false;
  kiln::ElementType type = kiln::ElementType::f32;
  for (int t = 0; !known && t <= static_cast<int>(kiln::ElementType::boolean); ++t) {
    type = static_cast<kiln::ElementType>(t);
    known = dlpack_type(type) == a.dtype();
  }
  if (!known)
    throw KilnError("input '" + name + "' has a dtype Kiln does not support (" +
                    nb::cast<std::string>(nb::str(nb::getattr(value, "dtype", nb::none()))) + ")");
  if (info && type != info->type)
    throw KilnError("input '" + name + "' is " + numpy_name(type) + " but the model takes " +
                    numpy_name(info->type));
  std::vector<int64_t> shape(a.ndim());
  for (size_t d = 0; d < a.ndim(); ++d)
    shape[d] = static_cast<int64_t>(a.shape(d));
  kiln::HostTensor t = kiln::HostTensor::view(type, shape, const_cast<void *>(a.data()));
  keep.push_back(std::move(a));
  return t;
}

/// The feeds of a run: a dict name -> array, or a sequence of arrays in model input order.
std::vector<kiln::NamedTensor> feeds(nb::handle inputs, const std::vector<kiln::TensorInfo> &infos,
                                     std::vector<InArray> &keep) {
  std::vector<kiln::NamedTensor> out;
  if (nb::isinstance<nb::dict>(inputs)) {
    for (auto [k, v] : nb::borrow<nb::dict>(inputs)) {
      if (!nb::isinstance<nb::str>(k))
        throw KilnError("input names must be strings, got " +
                        nb::cast<std::string>(nb::str(k.type().attr("__name__"))));
      std::string name = nb::cast<std::string>(k);
      out.push_back({name, as_tensor(name, v, infos, keep)});
    }
    return out;
  }
  if (!nb::isinstance<nb::list>(inputs) && !nb::isinstance<nb::tuple>(inputs))
    throw KilnError("inputs must be a dict name -> array or a list of arrays, got " +
                    nb::cast<std::string>(nb::str(inputs.type().attr("__name__"))));
  size_t n = nb::len(inputs);
  if (n != infos.size())
    throw KilnError("got " + std::to_string(n) + " inputs, the model takes " +
                    std::to_string(infos.size()));
  for (size_t i = 0; i < n; ++i)
    out.push_back({infos[i].name, as_tensor(infos[i].name, inputs[i], infos, keep)});
  return out;
}

/// A NumPy array owning `t`'s memory (no copy): the capsule keeps the HostTensor alive.
nb::object to_numpy(const kiln::HostTensor &t) {
  if (t.type() == kiln::ElementType::bf16)
    throw KilnError("bf16 outputs have no NumPy dtype");
  auto *owner = new kiln::HostTensor(t);
  nb::capsule cap(owner, [](void *p) noexcept { delete static_cast<kiln::HostTensor *>(p); });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  nb::ndarray<nb::numpy> a(owner->data(), shape.size(), shape.data(), cap, nullptr,
                           dlpack_type(t.type()));
  return nb::cast(std::move(a));
}

nb::dict outputs_dict(const std::vector<kiln::NamedTensor> &outs) {
  nb::dict d;
  for (const kiln::NamedTensor &o : outs)
    d[nb::str(o.name.c_str())] = to_numpy(o.tensor);
  return d;
}

nb::dict stats_dict(const kiln::SessionStats &s) {
  nb::dict d;
  d["cache"] = s.cache;
  d["import_ms"] = s.import_ms;
  d["imported"] = s.imported;
  d["compile_ms"] = s.compile_ms;
  d["load_ms"] = s.load_ms;
  d["kernels"] = s.kernels;
  d["weight_only_kernels"] = s.weight_only_kernels;
  d["arena_bytes"] = s.arena_bytes;
  d["arena_lower_bound_bytes"] = s.arena_lower_bound_bytes;
  d["arena_naive_bytes"] = s.arena_naive_bytes;
  d["weights_bytes"] = s.weights_bytes;
  nb::list passes;
  for (const kiln::SessionStats::PassTime &p : s.passes) {
    nb::dict pd;
    pd["name"] = p.name;
    pd["ms"] = p.ms;
    pd["changed"] = p.changed;
    passes.append(pd);
  }
  d["passes"] = passes;
  d["schedules"] = s.schedules;
  d["threads"] = s.threads;
  d["llvm_codegen_runs"] = s.llvm_codegen_runs;
  d["target"] = s.target;
  return d;
}

nb::list profile_list(const std::vector<kiln::LaunchProfile> &launches) {
  nb::list l;
  for (const kiln::LaunchProfile &p : launches) {
    nb::dict d;
    d["node"] = p.node;
    d["kernel"] = p.kernel;
    d["extent"] = p.extent;
    d["ms"] = p.ms;
    l.append(d);
  }
  return l;
}

nb::list infos_list(const std::vector<kiln::TensorInfo> &infos) {
  nb::list l;
  for (const kiln::TensorInfo &i : infos)
    l.append(nb::cast(i));
  return l;
}

struct PySession {
  kiln::Session session;
};

struct PyCompiledModel {
  std::shared_ptr<const kiln::CompiledModel> model;
};

struct PyRequest {
  kiln::InferRequest request;
};

/// run(): feeds viewed or converted with the GIL held, the run itself without it.
template <class Runner> nb::dict run_with(Runner &runner, nb::handle inputs) {
  std::vector<InArray> keep;
  std::vector<kiln::NamedTensor> in = feeds(inputs, runner.inputs(), keep);
  std::vector<kiln::NamedTensor> out;
  kiln::Status st;
  {
    nb::gil_scoped_release release;
    st = runner.run(in, out);
  }
  check(st);
  return outputs_dict(out);
}

/// The model's metadata_props as a dict (a repeated key keeps its last value).
nb::dict metadata_dict(const kiln::Metadata &m) {
  nb::dict d;
  for (const auto &[k, v] : m)
    d[nb::str(k.c_str())] = nb::str(v.c_str());
  return d;
}

} // namespace

NB_MODULE(_kiln, m) {
  m.doc() = "Kiln's C++ API (kiln/kiln.h); use the `kiln` package, which wraps it.";
  nb::exception<KilnError>(m, "KilnError", PyExc_RuntimeError);
  m.def("version", &kiln::version, "\"kiln 0.1.0 (LLVM 15.0.6)\": part of every cache key.");

  nb::class_<kiln::SessionOptions>(m, "SessionOptions", "kiln::SessionOptions (kiln/kiln.h).")
      .def(nb::init<>())
      .def_rw("target", &kiln::SessionOptions::target)
      .def_rw("device", &kiln::SessionOptions::device)
      .def_rw("threads", &kiln::SessionOptions::threads)
      .def_rw("precision", &kiln::SessionOptions::precision)
      .def_rw("pipeline", &kiln::SessionOptions::pipeline)
      .def_rw("print_ir_after", &kiln::SessionOptions::print_ir_after)
      .def_rw("cache_dir", &kiln::SessionOptions::cache_dir)
      .def_rw("use_cache", &kiln::SessionOptions::use_cache)
      .def_rw("tuning_db", &kiln::SessionOptions::tuning_db)
      .def_rw("use_tuning", &kiln::SessionOptions::use_tuning)
      .def_rw("input_shapes", &kiln::SessionOptions::input_shapes)
      .def_rw("profile", &kiln::SessionOptions::profile);

  nb::class_<kiln::TensorInfo>(m, "TensorInfo", "A model input or output: name, dtype, shape.")
      .def_ro("name", &kiln::TensorInfo::name)
      .def_prop_ro("dtype", [](const kiln::TensorInfo &i) { return numpy_dtype(i.type); })
      .def_prop_ro("shape",
                   [](const kiln::TensorInfo &i) {
                     nb::list l;
                     for (int64_t d : i.shape)
                       l.append(d);
                     return nb::tuple(l);
                   })
      .def("__repr__", [](const kiln::TensorInfo &i) {
        std::string s =
            "TensorInfo(name='" + i.name + "', dtype=" + numpy_name(i.type) + ", shape=(";
        for (size_t d = 0; d < i.shape.size(); ++d)
          s += (d ? ", " : "") + std::to_string(i.shape[d]);
        return s + (i.shape.size() == 1 ? ",))" : "))");
      });

  nb::class_<PySession>(m, "Session")
      .def(
          "__init__",
          [](PySession *self, const std::filesystem::path &path, const kiln::SessionOptions &opt) {
            kiln::Result<kiln::Session> s = [&] {
              nb::gil_scoped_release release;
              return kiln::Session::open(path.string(), opt);
            }();
            new (self) PySession{take(std::move(s))};
          },
          nb::arg("path"), nb::arg("options"))
      .def_prop_ro("inputs", [](PySession &s) { return infos_list(s.session.inputs()); })
      .def_prop_ro("outputs", [](PySession &s) { return infos_list(s.session.outputs()); })
      .def_prop_ro("metadata", [](PySession &s) { return metadata_dict(s.session.metadata()); })
      .def(
          "run", [](PySession &s, nb::handle inputs) { return run_with(s.session, inputs); },
          nb::arg("inputs"))
      .def("compile",
           [](PySession &s) {
             kiln::Status st;
             {
               nb::gil_scoped_release release;
               st = s.session.compile();
             }
             check(st);
           })
      .def(
          "save",
          [](PySession &s, const std::filesystem::path &path) {
            kiln::Status st;
            {
              nb::gil_scoped_release release;
              st = s.session.save(path.string());
            }
            check(st);
          },
          nb::arg("path"))
      .def_prop_ro("stats", [](PySession &s) { return stats_dict(s.session.stats()); })
      .def("profile", [](PySession &s) { return profile_list(s.session.profile()); });

  nb::class_<PyRequest>(m, "InferRequest")
      .def_prop_ro("inputs", [](PyRequest &r) { return infos_list(r.request.inputs()); })
      .def_prop_ro("outputs", [](PyRequest &r) { return infos_list(r.request.outputs()); })
      .def(
          "run", [](PyRequest &r, nb::handle inputs) { return run_with(r.request, inputs); },
          nb::arg("inputs"))
      .def("profile", [](PyRequest &r) { return profile_list(r.request.profile()); });

  nb::class_<PyCompiledModel>(m, "CompiledModel")
      .def(
          "__init__",
          [](PyCompiledModel *self, const std::filesystem::path &path,
             const kiln::SessionOptions &opt) {
            kiln::Result<std::shared_ptr<const kiln::CompiledModel>> cm = [&] {
              nb::gil_scoped_release release;
              return kiln::CompiledModel::open(path.string(), opt);
            }();
            new (self) PyCompiledModel{take(std::move(cm))};
          },
          nb::arg("path"), nb::arg("options"))
      .def_prop_ro("inputs", [](PyCompiledModel &c) { return infos_list(c.model->inputs()); })
      .def_prop_ro("outputs", [](PyCompiledModel &c) { return infos_list(c.model->outputs()); })
      .def_prop_ro("metadata",
                   [](PyCompiledModel &c) { return metadata_dict(c.model->metadata()); })
      .def("create_request",
           [](PyCompiledModel &c) { return PyRequest{take(c.model->create_request())}; })
      .def(
          "save",
          [](PyCompiledModel &c, const std::filesystem::path &path) {
            kiln::Status st;
            {
              nb::gil_scoped_release release;
              st = c.model->save(path.string());
            }
            check(st);
          },
          nb::arg("path"))
      .def_prop_ro("stats", [](PyCompiledModel &c) { return stats_dict(c.model->stats()); });

  // The data pointer of the tensor run() would make of `value` (the tests check the views).
  m.def("_input_data_ptr", [](nb::handle value, const std::vector<kiln::TensorInfo> &infos) {
    std::vector<InArray> keep;
    kiln::HostTensor t = as_tensor(infos.empty() ? "x" : infos[0].name, value, infos, keep);
    return reinterpret_cast<uintptr_t>(t.data());
  });
}
