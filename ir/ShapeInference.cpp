#include "ir/ShapeInference.h"

#include "ir/FusedProgram.h"

#include <algorithm>
#include <limits>
#include <set>

namespace kiln {

namespace {

std::string ints_str(const std::vector<int64_t> &v) {
  std::string r = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i)
      r += ", ";
    r += std::to_string(v[i]);
  }
  return r + "]";
}

/// numpy broadcast; false when the shapes are incompatible (callers word the error).
bool broadcast_into(const Shape &a, const Shape &b, Shape &out) {
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
bool is_scalar_like(const Shape &s) { return s.size() <= 1 && shape_numel(s) == 1; }

enum class Kind { any, numeric, floating, boolean };

/// One infer_types call: checked access to the inputs and attributes (every failure is an Error
/// naming the op) and the outputs collected so far.
class Infer {
public:
  Infer(OpKind op, const std::vector<const Value *> &inputs, const Attrs &attrs)
      : op_(op), inputs_(inputs), attrs_(attrs) {}

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

constexpr size_t kMany = std::numeric_limits<size_t>::max();

void unary(Infer &c, Kind k) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", k);
  c.out(x.dtype, x.shape);
}

/// Elementwise over broadcast inputs of one dtype; the output dtype is `result` or the inputs'.
void binary(Infer &c, Kind k, std::optional<DType> result = std::nullopt) {
  c.arity(2, 2);
  const Value &a = c.in(0), &b = c.in(1);
  c.kind(a, "input 0", k);
  c.same_dtype(a, "input 0", b, "input 1");
  c.out(result.value_or(a.dtype), c.broadcast(a.shape, b.shape));
}

/// Strides, dilations and pads of a 2-D window op.
struct Window {
  std::vector<int64_t> strides, dilations, pads;
};

Window window_attrs(Infer &c, bool has_dilations) {
  Window w;
  w.strides = c.ints("strides", 2);
  w.dilations = has_dilations ? c.ints("dilations", 2) : std::vector<int64_t>{1, 1};
  w.pads = c.ints("pads", 4);
  for (int64_t s : w.strides)
    if (s < 1)
      c.fail("strides " + ints_str(w.strides) + " must be >= 1");
  for (int64_t d : w.dilations)
    if (d < 1)
      c.fail("dilations " + ints_str(w.dilations) + " must be >= 1");
  for (int64_t p : w.pads)
    if (p < 0)
      c.fail("pads " + ints_str(w.pads) + " must be >= 0");
  return w;
}

/// Output size along spatial axis `a` (0: H, 1: W) of a window op over `in`.
int64_t window_out(Infer &c, const Window &w, int a, int64_t in, int64_t k, bool ceil_mode) {
  int64_t s = w.strides[a], pb = w.pads[a], pe = w.pads[a + 2];
  int64_t extent = c.add(c.mul(w.dilations[a], k - 1), 1);
  int64_t padded = c.add(c.add(in, pb), pe);
  const char *axis = a == 0 ? "height" : "width";
  if (padded < extent)
    c.fail(std::string("window extent ") + std::to_string(extent) + " exceeds padded " + axis +
           " " + std::to_string(padded));
  int64_t span = padded - extent;
  int64_t out = span / s + 1;
  if (ceil_mode && span % s != 0) {
    ++out;
    // ONNX: the last window must start inside the input or the left padding.
    if (c.mul(out - 1, s) >= in + pb)
      --out;
  }
  if (out <= 0)
    c.fail(std::string("output ") + axis + " " + std::to_string(out) + " is not positive");
  return out;
}

/// Kernel dims of a weight [*, *, kh, kw] must be positive.
void check_kernel(Infer &c, const Value &w) {
  if (w.shape[2] < 1 || w.shape[3] < 1)
    c.fail("weight " + shape_str(w.shape) + " has an empty kernel");
}

/// The output shape of Conv / ConvInteger: X[N,C,H,W] with W[M,C/group,kh,kw].
Shape conv_shape(Infer &c, const Value &x, const Value &w) {
  c.rank(x, "input X", 4);
  c.rank(w, "weight W", 4);
  check_kernel(c, w);
  int64_t group = c.i("group");
  if (group < 1)
    c.fail("group " + std::to_string(group) + " must be >= 1");
  int64_t ch = x.shape[1], m = w.shape[0];
  if (c.mul(w.shape[1], group) != ch)
    c.fail("weight has " + std::to_string(w.shape[1]) + " input channels per group but input has " +
           std::to_string(ch) + " channels (group " + std::to_string(group) + ")");
  if (m % group != 0)
    c.fail("weight has " + std::to_string(m) + " output channels, not divisible by group " +
           std::to_string(group));
  Window win = window_attrs(c, true);
  return {x.shape[0], m, window_out(c, win, 0, x.shape[2], w.shape[2], false),
          window_out(c, win, 1, x.shape[3], w.shape[3], false)};
}

/// Optional bias B[M] of the dtype of X.
void check_bias(Infer &c, const Value &x, int64_t m) {
  const Value *b = c.opt(2);
  if (!b)
    return;
  c.same_dtype(*b, "bias B", x, "input X");
  if (b->shape != Shape{m})
    c.fail("bias B has shape " + shape_str(b->shape) + " but must be " + std::to_string(m));
}

void conv(Infer &c) {
  c.arity(2, 4);
  const Value &x = c.in(0), &w = c.in(1);
  c.kind(x, "input X", Kind::floating);
  c.same_dtype(w, "weight W", x, "input X");
  Shape out = conv_shape(c, x, w);
  check_bias(c, x, out[1]);
  // The fused epilogue (passes/Fuse.h): absent attributes mean no activation, so graphs built
  // by hand and older text IR stay valid.
  if (c.has("activation"))
    c.choice("activation", {"none", "relu", "sigmoid", "silu", "leaky_relu", "hardswish"});
  if (c.has("alpha"))
    c.f("alpha");
  if (const Value *r = c.opt(3)) {
    c.same_dtype(*r, "residual", x, "input X");
    if (r->shape != out)
      c.fail("residual has shape " + shape_str(r->shape) + " but the output is " + shape_str(out));
  }
  c.out(x.dtype, out);
}

void conv_transpose(Infer &c) {
  c.arity(2, 3);
  const Value &x = c.in(0), &w = c.in(1);
  c.kind(x, "input X", Kind::floating);
  c.same_dtype(w, "weight W", x, "input X");
  c.rank(x, "input X", 4);
  c.rank(w, "weight W", 4);
  check_kernel(c, w);
  int64_t group = c.i("group");
  if (group < 1)
    c.fail("group " + std::to_string(group) + " must be >= 1");
  if (w.shape[0] != x.shape[1])
    c.fail("weight " + shape_str(w.shape) + " has " + std::to_string(w.shape[0]) +
           " input channels but input has " + std::to_string(x.shape[1]));
  if (x.shape[1] % group != 0)
    c.fail("input channels " + std::to_string(x.shape[1]) + " are not divisible by group " +
           std::to_string(group));
  int64_t m = c.mul(w.shape[1], group);
  check_bias(c, x, m);
  Window win = window_attrs(c, true);
  const auto &opad = c.ints("output_padding", 2);
  Shape out = {x.shape[0], m, 0, 0};
  for (int a = 0; a < 2; ++a) {
    int64_t s = win.strides[a], d = win.dilations[a];
    if (opad[a] < 0 || (opad[a] >= s && opad[a] >= d))
      c.fail("output_padding " + ints_str(opad) + " must be >= 0 and below stride or dilation");
    // (in-1)*stride - pad_begin - pad_end + dilation*(k-1) + output_padding + 1
    int64_t o = c.mul(x.shape[2 + a] - 1, s);
    o = c.add(o, -c.add(win.pads[a], win.pads[a + 2]));
    o = c.add(o, c.add(c.mul(d, w.shape[2 + a] - 1), c.add(opad[a], 1)));
    if (o <= 0)
      c.fail(std::string("output ") + (a == 0 ? "height " : "width ") + std::to_string(o) +
             " is not positive");
    out[2 + a] = o;
  }
  c.out(x.dtype, out);
}

void conv_integer(Infer &c) {
  c.arity(4, 4);
  const Value &x = c.in(0), &w = c.in(1), &xz = c.in(2), &wz = c.in(3);
  c.dtype_in(x, "input X", {DType::u8, DType::i8});
  c.dtype_in(w, "weight W", {DType::u8, DType::i8});
  c.same_dtype(xz, "x_zero_point", x, "input X");
  c.same_dtype(wz, "w_zero_point", w, "weight W");
  Shape out = conv_shape(c, x, w);
  if (!is_scalar_like(xz.shape))
    c.fail("x_zero_point has shape " + shape_str(xz.shape) + " but must be a scalar");
  if (!is_scalar_like(wz.shape) && wz.shape != Shape{out[1]})
    c.fail("w_zero_point has shape " + shape_str(wz.shape) + " but must be a scalar or " +
           std::to_string(out[1]));
  c.out(DType::i32, out);
}

void pool(Infer &c, bool is_max) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  // MaxPool also runs on 8-bit quantised tensors.
  if (!is_max || (x.dtype != DType::u8 && x.dtype != DType::i8))
    c.kind(x, "input X", Kind::floating);
  c.rank(x, "input X", 4);
  const auto &kernel = c.ints("kernel", 2);
  for (int64_t k : kernel)
    if (k < 1)
      c.fail("kernel " + ints_str(kernel) + " must be >= 1");
  Window win = window_attrs(c, is_max);
  // AveragePool has no dilations; tolerate an explicit all-ones attribute.
  if (!is_max && c.has("dilations") && c.ints("dilations", 2) != std::vector<int64_t>{1, 1})
    c.fail("dilations " + ints_str(c.ints("dilations")) + " must be all 1");
  if (!is_max)
    c.flag("count_include_pad");
  bool ceil_mode = c.flag("ceil_mode");
  // A window lying entirely in padding has no defined value.
  for (int a = 0; a < 2; ++a) {
    int64_t extent = c.add(c.mul(win.dilations[a], kernel[a] - 1), 1);
    if (win.pads[a] >= extent || win.pads[a + 2] >= extent)
      c.fail("pads " + ints_str(win.pads) + " must be smaller than the window extent " +
             std::to_string(extent));
  }
  c.out(x.dtype, {x.shape[0], x.shape[1], window_out(c, win, 0, x.shape[2], kernel[0], ceil_mode),
                  window_out(c, win, 1, x.shape[3], kernel[1], ceil_mode)});
}

