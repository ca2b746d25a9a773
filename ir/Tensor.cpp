#include "ir/Tensor.h"

#include <cmath>
#include <cstring>
#include <new>

namespace kiln {

int64_t shape_numel(const Shape &s, const std::string &what) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0)
      throw Error(what + ": negative dimension in shape " + shape_str(s));
    if (__builtin_mul_overflow(n, d, &n) || n > (int64_t(1) << 40))
      throw Error(what + ": shape " + shape_str(s) + " is too large (over 2^40 elements)");
  }
  return n;
}

std::string shape_str(const Shape &s) {
  if (s.empty())
    return "scalar";
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      r += 'x';
    r += std::to_string(s[i]);
  }
  return r;
}

std::string type_str(DType dtype, const Shape &shape) {
  std::string s = std::string(dtype_name(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::vector<int64_t> shape_strides(const Shape &s) {
  std::vector<int64_t> st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = shape_numel(shape_);
  size_t bytes = nbytes();
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0)
    alloc = 64;
  auto *p = static_cast<std::byte *>(::operator new (alloc, std::align_val_t{64}));
  std::memset(p, 0, alloc);
  storage_ = std::shared_ptr<std::byte>(
      p, [](std::byte *q) { ::operator delete (q, std::align_val_t{64}); });
}

double Tensor::get_f64(int64_t i) const {
  KILN_ASSERT(i >= 0 && i < numel_, "get_f64: index out of range");
  return dispatch_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    return to_f64(static_cast<const T *>(raw())[i]);
  });
}

int64_t Tensor::get_i64(int64_t i) const {
  KILN_ASSERT(i >= 0 && i < numel_, "get_i64: index out of range");
  return dispatch_dtype(dtype_, [&](auto tag) -> int64_t {
    using T = decltype(tag);
    T v = static_cast<const T *>(raw())[i];
    if constexpr (std::is_integral_v<T>)
      return static_cast<int64_t>(v);
    else
      return static_cast<int64_t>(to_f64(v));
  });
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> v(numel_);
  for (int64_t i = 0; i < numel_; ++i)
    v[i] = get_i64(i);
  return v;
}

std::vector<double> Tensor::to_f64_vector() const {
  std::vector<double> v(numel_);
  for (int64_t i = 0; i < numel_; ++i)
    v[i] = get_f64(i);
  return v;
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  int64_t n = shape_numel(shape);
  KILN_ASSERT(n == numel_, "reshaped: element count changes");
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes())
    std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::cast(DType to) const {
  Tensor out(to, shape_);
  dispatch_dtype(dtype_, [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch_dtype(to, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      const S *s = data<S>();
      D *d = out.data<D>();
      for (int64_t i = 0; i < numel_; ++i) {
        if constexpr (std::is_integral_v<S> && std::is_integral_v<D>)
          d[i] = static_cast<D>(s[i]); // exact for integers (wraps like ONNX Runtime)
        else if constexpr (std::is_same_v<D, bool>)
          d[i] = to_f64(s[i]) != 0.0;
        else if constexpr (std::is_integral_v<D>) {
          double v = to_f64(s[i]);
          d[i] = std::isfinite(v) ? static_cast<D>(static_cast<int64_t>(v)) : D{0};
        } else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, float>)
          d[i] = s[i];
        else
          d[i] = from_f64<D>(to_f64(s[i]));
      }
    });
  });
  return out;
}

bool Tensor::bitwise_equal(const Tensor &o) const {
  if (dtype_ != o.dtype_ || shape_ != o.shape_)
    return false;
  return nbytes() == 0 || std::memcmp(raw(), o.raw(), nbytes()) == 0;
}

} // namespace kiln
