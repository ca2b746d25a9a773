// Kernel loop IR: builder type checks, the text form, and the unroll/vectorize/simplify passes
// as before/expected pairs of printed kernels.
#include "ir/Error.h"
#include "passes/KernelPasses.h"

#include <gtest/gtest.h>

using namespace kiln;

namespace {

const KType f32{DType::f32, 1};

/// A kernel over two f32[1024] buffers (b0 in, b1 out) with the given body.
Kernel make_kernel(Stmt body, int next_var = 8, int64_t parallel = 1) {
  Kernel k;
  k.name = "test_f32";
  k.params = {{"x", DType::f32, 1024, false}, {"y", DType::f32, 1024, true}};
  k.body = std::move(body);
  k.parallel_extent = parallel;
  k.next_var = next_var;
  k.next_buf = 2;
  return k;
}

std::string print_body(const Kernel &k) {
  std::string s = kernel_to_string(k);
  return s.substr(s.find('\n') + 1); // drop the header line
}

Expr lt(Expr a, Expr b) { return binary(BinOp::Lt, std::move(a), std::move(b)); }
Expr div(Expr a, Expr b) { return binary(BinOp::Div, std::move(a), std::move(b)); }
Expr mod(Expr a, Expr b) { return binary(BinOp::Mod, std::move(a), std::move(b)); }

} // namespace

TEST(KernelBuilders, Types) {
  EXPECT_EQ(imm(3)->type, (KType{DType::i64, 1}));
  EXPECT_EQ(fimm(1.5)->type, f32);
  EXPECT_EQ(fimm(1.5, DType::f16)->type, (KType{DType::f16, 1}));
  EXPECT_EQ(var(2)->type, (KType{DType::i64, 1}));

  Expr r = ramp(var(0), imm(1), 8);
  EXPECT_EQ(r->type, (KType{DType::i64, 8}));
  Expr v = var(0);
  EXPECT_EQ(ramp(v, imm(1), 1), v); // one lane: the base itself
  EXPECT_EQ(broadcast(fimm(2.0), 8)->type, (KType{DType::f32, 8}));
  EXPECT_EQ(binary(BinOp::Lt, r, broadcast(imm(4), 8))->type, (KType{DType::boolean, 8}));
  EXPECT_EQ(binary(BinOp::Eq, var(0), imm(1))->type, (KType{DType::boolean, 1}));
  EXPECT_EQ((var(0) + imm(1))->type, (KType{DType::i64, 1}));

  Expr pred = lt(r, broadcast(imm(100), 8));
  Expr l = load(0, {DType::f32, 8}, r, pred);
  EXPECT_EQ(l->type, (KType{DType::f32, 8}));
  ASSERT_EQ(l->args.size(), 2u);
  EXPECT_EQ(l->args[1], pred);

  // A scalar `to` keeps the operand's lanes.
  EXPECT_EQ(cast(f32, load(0, {DType::i32, 8}, r))->type, (KType{DType::f32, 8}));
  EXPECT_EQ(cast({DType::i64, 1}, fimm(1.0))->type, (KType{DType::i64, 1}));
  EXPECT_EQ(reinterpret({DType::i32, 1}, fimm(1.0))->type, (KType{DType::i32, 1}));
  EXPECT_EQ(select(pred, l, broadcast(fimm(0.0), 8))->type, (KType{DType::f32, 8}));
  EXPECT_EQ(unary(UnOp::Exp, l)->type, (KType{DType::f32, 8}));
}

// A broken builder invariant is a Kiln bug: it throws kiln::InternalError (never aborts the host
// application) with a message naming the rule.
#define EXPECT_INTERNAL_ERROR(stmt, text)                                                          \
  do {                                                                                             \
    try {                                                                                          \
      (void)(stmt);                                                                                \
      ADD_FAILURE() << #stmt " did not throw";                                                     \
    } catch (const kiln::InternalError &e) {                                                       \
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();                  \
      EXPECT_NE(std::string(e.what()).find("internal error at "), std::string::npos) << e.what();  \
    }                                                                                              \
  } while (0)