void global_pool(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input X", Kind::floating);
  c.rank(x, "input X", 4);
  if (x.shape[2] < 1 || x.shape[3] < 1)
    c.fail("input X " + shape_str(x.shape) + " has an empty spatial extent");
  c.out(x.dtype, {x.shape[0], x.shape[1], 1, 1});
}

void batch_norm(Infer &c) {
  c.arity(5, 5);
  const Value &x = c.in(0);
  c.kind(x, "input X", Kind::floating);
  c.min_rank(x, "input X", 2);
  static const char *const names[] = {"scale", "bias", "mean", "var"};
  for (size_t i = 1; i < 5; ++i) {
    const Value &p = c.in(i);
    c.same_dtype(p, names[i - 1], x, "input X");
    if (p.shape != Shape{x.shape[1]})
      c.fail(std::string(names[i - 1]) + " has shape " + shape_str(p.shape) + " but must be " +
             std::to_string(x.shape[1]));
  }
  c.f("epsilon");
  c.out(x.dtype, x.shape);
}

/// numpy matmul of ranks >= 2 with broadcast batch dimensions.
Shape matmul_shape(Infer &c, const Value &a, const Value &b) {
  c.min_rank(a, "input A", 2);
  c.min_rank(b, "input B", 2);
  size_t ra = a.shape.size(), rb = b.shape.size();
  if (a.shape[ra - 1] != b.shape[rb - 2])
    c.fail("shapes " + shape_str(a.shape) + " and " + shape_str(b.shape) +
           " do not agree on the contracted dimension");
  Shape out = c.broadcast(Shape(a.shape.begin(), a.shape.end() - 2),
                          Shape(b.shape.begin(), b.shape.end() - 2));
  out.push_back(a.shape[ra - 2]);
  out.push_back(b.shape[rb - 1]);
  return out;
}

