// Elementwise ops: one-input maps, numpy-broadcast binary ops, Where. Floats compute in float
// (double for f64) and round to the storage type once; integers compute exactly in int64.
#include "ir/reference/Kernels.h"

#include "ir/FusedProgram.h"
#include "ir/ShapeInference.h"

#include <cmath>
#include <string>

namespace kiln::ref {

namespace {

[[noreturn]] void unsupported(const Node &node, DType t) {
  throw Error(std::string(op_name(node.op)) + ": unsupported dtype " + std::string(dtype_name(t)));
}

template <class C, class F> void map_inplace(std::vector<C> &v, F f) {
  for (C &e : v)
    e = f(e);
}

template <class C> void apply_unary(const Node &node, DType t, std::vector<C> &v) {
  constexpr bool kFloat = std::is_floating_point_v<C>;
  const OpKind op = node.op;
  if (op == OpKind::Relu)
    return map_inplace(v, [](C x) { return x > C(0) ? x : C(0); });
  if (op == OpKind::Neg)
    return map_inplace(v, [](C x) { return C(-x); });
  if (op == OpKind::Abs)
    return map_inplace(v, [](C x) { return x < C(0) ? C(-x) : x; });
  if (op == OpKind::Not)
    return map_inplace(v, [](C x) { return C(x == C(0)); });
  if (op == OpKind::Clip) {
    // Bounds compare as double so an integer input with +-inf bounds is left alone.
    double lo = node.attrs.f("min"), hi = node.attrs.f("max");
    return map_inplace(v, [&](C x) {
      if (static_cast<double>(x) < lo)
        x = static_cast<C>(lo);
      if (static_cast<double>(x) > hi)
        x = static_cast<C>(hi);
      return x;
    });
  }
  if (op == OpKind::Floor || op == OpKind::Ceil || op == OpKind::Round) {
    if constexpr (kFloat) {
      if (op == OpKind::Floor)
        return map_inplace(v, [](C x) { return std::floor(x); });
      if (op == OpKind::Ceil)
        return map_inplace(v, [](C x) { return std::ceil(x); });
      // nearbyint in the default rounding mode is round-half-to-even, as ONNX Round is.
      return map_inplace(v, [](C x) { return std::nearbyint(x); });
    }
    return; // integers are already whole
  }
  if constexpr (!kFloat) {
    unsupported(node, t);
  } else {
    if (op == OpKind::Sigmoid)
      return map_inplace(v, [](C x) { return C(1) / (C(1) + std::exp(-x)); });
    if (op == OpKind::Tanh)
      return map_inplace(v, [](C x) { return std::tanh(x); });
    if (op == OpKind::Exp)
      return map_inplace(v, [](C x) { return std::exp(x); });
    if (op == OpKind::Log)
      return map_inplace(v, [](C x) { return std::log(x); });
    if (op == OpKind::Sqrt)
      return map_inplace(v, [](C x) { return std::sqrt(x); });
    if (op == OpKind::Erf)
      return map_inplace(v, [](C x) { return std::erf(x); });
    if (op == OpKind::Reciprocal)
      return map_inplace(v, [](C x) { return C(1) / x; });
    if (op == OpKind::Softplus)
      // log(1 + e^x) without overflow for large x.
      return map_inplace(
          v, [](C x) { return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); });
    if (op == OpKind::HardSwish)
      return map_inplace(v,
                         [](C x) { return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5))); });
    if (op == OpKind::LeakyRelu) {
      C alpha = static_cast<C>(node.attrs.f("alpha"));
      return map_inplace(v, [&](C x) { return x >= C(0) ? x : alpha * x; });
    }
    if (op == OpKind::HardSigmoid) {
      C alpha = static_cast<C>(node.attrs.f("alpha")), beta = static_cast<C>(node.attrs.f("beta"));
      return map_inplace(v, [&](C x) { return std::max(C(0), std::min(C(1), alpha * x + beta)); });
    }
    KILN_ASSERT(false, "apply_unary: not a unary op");
  }
}

// Python-style modulo: the result takes the sign of the divisor.
template <class C> C floor_mod(C a, C b) {
  C r;
  if constexpr (std::is_floating_point_v<C>)
    r = std::fmod(a, b);
  else
    r = a % b;
  if (r != C(0) && ((r < C(0)) != (b < C(0))))
    r += b;
  return r;
}