TEST(KernelBuilders, TypeErrorsThrowInternalErrors) {
  EXPECT_INTERNAL_ERROR(binary(BinOp::Add, imm(1), fimm(1.0)), "equal types");
  EXPECT_INTERNAL_ERROR(ramp(fimm(1.0), imm(1), 4), "i64 scalars");
  EXPECT_INTERNAL_ERROR(load(0, f32, imm(0), imm(1)), "predicate");
  EXPECT_INTERNAL_ERROR(load(0, {DType::f32, 4}, imm(0)), "lanes");
  EXPECT_INTERNAL_ERROR(store(1, imm(0), broadcast(fimm(0.0), 4)), "lanes");
  EXPECT_INTERNAL_ERROR(let(0, fimm(1.0), block({})), "i64 scalar");
  EXPECT_INTERNAL_ERROR(if_then(imm(1), block({})), "scalar bool");
  EXPECT_INTERNAL_ERROR(cast({DType::f32, 4}, imm(1)), "lanes");
  EXPECT_INTERNAL_ERROR(reinterpret({DType::i32, 1}, imm(1)), "equal width");
  EXPECT_INTERNAL_ERROR(fimm(1.0, DType::i32), "float dtype");
  EXPECT_INTERNAL_ERROR(unary(UnOp::Exp, imm(1)), "non-float");
}

TEST(KernelPrinter, Relu) {
  Expr idx = var(0) * imm(16) + var(1);
  Kernel k = make_kernel(
      for_loop(0, imm(0), imm(64), ForKind::Parallel,
               for_loop(1, imm(0), imm(16), ForKind::Vectorized,
                        store(1, idx, binary(BinOp::Max, load(0, f32, idx), fimm(0.0))))),
      2, 64);
  k.name = "relu_f32";
  EXPECT_EQ(kernel_to_string(k), "kernel relu_f32(b0(x): f32[1024] in, b1(y): f32[1024] out) "
                                 "parallel 64:\n"
                                 "  parallel for i0 in [0, 64):\n"
                                 "    for i1 in [0, 16) vectorized:\n"
                                 "      b1[i0*16 + i1] = max(b0[i0*16 + i1], 0.0f)\n");
}

TEST(KernelPrinter, AllStatementsAndExpressions) {
  Expr i = var(0), j = var(1);
  Stmt body = block({
      allocate(2, DType::f32, 4,
               for_loop(1, i, var(3), ForKind::Unrolled,
                        store(2, j - i, unary(UnOp::Neg, load(0, f32, (i + j) * imm(2)))))),
      let(4, mod(div(i + imm(1), imm(2)), imm(3)),
          if_then(binary(BinOp::And, lt(var(4), imm(5)), binary(BinOp::Ne, i, imm(0))),
                  store(1, var(4),
                        select(binary(BinOp::Le, i, imm(2)), unary(UnOp::Sigmoid, fimm(0.5)),
                               cast(f32, reinterpret({DType::i32, 1}, fimm(-2.0))))),
                  store(1, var(4), fimm(1e-7, DType::f64) * fimm(0.0, DType::f64)))),
      store(1, ramp(i, imm(2), 4),
            load(0, {DType::f32, 4}, ramp(i, imm(2), 4),
                 lt(ramp(i, imm(2), 4), broadcast(imm(9), 4))),
            lt(ramp(i, imm(2), 4), broadcast(imm(7), 4))),
      store(1, i - (j - imm(1)), binary(BinOp::Pow, fimm(2.0), fimm(3.0))),
  });
  Kernel k = make_kernel(for_loop(0, imm(0), imm(4), ForKind::Serial, body));
  EXPECT_EQ(print_body(k), R"(  for i0 in [0, 4):
    alloc b2: f32[4]:
      for i1 in [i0, i0 + i3) unrolled:
        b2[i1 - i0] = -b0[(i0 + i1)*2]
    let i4 = (i0 + 1)/2 % 3:
      if i4 < 5 & i0 != 0:
        b1[i4] = select(i0 <= 2, sigmoid(0.5f), cast<f32>(reinterpret<i32>(-2.0f)))
      else:
        b1[i4] = 1e-07*0.0
    b1[ramp(i0, 2, 4)] = (b0[ramp(i0, 2, 4)] if ramp(i0, 2, 4) < x4(9)) if ramp(i0, 2, 4) < x4(7)
    b1[i0 - (i1 - 1)] = pow(2.0f, 3.0f)
)");
}

