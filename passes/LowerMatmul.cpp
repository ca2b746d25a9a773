// MatMul / MatMulInteger / Gemm -> one register-blocked kernel shape:
//
//   kernel matmul_f32(a, b, y) parallel batch*ceil(M/MR)*ceil(N/TW):
//     parallel for (bt, row block, column tile):
//       acc[MR][NV][V] = 0
//       for k: bv[u][lane] = B[bt][k][j...]; acc[r][u] += A[bt][i_r][k] * bv[u]
//       y[bt][i_r][j...] = epilogue(acc)   (Gemm: alpha, beta*C)
//
// Row vectors of B are contiguous; A is read one scalar at a time and broadcast. Gemm with
// transB and a constant B packs B^T once (weight-only) so its rows are contiguous too.
#include "passes/LowerContext.h"
#include "passes/LowerExpr.h"
#include "passes/LowerLoops.h"

#include <algorithm>

namespace kiln {

using namespace lw;

namespace {

/// Element offset of the matrix of batch `bt` of an operand with batch shape `xb`, broadcast
/// (numpy rules) to the output batch shape `yb`; `mat` elements per matrix.
Expr batch_offset(Expr bt, const Shape &xb, const Shape &yb, int64_t mat) {
  Expr off = imm(0);
  int64_t stride = mat, inner = 1;
  for (size_t d = yb.size(); d-- > 0;) {
    size_t back = yb.size() - 1 - d;
    int64_t xdim = back < xb.size() ? xb[xb.size() - 1 - back] : 1;
    if (xdim != 1) {
      Expr coord = ediv(bt, inner);
      if (d > 0)
        coord = emod(coord, yb[d]);
      off = off + coord * imm(stride);
      stride *= xdim;
    }
    inner *= yb[d];
  }
  return off;
}

/// What differs between MatMul, MatMulInteger and Gemm.
struct GemmSpec {
  std::string name;
  int64_t batch, m, n, k;
  DType adt;
  /// A[bt][i][kk] as a scalar of adt.
  std::function<Expr(Expr bt, Expr i, Expr kk)> a;
  /// B[bt][kk][j] (j depends on the vector lane), `pred` guards the row tail (may be null).
  std::function<Expr(Expr bt, Expr kk, Expr j, Expr pred)> b;
  /// The output value from the accumulator (Gemm's alpha and C).
  std::function<Expr(Expr i, Expr j, Expr pred, Expr acc)> epilogue;
};

void emit_gemm(LowerContext &cx, const Node &n, KernelBuilder &kb, const GemmSpec &s, int yb,
               DType ydt) {
  const int64_t v = cx.opt.vector_lanes_f32, nv = s.n > v ? 2 : 1, tw = nv * v;
  const int64_t mr = std::min<int64_t>(s.m, 16 / nv);
  const int64_t mblocks = ceil_div(s.m, mr), ntiles = ceil_div(s.n, tw);
  const bool tail = s.n % tw != 0;
  const int acc = kb.new_local(), bv = kb.new_local();
  int p = kb.new_var();
  Stmt body =
      split_parallel(kb, var(p), {s.batch, mblocks, ntiles}, [&](const std::vector<Expr> &c) {
        Expr bt = c[0], ib = c[1], jt = c[2];
        auto col = [&](Expr u, Expr l) { return jt * imm(tw) + u * imm(v) + l; };
        auto pred_of = [&](Expr j) -> Expr { return tail ? lt(j, imm(s.n)) : nullptr; };
        auto at = [&](Expr r, Expr u, Expr l) { return (r * imm(nv) + u) * imm(v) + l; };
        auto each = [&](const std::function<Stmt(Expr, Expr)> &f) {
          return loop(kb, nv, ForKind::Unrolled, [&](Expr u) {
            return loop(kb, v, ForKind::Vectorized, [&](Expr l) { return f(u, l); });
          });
        };
        Stmt init = loop(kb, mr, ForKind::Unrolled, [&](Expr r) {
          return each([&](Expr u, Expr l) { return store(acc, at(r, u, l), zero_of(s.adt)); });
        });
        Stmt reduce = loop(kb, s.k, ForKind::Serial, [&](Expr kk) {
          Stmt loads = each([&](Expr u, Expr l) {
            Expr j = col(u, l);
            return store(bv, u * imm(v) + l, s.b(bt, kk, j, pred_of(j)));
          });
          Stmt fmas = loop(kb, mr, ForKind::Unrolled, [&](Expr r) {
            // Rows past M (last block) read row M-1: computed, never stored.
            Expr av = s.a(bt, emin(ib * imm(mr) + r, imm(s.m - 1)), kk);
            return each([&](Expr u, Expr l) {
              Expr a = at(r, u, l);
              return store(acc, a,
                           load(acc, {s.adt, 1}, a) + av * load(bv, {s.adt, 1}, u * imm(v) + l));
            });
          });
          return block({loads, fmas});
        });
        Stmt epilogue = loop(kb, mr, ForKind::Unrolled, [&](Expr r) {
          Expr i = ib * imm(mr) + r;
          Stmt st = each([&](Expr u, Expr l) {
            Expr j = col(u, l), pred = pred_of(j);
            Expr val = s.epilogue(i, j, pred, load(acc, {s.adt, 1}, at(r, u, l)));
            return store(yb, (bt * imm(s.m) + i) * imm(s.n) + j, store_cast(ydt, val), pred);
          });
          return s.m % mr != 0 ? if_then(lt(i, imm(s.m)), st) : st;
        });
        return allocate(acc, s.adt, mr * nv * v,
                        allocate(bv, s.adt, nv * v, block({init, reduce, epilogue})));
      });
  const int64_t extent = s.batch * mblocks * ntiles;
  std::vector<int> args = kb.args();
  Kernel k = kb.finish(for_loop(p, imm(0), imm(extent), ForKind::Parallel, body), extent);
  cx.launch(std::move(k), std::move(args), false, n);
}

bool supported_dtype(DType t) {
  return t == DType::f32 || t == DType::f16 || t == DType::i32 || t == DType::i64;
}

void lower_matmul_op(LowerContext &cx, const Node &n) {
  const bool integer = n.op == OpKind::MatMulInteger;
  const Value *a = n.inputs[0], *b = n.inputs[1], *y = n.outputs[0];
  if (!integer && !supported_dtype(a->dtype))
    no_kernel(n, std::string(dtype_name(a->dtype)) + " MatMul");
  const Shape &as = a->shape, &bs = b->shape, &ys = y->shape;
  GemmSpec s;
  s.m = ys[ys.size() - 2], s.n = ys.back(), s.k = as.back();
  s.batch = 1;
  for (size_t i = 0; i + 2 < ys.size(); ++i)
    s.batch *= ys[i];
  s.adt = integer ? DType::i32 : acc_dtype(a->dtype);
  s.name = std::string(integer ? "matmulinteger_" : "matmul_") + std::string(dtype_name(a->dtype));
  const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2),
      yb(ys.begin(), ys.end() - 2);