template <class C>
std::vector<C> apply_binary(const Node &node, const std::vector<C> &a,
                            const std::vector<int64_t> &ia, const std::vector<C> &b,
                            const std::vector<int64_t> &ib, int64_t n) {
  std::vector<C> r(static_cast<size_t>(n));
  auto run = [&](auto f) {
    // Same-shape operands index directly; broadcast ones go through their offset tables.
    for (int64_t i = 0; i < n; ++i)
      r[i] = f(a[ia.empty() ? i : ia[i]], b[ib.empty() ? i : ib[i]]);
  };
  constexpr bool kFloat = std::is_floating_point_v<C>;
  const OpKind op = node.op;
  if (op == OpKind::Add)
    run([](C x, C y) { return C(x + y); });
  else if (op == OpKind::Sub)
    run([](C x, C y) { return C(x - y); });
  else if (op == OpKind::Mul)
    run([](C x, C y) { return C(x * y); });
  else if (op == OpKind::Div)
    run([](C x, C y) {
      if constexpr (!kFloat)
        if (y == 0)
          throw Error("Div: integer division by zero");
      return C(x / y);
    });
  else if (op == OpKind::Pow)
    run([](C x, C y) {
      if constexpr (kFloat)
        return std::pow(x, y);
      else
        return static_cast<C>(std::pow(static_cast<double>(x), static_cast<double>(y)));
    });
  else if (op == OpKind::Mod) {
    bool c_fmod = node.attrs.i("fmod") != 0;
    run([&](C x, C y) {
      if constexpr (!kFloat)
        if (y == 0)
          throw Error("Mod: integer modulo by zero");
      if (!c_fmod)
        return floor_mod(x, y);
      if constexpr (kFloat)
        return std::fmod(x, y);
      else
        return C(x % y);
    });
  } else if (op == OpKind::Min)
    run([](C x, C y) { return y < x ? y : x; });
  else if (op == OpKind::Max)
    run([](C x, C y) { return y > x ? y : x; });
  else if (op == OpKind::And)
    run([](C x, C y) { return C(x != C(0) && y != C(0)); });
  else if (op == OpKind::Or)
    run([](C x, C y) { return C(x != C(0) || y != C(0)); });
  else if (op == OpKind::Equal)
    run([](C x, C y) { return C(x == y); });
  else if (op == OpKind::Less)
    run([](C x, C y) { return C(x < y); });
  else if (op == OpKind::LessOrEqual)
    run([](C x, C y) { return C(x <= y); });
  else if (op == OpKind::Greater)
    run([](C x, C y) { return C(x > y); });
  else if (op == OpKind::GreaterOrEqual)
    run([](C x, C y) { return C(x >= y); });
  else
    KILN_ASSERT(false, "apply_binary: not a binary op");
  return r;
}

/// Offset table for reading `in` broadcast to `out`; empty when no broadcast is needed.
std::vector<int64_t> broadcast_table(const Shape &in, const Shape &out) {
  if (in == out)
    return {};
  return strided_offsets(out, broadcast_strides(in, out), 0);
}

} // namespace

Tensor eval_unary(const Node &node, const Inputs &in) {
  const Tensor &x = in[0];
  if (node.op == OpKind::Identity)
    return x;
  if (node.op == OpKind::Cast)
    return x.cast(node.outputs[0]->dtype);
  Tensor out = new_output(node, 0);
  dispatch_compute(x.dtype(), [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> v = load_as<C>(x);
    apply_unary<C>(node, x.dtype(), v);
    store_from(out, v);
  });
  return out;
}

Tensor eval_binary(const Node &node, const Inputs &in) {
  const Tensor &a = in[0], &b = in[1];
  if (a.dtype() != b.dtype())
    throw Error(std::string(op_name(node.op)) + ": operand dtypes differ (" +
                std::string(dtype_name(a.dtype())) + " vs " + std::string(dtype_name(b.dtype())) +
                ")");
  Tensor out = new_output(node, 0);
  std::vector<int64_t> ia = broadcast_table(a.shape(), out.shape());
  std::vector<int64_t> ib = broadcast_table(b.shape(), out.shape());
  dispatch_compute(a.dtype(), [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> r = apply_binary<C>(node, load_as<C>(a), ia, load_as<C>(b), ib, out.numel());
    store_from(out, r);
  });
  return out;
}

Tensor eval_where(const Node &node, const Inputs &in) {
  const Tensor &cond = in[0], &x = in[1], &y = in[2];
  Tensor out = new_output(node, 0);
  if (cond.dtype() != DType::boolean || x.dtype() != y.dtype() || x.dtype() != out.dtype())
    throw Error("Where: expects (bool, T, T)");
  std::vector<int64_t> ic = broadcast_table(cond.shape(), out.shape());
  std::vector<int64_t> ix = broadcast_table(x.shape(), out.shape());
  std::vector<int64_t> iy = broadcast_table(y.shape(), out.shape());
  const bool *c = cond.data<bool>();
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *xp = x.data<T>(), *yp = y.data<T>();
    T *o = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i)
      o[i] = c[ic.empty() ? i : ic[i]] ? xp[ix.empty() ? i : ix[i]] : yp[iy.empty() ? i : iy[i]];
  });
  return out;
}

Tensor eval_fused_elementwise(const Node &node, const Inputs &in) {
  std::vector<FusedStep> steps = parse_fused_program(node.attrs.s("program"), in.size());
  std::vector<Tensor> temps;
  for (const FusedStep &st : steps) {
    // Each step runs as the op it was, on a stand-in node typed like its result.
    Inputs args;
    Value out;
    out.dtype = node.outputs[0]->dtype;
    for (int a : st.args) {
      args.push_back(a >= 0 ? in[a] : temps[-a - 1]);
      out.shape = broadcast_shapes(out.shape, args.back().shape());
    }
    Node step;
    step.op = st.op;
    step.name = node.name;
    step.attrs = st.attrs;
    step.outputs = {&out};
    temps.push_back(args.size() == 1 ? eval_unary(step, args) : eval_binary(step, args));
  }
  return temps.back();
}

} // namespace kiln::ref