void matmul(Infer &c) {
  c.arity(2, 2);
  const Value &a = c.in(0), &b = c.in(1);
  c.kind(a, "input A", Kind::numeric);
  c.same_dtype(a, "input A", b, "input B");
  c.out(a.dtype, matmul_shape(c, a, b));
}

void matmul_integer(Infer &c) {
  c.arity(4, 4);
  const Value &a = c.in(0), &b = c.in(1), &az = c.in(2), &bz = c.in(3);
  c.dtype_in(a, "input A", {DType::u8, DType::i8});
  c.dtype_in(b, "input B", {DType::u8, DType::i8});
  c.same_dtype(az, "a_zero_point", a, "input A");
  c.same_dtype(bz, "b_zero_point", b, "input B");
  Shape out = matmul_shape(c, a, b);
  int64_t m = out[out.size() - 2], n = out.back();
  if (!is_scalar_like(az.shape) && az.shape != Shape{m})
    c.fail("a_zero_point has shape " + shape_str(az.shape) + " but must be a scalar or " +
           std::to_string(m));
  if (!is_scalar_like(bz.shape) && bz.shape != Shape{n})
    c.fail("b_zero_point has shape " + shape_str(bz.shape) + " but must be a scalar or " +
           std::to_string(n));
  c.out(DType::i32, out);
}