  KernelBuilder kb(s.name);
  int abuf = kb.param(cx.prog, cx.buffer(a), false);
  int bbuf = kb.param(cx.prog, cx.buffer(b), false);
  const Value *azp = integer ? n.inputs[2] : nullptr, *bzp = integer ? n.inputs[3] : nullptr;
  int azb = azp ? kb.param(cx.prog, cx.buffer(azp), false) : -1;
  int bzb = bzp ? kb.param(cx.prog, cx.buffer(bzp), false) : -1;
  int ybuf = kb.param(cx.prog, cx.buffer(y), true);
  const int64_t m = s.m, k = s.k, nn = s.n;
  s.a = [&, m, k](Expr bt, Expr i, Expr kk) {
    Expr e = load_as(abuf, a->dtype, s.adt, batch_offset(bt, ab, yb, m * k) + i * imm(k) + kk);
    if (azp)
      e = e - load_as(azb, azp->dtype, s.adt, shape_numel(azp->shape) == 1 ? imm(0) : i);
    return e;
  };
  s.b = [&, k, nn](Expr bt, Expr kk, Expr j, Expr pred) {
    Expr e =
        load_as(bbuf, b->dtype, s.adt, batch_offset(bt, bb, yb, k * nn) + kk * imm(nn) + j, pred);
    if (bzp)
      e = e - load_as(bzb, bzp->dtype, s.adt, shape_numel(bzp->shape) == 1 ? imm(0) : j, pred);
    return e;
  };
  s.epilogue = [](Expr, Expr, Expr, Expr acc) { return acc; };
  emit_gemm(cx, n, kb, s, ybuf, y->dtype);
}

/// B^T of a constant [N][K] B, packed once into [K][N] so Gemm reads contiguous rows.
int pack_transposed(LowerContext &cx, const Node &n, const Value *b) {
  const int64_t nn = b->shape[0], k = b->shape[1];
  int packed = cx.add_buffer(n.name + ".packed_b", b->dtype, {k, nn}, true);
  KernelBuilder kb("gemm_packb_" + std::string(dtype_name(b->dtype)));
  int src = kb.param(cx.prog, cx.buffer(b), false);
  int dst = kb.param(cx.prog, packed, true);
  int p = kb.new_var();
  Stmt body = loop(kb, nn, ForKind::Serial, [&](Expr j) {
    return store(dst, var(p) * imm(nn) + j, load(src, {b->dtype, 1}, j * imm(k) + var(p)));
  });
  std::vector<int> args = kb.args();
  Kernel kern = kb.finish(for_loop(p, imm(0), imm(k), ForKind::Parallel, body), k);
  cx.launch(std::move(kern), std::move(args), true, n);
  return packed;
}

void lower_gemm(LowerContext &cx, const Node &n) {
  const Value *a = n.inputs[0], *b = n.inputs[1], *y = n.outputs[0];
  const Value *c = n.inputs.size() > 2 ? n.inputs[2] : nullptr;
  if (a->dtype != DType::f32 && a->dtype != DType::f16)
    no_kernel(n, std::string(dtype_name(a->dtype)) + " Gemm");
  const Attrs &at = n.attrs;
  const bool ta = at.i("transA") != 0;
  bool tb = at.i("transB") != 0;
  const double alpha = at.f("alpha"), beta = at.f("beta");
  GemmSpec s;
  s.batch = 1, s.m = y->shape[0], s.n = y->shape[1], s.k = ta ? a->shape[0] : a->shape[1];
  s.adt = DType::f32;
  int bsrc = cx.buffer(b);
  if (tb && cx.is_weight(b)) {
    bsrc = pack_transposed(cx, n, b);
    tb = false;
  }
  KernelBuilder kb(std::string("gemm_") + (ta ? "t" : "n") + (tb ? "t" : "n") + "_" +
                   std::string(dtype_name(a->dtype)));
  int abuf = kb.param(cx.prog, cx.buffer(a), false);
  int bbuf = kb.param(cx.prog, bsrc, false);
  int cbuf = c ? kb.param(cx.prog, cx.buffer(c), false) : -1;
  int ybuf = kb.param(cx.prog, cx.buffer(y), true);
  const int64_t m = s.m, k = s.k, nn = s.n;
  s.a = [&, m, k](Expr, Expr i, Expr kk) {
    return load_as(abuf, a->dtype, s.adt, ta ? kk * imm(m) + i : i * imm(k) + kk);
  };
  s.b = [&, k, nn](Expr, Expr kk, Expr j, Expr pred) {
    return load_as(bbuf, b->dtype, s.adt, tb ? j * imm(k) + kk : kk * imm(nn) + j, pred);
  };
  // C broadcasts to [M, N]: a dimension of 1 has stride 0.
  int64_t cs0 = 0, cs1 = 0;
  if (c) {
    Shape cs = c->shape;
    while (cs.size() < 2)
      cs.insert(cs.begin(), 1);
    cs1 = cs[1] == 1 ? 0 : 1;
    cs0 = cs[0] == 1 ? 0 : cs[1];
  }
  s.epilogue = [&, cs0, cs1](Expr i, Expr j, Expr pred, Expr acc) {
    Expr val = alpha == 1.0 ? acc : acc * fimm(alpha, s.adt);
    if (!c)
      return val;
    Expr idx = imm(0);
    if (cs0)
      idx = idx + i * imm(cs0);
    if (cs1)
      idx = idx + j;
    Expr cv = load_as(cbuf, c->dtype, s.adt, idx, cs1 ? pred : nullptr);
    return val + (beta == 1.0 ? cv : fimm(beta, s.adt) * cv);
  };
  emit_gemm(cx, n, kb, s, ybuf, y->dtype);
}

} // namespace

void lower_matmul(LowerContext &cx, const Node &n) {
  if (n.op == OpKind::Gemm)
    return lower_gemm(cx, n);
  lower_matmul_op(cx, n);
}

} // namespace kiln