TEST(KernelPasses, Unroll) {
  Kernel k = make_kernel(for_loop(
      0, imm(0), imm(64), ForKind::Serial,
      for_loop(1, imm(0), imm(3), ForKind::Unrolled,
               store(1, var(0) * imm(3) + var(1), load(0, f32, var(0) * imm(3) + var(1))))));
  EXPECT_EQ(print_body(unroll(k)), R"(  for i0 in [0, 64):
    b1[i0*3] = b0[i0*3]
    b1[i0*3 + 1] = b0[i0*3 + 1]
    b1[i0*3 + 2] = b0[i0*3 + 2]
)");
}

TEST(KernelPasses, UnrollNestedRenamesBindings) {
  Kernel k = make_kernel(for_loop(0, imm(0), imm(2), ForKind::Unrolled,
                                  for_loop(1, imm(1), imm(2), ForKind::Unrolled,
                                           allocate(2, DType::f32, 4,
                                                    let(2, var(0) * imm(4) + var(1) + var(7),
                                                        store(2, var(2), load(0, f32, var(2))))))),
                         8);
  k.next_buf = 3;
  Kernel u = unroll(k);
  // Later copies get fresh variable and buffer ids, so each stays bound once per kernel.
  EXPECT_EQ(print_body(u), R"(  alloc b2: f32[4]:
    let i2 = i7 + 1:
      b2[i2] = b0[i2]
  alloc b3: f32[4]:
    let i8 = i7 + 2:
      b3[i8] = b0[i8]
  alloc b4: f32[4]:
    let i9 = i7 + 5:
      b4[i9] = b0[i9]
  alloc b5: f32[4]:
    let i10 = i7 + 6:
      b5[i10] = b0[i10]
)");
  EXPECT_EQ(u.next_var, 11);
  EXPECT_EQ(u.next_buf, 6);
}

TEST(KernelPasses, VectorizeRelu) {
  Expr idx = var(0) * imm(16) + var(1);
  Kernel k = make_kernel(
      for_loop(0, imm(0), imm(64), ForKind::Parallel,
               for_loop(1, imm(0), imm(16), ForKind::Vectorized,
                        store(1, idx, binary(BinOp::Max, load(0, f32, idx), fimm(0.0))))),
      2, 64);
  EXPECT_EQ(print_body(vectorize(k)), R"(  parallel for i0 in [0, 64):
    b1[ramp(i0*16, 1, 16)] = max(b0[ramp(i0*16, 1, 16)], x16(0.0f))
)");
}

TEST(KernelPasses, VectorizeRampTimesConstant) {
  // i*3 + 1 over a vectorized i: ramp(1, 3, 4), a strided access.
  Expr idx = var(0) * imm(3) + imm(1);
  Kernel k = make_kernel(
      for_loop(0, imm(0), imm(4), ForKind::Vectorized, store(1, idx, load(0, f32, idx))));
  EXPECT_EQ(print_body(vectorize(k)), "  b1[ramp(1, 3, 4)] = b0[ramp(1, 3, 4)]\n");
}

TEST(KernelPasses, VectorizeRetypesMixedScalarVector) {
  // b1[j*8 + i] = b0[j*8 + i] * b0[j] + 1.0 - the scalar load and immediate are broadcast.
  Expr idx = var(1) * imm(8) + var(0);
  Expr value = load(0, f32, idx) * load(0, f32, var(1)) + fimm(1.0);
  Kernel k = make_kernel(
      for_loop(1, imm(0), imm(128), ForKind::Serial,
               for_loop(0, imm(0), imm(8), ForKind::Vectorized,
                        for_loop(2, imm(0), imm(3), ForKind::Serial,
                                 store(1, idx, cast(f32, cast({DType::i32, 1}, value)))))));
  Kernel v = vectorize(k);
  EXPECT_EQ(print_body(v), R"(  for i1 in [0, 128):
    for i2 in [0, 3):
      b1[ramp(i1*8, 1, 8)] = cast<f32x8>(cast<i32x8>(b0[ramp(i1*8, 1, 8)]*x8(b0[i1]) + x8(1.0f)))
)");
  const Stmt &st = v.body->body[0]->body[0];
  ASSERT_EQ(st->kind, StmtKind::Store);
  EXPECT_EQ(st->value->type, (KType{DType::f32, 8}));
  EXPECT_EQ(st->index->type, (KType{DType::i64, 8}));
  const Expr &mul = st->value->args[0]->args[0]->args[0];
  ASSERT_EQ(mul->kind, ExprKind::Binary);
  EXPECT_EQ(mul->args[1]->kind, ExprKind::Broadcast);
  EXPECT_EQ(mul->args[1]->args[0]->type, f32);
}