void gemm(Infer &c) {
  c.arity(2, 3);
  const Value &a = c.in(0), &b = c.in(1);
  c.kind(a, "input A", Kind::numeric);
  c.same_dtype(a, "input A", b, "input B");
  c.rank(a, "input A", 2);
  c.rank(b, "input B", 2);
  c.f("alpha");
  c.f("beta");
  bool ta = c.flag("transA"), tb = c.flag("transB");
  int64_t m = a.shape[ta ? 1 : 0], ka = a.shape[ta ? 0 : 1];
  int64_t kb = b.shape[tb ? 1 : 0], n = b.shape[tb ? 0 : 1];
  if (ka != kb)
    c.fail("shapes " + shape_str(a.shape) + " and " + shape_str(b.shape) + " (transA " +
           std::to_string(ta) + ", transB " + std::to_string(tb) +
           ") do not agree on the contracted dimension");
  Shape mn = {m, n};
  if (const Value *cv = c.opt(2)) {
    c.same_dtype(*cv, "input C", a, "input A");
    Shape bc;
    if (!broadcast_into(cv->shape, mn, bc) || bc != mn)
      c.fail("input C has shape " + shape_str(cv->shape) + " which does not broadcast to " +
             shape_str(mn));
  }
  c.out(a.dtype, mn);
}

void softmax(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::floating);
  c.axis("axis", x.shape.size());
  c.out(x.dtype, x.shape);
}

void concat(Infer &c) {
  c.arity(1, kMany);
  const Value &x0 = c.in(0);
  int64_t axis = c.axis("axis", x0.shape.size());
  Shape out = x0.shape;
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    const Value &x = c.in(i);
    c.same_dtype(x, ("input " + std::to_string(i)).c_str(), x0, "input 0");
    bool ok = x.shape.size() == out.size();
    for (size_t d = 0; ok && d < out.size(); ++d)
      ok = static_cast<int64_t>(d) == axis || x.shape[d] == out[d];
    if (!ok)
      c.fail("input " + std::to_string(i) + " has shape " + shape_str(x.shape) +
             " which does not match " + shape_str(x0.shape) + " outside axis " +
             std::to_string(axis));
    out[axis] = c.add(out[axis], x.shape[axis]);
  }
  c.out(x0.dtype, out);
}

void split(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  int64_t axis = c.axis("axis", x.shape.size());
  const auto &parts = c.ints("split");
  if (parts.empty())
    c.fail("attribute 'split' is empty");
  int64_t total = 0;
  for (int64_t p : parts) {
    if (p < 0)
      c.fail("split " + ints_str(parts) + " has a negative entry");
    total = c.add(total, p);
  }
  if (total != x.shape[axis])
    c.fail("split " + ints_str(parts) + " sums to " + std::to_string(total) + " but axis " +
           std::to_string(axis) + " of " + shape_str(x.shape) + " is " +
           std::to_string(x.shape[axis]));
  for (int64_t p : parts) {
    Shape s = x.shape;
    s[axis] = p;
    c.out(x.dtype, s);
  }
}

