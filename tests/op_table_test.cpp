// The op table (ir/ops.def, ir/Op.h): every op has a name that parses back, one family whose
// enum holds it, and the traits written down here; every Elementwise op's shape inference gives
// the broadcast of its inputs.
#include "ir/Graph.h"
#include "ir/Op.h"
#include "ir/ShapeInference.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <map>
#include <set>

using namespace kiln;

namespace {

// Compile-time use of the table: names, families and traits are constexpr.
static_assert(op_name(OpKind::Conv) == "Conv");
static_assert(parse_op("Gemm") == OpKind::Gemm);
static_assert(!parse_op("gemm").has_value());
static_assert(op_family(OpKind::ConvTranspose) == OpFamily::Conv);
static_assert(op_family(OpKind::Identity) == OpFamily::Movement);
static_assert(has_trait(OpKind::Relu, OpTrait::ConvActivation));
static_assert(!has_trait(OpKind::Exp, OpTrait::Cheap));
static_assert(!has_trait(OpKind::Conv, OpTrait::Elementwise));
static_assert(static_cast<int>(ConvOp::ConvInteger) == static_cast<int>(OpKind::ConvInteger));
static_assert(to_op(ReduceOp::TopK) == OpKind::TopK);

std::vector<OpKind> all_ops() {
  std::vector<OpKind> ops;
  for (size_t i = 0; i < kNumOps; ++i)
    ops.push_back(static_cast<OpKind>(i));
  return ops;
}

/// The names of the ops for which `pred` holds, in table order, space-separated.
template <class P> std::string ops_where(P pred) {
  std::string s;
  for (OpKind op : all_ops())
    if (pred(op))
      s += (s.empty() ? "" : " ") + std::string(op_name(op));
  return s;
}

std::string with_trait(OpTrait t) {
  return ops_where([&](OpKind op) { return has_trait(op, t); });
}

/// family_op for a family known only at run time, as an int (the OpKind's value).
int family_op_value(OpFamily f, OpKind op) {
  switch (f) {
  case OpFamily::Unary: return static_cast<int>(family_op<OpFamily::Unary>(op));
  case OpFamily::Binary: return static_cast<int>(family_op<OpFamily::Binary>(op));
  case OpFamily::Select: return static_cast<int>(family_op<OpFamily::Select>(op));
  case OpFamily::FusedElementwise:
    return static_cast<int>(family_op<OpFamily::FusedElementwise>(op));
  case OpFamily::Conv: return static_cast<int>(family_op<OpFamily::Conv>(op));
  case OpFamily::Pool: return static_cast<int>(family_op<OpFamily::Pool>(op));
  case OpFamily::Norm: return static_cast<int>(family_op<OpFamily::Norm>(op));
  case OpFamily::Linalg: return static_cast<int>(family_op<OpFamily::Linalg>(op));
  case OpFamily::Softmax: return static_cast<int>(family_op<OpFamily::Softmax>(op));
  case OpFamily::Movement: return static_cast<int>(family_op<OpFamily::Movement>(op));
  case OpFamily::Resize: return static_cast<int>(family_op<OpFamily::Resize>(op));
  case OpFamily::Reduce: return static_cast<int>(family_op<OpFamily::Reduce>(op));
  case OpFamily::Quant: return static_cast<int>(family_op<OpFamily::Quant>(op));
  }
  return -1;
}

const OpFamily kFamilies[] = {
    OpFamily::Unary,   OpFamily::Binary,   OpFamily::Select, OpFamily::FusedElementwise,
    OpFamily::Conv,    OpFamily::Pool,     OpFamily::Norm,   OpFamily::Linalg,
    OpFamily::Softmax, OpFamily::Movement, OpFamily::Resize, OpFamily::Reduce,
    OpFamily::Quant};

} // namespace

TEST(OpTable, NamesRoundTripAndAreUnique) {
  EXPECT_EQ(kNumOps, 74u);
  std::set<std::string_view> names;
  for (OpKind op : all_ops()) {
    std::string_view name = op_name(op);
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(names.insert(name).second) << name << " twice";
    ASSERT_TRUE(parse_op(name).has_value()) << name;
    EXPECT_EQ(*parse_op(name), op) << name;
  }
  EXPECT_FALSE(parse_op("").has_value());
  EXPECT_FALSE(parse_op("conv").has_value());
  EXPECT_FALSE(parse_op("Conv ").has_value());
}

