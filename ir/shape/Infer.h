#pragma once
/// Internal to shape inference (ir/ShapeInference.h): the checked view of one infer_types call
/// and one entry per op family (ops.def); each family's code lives in ir/shape/<Family>.cpp.
#include "ir/Graph.h"
#include "ir/ShapeInference.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace kiln::shape {

inline std::string ints_str(const std::vector<int64_t> &v) {
  std::string r = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i)
      r += ", ";
    r += std::to_string(v[i]);
  }
  return r + "]";
}

/// numpy broadcast; false when the shapes are incompatible (callers word the error).
inline bool broadcast_into(const Shape &a, const Shape &b, Shape &out) {
  size_t r = std::max(a.size(), b.size());
  out.assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else
      return false;
  }
  return true;
}

/// A scalar parameter (zero point, per-tensor scale): rank 0, or the [1] that exporters emit.
inline bool is_scalar_like(const Shape &s) { return s.size() <= 1 && shape_numel(s) == 1; }

/// What an input's dtype must be.
enum class Kind { any, numeric, floating, boolean };

/// One infer_types call: checked access to the inputs and attributes (every failure is an Error
/// naming the op) and the outputs collected so far.
class Infer {
public:
  Infer(OpKind op, const std::vector<const Value *> &inputs, const Attrs &attrs)
      : op_(op), inputs_(inputs), attrs_(attrs) {}

  OpKind op() const { return op_; }

  [[noreturn]] void fail(const std::string &msg) const {
    throw Error(std::string(op_name(op_)) + ": " + msg);
  }

  void arity(size_t lo, size_t hi) const {
    size_t n = inputs_.size();
    if (n >= lo && n <= hi)
      return;
    std::string want =
        lo == hi ? std::to_string(lo)
        : hi == std::numeric_limits<size_t>::max()
            ? "at least " + std::to_string(lo)
            : std::to_string(lo) + (hi == lo + 1 ? " or " : " to ") + std::to_string(hi);
    fail("expects " + want + " inputs but has " + std::to_string(n));
  }
  size_t num_inputs() const { return inputs_.size(); }
  const Value &in(size_t i) const {
    if (!inputs_[i])
      fail("input " + std::to_string(i) + " is required but absent");
    return *inputs_[i];
  }
  const Value *opt(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }

  bool has(const std::string &name) {
    used_.insert(name);
    return attrs_.has(name);
  }
  int64_t i(const std::string &name) { return get<int64_t>(name, "an int"); }
  double f(const std::string &name) { return get<double>(name, "a float"); }
  const std::string &s(const std::string &name) { return get<std::string>(name, "a string"); }
  const std::vector<int64_t> &ints(const std::string &name) {
    return get<std::vector<int64_t>>(name, "ints");
  }
  const std::vector<int64_t> &ints(const std::string &name, size_t len) {
    const auto &v = ints(name);
    if (v.size() != len)
      fail("attribute '" + name + "' has " + std::to_string(v.size()) + " entries, expected " +
           std::to_string(len));
    return v;
  }
  const std::vector<double> &floats(const std::string &name, size_t len) {
    const auto &v = get<std::vector<double>>(name, "floats");
    if (v.size() != len)
      fail("attribute '" + name + "' has " + std::to_string(v.size()) + " entries, expected " +
           std::to_string(len));
    return v;
  }
  /// A 0/1 int attribute.
  bool flag(const std::string &name) {
    int64_t v = i(name);
    if (v != 0 && v != 1)
      fail("attribute '" + name + "' is " + std::to_string(v) + ", expected 0 or 1");
    return v == 1;
  }
  /// An int attribute naming an axis of a rank-`rank` tensor (already non-negative).
  int64_t axis(const std::string &name, size_t rank) {
    int64_t a = i(name);
    if (a < 0 || a >= static_cast<int64_t>(rank))
      fail("attribute '" + name + "' is " + std::to_string(a) + ", out of range for rank " +
           std::to_string(rank));
    return a;
  }
  /// A string attribute that must be one of `allowed`.
  const std::string &choice(const std::string &name, std::initializer_list<const char *> allowed) {
    const std::string &v = s(name);
    for (const char *a : allowed)
      if (v == a)
        return v;
    fail("attribute '" + name + "' has unsupported value '" + v + "'");
  }