void slice(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  size_t r = x.shape.size();
  const auto &starts = c.ints("starts", r), &ends = c.ints("ends", r), &steps = c.ints("steps", r);
  Shape out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t dim = x.shape[d], s = starts[d], e = ends[d], st = steps[d];
    std::string where = " on axis " + std::to_string(d) + " of " + shape_str(x.shape);
    if (st == 0)
      c.fail("step is 0" + where);
    // Clamped values lie in [-1, dim]; the bound also keeps e - s from overflowing.
    if (s < -1 || s > dim || e < -1 || e > dim)
      c.fail("starts " + std::to_string(s) + " / ends " + std::to_string(e) + " are not clamped" +
             where);
    int64_t diff = e - s;
    int64_t n =
        st > 0 ? (diff > 0 ? (diff + st - 1) / st : 0) : (diff < 0 ? (-diff + -st - 1) / -st : 0);
    // Every element read must lie inside the input.
    int64_t last = s + (n - 1) * st;
    if (n > 0 && (s < 0 || s >= dim || last < 0 || last >= dim))
      c.fail("start " + std::to_string(s) + " step " + std::to_string(st) +
             " reads outside the input" + where);
    out[d] = n;
  }
  c.out(x.dtype, out);
}

void reshape(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  const auto &shape = c.ints("shape");
  for (int64_t d : shape)
    if (d < 0)
      c.fail("shape " + ints_str(shape) + " has an unresolved or negative dimension");
  int64_t n = shape_numel(shape, "Reshape: target shape");
  if (n != shape_numel(x.shape))
    c.fail("cannot reshape " + shape_str(x.shape) + " to " + shape_str(shape));
  c.out(x.dtype, shape);
}

void transpose(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  size_t r = x.shape.size();
  const auto &perm = c.ints("perm", r);
  std::vector<bool> seen(r, false);
  Shape out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t p = perm[d];
    if (p < 0 || p >= static_cast<int64_t>(r) || seen[p])
      c.fail("perm " + ints_str(perm) + " is not a permutation of rank " + std::to_string(r));
    seen[p] = true;
    out[d] = x.shape[p];
  }
  c.out(x.dtype, out);
}

void expand(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  const auto &shape = c.ints("shape");
  Shape bc;
  if (!broadcast_into(x.shape, shape, bc) || bc != shape)
    c.fail("shape " + ints_str(shape) + " is not the broadcast of input " + shape_str(x.shape) +
           " and itself");
  c.out(x.dtype, shape);
}

void pad(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  size_t r = x.shape.size();
  const auto &pads = c.ints("pads", 2 * r);
  const std::string &mode = c.choice("mode", {"constant", "reflect", "edge", "wrap"});
  c.f("value");
  Shape out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t dim = x.shape[d], b = pads[d], e = pads[d + r];
    out[d] = c.add(c.add(dim, b), e);
    if (out[d] < 0)
      c.fail("pads " + ints_str(pads) + " crop axis " + std::to_string(d) + " of " +
             shape_str(x.shape) + " below zero");
    // reflect mirrors without repeating the edge, so it needs pad <= dim - 1.
    if (mode == "reflect" && std::max(b, e) > std::max<int64_t>(dim - 1, 0))
      c.fail("reflect pads " + ints_str(pads) + " exceed axis " + std::to_string(d) + " of " +
             shape_str(x.shape) + " minus one");
    if ((mode == "edge" || mode == "wrap") && std::max(b, e) > 0 && dim == 0)
      c.fail(mode + " padding of empty axis " + std::to_string(d));
  }
  c.out(x.dtype, out);
}

void tile(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  const auto &reps = c.ints("repeats", x.shape.size());
  Shape out(x.shape.size());
  for (size_t d = 0; d < out.size(); ++d) {
    if (reps[d] < 0)
      c.fail("repeats " + ints_str(reps) + " has a negative entry");
    out[d] = c.mul(x.shape[d], reps[d]);
  }
  c.out(x.dtype, out);
}