TEST(OpTable, EveryOpHasOneFamilyAsWritten) {
  // The families as ops.def writes them (table order within a family).
  const std::map<OpFamily, std::string> expected = {
      {OpFamily::Unary, "Relu Sigmoid Tanh Exp Log Sqrt Erf Neg Abs Floor Ceil Round Reciprocal "
                        "Softplus HardSwish Not LeakyRelu HardSigmoid Clip Cast"},
      {OpFamily::Binary, "Add Sub Mul Div Pow Mod Min Max And Or Equal Less LessOrEqual Greater "
                         "GreaterOrEqual"},
      {OpFamily::Select, "Where"},
      {OpFamily::FusedElementwise, "FusedElementwise"},
      {OpFamily::Conv, "Conv ConvTranspose ConvInteger QLinearConv"},
      {OpFamily::Pool, "MaxPool AveragePool GlobalAveragePool GlobalMaxPool"},
      {OpFamily::Norm, "BatchNormalization"},
      {OpFamily::Linalg, "MatMul MatMulInteger Gemm"},
      {OpFamily::Softmax, "Softmax LogSoftmax"},
      {OpFamily::Movement, "Identity Concat Split Slice Reshape Transpose Expand Pad Tile Gather "
                           "GatherElements"},
      {OpFamily::Resize, "Resize"},
      {OpFamily::Reduce, "ReduceMax ReduceMin ReduceMean ReduceSum ReduceProd ArgMax ArgMin TopK"},
      {OpFamily::Quant, "QuantizeLinear DequantizeLinear DynamicQuantizeLinear"},
  };
  size_t total = 0;
  for (OpFamily f : kFamilies) {
    std::string got = ops_where([&](OpKind op) { return op_family(op) == f; });
    EXPECT_EQ(got, expected.at(f)) << op_family_name(f);
    total += std::count(got.begin(), got.end(), ' ') + 1;
  }
  EXPECT_EQ(total, kNumOps); // every op is in exactly one of the families above
}

TEST(OpTable, FamilyEnumsHoldExactlyTheirOps) {
  for (OpKind op : all_ops()) {
    for (OpFamily f : kFamilies) {
      if (f == op_family(op)) {
        EXPECT_EQ(family_op_value(f, op), static_cast<int>(op)) << op_name(op);
        continue;
      }
      try {
        family_op_value(f, op);
        ADD_FAILURE() << op_name(op) << " converted to family " << op_family_name(f);
      } catch (const InternalError &e) {
        std::string want =
            std::string(op_name(op)) + " is not a " + std::string(op_family_name(f)) + " op";
        EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      }
    }
  }
}

TEST(OpTable, TraitsAsWritten) {
  EXPECT_EQ(with_trait(OpTrait::Elementwise),
            "Relu Sigmoid Tanh Exp Log Sqrt Erf Neg Abs Floor Ceil Round Reciprocal Softplus "
            "HardSwish Not LeakyRelu HardSigmoid Clip Cast Add Sub Mul Div Pow Mod Min Max And Or "
            "Equal Less LessOrEqual Greater GreaterOrEqual Where FusedElementwise Identity");
  EXPECT_EQ(with_trait(OpTrait::EwFusable),
            "Relu Sigmoid Tanh Exp Log Sqrt Erf Neg Abs Floor Ceil Round Reciprocal Softplus "
            "HardSwish LeakyRelu HardSigmoid Clip Add Sub Mul Div Pow Min Max");
  EXPECT_EQ(with_trait(OpTrait::ConvActivation), "Relu Sigmoid HardSwish LeakyRelu");
  EXPECT_EQ(with_trait(OpTrait::Cheap), "Relu Neg Abs Clip Add Sub Mul Div Min Max");
  EXPECT_FALSE(has_trait(OpKind::Relu, OpTrait::None));
  // Fusable and cheap ops are elementwise ones.
  for (OpKind op : all_ops()) {
    if (has_trait(op, OpTrait::EwFusable) || has_trait(op, OpTrait::ConvActivation) ||
        has_trait(op, OpTrait::Cheap))
      EXPECT_TRUE(is_elementwise(op)) << op_name(op);
  }
}

