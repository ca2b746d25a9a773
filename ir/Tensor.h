#pragma once
/// Shapes and dense tensors: the values of constants and of the reference interpreter.
#include "ir/DType.h"
#include "ir/Error.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

using Shape = std::vector<int64_t>;

/// Number of elements; throws kiln::Error naming `what` when a dimension is negative or the
/// product overflows (absurd shapes from a malformed model).
int64_t shape_numel(const Shape &s, const std::string &what = "tensor");
/// "1x3x640x640"; "scalar" for rank 0.
std::string shape_str(const Shape &s);
/// A tensor type as the text IR writes it: "f32[1,3,640,640]"; "i64[]" for rank 0.
std::string type_str(DType dtype, const Shape &shape);
/// Row-major strides in elements.
std::vector<int64_t> shape_strides(const Shape &s);

/// A dense row-major tensor. Copies share storage (a handle, like a shared_ptr); clone() makes
/// a deep copy. Storage is 64-byte aligned and zero-initialised.
class Tensor {
public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);

  /// Scalar or 1-D helpers.
  template <class T> static Tensor from_vector(const std::vector<T> &v, Shape shape) {
    Tensor t(dtype_of<T>(), std::move(shape));
    KILN_ASSERT(static_cast<size_t>(t.numel()) == v.size(), "from_vector: size mismatch");
    std::copy(v.begin(), v.end(), t.data<T>());
    return t;
  }

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape &shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void *raw() { return storage_.get(); }
  const void *raw() const { return storage_.get(); }
  template <class T> T *data() {
    KILN_ASSERT(dtype_of<T>() == dtype_, "Tensor::data: wrong element type");
    return static_cast<T *>(raw());
  }
  template <class T> const T *data() const {
    KILN_ASSERT(dtype_of<T>() == dtype_, "Tensor::data: wrong element type");
    return static_cast<const T *>(raw());
  }

  /// Element i (flat index) as double, whatever the dtype.
  double get_f64(int64_t i) const;
  /// Element i (flat index) as int64 (floats truncate toward zero).
  int64_t get_i64(int64_t i) const;
  /// All elements as int64 (for shape-like tensors).
  std::vector<int64_t> to_i64_vector() const;
  std::vector<double> to_f64_vector() const;

  /// Same storage, new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;
  /// Converts to another dtype with the semantics of ONNX Cast (float->int truncates,
  /// ->bool is != 0, ->half rounds to nearest even).
  Tensor cast(DType to) const;
  /// Exact equality of dtype, shape and bytes.
  bool bitwise_equal(const Tensor &o) const;

private:
  DType dtype_ = DType::f32;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<std::byte> storage_;
};

} // namespace kiln
