// Shape inference of the elementwise families: Unary, Binary, Select (Where), FusedElementwise.
#include "ir/shape/Infer.h"

#include "ir/FusedProgram.h"

namespace kiln::shape {

namespace {

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

void infer_unary(Infer &c) {
  switch (family_op<OpFamily::Unary>(c.op())) {
  case UnaryOp::Relu:
  case UnaryOp::Neg:
  case UnaryOp::Abs: return unary(c, Kind::numeric);
  case UnaryOp::Sigmoid:
  case UnaryOp::Tanh:
  case UnaryOp::Exp:
  case UnaryOp::Log:
  case UnaryOp::Sqrt:
  case UnaryOp::Erf:
  case UnaryOp::Floor:
  case UnaryOp::Ceil:
  case UnaryOp::Round:
  case UnaryOp::Reciprocal:
  case UnaryOp::Softplus:
  case UnaryOp::HardSwish: return unary(c, Kind::floating);
  case UnaryOp::Not: return unary(c, Kind::boolean);
  case UnaryOp::LeakyRelu: c.f("alpha"); return unary(c, Kind::floating);
  case UnaryOp::HardSigmoid:
    c.f("alpha");
    c.f("beta");
    return unary(c, Kind::floating);
  case UnaryOp::Clip:
    c.f("min");
    c.f("max");
    return unary(c, Kind::numeric);
  case UnaryOp::Cast: {
    c.arity(1, 1);
    const Value &x = c.in(0);
    std::optional<DType> to = parse_dtype(c.s("to"));
    if (!to)
      c.fail("attribute 'to' names unknown dtype '" + c.s("to") + "'");
    return c.out(*to, x.shape);
  }
  }
}

void infer_binary(Infer &c) {
  switch (family_op<OpFamily::Binary>(c.op())) {
  case BinaryOp::Add:
  case BinaryOp::Sub:
  case BinaryOp::Mul:
  case BinaryOp::Div:
  case BinaryOp::Pow:
  case BinaryOp::Min:
  case BinaryOp::Max: return binary(c, Kind::numeric);
  case BinaryOp::Mod: c.flag("fmod"); return binary(c, Kind::numeric);
  case BinaryOp::And:
  case BinaryOp::Or: return binary(c, Kind::boolean);
  case BinaryOp::Equal: return binary(c, Kind::any, DType::boolean);
  case BinaryOp::Less:
  case BinaryOp::LessOrEqual:
  case BinaryOp::Greater:
  case BinaryOp::GreaterOrEqual: return binary(c, Kind::numeric, DType::boolean);
  }
}

void infer_select(Infer &c) { where(c); }

void infer_fused_elementwise(Infer &c) { fused_elementwise(c); }

} // namespace kiln::shape
