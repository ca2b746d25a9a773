#include "ir/Npy.h"

#include "ir/AtomicFile.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace kiln {

namespace {

struct NpyType {
  DType dtype;
  const char *descr;
};
constexpr NpyType kNpyTypes[] = {{DType::f32, "<f4"}, {DType::f16, "<f2"}, {DType::f64, "<f8"},
                                 {DType::i64, "<i8"}, {DType::i32, "<i4"}, {DType::i16, "<i2"},
                                 {DType::i8, "|i1"},  {DType::u8, "|u1"},  {DType::boolean, "|b1"}};

// Finds `'key': ` in a .npy header dict and returns the text after it.
std::string header_field(const std::string &header, const std::string &key,
                         const std::string &path) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    throw Error(path + ": .npy header has no '" + key + "' field");
  at = header.find(':', at);
  if (at == std::string::npos)
    throw Error(path + ": malformed .npy header");
  size_t b = header.find_first_not_of(' ', at + 1);
  return header.substr(b);
}

} // namespace

Tensor read_npy(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error(path + ": cannot open file");
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw Error(path + ": not a .npy file (bad magic)");
  uint32_t header_len = 0;
  unsigned char lenbuf[4] = {0, 0, 0, 0};
  int major = magic[6];
  if (major == 1) {
    if (!f.read(reinterpret_cast<char *>(lenbuf), 2))
      throw Error(path + ": truncated .npy header");
    header_len = lenbuf[0] | (lenbuf[1] << 8);
  } else if (major == 2 || major == 3) {
    if (!f.read(reinterpret_cast<char *>(lenbuf), 4))
      throw Error(path + ": truncated .npy header");
    header_len = lenbuf[0] | (lenbuf[1] << 8) | (lenbuf[2] << 16) | (uint32_t(lenbuf[3]) << 24);
  } else {
    throw Error(path + ": unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > (1u << 20))
    throw Error(path + ": .npy header too large");
  std::string header(header_len, '\0');
  if (!f.read(header.data(), header_len))
    throw Error(path + ": truncated .npy header");

  std::string descr_field = header_field(header, "descr", path);
  std::optional<DType> dtype;
  for (const NpyType &t : kNpyTypes)
    if (descr_field.rfind(std::string("'") + t.descr + "'", 0) == 0)
      dtype = t.dtype;
  if (!dtype)
    throw Error(path + ": unsupported .npy dtype " + descr_field.substr(0, descr_field.find(',')) +
                " (supported: float32, float16, float64, int64, int32, int16, int8, uint8, bool)");
  if (header_field(header, "fortran_order", path).rfind("False", 0) != 0)
    throw Error(path + ": Fortran-order .npy arrays are not supported");
  std::string shape_field = header_field(header, "shape", path);
  size_t close = shape_field.find(')');
  if (shape_field.empty() || shape_field[0] != '(' || close == std::string::npos)
    throw Error(path + ": malformed shape in .npy header");
  Shape shape;
  std::stringstream ss(shape_field.substr(1, close - 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos)
      continue;
    char *end = nullptr;
    long long d = std::strtoll(item.c_str(), &end, 10);
    if (d < 0)
      throw Error(path + ": negative dimension in .npy shape");
    shape.push_back(d);
  }
  shape_numel(shape, path);
  Tensor t(*dtype, shape);
  if (t.nbytes() && !f.read(static_cast<char *>(t.raw()), static_cast<std::streamsize>(t.nbytes())))
    throw Error(path + ": file is shorter than its shape " + shape_str(shape) + " needs");
  return t;
}

void write_npy(const std::string &path, const Tensor &t) {
  const char *descr = nullptr;
  for (const NpyType &n : kNpyTypes)
    if (n.dtype == t.dtype())
      descr = n.descr;
  if (!descr)
    throw Error(path + ": cannot write dtype " + std::string(dtype_name(t.dtype())) + " to .npy");
  std::string shape = "(";
  for (int64_t d : t.shape())
    shape += std::to_string(d) + ", ";
  if (t.rank() > 1)
    shape.resize(shape.size() - 2);
  else if (t.rank() == 1)
    shape.resize(shape.size() - 1);
  shape += ")";
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so the data starts 64-byte aligned; the header ends with a newline.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  write_file_atomically(path, [&](const std::string &tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    uint16_t len = static_cast<uint16_t>(header.size());
    f.write("\x93NUMPY\x01\x00", 8);
    char lenbuf[2] = {char(len & 0xff), char(len >> 8)};
    f.write(lenbuf, 2);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(static_cast<const char *>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
    return static_cast<bool>(f);
  });
}

} // namespace kiln
