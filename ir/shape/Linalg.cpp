// Shape inference of the Linalg and Softmax families.
#include "ir/shape/Infer.h"

namespace kiln::shape {

namespace {

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

} // namespace

void infer_linalg(Infer &c) {
  switch (family_op<OpFamily::Linalg>(c.op())) {
  case LinalgOp::MatMul: return matmul(c);
  case LinalgOp::MatMulInteger: return matmul_integer(c);
  case LinalgOp::Gemm: return gemm(c);
  }
}

void infer_softmax(Infer &c) {
  switch (family_op<OpFamily::Softmax>(c.op())) {
  case SoftmaxOp::Softmax:
  case SoftmaxOp::LogSoftmax: return softmax(c);
  }
}

} // namespace kiln::shape
