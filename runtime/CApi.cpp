// The C API (kiln/kiln_c.h) over kiln::Session: handles own a Session, messages live in a
// thread-local string, and no exception leaves an extern "C" function.
#include <kiln/kiln.h>
#include <kiln/kiln_c.h>

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

using kiln::ElementType;
using kiln::HostTensor;
using kiln::NamedTensor;
using kiln::TensorInfo;

static_assert(KILN_F32 == static_cast<int>(ElementType::f32));
static_assert(KILN_F16 == static_cast<int>(ElementType::f16));
static_assert(KILN_BF16 == static_cast<int>(ElementType::bf16));
static_assert(KILN_F64 == static_cast<int>(ElementType::f64));
static_assert(KILN_I64 == static_cast<int>(ElementType::i64));
static_assert(KILN_I32 == static_cast<int>(ElementType::i32));
static_assert(KILN_I16 == static_cast<int>(ElementType::i16));
static_assert(KILN_I8 == static_cast<int>(ElementType::i8));
static_assert(KILN_U8 == static_cast<int>(ElementType::u8));
static_assert(KILN_BOOL == static_cast<int>(ElementType::boolean));

struct kiln_options {
  kiln::SessionOptions opt;
};

struct kiln_session {
  kiln::Session session;
  /// What kiln_session_output describes: the default schedule's outputs until the first run,
  /// then the most recent run's (their tensors' shapes).
  std::vector<TensorInfo> outputs;
  /// The run's outputs: views of the caller's buffers where the shape is known beforehand,
  /// else tensors the run allocated (copied out after the size check). Empty between runs.
  std::vector<NamedTensor> results;
  std::vector<NamedTensor> inputs; ///< views of the caller's input buffers
};