TEST(KernelPasses, VectorizePredicatedLoad) {
  // Padding-style guard in the load predicate: the predicate widens with the index.
  Expr i = var(0) - imm(1);
  Expr guard = binary(BinOp::And, binary(BinOp::Le, imm(0), i), lt(i, imm(1024)));
  Kernel k = make_kernel(
      for_loop(0, imm(0), imm(8), ForKind::Vectorized, store(1, var(0), load(0, f32, i, guard))));
  Kernel v = vectorize(k);
  EXPECT_EQ(print_body(v), "  b1[ramp(0, 1, 8)] = b0[ramp(-1, 1, 8)] if x8(0) <= ramp(-1, 1, 8) & "
                           "ramp(-1, 1, 8) < x8(1024)\n");
  EXPECT_EQ(v.body->value->type, (KType{DType::f32, 8}));
  EXPECT_EQ(v.body->value->args[1]->type, (KType{DType::boolean, 8}));

  // A predicate independent of the loop variable is broadcast to the load's lanes.
  Kernel s = make_kernel(
      for_loop(0, imm(0), imm(4), ForKind::Vectorized,
               store(1, var(0), load(0, f32, var(0), lt(var(5), imm(3))), lt(var(6), imm(2)))));
  EXPECT_EQ(print_body(vectorize(s)),
            "  b1[ramp(0, 1, 4)] = (b0[ramp(0, 1, 4)] if x4(i5 < 3)) if x4(i6 < 2)\n");
}

TEST(KernelPasses, VectorizeIfConversion) {
  Expr i = var(0) + imm(2);
  Kernel k =
      make_kernel(for_loop(0, imm(0), imm(8), ForKind::Vectorized,
                           block({if_then(lt(i, imm(7)), store(1, i, load(0, f32, i) * fimm(2.0)),
                                          store(1, i, fimm(0.0))),
                                  if_then(lt(var(5), imm(3)), store(1, i, fimm(1.0)))})));
  EXPECT_EQ(
      print_body(prepare_for_codegen(k)),
      R"(  b1[ramp(2, 1, 8)] = (b0[ramp(2, 1, 8)] if ramp(2, 1, 8) < x8(7))*x8(2.0f) if ramp(2, 1, 8) < x8(7)
  b1[ramp(2, 1, 8)] = x8(0.0f) if !(ramp(2, 1, 8) < x8(7))
  if i5 < 3:
    b1[ramp(2, 1, 8)] = x8(1.0f)
)");
}