/// Constant indices must lie in [-dim, dim); runtime indices are the kernel's concern.
void check_constant_indices(Infer &c, const Value &idx, int64_t dim) {
  if (!idx.is_constant())
    return;
  const Tensor &t = *idx.constant;
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v = t.get_i64(i);
    if (v < -dim || v >= dim)
      c.fail("index " + std::to_string(v) + " is out of range for axis size " +
             std::to_string(dim));
  }
}

void gather(Infer &c) {
  c.arity(2, 2);
  const Value &data = c.in(0), &idx = c.in(1);
  c.dtype_in(idx, "indices", {DType::i64, DType::i32});
  c.min_rank(data, "data", 1);
  int64_t axis = c.axis("axis", data.shape.size());
  check_constant_indices(c, idx, data.shape[axis]);
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  c.out(data.dtype, out);
}

void gather_elements(Infer &c) {
  c.arity(2, 2);
  const Value &data = c.in(0), &idx = c.in(1);
  c.dtype_in(idx, "indices", {DType::i64, DType::i32});
  c.min_rank(data, "data", 1);
  int64_t axis = c.axis("axis", data.shape.size());
  bool ok = idx.shape.size() == data.shape.size();
  for (size_t d = 0; ok && d < data.shape.size(); ++d)
    ok = static_cast<int64_t>(d) == axis || idx.shape[d] <= data.shape[d];
  if (!ok)
    c.fail("indices " + shape_str(idx.shape) + " do not fit data " + shape_str(data.shape) +
           " outside axis " + std::to_string(axis));
  check_constant_indices(c, idx, data.shape[axis]);
  c.out(data.dtype, idx.shape);
}

void resize(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  size_t r = x.shape.size();
  c.min_rank(x, "input", 1);
  c.choice("mode", {"nearest", "linear"});
  c.choice("coordinate_transformation_mode", {"half_pixel", "half_pixel_symmetric",
                                              "pytorch_half_pixel", "align_corners", "asymmetric"});
  c.choice("nearest_mode", {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"});
  c.f("extrapolation_value");
  c.flag("exclude_outside");
  for (double s : c.floats("scales", r))
    if (!(s > 0))
      c.fail("scales must be positive, got " + std::to_string(s));
  const auto &sizes = c.ints("sizes", r);
  for (int64_t s : sizes)
    if (s < 1)
      c.fail("sizes " + ints_str(sizes) + " must be >= 1");
  c.out(x.dtype, sizes);
}

void reduce(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  const auto &axes = c.ints("axes");
  bool keep = c.flag("keepdims");
  int64_t r = static_cast<int64_t>(x.shape.size());
  bool ok = !axes.empty();
  for (size_t i = 0; ok && i < axes.size(); ++i)
    ok = axes[i] >= 0 && axes[i] < r && (i == 0 || axes[i] > axes[i - 1]);
  if (!ok)
    c.fail("axes " + ints_str(axes) + " must be non-empty, sorted, unique and within rank " +
           std::to_string(r));
  Shape out;
  for (int64_t d = 0; d < r; ++d) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), d);
    if (!reduced)
      out.push_back(x.shape[d]);
    else if (keep)
      out.push_back(1);
  }
  c.out(x.dtype, out);
}

void arg_reduce(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  c.min_rank(x, "input", 1);
  int64_t axis = c.axis("axis", x.shape.size());
  bool keep = c.flag("keepdims");
  c.flag("select_last_index");
  if (x.shape[axis] == 0)
    c.fail("cannot reduce empty axis " + std::to_string(axis) + " of " + shape_str(x.shape));
  Shape out = x.shape;
  if (keep)
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  c.out(DType::i64, out);
}

void topk(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  c.min_rank(x, "input", 1);
  int64_t axis = c.axis("axis", x.shape.size());
  int64_t k = c.i("k");
  c.flag("largest");
  c.flag("sorted");
  if (k < 0 || k > x.shape[axis])
    c.fail("k " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) + " of " +
           shape_str(x.shape));
  Shape out = x.shape;
  out[axis] = k;
  c.out(x.dtype, out);
  c.out(DType::i64, out);
}

