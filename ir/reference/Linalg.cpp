// Matrix products (numpy-batched MatMul, MatMulInteger, Gemm) and Softmax / LogSoftmax.
#include "ir/reference/Kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::ref {

namespace {

// Y[b] = A[ao[b]] @ B[bo[b]] for each output batch b; ao/bo are matrix offsets in elements.
template <class C>
void matmul_core(const C *a, const C *b, C *y, const std::vector<int64_t> &ao,
                 const std::vector<int64_t> &bo, int64_t m, int64_t k, int64_t n) {
  for (size_t bi = 0; bi < ao.size(); ++bi) {
    const C *ap = a + ao[bi], *bp = b + bo[bi];
    C *yp = y + static_cast<int64_t>(bi) * m * n;
    std::fill_n(yp, m * n, C(0));
    // i-k-j order: the innermost loop walks a row of B and a row of Y contiguously.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t kk = 0; kk < k; ++kk) {
        const C av = ap[i * k + kk];
        const C *brow = bp + kk * n;
        C *yrow = yp + i * n;
        for (int64_t j = 0; j < n; ++j)
          yrow[j] += av * brow[j];
      }
  }
}

struct MatmulDims {
  int64_t m, k, n;
  std::vector<int64_t> ao, bo; // per output batch: offsets of the A and B matrices
};

MatmulDims matmul_dims(const Node &node, const Shape &as, const Shape &bs, const Shape &ys) {
  const char *what = node.op == OpKind::MatMul ? "MatMul" : "MatMulInteger";
  if (as.size() < 2 || bs.size() < 2 || ys.size() < 2)
    throw Error(std::string(what) + ": operands must have rank >= 2");
  MatmulDims d;
  d.m = as[as.size() - 2], d.k = as.back(), d.n = bs.back();
  if (bs[bs.size() - 2] != d.k)
    throw Error(std::string(what) + ": inner dimensions differ (" + shape_str(as) + " @ " +
                shape_str(bs) + ")");
  Shape yb(ys.begin(), ys.end() - 2);
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  // Batch strides in units of whole matrices, broadcast to the output's batch shape.
  std::vector<int64_t> ast = broadcast_strides(ab, yb), bst = broadcast_strides(bb, yb);
  for (auto &s : ast)
    s *= d.m * d.k;
  for (auto &s : bst)
    s *= d.k * d.n;
  d.ao = strided_offsets(yb, ast, 0);
  d.bo = strided_offsets(yb, bst, 0);
  return d;
}

} // namespace

Tensor eval_matmul(const Node &node, const Inputs &in) {
  const Tensor &a = in[0], &b = in[1];
  Tensor out = new_output(node, 0);
  MatmulDims d = matmul_dims(node, a.shape(), b.shape(), out.shape());
  dispatch_compute(a.dtype(), [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> av = load_as<C>(a), bv = load_as<C>(b);
    std::vector<C> y(static_cast<size_t>(out.numel()));
    matmul_core<C>(av.data(), bv.data(), y.data(), d.ao, d.bo, d.m, d.k, d.n);
    store_from(out, y);
  });
  return out;
}

Tensor eval_matmul_integer(const Node &node, const Inputs &in) {
  const Tensor &a = in[0], &b = in[1];
  Tensor out = new_output(node, 0);
  MatmulDims d = matmul_dims(node, a.shape(), b.shape(), out.shape());
  std::vector<int32_t> av = load_as<int32_t>(a), bv = load_as<int32_t>(b);
  // a_zero_point is a scalar or one per row of A; b_zero_point a scalar or one per column of B.
  if (in.size() > 2 && in[2].defined()) {
    const Tensor &z = in[2];
    if (z.numel() != 1 && z.numel() != d.m)
      throw Error("MatMulInteger: a_zero_point must be a scalar or have one entry per row");
    for (size_t i = 0; i < av.size(); ++i)
      av[i] -= static_cast<int32_t>(z.get_i64(z.numel() == 1 ? 0 : (i / d.k) % d.m));
  }
  if (in.size() > 3 && in[3].defined()) {
    const Tensor &z = in[3];
    if (z.numel() != 1 && z.numel() != d.n)
      throw Error("MatMulInteger: b_zero_point must be a scalar or have one entry per column");
    for (size_t i = 0; i < bv.size(); ++i)
      bv[i] -= static_cast<int32_t>(z.get_i64(z.numel() == 1 ? 0 : i % d.n));
  }
  std::vector<int32_t> y(static_cast<size_t>(out.numel()));
  matmul_core<int32_t>(av.data(), bv.data(), y.data(), d.ao, d.bo, d.m, d.k, d.n);
  store_from(out, y);
  return out;
}

