// TensorProto -> Tensor: raw_data, the typed repeated fields, and external data files.
#include "frontend/ImportContext.h"

#include <cstring>
#include <filesystem>
#include <fstream>

namespace kiln::frontend {

namespace fs = std::filesystem;
using TP = onnx::TensorProto;

std::optional<DType> dtype_from_onnx(int32_t t) {
  switch (t) {
  case TP::FLOAT: return DType::f32;
  case TP::FLOAT16: return DType::f16;
  case TP::BFLOAT16: return DType::bf16;
  case TP::DOUBLE: return DType::f64;
  case TP::INT64: return DType::i64;
  case TP::INT32: return DType::i32;
  case TP::INT16: return DType::i16;
  case TP::INT8: return DType::i8;
  case TP::UINT8: return DType::u8;
  case TP::BOOL: return DType::boolean;
  default: return std::nullopt;
  }
}

std::string onnx_type_name(int32_t t) {
  if (TP::DataType_IsValid(t))
    return TP::DataType_Name(static_cast<TP::DataType>(t));
  return "type " + std::to_string(t);
}

namespace {

// External data may only name a file inside the model's folder: a model file must not be able
// to make us read /etc/passwd or ../../secrets.
fs::path external_path(const std::string &model_dir, const std::string &location,
                       const std::string &what) {
  if (model_dir.empty())
    throw Error(what + ": external data '" + location +
                "' cannot be resolved (model given as bytes without a folder)");
  fs::path rel(location);
  if (location.empty())
    throw Error(what + ": external data has no 'location'");
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    throw Error(what + ": external data location '" + location +
                "' is an absolute path; it must be relative to the model's folder");
  for (const auto &part : rel.lexically_normal())
    if (part == "..")
      throw Error(what + ": external data location '" + location + "' escapes the model's folder");
  return fs::path(model_dir) / rel;
}

std::string read_external(const TP &t, const std::string &model_dir, size_t nbytes,
                          const std::string &what) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &kv : t.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoll(kv.value());
      else if (kv.key() == "length")
        length = std::stoll(kv.value());
    } catch (const std::exception &) {
      throw Error(what + ": external data field '" + kv.key() + "' is not a number: '" +
                  kv.value() + "'");
    }
  }
  fs::path path = external_path(model_dir, location, what);
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error(what + ": cannot open external data file '" + path.string() + "'");
  f.seekg(0, std::ios::end);
  int64_t file_size = f.tellg();
  if (length < 0)
    length = static_cast<int64_t>(nbytes);
  if (offset < 0 || length != static_cast<int64_t>(nbytes) || offset + length > file_size)
    throw Error(what + ": external data in '" + location + "' (offset " + std::to_string(offset) +
                ", length " + std::to_string(length) + ", file size " + std::to_string(file_size) +
                ") does not hold the " + std::to_string(nbytes) + " bytes the tensor needs");
  std::string data(nbytes, '\0');
  f.seekg(offset);
  f.read(data.data(), static_cast<std::streamsize>(nbytes));
  if (!f)
    throw Error(what + ": reading external data from '" + path.string() + "' failed");
  return data;
}

template <class Src>
void fill_from(Tensor &out, const Src &src, const std::string &what, const char *field) {
  if (static_cast<int64_t>(src.size()) != out.numel())
    throw Error(what + ": " + field + " holds " + std::to_string(src.size()) +
                " values, the shape " + shape_str(out.shape()) + " needs " +
                std::to_string(out.numel()));
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *dst = static_cast<T *>(out.raw());
    for (int64_t i = 0; i < out.numel(); ++i) {
      // The half formats store their bit patterns in int32_data.
      if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat>)
        dst[i] = T{static_cast<uint16_t>(src[static_cast<int>(i)])};
      else if constexpr (std::is_same_v<T, bool>)
        dst[i] = src[static_cast<int>(i)] != 0;
      else
        dst[i] = static_cast<T>(src[static_cast<int>(i)]);
    }
  });
}

} // namespace

Tensor tensor_from_onnx(const TP &t, const std::string &model_dir, const std::string &what) {
  std::optional<DType> dt = dtype_from_onnx(t.data_type());
  if (!dt)
    throw Error(what + ": unsupported element type " + onnx_type_name(t.data_type()));
  if (t.has_segment())
    throw Error(what + ": segmented tensors are not supported");
  Shape shape(t.dims().begin(), t.dims().end());
  shape_numel(shape, what);
  Tensor out(*dt, shape);

  const bool external = t.data_location() == TP::EXTERNAL;
  if (external || t.has_raw_data()) {
    std::string bytes = external ? read_external(t, model_dir, out.nbytes(), what) : t.raw_data();
    if (bytes.size() != out.nbytes())
      throw Error(what + ": raw_data has " + std::to_string(bytes.size()) + " bytes, the shape " +
                  shape_str(shape) + " of " + std::string(dtype_name(*dt)) + " needs " +
                  std::to_string(out.nbytes()));
    // ONNX raw data is little-endian, like every host we target.
    if (*dt == DType::boolean) {
      bool *dst = out.data<bool>();
      for (size_t i = 0; i < bytes.size(); ++i)
        dst[i] = bytes[i] != 0;
    } else if (!bytes.empty()) {
      std::memcpy(out.raw(), bytes.data(), bytes.size());
    }
    return out;
  }

  switch (t.data_type()) {
  case TP::FLOAT: fill_from(out, t.float_data(), what, "float_data"); break;
  case TP::DOUBLE: fill_from(out, t.double_data(), what, "double_data"); break;
  case TP::INT64: fill_from(out, t.int64_data(), what, "int64_data"); break;
  default: fill_from(out, t.int32_data(), what, "int32_data"); break;
  }
  return out;
}

} // namespace kiln::frontend