/// Scale and zero point: both scalars (per tensor), or both 1-D of x's size along `axis`.
void check_quant_params(Infer &c, const Value &x, const Value &scale, const Value &zp) {
  int64_t axis = c.i("axis");
  bool per_tensor = is_scalar_like(scale.shape);
  if (per_tensor ? !is_scalar_like(zp.shape) : zp.shape != scale.shape)
    c.fail("zero point has shape " + shape_str(zp.shape) + " but scale has " +
           shape_str(scale.shape));
  if (per_tensor)
    return; // axis is irrelevant
  if (axis < 0 || axis >= static_cast<int64_t>(x.shape.size()))
    c.fail("axis " + std::to_string(axis) + " is out of range for input " + shape_str(x.shape));
  if (scale.shape != Shape{x.shape[axis]})
    c.fail("scale has shape " + shape_str(scale.shape) + " but must be a scalar or " +
           std::to_string(x.shape[axis]) + " (axis " + std::to_string(axis) + " of " +
           shape_str(x.shape) + ")");
}

void quantize(Infer &c) {
  c.arity(3, 3);
  const Value &x = c.in(0), &scale = c.in(1), &zp = c.in(2);
  c.dtype_in(x, "input x", {DType::f32, DType::f16});
  c.same_dtype(scale, "y_scale", x, "input x");
  c.dtype_in(zp, "y_zero_point", {DType::u8, DType::i8, DType::i16});
  check_quant_params(c, x, scale, zp);
  c.out(zp.dtype, x.shape);
}

void dequantize(Infer &c) {
  c.arity(3, 3);
  const Value &x = c.in(0), &scale = c.in(1), &zp = c.in(2);
  c.dtype_in(x, "input x", {DType::u8, DType::i8, DType::i16, DType::i32});
  c.kind(scale, "x_scale", Kind::floating);
  c.same_dtype(zp, "x_zero_point", x, "input x");
  check_quant_params(c, x, scale, zp);
  c.out(scale.dtype, x.shape);
}

void dynamic_quantize(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.dtype_in(x, "input x", {DType::f32});
  c.out(DType::u8, x.shape);
  c.out(DType::f32, {});
  c.out(DType::u8, {});
}

void where(Infer &c) {
  c.arity(3, 3);
  const Value &cond = c.in(0), &x = c.in(1), &y = c.in(2);
  c.kind(cond, "condition", Kind::boolean);
  c.same_dtype(x, "input x", y, "input y");
  c.out(x.dtype, c.broadcast(c.broadcast(cond.shape, x.shape), y.shape));
}

/// FusedElementwise: every step's operands broadcast, the last step's shape is the broadcast of
/// all inputs.
void fused_elementwise(Infer &c) {
  c.arity(1, kMany);
  const Value &x0 = c.in(0);
  c.dtype_in(x0, "input 0", {DType::f32, DType::f16});
  Shape all;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    c.same_dtype(x0, "input 0", c.in(i), "another input");
    all = c.broadcast(all, c.in(i).shape);
  }
  std::vector<FusedStep> steps;
  try {
    steps = parse_fused_program(c.s("program"), c.num_inputs());
  } catch (const Error &e) {
    c.fail(e.what());
  }
  std::vector<Shape> shapes;
  for (const FusedStep &st : steps) {
    Shape s;
    for (int a : st.args)
      s = c.broadcast(s, a >= 0 ? c.in(a).shape : shapes[-a - 1]);
    shapes.push_back(s);
  }
  if (shapes.back() != all)
    c.fail("the program's result " + shape_str(shapes.back()) +
           " is not the broadcast of the inputs " + shape_str(all));
  c.out(x0.dtype, all);
}

} // namespace