TEST(KernelPasses, Simplify) {
  Expr i = var(0);
  Kernel k = make_kernel(block({
      for_loop(0, imm(0), imm(0), ForKind::Serial, store(1, i, fimm(1.0))), // never runs
      block({}),
      for_loop(1, imm(5), imm(1), ForKind::Serial, // runs once: i1 = 5
               block({store(1, var(1) * imm(1) + imm(0), fimm(2.0)),
                      store(1, (var(2) + imm(3)) + imm(4) - imm(10), fimm(3.0)),
                      store(1, imm(0) + var(2) * imm(0) + mod(div(imm(7), imm(2)), imm(3)),
                            fimm(4.0) * fimm(0.0)),
                      store(1, binary(BinOp::Max, imm(-3), imm(2)) - imm(0), fimm(5.0),
                            lt(imm(1), imm(2)))})),
      if_then(lt(imm(3), imm(2)), store(1, imm(0), fimm(6.0)), store(1, imm(1), fimm(7.0))),
      if_then(binary(BinOp::Eq, imm(3), imm(3)), block({block({store(1, imm(2), fimm(8.0))})})),
      let(3, imm(2) * imm(3), store(1, var(3), fimm(9.0))),
      store(1, imm(4), fimm(1.0), lt(imm(2), imm(1))), // predicate always false
      store(1, ramp(var(2) + imm(1), imm(0), 4), broadcast(fimm(1.0), 4)),
  }));
  EXPECT_EQ(print_body(simplify(k)), R"(  b1[5] = 2.0f
  b1[i2 - 3] = 3.0f
  b1[0] = 4.0f*0.0f
  b1[2] = 5.0f
  b1[1] = 7.0f
  b1[2] = 8.0f
  b1[6] = 9.0f
  b1[x4(i2 + 1)] = x4(1.0f)
)");
}

TEST(KernelPasses, SimplifyRampArithmetic) {
  Kernel k =
      make_kernel(store(1, ramp(imm(0), imm(1), 4) * broadcast(imm(4), 4) + broadcast(var(3), 4),
                        load(0, {DType::f32, 4}, broadcast(imm(2), 4) - ramp(var(3), imm(2), 4))));
  EXPECT_EQ(print_body(simplify(k)), "  b1[ramp(i3, 4, 4)] = b0[ramp(2 - i3, -2, 4)]\n");
}

TEST(KernelPasses, PrepareForCodegen) {
  // A 4x2 tile: rows unrolled, columns vectorized; the unrolled copies' indices fold.
  Expr idx = (var(0) * imm(4) + var(1)) * imm(8) + var(2);
  Kernel k = make_kernel(for_loop(0, imm(0), imm(16), ForKind::Parallel,
                                  for_loop(1, imm(0), imm(2), ForKind::Unrolled,
                                           for_loop(2, imm(0), imm(8), ForKind::Vectorized,
                                                    store(1, idx, load(0, f32, idx) + fimm(1.0))))),
                         3, 16);
  EXPECT_EQ(print_body(prepare_for_codegen(k)), R"(  parallel for i0 in [0, 16):
    b1[ramp(i0*32, 1, 8)] = b0[ramp(i0*32, 1, 8)] + x8(1.0f)
    b1[ramp(i0*32 + 8, 1, 8)] = b0[ramp(i0*32 + 8, 1, 8)] + x8(1.0f)
)");
}

TEST(KernelPasses, VectorizeRestrictionsThrowInternalErrors) {
  auto vec = [](Stmt body) {
    return for_loop(0, imm(0), imm(4), ForKind::Vectorized, std::move(body));
  };
  EXPECT_INTERNAL_ERROR(vectorize(make_kernel(vec(for_loop(1, imm(0), imm(4), ForKind::Vectorized,
                                                           store(1, var(1), fimm(0.0)))))),
                        "nested vectorized");
  EXPECT_INTERNAL_ERROR(vectorize(make_kernel(vec(let(1, var(0), store(1, var(1), fimm(0.0)))))),
                        "Let");
  EXPECT_INTERNAL_ERROR(vectorize(make_kernel(vec(store(1, imm(0), load(0, f32, var(0)))))),
                        "scalar index");
  EXPECT_INTERNAL_ERROR(
      vectorize(make_kernel(vec(allocate(2, DType::f32, 4, store(2, var(0), fimm(0.0)))))),
      "allocate inside a vectorized loop");
  EXPECT_INTERNAL_ERROR(
      vectorize(make_kernel(vec(if_then(lt(var(0), imm(2)), store(1, imm(0), fimm(0.0)))))),
      "scalar index under a condition");
  EXPECT_INTERNAL_ERROR(vectorize(make_kernel(for_loop(0, imm(0), var(3), ForKind::Vectorized,
                                                       store(1, var(0), fimm(0.0))))),
                        "constant extent");
  EXPECT_INTERNAL_ERROR(unroll(make_kernel(for_loop(0, imm(0), var(3), ForKind::Unrolled,
                                                    store(1, var(0), fimm(0.0))))),
                        "constant extent");
}
