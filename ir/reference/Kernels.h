#pragma once
/// Internal to the reference interpreter: one entry per op family, plus the small helpers the
/// kernels share (compute-type dispatch, loading/storing through a compute type, broadcasting).
#include "ir/Graph.h"

#include <cstring>
#include <type_traits>
#include <vector>

namespace kiln::ref {

using Inputs = std::vector<Tensor>;

/// A zeroed tensor with the type of node output `i` (the types are set on every node).
inline Tensor new_output(const Node &node, size_t i) {
  return Tensor(node.outputs[i]->dtype, node.outputs[i]->shape);
}

/// Calls f(C{}) with the type arithmetic on `t` is done in: float for f32 and the half formats
/// (rounded to the storage type once per output), double for f64, int64 for integers and bool
/// (exact).
template <class F> decltype(auto) dispatch_compute(DType t, F &&f) {
  switch (t) {
  case DType::f32:
  case DType::f16:
  case DType::bf16: return f(float{});
  case DType::f64: return f(double{});
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8:
  case DType::boolean: return f(int64_t{});
  }
  __builtin_unreachable();
}

/// Like dispatch_compute but only for float dtypes; others throw kiln::Error naming `what`.
template <class F> decltype(auto) dispatch_float(DType t, const char *what, F &&f) {
  if (!is_float(t))
    throw Error(std::string(what) + ": unsupported dtype " + std::string(dtype_name(t)));
  if (t == DType::f64)
    return f(double{});
  return f(float{});
}

/// One stored element converted to compute type C.
template <class C, class T> inline C to_compute(T v) {
  if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat>)
    return static_cast<C>(to_f64(v));
  else
    return static_cast<C>(v);
}

/// A compute-type value converted to storage type T (half formats round to nearest even).
template <class T, class C> inline T from_compute(C v) {
  if constexpr (std::is_same_v<T, half>)
    return half{f32_to_f16(static_cast<float>(v))};
  else if constexpr (std::is_same_v<T, bfloat>)
    return bfloat{f32_to_bf16(static_cast<float>(v))};
  else if constexpr (std::is_same_v<T, bool>)
    return v != C(0);
  else
    return static_cast<T>(v);
}

/// All elements of `t` in compute type C.
template <class C> std::vector<C> load_as(const Tensor &t) {
  std::vector<C> v(static_cast<size_t>(t.numel()));
  dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      v[i] = to_compute<C>(p[i]);
  });
  return v;
}

/// Writes compute-type values into `out` (same element count), converting to its dtype.
template <class C> void store_from(Tensor &out, const std::vector<C> &v) {
  KILN_ASSERT(static_cast<int64_t>(v.size()) == out.numel(), "store_from: size mismatch");
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *p = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i)
      p[i] = from_compute<T>(v[i]);
  });
}

/// Strides of `in` read as if broadcast to `out` (0 along broadcast axes), one per out axis.
std::vector<int64_t> broadcast_strides(const Shape &in, const Shape &out);

/// For every element of an `out`-shaped walk, the flat source offset base + sum(i_d * st_d).
std::vector<int64_t> strided_offsets(const Shape &out, const std::vector<int64_t> &st,
                                     int64_t base);

/// dst[i] = src[offsets[i]] element by element, whatever the dtype (src and dst share it).
void gather_elements_by_offset(const Tensor &src, Tensor &dst, const std::vector<int64_t> &off);

/// out = src walked with per-out-axis strides `st` from `base` (Slice, Transpose, Expand, ...).
void strided_copy(const Tensor &src, Tensor &out, const std::vector<int64_t> &st, int64_t base);

/// Product of dims [begin, end).
inline int64_t dims_product(const Shape &s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < s.size(); ++i)
    p *= s[i];
  return p;
}

// ---- one entry per op family (ops.def), called by evaluate_node; `in` has one entry per node
// input (undefined for an absent one). Each returns one tensor per node output. ----
Tensor eval_unary(const Node &node, const Inputs &in);             // UnaryOp: arithmetic maps, Cast
Tensor eval_binary(const Node &node, const Inputs &in);            // BinaryOp
Tensor eval_where(const Node &node, const Inputs &in);             // Select
Tensor eval_fused_elementwise(const Node &node, const Inputs &in); // step by step, as unfused
std::vector<Tensor> eval_conv_family(const Node &node, const Inputs &in);     // Conv.cpp
std::vector<Tensor> eval_pool_family(const Node &node, const Inputs &in);     // Conv.cpp
std::vector<Tensor> eval_norm_family(const Node &node, const Inputs &in);     // Conv.cpp
std::vector<Tensor> eval_linalg_family(const Node &node, const Inputs &in);   // Linalg.cpp
std::vector<Tensor> eval_softmax_family(const Node &node, const Inputs &in);  // Linalg.cpp
std::vector<Tensor> eval_movement_family(const Node &node, const Inputs &in); // Movement.cpp
Tensor eval_resize(const Node &node, const Inputs &in);
std::vector<Tensor> eval_reduce_family(const Node &node, const Inputs &in); // Reduce.cpp
std::vector<Tensor> eval_quant_family(const Node &node, const Inputs &in);  // Quant.cpp

// ---- the ops of the families above, one function each (or one per shared algorithm) ----
Tensor eval_conv(const Node &node, const Inputs &in);
Tensor eval_conv_transpose(const Node &node, const Inputs &in);
Tensor eval_conv_integer(const Node &node, const Inputs &in);
std::vector<Tensor> eval_max_pool(const Node &node, const Inputs &in);
Tensor eval_average_pool(const Node &node, const Inputs &in);
Tensor eval_global_pool(const Node &node, const Inputs &in, bool is_max);
Tensor eval_batch_norm(const Node &node, const Inputs &in);

Tensor eval_matmul(const Node &node, const Inputs &in);
Tensor eval_matmul_integer(const Node &node, const Inputs &in);
Tensor eval_gemm(const Node &node, const Inputs &in);
Tensor eval_softmax(const Node &node, const Inputs &in, bool log);

Tensor eval_concat(const Node &node, const Inputs &in);
std::vector<Tensor> eval_split(const Node &node, const Inputs &in);
Tensor eval_slice(const Node &node, const Inputs &in);
Tensor eval_reshape(const Node &node, const Inputs &in);
Tensor eval_transpose(const Node &node, const Inputs &in);
Tensor eval_expand(const Node &node, const Inputs &in);
Tensor eval_pad(const Node &node, const Inputs &in);
Tensor eval_tile(const Node &node, const Inputs &in);
Tensor eval_gather(const Node &node, const Inputs &in);
Tensor eval_gather_elements(const Node &node, const Inputs &in);

Tensor eval_reduce(const Node &node, const Inputs &in);
Tensor eval_arg_reduce(const Node &node, const Inputs &in, bool is_max);
std::vector<Tensor> eval_topk(const Node &node, const Inputs &in);

Tensor eval_quantize(const Node &node, const Inputs &in);
Tensor eval_dequantize(const Node &node, const Inputs &in);
std::vector<Tensor> eval_dynamic_quantize(const Node &node, const Inputs &in);

} // namespace kiln::ref