namespace {

/// One example call of an elementwise op whose inputs broadcast: shapes [2,1,3], [4,1], [3]
/// (as many as the op takes) give [2,4,3].
struct Example {
  std::vector<Value> inputs;
  Attrs attrs;
};

Value value(DType t, Shape s) {
  Value v;
  v.dtype = t;
  v.shape = std::move(s);
  return v;
}

Example elementwise_example(OpKind op) {
  const Shape s0 = {2, 1, 3}, s1 = {4, 1}, s2 = {3};
  Example e;
  switch (op_family(op)) {
  case OpFamily::Unary:
    e.inputs = {value(op == OpKind::Not ? DType::boolean : DType::f32, s0)};
    if (op == OpKind::LeakyRelu)
      e.attrs.set("alpha", 0.1);
    if (op == OpKind::HardSigmoid) {
      e.attrs.set("alpha", 0.2);
      e.attrs.set("beta", 0.5);
    }
    if (op == OpKind::Clip) {
      e.attrs.set("min", 0.0);
      e.attrs.set("max", 6.0);
    }
    if (op == OpKind::Cast)
      e.attrs.set("to", std::string("f16"));
    break;
  case OpFamily::Binary: {
    DType t = op == OpKind::And || op == OpKind::Or ? DType::boolean : DType::f32;
    e.inputs = {value(t, s0), value(t, s1)};
    if (op == OpKind::Mod)
      e.attrs.set("fmod", int64_t{1});
    break;
  }
  case OpFamily::Select:
    e.inputs = {value(DType::boolean, s1), value(DType::f32, s0), value(DType::f32, s2)};
    break;
  case OpFamily::FusedElementwise:
    e.inputs = {value(DType::f32, s0), value(DType::f32, s1), value(DType::f32, s2)};
    e.attrs.set("program", std::string("Add(i0,i1);Mul(t0,i2)"));
    break;
  case OpFamily::Movement: // Identity
    e.inputs = {value(DType::f32, s0)};
    break;
  default: ADD_FAILURE() << op_name(op) << " needs an elementwise example";
  }
  return e;
}

} // namespace

TEST(OpTable, ElementwiseOpsOutputTheBroadcastOfTheirInputs) {
  for (OpKind op : all_ops()) {
    if (!is_elementwise(op))
      continue;
    Example e = elementwise_example(op);
    std::vector<const Value *> in;
    Shape expected;
    for (const Value &v : e.inputs) {
      in.push_back(&v);
      expected = broadcast_shapes(expected, v.shape);
    }
    std::vector<TensorType> out = infer_types(op, in, e.attrs);
    ASSERT_EQ(out.size(), 1u) << op_name(op);
    EXPECT_EQ(out[0].shape, expected) << op_name(op);
    // The example's shapes really broadcast (one input keeps its own).
    Shape want = e.inputs.size() == 1 ? Shape{2, 1, 3} : Shape{2, 4, 3};
    EXPECT_EQ(out[0].shape, want) << op_name(op);
  }
}

TEST(OpTable, NonElementwiseOpsDoNotBroadcast) {
  // Ops whose output has an input's shape are not elementwise for it: Softmax reads the whole
  // axis, BatchNormalization's parameters run along channels, not the last axis.
  Value x = value(DType::f32, {1, 2, 3});
  Attrs axis;
  axis.set("axis", int64_t{2});
  EXPECT_EQ(infer_types(OpKind::Softmax, {&x}, axis)[0].shape, x.shape);
  EXPECT_FALSE(is_elementwise(OpKind::Softmax));
  Value p = value(DType::f32, {2});
  Attrs eps;
  eps.set("epsilon", 1e-5);
  EXPECT_EQ(infer_types(OpKind::BatchNormalization, {&x, &p, &p, &p, &p}, eps)[0].shape, x.shape);
  EXPECT_THROW(broadcast_shapes(x.shape, p.shape), Error);
  EXPECT_FALSE(is_elementwise(OpKind::BatchNormalization));
}