namespace {

thread_local std::string last_error;

kiln_status fail(kiln_status code, std::string message) {
  last_error = std::move(message);
  return code;
}

bool valid_dtype(kiln_dtype t) { return t >= KILN_F32 && t <= KILN_BOOL; }

/// `f` with every exception turned into a status: the C caller cannot catch them.
template <class F> kiln_status guarded(F &&f) {
  try {
    return f();
  } catch (const std::bad_alloc &) {
    return fail(KILN_ERROR_INTERNAL, "out of memory");
  } catch (const std::exception &e) {
    return fail(KILN_ERROR_INTERNAL, e.what());
  }
}

kiln_status set_string(kiln_options *o, std::string kiln::SessionOptions::*field, const char *v,
                       const char *what) {
  if (!o)
    return fail(KILN_ERROR_INVALID_ARGUMENT, std::string(what) + ": options is NULL");
  if (!v)
    return fail(KILN_ERROR_INVALID_ARGUMENT, std::string(what) + ": value is NULL");
  return guarded([&] {
    o->opt.*field = v;
    return KILN_OK;
  });
}

std::string shape_str(const std::vector<int64_t> &shape) {
  std::string s;
  for (int64_t d : shape)
    s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

size_t byte_size(ElementType t, const std::vector<int64_t> &shape) {
  size_t n = kiln::element_size(t);
  for (int64_t d : shape)
    n *= static_cast<size_t>(d);
  return n;
}

kiln_status open_session(kiln::Result<kiln::Session> s, kiln_session **out) {
  if (!s)
    return fail(KILN_ERROR_OPEN, s.error());
  auto *h = new kiln_session{std::move(*s), {}, {}, {}};
  h->outputs = h->session.outputs();
  *out = h;
  return KILN_OK;
}

kiln_status describe(const std::vector<TensorInfo> &infos, size_t index, kiln_tensor_info *info,
                     const char *what) {
  if (!info)
    return fail(KILN_ERROR_INVALID_ARGUMENT, std::string(what) + ": info is NULL");
  if (index >= infos.size())
    return fail(KILN_ERROR_INVALID_ARGUMENT, std::string(what) + ": index " +
                                                 std::to_string(index) + " is out of range (" +
                                                 std::to_string(infos.size()) + ")");
  const TensorInfo &t = infos[index];
  info->name = t.name.c_str();
  info->dtype = static_cast<kiln_dtype>(t.type);
  info->rank = t.shape.size();
  info->shape = t.shape.data();
  return KILN_OK;
}

/// The position of the model tensor a run argument names (by name, else its own position).
long find_tensor(const std::vector<TensorInfo> &infos, const char *name, size_t position) {
  if (!name)
    return position < infos.size() ? static_cast<long>(position) : -1;
  for (size_t i = 0; i < infos.size(); ++i)
    if (infos[i].name == name)
      return static_cast<long>(i);
  return -1;
}

kiln_status run(kiln_session &s, const kiln_input *inputs, size_t n_inputs,
                const kiln_output *outputs, size_t n_outputs) {
  const std::vector<TensorInfo> &in_infos = s.session.inputs();
  s.inputs.clear();
  for (size_t i = 0; i < n_inputs; ++i) {
    const kiln_input &in = inputs[i];
    long k = find_tensor(in_infos, in.name, i);
    std::string what = "kiln_session_run: input " +
                       (in.name ? "'" + std::string(in.name) + "'" : std::to_string(i));
    if (k < 0)
      return fail(KILN_ERROR_INVALID_ARGUMENT, what + " is not an input of the model");
    if (!valid_dtype(in.dtype))
      return fail(KILN_ERROR_INVALID_ARGUMENT,
                  what + ": dtype " + std::to_string(in.dtype) + " is not a kiln_dtype");
    if ((!in.shape && in.rank > 0) || (!in.data && in.size > 0))
      return fail(KILN_ERROR_INVALID_ARGUMENT, what + ": shape or data is NULL");
    std::vector<int64_t> shape(in.shape, in.shape + in.rank);
    for (int64_t d : shape)
      if (d < 0 || d > (int64_t(1) << 40))
        return fail(KILN_ERROR_INVALID_ARGUMENT, what + ": bad shape " + shape_str(shape));
    auto type = static_cast<ElementType>(in.dtype);
    if (size_t need = byte_size(type, shape); in.size != need)
      return fail(KILN_ERROR_BUFFER_SIZE, what + " is " + kiln::element_type_name(type) + " " +
                                              shape_str(shape) + ": " + std::to_string(need) +
                                              " bytes, but size is " + std::to_string(in.size));
    // Kiln only reads inputs; HostTensor::view takes a mutable pointer for outputs' sake.
    s.inputs.push_back(
        {in_infos[k].name, HostTensor::view(type, std::move(shape), const_cast<void *>(in.data))});
  }
  // Outputs whose shape the session already knows (the same input shapes as the last run) go
  // straight into the caller's buffers; the others are copied after the run.
  std::vector<long> which(n_outputs);
  for (size_t i = 0; i < n_outputs; ++i) {
    which[i] = find_tensor(s.outputs, outputs[i].name, i);
    if (which[i] < 0)
      return fail(
          KILN_ERROR_INVALID_ARGUMENT,
          "kiln_session_run: output " +
              (outputs[i].name ? "'" + std::string(outputs[i].name) + "'" : std::to_string(i)) +
              " is not an output of the model");
    if (!outputs[i].data && outputs[i].size > 0)
      return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_session_run: output data is NULL");
  }
  // Undefined tensors (outputs not asked for, or too big for their buffer) are allocated by
  // the run.
  s.results.resize(s.outputs.size());
  for (size_t i = 0; i < s.outputs.size(); ++i)
    s.results[i] = {s.outputs[i].name, HostTensor()};
  for (size_t i = 0; i < n_outputs; ++i) {
    const TensorInfo &t = s.outputs[which[i]];
    if (outputs[i].size >= byte_size(t.type, t.shape))
      s.results[which[i]].tensor = HostTensor::view(t.type, t.shape, outputs[i].data);
  }
  kiln::Status st = s.session.run(s.inputs, s.results);
  s.inputs.clear();
  if (!st)
    return fail(KILN_ERROR_RUN, st.error());
  // Names stay (the caller may hold kiln_session_output's pointers to them); shapes follow.
  for (size_t i = 0; i < s.results.size(); ++i) {
    s.outputs[i].type = s.results[i].tensor.type();
    s.outputs[i].shape = s.results[i].tensor.shape();
  }
  kiln_status status = KILN_OK;
  for (size_t i = 0; i < n_outputs; ++i) {
    const HostTensor &t = s.results[which[i]].tensor;
    if (t.data() == outputs[i].data)
      continue;
    if (outputs[i].size < t.nbytes()) {
      status = fail(KILN_ERROR_BUFFER_SIZE,
                    "kiln_session_run: output '" + s.outputs[which[i]].name + "' is " +
                        kiln::element_type_name(t.type()) + " " + shape_str(t.shape()) + ": " +
                        std::to_string(t.nbytes()) + " bytes, but size is " +
                        std::to_string(outputs[i].size));
      continue;
    }
    std::memcpy(outputs[i].data, t.data(), t.nbytes());
  }
  // Owned tensors would otherwise live on (and views dangle) until the next run.
  s.results.clear();
  return status;
}

} // namespace

extern "C" {

const char *kiln_version(void) {
  static const std::string v = kiln::version();
  return v.c_str();
}

const char *kiln_last_error(void) { return last_error.c_str(); }

const char *kiln_dtype_name(kiln_dtype dtype) {
  return valid_dtype(dtype) ? kiln::element_type_name(static_cast<ElementType>(dtype)) : "?";
}

size_t kiln_dtype_size(kiln_dtype dtype) {
  return valid_dtype(dtype) ? kiln::element_size(static_cast<ElementType>(dtype)) : 0;
}

kiln_options *kiln_options_create(void) { return new (std::nothrow) kiln_options(); }

void kiln_options_destroy(kiln_options *options) { delete options; }

kiln_status kiln_options_set_target(kiln_options *options, const char *target) {
  return set_string(options, &kiln::SessionOptions::target, target, "kiln_options_set_target");
}

kiln_status kiln_options_set_device(kiln_options *options, const char *device) {
  return set_string(options, &kiln::SessionOptions::device, device, "kiln_options_set_device");
}

kiln_status kiln_options_set_threads(kiln_options *options, int threads) {
  if (!options)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_options_set_threads: options is NULL");
  if (threads < 0)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_options_set_threads: threads is " +
                                                 std::to_string(threads) + " (0: every core)");
  options->opt.threads = threads;
  return KILN_OK;
}

kiln_status kiln_options_set_precision(kiln_options *options, const char *precision) {
  return set_string(options, &kiln::SessionOptions::precision, precision,
                    "kiln_options_set_precision");
}

kiln_status kiln_options_set_passes(kiln_options *options, const char *passes) {
  return set_string(options, &kiln::SessionOptions::pipeline, passes, "kiln_options_set_passes");
}

kiln_status kiln_options_set_cache_dir(kiln_options *options, const char *dir) {
  return set_string(options, &kiln::SessionOptions::cache_dir, dir ? dir : "",
                    "kiln_options_set_cache_dir");
}

kiln_status kiln_options_set_use_cache(kiln_options *options, int use_cache) {
  if (!options)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_options_set_use_cache: options is NULL");
  options->opt.use_cache = use_cache != 0;
  return KILN_OK;
}

kiln_status kiln_options_set_input_shape(kiln_options *options, const char *name,
                                         const int64_t *shape, size_t rank) {
  if (!options || !name || (!shape && rank > 0))
    return fail(KILN_ERROR_INVALID_ARGUMENT,
                "kiln_options_set_input_shape: options, name or shape is NULL");
  for (size_t i = 0; i < rank; ++i)
    if (shape[i] <= 0)
      return fail(KILN_ERROR_INVALID_ARGUMENT,
                  "kiln_options_set_input_shape: input '" + std::string(name) + "' dimension " +
                      std::to_string(i) + " is " + std::to_string(shape[i]));
  return guarded([&] {
    options->opt.input_shapes[name] = std::vector<int64_t>(shape, shape + rank);
    return KILN_OK;
  });
}

kiln_status kiln_session_open(const char *path, const kiln_options *options,
                              kiln_session **session) {
  if (!session)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_session_open: session is NULL");
  *session = nullptr;
  if (!path)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_session_open: path is NULL");
  return guarded([&] {
    return open_session(kiln::Session::open(path, options ? options->opt : kiln::SessionOptions()),
                        session);
  });
}

kiln_status kiln_session_open_bytes(const void *data, size_t size, const kiln_options *options,
                                    kiln_session **session) {
  if (!session)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_session_open_bytes: session is NULL");
  *session = nullptr;
  if (!data)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_session_open_bytes: data is NULL");
  return guarded([&] {
    return open_session(
        kiln::Session::open_bytes(data, size, options ? options->opt : kiln::SessionOptions()),
        session);
  });
}

void kiln_session_close(kiln_session *session) { delete session; }

size_t kiln_session_input_count(const kiln_session *session) {
  return session ? session->session.inputs().size() : 0;
}

size_t kiln_session_output_count(const kiln_session *session) {
  return session ? session->outputs.size() : 0;
}

kiln_status kiln_session_input(const kiln_session *session, size_t index, kiln_tensor_info *info) {
  if (!session)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_session_input: session is NULL");
  return describe(session->session.inputs(), index, info, "kiln_session_input");
}

kiln_status kiln_session_output(const kiln_session *session, size_t index, kiln_tensor_info *info) {
  if (!session)
    return fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_session_output: session is NULL");
  return describe(session->outputs, index, info, "kiln_session_output");
}

kiln_status kiln_session_run(kiln_session *session, const kiln_input *inputs, size_t n_inputs,
                             const kiln_output *outputs, size_t n_outputs) {
  if (!session || (!inputs && n_inputs > 0) || (!outputs && n_outputs > 0))
    return fail(KILN_ERROR_INVALID_ARGUMENT,
                "kiln_session_run: session, inputs or outputs is NULL");
  return guarded([&] { return run(*session, inputs, n_inputs, outputs, n_outputs); });
}

} // extern "C"
