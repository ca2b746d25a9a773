// The elementwise families: Unary (one-input maps, Cast), Binary (numpy broadcast), Select
// (Where), FusedElementwise. Floats compute in float (double for f64) and round to the storage
// type once; integers compute exactly in int64.
#include "ir/reference/Kernels.h"

#include "ir/FusedProgram.h"
#include "ir/Logistic.h"
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
  // Transcendental maps are defined on floats only.
  auto float_map = [&](auto f) {
    if constexpr (kFloat)
      map_inplace(v, f);
    else
      unsupported(node, t);
  };
  // Integers are already whole.
  auto rounding = [&](auto f) {
    if constexpr (kFloat)
      map_inplace(v, f);
  };
  switch (family_op<OpFamily::Unary>(node.op)) {
  case UnaryOp::Relu: return map_inplace(v, [](C x) { return x > C(0) ? x : C(0); });
  case UnaryOp::Neg: return map_inplace(v, [](C x) { return C(-x); });
  case UnaryOp::Abs: return map_inplace(v, [](C x) { return x < C(0) ? C(-x) : x; });
  case UnaryOp::Not: return map_inplace(v, [](C x) { return C(x == C(0)); });
  case UnaryOp::Clip: {
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
  case UnaryOp::Floor: return rounding([](C x) { return std::floor(x); });
  case UnaryOp::Ceil: return rounding([](C x) { return std::ceil(x); });
  // nearbyint in the default rounding mode is round-half-to-even, as ONNX Round is.
  case UnaryOp::Round: return rounding([](C x) { return std::nearbyint(x); });
  // f32 as ONNX Runtime computes it (ir/Logistic.h), so quantized SiLU outputs agree exactly.
  case UnaryOp::Sigmoid: return float_map([](C x) { return logistic::sigmoid(x); });
  case UnaryOp::Tanh: return float_map([](C x) { return std::tanh(x); });
  case UnaryOp::Exp: return float_map([](C x) { return std::exp(x); });
  case UnaryOp::Log: return float_map([](C x) { return std::log(x); });
  case UnaryOp::Sqrt: return float_map([](C x) { return std::sqrt(x); });
  case UnaryOp::Erf: return float_map([](C x) { return std::erf(x); });
  case UnaryOp::Reciprocal: return float_map([](C x) { return C(1) / x; });
  case UnaryOp::Softplus:
    // log(1 + e^x) without overflow for large x.
    return float_map(
        [](C x) { return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); });
  case UnaryOp::HardSwish:
    return float_map([](C x) { return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5))); });
  case UnaryOp::LeakyRelu: {
    C alpha = static_cast<C>(node.attrs.f("alpha"));
    return float_map([&](C x) { return x >= C(0) ? x : alpha * x; });
  }
  case UnaryOp::HardSigmoid: {
    C alpha = static_cast<C>(node.attrs.f("alpha")), beta = static_cast<C>(node.attrs.f("beta"));
    return float_map([&](C x) { return std::max(C(0), std::min(C(1), alpha * x + beta)); });
  }
  case UnaryOp::Cast: break; // a conversion, not a map: eval_unary does it
  }
  KILN_ASSERT(false, "apply_unary: Cast is not a map");
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
  switch (family_op<OpFamily::Binary>(node.op)) {
  case BinaryOp::Add: run([](C x, C y) { return C(x + y); }); break;
  case BinaryOp::Sub: run([](C x, C y) { return C(x - y); }); break;
  case BinaryOp::Mul: run([](C x, C y) { return C(x * y); }); break;
  case BinaryOp::Div:
    run([](C x, C y) {
      if constexpr (!kFloat)
        if (y == 0)
          throw Error("Div: integer division by zero");
      return C(x / y);
    });
    break;
  case BinaryOp::Pow:
    run([](C x, C y) {
      if constexpr (kFloat)
        return std::pow(x, y);
      else
        return static_cast<C>(std::pow(static_cast<double>(x), static_cast<double>(y)));
    });
    break;
  case BinaryOp::Mod: {
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
    break;
  }
  case BinaryOp::Min: run([](C x, C y) { return y < x ? y : x; }); break;
  case BinaryOp::Max: run([](C x, C y) { return y > x ? y : x; }); break;
  case BinaryOp::And: run([](C x, C y) { return C(x != C(0) && y != C(0)); }); break;
  case BinaryOp::Or: run([](C x, C y) { return C(x != C(0) || y != C(0)); }); break;
  case BinaryOp::Equal: run([](C x, C y) { return C(x == y); }); break;
  case BinaryOp::Less: run([](C x, C y) { return C(x < y); }); break;
  case BinaryOp::LessOrEqual: run([](C x, C y) { return C(x <= y); }); break;
  case BinaryOp::Greater: run([](C x, C y) { return C(x > y); }); break;
  case BinaryOp::GreaterOrEqual: run([](C x, C y) { return C(x >= y); }); break;
  }
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