Shape broadcast_shapes(const Shape &a, const Shape &b) {
  Shape out;
  if (!broadcast_into(a, b, out))
    throw Error("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
  return out;
}

std::vector<TensorType> infer_types(OpKind op, const std::vector<const Value *> &inputs,
                                    const Attrs &attrs) {
  Infer c(op, inputs, attrs);
  switch (op) {
  case OpKind::Identity: unary(c, Kind::any); break;
  case OpKind::Relu:
  case OpKind::Neg:
  case OpKind::Abs: unary(c, Kind::numeric); break;
  case OpKind::Sigmoid:
  case OpKind::Tanh:
  case OpKind::Exp:
  case OpKind::Log:
  case OpKind::Sqrt:
  case OpKind::Erf:
  case OpKind::Floor:
  case OpKind::Ceil:
  case OpKind::Round:
  case OpKind::Reciprocal:
  case OpKind::Softplus:
  case OpKind::HardSwish: unary(c, Kind::floating); break;
  case OpKind::Not: unary(c, Kind::boolean); break;
  case OpKind::LeakyRelu:
    c.f("alpha");
    unary(c, Kind::floating);
    break;
  case OpKind::HardSigmoid:
    c.f("alpha");
    c.f("beta");
    unary(c, Kind::floating);
    break;
  case OpKind::Clip:
    c.f("min");
    c.f("max");
    unary(c, Kind::numeric);
    break;
  case OpKind::Cast: {
    c.arity(1, 1);
    const Value &x = c.in(0);
    std::optional<DType> to = parse_dtype(c.s("to"));
    if (!to)
      c.fail("attribute 'to' names unknown dtype '" + c.s("to") + "'");
    c.out(*to, x.shape);
    break;
  }
  case OpKind::Add:
  case OpKind::Sub:
  case OpKind::Mul:
  case OpKind::Div:
  case OpKind::Pow:
  case OpKind::Min:
  case OpKind::Max: binary(c, Kind::numeric); break;
  case OpKind::Mod:
    c.flag("fmod");
    binary(c, Kind::numeric);
    break;
  case OpKind::And:
  case OpKind::Or: binary(c, Kind::boolean); break;
  case OpKind::Equal: binary(c, Kind::any, DType::boolean); break;
  case OpKind::Less:
  case OpKind::LessOrEqual:
  case OpKind::Greater:
  case OpKind::GreaterOrEqual: binary(c, Kind::numeric, DType::boolean); break;
  case OpKind::Where: where(c); break;
  case OpKind::FusedElementwise: fused_elementwise(c); break;
  case OpKind::Conv: conv(c); break;
  case OpKind::ConvTranspose: conv_transpose(c); break;
  case OpKind::ConvInteger: conv_integer(c); break;
  case OpKind::MaxPool: pool(c, true); break;
  case OpKind::AveragePool: pool(c, false); break;
  case OpKind::GlobalAveragePool:
  case OpKind::GlobalMaxPool: global_pool(c); break;
  case OpKind::BatchNormalization: batch_norm(c); break;
  case OpKind::MatMul: matmul(c); break;
  case OpKind::MatMulInteger: matmul_integer(c); break;
  case OpKind::Gemm: gemm(c); break;
  case OpKind::Softmax:
  case OpKind::LogSoftmax: softmax(c); break;
  case OpKind::Concat: concat(c); break;
  case OpKind::Split: split(c); break;
  case OpKind::Slice: slice(c); break;
  case OpKind::Reshape: reshape(c); break;
  case OpKind::Transpose: transpose(c); break;
  case OpKind::Expand: expand(c); break;
  case OpKind::Pad: pad(c); break;
  case OpKind::Tile: tile(c); break;
  case OpKind::Gather: gather(c); break;
  case OpKind::GatherElements: gather_elements(c); break;
  case OpKind::Resize: resize(c); break;
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
  case OpKind::ReduceMean:
  case OpKind::ReduceSum:
  case OpKind::ReduceProd: reduce(c); break;
  case OpKind::ArgMax:
  case OpKind::ArgMin: arg_reduce(c); break;
  case OpKind::TopK: topk(c); break;
  case OpKind::QuantizeLinear: quantize(c); break;
  case OpKind::DequantizeLinear: dequantize(c); break;
  case OpKind::DynamicQuantizeLinear: dynamic_quantize(c); break;
  }
  return c.finish();
}

} // namespace kiln