  void kind(const Value &v, const char *what, Kind k) const {
    bool ok = k == Kind::any || (k == Kind::numeric && v.dtype != DType::boolean) ||
              (k == Kind::floating && is_float(v.dtype)) ||
              (k == Kind::boolean && v.dtype == DType::boolean);
    if (ok)
      return;
    const char *want = k == Kind::numeric    ? "a numeric type"
                       : k == Kind::floating ? "a float type"
                                             : "bool";
    fail(std::string(what) + " is " + std::string(dtype_name(v.dtype)) + " but must be " + want);
  }
  void dtype_in(const Value &v, const char *what, std::initializer_list<DType> allowed) const {
    if (std::find(allowed.begin(), allowed.end(), v.dtype) != allowed.end())
      return;
    std::string names;
    for (DType t : allowed) {
      if (!names.empty())
        names += '|';
      names += dtype_name(t);
    }
    fail(std::string(what) + " is " + std::string(dtype_name(v.dtype)) + " but must be " + names);
  }
  void same_dtype(const Value &a, const char *wa, const Value &b, const char *wb) const {
    if (a.dtype != b.dtype)
      fail(std::string(wa) + " is " + std::string(dtype_name(a.dtype)) + " but " + wb + " is " +
           std::string(dtype_name(b.dtype)));
  }
  void rank(const Value &v, const char *what, size_t r) const {
    if (v.shape.size() != r)
      fail(std::string(what) + " has shape " + shape_str(v.shape) + " but must have rank " +
           std::to_string(r));
  }
  void min_rank(const Value &v, const char *what, size_t r) const {
    if (v.shape.size() < r)
      fail(std::string(what) + " has shape " + shape_str(v.shape) +
           " but must have rank >= " + std::to_string(r));
  }
  Shape broadcast(const Shape &a, const Shape &b) const {
    Shape out;
    if (!broadcast_into(a, b, out))
      fail("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    return out;
  }

  // Dimension arithmetic on attribute values can overflow for malformed models.
  int64_t add(int64_t a, int64_t b) const {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
      fail("dimension arithmetic overflows");
    return r;
  }
  int64_t mul(int64_t a, int64_t b) const {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
      fail("dimension arithmetic overflows");
    return r;
  }

  void out(DType dtype, Shape shape) {
    shape_numel(shape, std::string(op_name(op_)) + " output");
    outs_.push_back({dtype, std::move(shape)});
  }

  /// The outputs, after rejecting attributes the op does not read (typos, unresolved ONNX
  /// leftovers such as auto_pad).
  std::vector<TensorType> finish() {
    for (const auto &[name, v] : attrs_.map())
      if (!used_.count(name))
        fail("unexpected attribute '" + name + "'");
    return std::move(outs_);
  }

private:
  template <class T> const T &get(const std::string &name, const char *kind) {
    used_.insert(name);
    auto it = attrs_.map().find(name);
    if (it == attrs_.map().end())
      fail("attribute '" + name + "' is missing");
    const T *v = std::get_if<T>(&it->second);
    if (!v)
      fail("attribute '" + name + "' must be " + kind);
    return *v;
  }

  OpKind op_;
  const std::vector<const Value *> &inputs_;
  const Attrs &attrs_;
  std::set<std::string> used_;
  std::vector<TensorType> outs_;
};

/// Arity bound for ops with any number of inputs.
inline constexpr size_t kMany = std::numeric_limits<size_t>::max();

// ---- one entry per op family; each checks the inputs and attributes and adds the outputs ----
void infer_unary(Infer &c);             // Elementwise.cpp
void infer_binary(Infer &c);            // Elementwise.cpp
void infer_select(Infer &c);            // Elementwise.cpp
void infer_fused_elementwise(Infer &c); // Elementwise.cpp
void infer_conv(Infer &c);              // Conv.cpp
void infer_pool(Infer &c);              // Conv.cpp
void infer_norm(Infer &c);              // Conv.cpp
void infer_linalg(Infer &c);            // Linalg.cpp
void infer_softmax(Infer &c);           // Linalg.cpp
void infer_movement(Infer &c);          // Movement.cpp
void infer_resize(Infer &c);            // Resize.cpp
void infer_reduce(Infer &c);            // Reduce.cpp
void infer_quant(Infer &c);             // Quant.cpp

} // namespace kiln::shape