Tensor eval_gemm(const Node &node, const Inputs &in) {
  const Tensor &a = in[0], &b = in[1];
  Tensor out = new_output(node, 0);
  if (a.rank() != 2 || b.rank() != 2 || out.rank() != 2)
    throw Error("Gemm: operands must be 2-D");
  const Attrs &at = node.attrs;
  bool ta = at.i("transA") != 0, tb = at.i("transB") != 0;
  int64_t m = out.shape()[0], n = out.shape()[1];
  int64_t k = ta ? a.shape()[0] : a.shape()[1];
  if ((tb ? b.shape()[1] : b.shape()[0]) != k)
    throw Error("Gemm: inner dimensions differ");
  dispatch_compute(a.dtype(), [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> av = load_as<C>(a), bv = load_as<C>(b);
    C alpha = static_cast<C>(at.f("alpha")), beta = static_cast<C>(at.f("beta"));
    std::vector<C> y(static_cast<size_t>(m * n), C(0));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t kk = 0; kk < k; ++kk) {
        C av_ik = ta ? av[kk * m + i] : av[i * k + kk];
        for (int64_t j = 0; j < n; ++j)
          y[i * n + j] += av_ik * (tb ? bv[j * k + kk] : bv[kk * n + j]);
      }
    for (auto &e : y)
      e *= alpha;
    if (in.size() > 2 && in[2].defined()) {
      const Tensor &c = in[2];
      std::vector<C> cv = load_as<C>(c);
      std::vector<int64_t> off =
          strided_offsets(out.shape(), broadcast_strides(c.shape(), out.shape()), 0);
      for (int64_t i = 0; i < m * n; ++i)
        y[i] += beta * cv[off[i]];
    }
    store_from(out, y);
  });
  return out;
}

Tensor eval_softmax(const Node &node, const Inputs &in, bool log) {
  const Tensor &x = in[0];
  Tensor out = new_output(node, 0);
  int64_t axis = node.attrs.i("axis");
  if (axis < 0 || axis >= x.rank())
    throw Error(std::string(op_name(node.op)) + ": axis out of range");
  const Shape &s = x.shape();
  int64_t outer = dims_product(s, 0, axis), len = s[axis];
  int64_t inner = dims_product(s, axis + 1, s.size());
  dispatch_float(x.dtype(), op_name(node.op).data(), [&](auto tag) {
    using C = decltype(tag);
    std::vector<C> v = load_as<C>(x);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        C *p = v.data() + o * len * inner + i;
        // Subtract the max so exp never overflows.
        C mx = -std::numeric_limits<C>::infinity();
        for (int64_t j = 0; j < len; ++j)
          mx = std::max(mx, p[j * inner]);
        C sum = C(0);
        for (int64_t j = 0; j < len; ++j)
          sum += std::exp(p[j * inner] - mx);
        if (log) {
          C ls = std::log(sum);
          for (int64_t j = 0; j < len; ++j)
            p[j * inner] = p[j * inner] - mx - ls;
        } else {
          for (int64_t j = 0; j < len; ++j)
            p[j * inner] = std::exp(p[j * inner] - mx) / sum;
        }
      }
    store_from(out, v);
  });
  return out;
}

std::vector<Tensor> eval_linalg_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Linalg>(node.op)) {
  case LinalgOp::MatMul: return {eval_matmul(node, in)};
  case LinalgOp::MatMulInteger: return {eval_matmul_integer(node, in)};
  case LinalgOp::Gemm: return {eval_gemm(node, in)};
  }
  KILN_ASSERT(false, "eval_linalg_family: not a LinalgOp");
}

std::vector<Tensor> eval_softmax_family(const Node &node, const Inputs &in) {
  switch (family_op<OpFamily::Softmax>(node.op)) {
  case SoftmaxOp::Softmax: return {eval_softmax(node, in, false)};
  case SoftmaxOp::LogSoftmax: return {eval_softmax(node, in, true)};
  }
  KILN_ASSERT(false, "eval_softmax_family: not a SoftmaxOp");
}

} // namespace kiln::ref
