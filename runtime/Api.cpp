// The value types of the public API (kiln/kiln.h): tensors, element types, version.
#include "ir/DType.h"
#include "runtime/Compiler.h"

#include <cstring>
#include <kiln/kiln.h>
#include <new>

namespace kiln {

// ElementType mirrors DType value for value, so conversions are casts.
static_assert(static_cast<int>(ElementType::f32) == static_cast<int>(DType::f32));
static_assert(static_cast<int>(ElementType::f64) == static_cast<int>(DType::f64));
static_assert(static_cast<int>(ElementType::i64) == static_cast<int>(DType::i64));
static_assert(static_cast<int>(ElementType::u8) == static_cast<int>(DType::u8));
static_assert(static_cast<int>(ElementType::boolean) == static_cast<int>(DType::boolean));

const char *element_type_name(ElementType t) {
  return dtype_name(static_cast<DType>(t)).data(); // the names are string literals
}

size_t element_size(ElementType t) { return dtype_size(static_cast<DType>(t)); }

namespace {
int64_t checked_numel(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (int64_t(1) << 48) / d))
      return -1;
    n *= d;
  }
  return n;
}
} // namespace

HostTensor::HostTensor(ElementType type, std::vector<int64_t> shape)
    : type_(type), shape_(std::move(shape)), defined_(true) {
  numel_ = checked_numel(shape_);
  if (numel_ < 0) { // an absurd shape: an empty, undefined tensor rather than a throw
    numel_ = 0;
    defined_ = false;
    return;
  }
  size_t bytes = std::max<size_t>(64, (nbytes() + 63) / 64 * 64);
  void *p = ::operator new (bytes, std::align_val_t{64}, std::nothrow);
  if (!p) {
    numel_ = 0;
    defined_ = false;
    return;
  }
  std::memset(p, 0, bytes);
  owner_ = std::shared_ptr<void>(p, [](void *q) { ::operator delete (q, std::align_val_t{64}); });
  data_ = p;
}

HostTensor HostTensor::view(ElementType type, std::vector<int64_t> shape, void *data) {
  HostTensor t;
  t.type_ = type;
  t.shape_ = std::move(shape);
  t.numel_ = std::max<int64_t>(0, checked_numel(t.shape_));
  t.data_ = data;
  t.defined_ = true;
  return t;
}

std::string version() { return compiler_release(); }

} // namespace kiln
