// Graph passes as before/expected text-IR pairs: parse the "before" text, run one pass, print,
// compare with the "expected" text. Plus pipeline parsing and the pass manager's checks.
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Reference.h"
#include "passes/BnFold.h"
#include "passes/Cse.h"
#include "passes/Dce.h"
#include "passes/EwFuse.h"
#include "passes/Fold.h"
#include "passes/Fuse.h"
#include "passes/PassManager.h"
#include "passes/QConv.h"

#include <cstdlib>
#include <gtest/gtest.h>
#include <random>
#include <sstream>

using namespace kiln;

namespace {

/// Runs `pass` on the parsed `before`, checks it reports `changed`, verifies the result (a
/// round trip through the parser) and returns its text.
std::string run_pass(bool (*pass)(Graph &), const std::string &before, bool changed = true) {
  std::unique_ptr<Graph> g = parse_graph(before);
  EXPECT_EQ(pass(*g), changed);
  std::string text = graph_to_string(*g);
  parse_graph(text); // verifies
  return text;
}

/// The reference outputs of `text` with deterministic inputs in [-2, 2).
std::vector<Tensor> evaluate(const Graph &g) {
  std::vector<Tensor> inputs;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-2, 2);
  for (const Value *x : g.inputs()) {
    Tensor t(x->dtype, x->shape);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.data<float>()[i] = uni(rng);
    inputs.push_back(t);
  }
  return run_reference(g, inputs);
}

/// The pass keeps the graph's meaning: reference outputs before and after agree.
void expect_same_outputs(bool (*pass)(Graph &), const std::string &before, double tol = 1e-5) {
  std::unique_ptr<Graph> a = parse_graph(before), b = parse_graph(before);
  pass(*b);
  std::vector<Tensor> ra = evaluate(*a), rb = evaluate(*b);
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t o = 0; o < ra.size(); ++o) {
    std::vector<double> x = ra[o].to_f64_vector(), y = rb[o].to_f64_vector();
    ASSERT_EQ(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(x[i], y[i], tol * (1 + std::abs(x[i]))) << "output " << o << " element " << i;
  }
}

// A 1x1 conv over 2 channels: small enough to write out, real enough to evaluate.
const char *const kConvHeader = R"(graph(%x: f32[1,2,3,3]) -> (%y) {
  %w = const f32[2,2,1,1] [0.5, -1, 2, 0.25]
  %b = const f32[2] [0.125, -0.5]
)";
const char *const kConvAttrs =
    R"({activation="none", alpha=0.0, dilations=[1,1], group=1, pads=[0,0,0,0], strides=[1,1]})";

std::string conv_graph(const std::string &tail) {
  return std::string(kConvHeader) + "  %c = Conv(%x, %w, %b) " + kConvAttrs + " : f32[1,2,3,3]\n" +
         tail + "}\n";
}

} // namespace

// ---- qconv ----

namespace {
/// Quantize -> Dequantize -> Conv (int8 weights, int32 bias) -> Quantize -> Dequantize.
std::string qdq_conv_graph(const std::string &bias_scale) {
  return R"(graph(%x: f32[1,2,3,3]) -> (%y) {
  %sx = const f32[] [0.5]
  %zx = const u8[] [128]
  %wq = const i8[2,2,1,1] [1, -2, 3, 4]
  %sw = const f32[2] [0.25, 0.125]
  %zw = const i8[2] [0, 0]
  %bq = const i32[2] [5, -7]
  %sb = const f32[2] )" +
         bias_scale + R"(
  %zb = const i32[2] [0, 0]
  %sy = const f32[] [0.25]
  %zy = const u8[] [100]
  %xq = QuantizeLinear(%x, %sx, %zx) {axis=1} : u8[1,2,3,3]
  %xd = DequantizeLinear(%xq, %sx, %zx) {axis=1} : f32[1,2,3,3]
  %w = DequantizeLinear(%wq, %sw, %zw) {axis=0} : f32[2,2,1,1]
  %b = DequantizeLinear(%bq, %sb, %zb) {axis=0} : f32[2]
  %c = Conv(%xd, %w, %b) )" +
         kConvAttrs + R"( : f32[1,2,3,3]
  %q = QuantizeLinear(%c, %sy, %zy) {axis=1} : u8[1,2,3,3]
  %y = DequantizeLinear(%q, %sy, %zy) {axis=1} : f32[1,2,3,3]
}
)";
}
} // namespace

TEST(QConv, DequantizeConvQuantizeBecomesQLinearConv) {
  std::string text = run_pass(quantize_convs, qdq_conv_graph("[0.125, 0.0625]"));
  EXPECT_NE(
      text.find("= QLinearConv(%xq, %sx, %zx, %wq, %sw, %zw, %sy, %zy, %bq) {dilations=[1,1], "
                "group=1, pads=[0,0,0,0], strides=[1,1]} : u8[1,2,3,3]"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("Conv(%xd"), std::string::npos) << text;
  // Exact here: every float product is exact and no value is halfway between two steps.
  expect_same_outputs(quantize_convs, qdq_conv_graph("[0.125, 0.0625]"), 0);
}

TEST(QConv, BiasWithAnotherScaleStaysFloat) {
  run_pass(quantize_convs, qdq_conv_graph("[0.125, 0.5]"), false);
}

TEST(QConv, QuantizeOfDequantizeWithTheSameParametersIsDropped) {
  std::string text = run_pass(quantize_convs, R"(graph(%x: u8[4]) -> (%y) {
  %s = const f32[] [0.5]
  %z = const u8[] [3]
  %d = DequantizeLinear(%x, %s, %z) {axis=1} : f32[4]
  %y = QuantizeLinear(%d, %s, %z) {axis=1} : u8[4]
}
)");
  EXPECT_EQ(text, "graph(%x: u8[4]) -> (%x) {\n}\n");
}

// ---- fold ----

TEST(Fold, EvaluatesConstantNodesAndLeavesThemForDce) {
  const char *before = R"(graph(%x: f32[2]) -> (%y) {
  %a = const f32[2] [1, 2]
  %b = const f32[2] [3, 4]
  %s = Add(%a, %b) : f32[2]
  %y = Mul(%x, %s) : f32[2]
}
)";
  const char *expected = R"(graph(%x: f32[2]) -> (%y) {
  %a = const f32[2] [1, 2]
  %b = const f32[2] [3, 4]
  %s = const f32[2] [4, 6]
  %s.folded = Add(%a, %b) : f32[2]
  %y = Mul(%x, %s) : f32[2]
}
)";
  EXPECT_EQ(run_pass(fold_constants, before), expected);
}

TEST(Fold, LeavesGraphOutputsAndNonConstantNodes) {
  const char *before = R"(graph(%x: f32[2]) -> (%s, %y) {
  %a = const f32[2] [1, 2]
  %s = Neg(%a) : f32[2]
  %y = Neg(%x) : f32[2]
}
)";
  EXPECT_EQ(run_pass(fold_constants, before, false), before);
}

// ---- dce ----

TEST(Dce, RemovesUnusedNodesAndConstants) {
  const char *before = R"(graph(%x: f32[2]) -> (%a) {
  %k = const f32[2] [1, 2]
  %a = Relu(%x) : f32[2]
  %b = Add(%x, %k) : f32[2]
  %c = Sigmoid(%b) : f32[2]
}
)";
  const char *expected = R"(graph(%x: f32[2]) -> (%a) {
  %a = Relu(%x) : f32[2]
}
)";
  EXPECT_EQ(run_pass(eliminate_dead_code, before), expected);
  EXPECT_EQ(run_pass(eliminate_dead_code, expected, false), expected);
}

// ---- cse ----

TEST(Cse, MergesEqualNodesAndSmallConstants) {
  const char *before = R"(graph(%x: f32[2]) -> (%y) {
  %k1 = const f32[] [2]
  %k2 = const f32[] [2]
  %a = Mul(%x, %k1) : f32[2]
  %b = Mul(%x, %k2) : f32[2]
  %sa = Sigmoid(%a) : f32[2]
  %sb = Sigmoid(%b) : f32[2]
  %y = Add(%sa, %sb) : f32[2]
}
)";
  const char *expected = R"(graph(%x: f32[2]) -> (%y) {
  %k1 = const f32[] [2]
  %a = Mul(%x, %k1) : f32[2]
  %sa = Sigmoid(%a) : f32[2]
  %y = Add(%sa, %sa) : f32[2]
}
)";
  EXPECT_EQ(run_pass(eliminate_common_subexpressions, before), expected);
}

TEST(Cse, KeepsDifferentAttributesAndGraphOutputs) {
  const char *before = R"(graph(%x: f32[2]) -> (%a, %b, %d) {
  %a = LeakyRelu(%x) {alpha=0.1} : f32[2]
  %b = LeakyRelu(%x) {alpha=0.2} : f32[2]
  %c = Relu(%x) : f32[2]
  %d = Relu(%x) : f32[2]
  %e = Add(%c, %d) : f32[2]
}
)";
  // %d is a graph output and keeps its node; %c has no use left to merge.
  EXPECT_EQ(run_pass(eliminate_common_subexpressions, before, false), before);
}

// ---- bnfold ----

TEST(BnFold, ScalesWeightsAndBias) {
  std::string before = std::string(kConvHeader) + R"(  %s = const f32[2] [2, 1]
  %beta = const f32[2] [1, 0]
  %m = const f32[2] [0.125, 0.5]
  %v = const f32[2] [3, 0]
  %c = Conv(%x, %w, %b) )" +
                       kConvAttrs + R"( : f32[1,2,3,3]
  %y = BatchNormalization(%c, %s, %beta, %m, %v) {epsilon=1.0} : f32[1,2,3,3]
}
)";
  // s = [2/2, 1/1]: channel 0 keeps its weights, bias (0.125-0.125)*1+1 = 1; channel 1
  // bias (-0.5-0.5)*1+0 = -1.
  std::string expected = R"(graph(%x: f32[1,2,3,3]) -> (%y) {
  %w.bn = const f32[2,2,1,1] [0.5, -1, 2, 0.25]
  %b.bn_bias = const f32[2] [1, -1]
  %y = Conv(%x, %w.bn, %b.bn_bias) )" +
                         std::string(kConvAttrs) +
                         R"( : f32[1,2,3,3]
}
)";
  EXPECT_EQ(run_pass(fold_batch_norm, before), expected);
  expect_same_outputs(fold_batch_norm, before);
}

TEST(BnFold, NeedsASingleUseConv) {
  std::string before = std::string(kConvHeader) + R"(  %s = const f32[2] [2, 1]
  %beta = const f32[2] [1, 0]
  %m = const f32[2] [0.125, 0.5]
  %v = const f32[2] [3, 0]
  %c = Conv(%x, %w, %b) )" +
                       kConvAttrs + R"( : f32[1,2,3,3]
  %n = BatchNormalization(%c, %s, %beta, %m, %v) {epsilon=1.0} : f32[1,2,3,3]
  %y = Add(%n, %c) : f32[1,2,3,3]
}
)";
  run_pass(fold_batch_norm, before, false);
}

// ---- fuse ----

TEST(Fuse, SigmoidMulBecomesSilu) {
  std::string before = conv_graph("  %s = Sigmoid(%c) : f32[1,2,3,3]\n"
                                  "  %y = Mul(%s, %c) : f32[1,2,3,3]\n");
  std::string expected =
      std::string(kConvHeader) +
      R"(  %y = Conv(%x, %w, %b) {activation="silu", alpha=0.0, dilations=[1,1], group=1, pads=[0,0,0,0], strides=[1,1]} : f32[1,2,3,3]
}
)";
  EXPECT_EQ(run_pass(fuse_conv_epilogue, before), expected);
  expect_same_outputs(fuse_conv_epilogue, before);
}

TEST(Fuse, ReluAndLeakyRelu) {
  std::string relu = conv_graph("  %y = Relu(%c) : f32[1,2,3,3]\n");
  EXPECT_NE(run_pass(fuse_conv_epilogue, relu).find(R"(%y = Conv(%x, %w, %b) {activation="relu")"),
            std::string::npos);
  expect_same_outputs(fuse_conv_epilogue, relu);
  std::string leaky = conv_graph("  %y = LeakyRelu(%c) {alpha=0.25} : f32[1,2,3,3]\n");
  EXPECT_NE(run_pass(fuse_conv_epilogue, leaky).find(R"({activation="leaky_relu", alpha=0.25,)"),
            std::string::npos);
  expect_same_outputs(fuse_conv_epilogue, leaky);
  std::string hswish = conv_graph("  %y = HardSwish(%c) : f32[1,2,3,3]\n");
  expect_same_outputs(fuse_conv_epilogue, hswish);
}

TEST(Fuse, ResidualAddAfterSilu) {
  // YOLO's bottleneck: x + cv2(x) with cv2 ending in SiLU.
  std::string before = conv_graph("  %s = Sigmoid(%c) : f32[1,2,3,3]\n"
                                  "  %m = Mul(%c, %s) : f32[1,2,3,3]\n"
                                  "  %y = Add(%x, %m) : f32[1,2,3,3]\n");
  std::string expected =
      std::string(kConvHeader) +
      R"(  %y = Conv(%x, %w, %b, %x) {activation="silu", alpha=0.0, dilations=[1,1], group=1, pads=[0,0,0,0], strides=[1,1]} : f32[1,2,3,3]
}
)";
  EXPECT_EQ(run_pass(fuse_conv_epilogue, before), expected);
  expect_same_outputs(fuse_conv_epilogue, before);
}

TEST(Fuse, ConvOutputWithTwoUsesIsNotFused) {
  std::string before = std::string(kConvHeader) + "  %c = Conv(%x, %w, %b) " + kConvAttrs +
                       " : f32[1,2,3,3]\n" +
                       "  %r = Relu(%c) : f32[1,2,3,3]\n"
                       "  %y = Add(%r, %c) : f32[1,2,3,3]\n}\n";
  EXPECT_EQ(run_pass(fuse_conv_epilogue, before, false), before);
  // Sigmoid * Mul where the conv output has a third use.
  std::string silu3 = std::string(kConvHeader) + "  %c = Conv(%x, %w, %b) " + kConvAttrs +
                      " : f32[1,2,3,3]\n" +
                      "  %s = Sigmoid(%c) : f32[1,2,3,3]\n"
                      "  %m = Mul(%c, %s) : f32[1,2,3,3]\n"
                      "  %y = Sub(%m, %c) : f32[1,2,3,3]\n}\n";
  EXPECT_EQ(run_pass(fuse_conv_epilogue, silu3, false), silu3);
}

TEST(Fuse, ResidualMustBeDefinedBeforeTheConv) {
  // %d is computed after %c: the Conv cannot read it, so only the Relu fuses.
  std::string before = std::string(kConvHeader) + "  %c = Conv(%x, %w, %b) " + kConvAttrs +
                       " : f32[1,2,3,3]\n" +
                       "  %d = Neg(%x) : f32[1,2,3,3]\n"
                       "  %y = Add(%c, %d) : f32[1,2,3,3]\n}\n";
  EXPECT_EQ(run_pass(fuse_conv_epilogue, before, false), before);
}

// ---- ewfuse ----

TEST(EwFuse, ChainBecomesOneNode) {
  // YOLOv8's box decode: (anchor - l, anchor + r) -> centre = (a + b) / 2, a constant broadcast.
  const char *before = R"x(graph(%x: f32[1,2,8], %y: f32[1,2,8], %z: f32[1,1,8]) -> (%d) {
  %k = const f32[] [2]
  %a = Sub(%x, %y) : f32[1,2,8]
  %b = Add(%a, %z) : f32[1,2,8]
  %c = Clip(%b) {max=1.5, min=-inf} : f32[1,2,8]
  %d = Div(%c, %k) : f32[1,2,8]
}
)x";
  const char *expected = R"x(graph(%x: f32[1,2,8], %y: f32[1,2,8], %z: f32[1,1,8]) -> (%d) {
  %k = const f32[] [2]
  %d = FusedElementwise(%x, %y, %z, %k) {program="Sub(i0,i1);Add(t0,i2);Clip(t1)[-inf,1.5];Div(t2,i3)"} : f32[1,2,8]
}
)x";
  EXPECT_EQ(run_pass(fuse_elementwise_chains, before), expected);
  expect_same_outputs(fuse_elementwise_chains, before);
}

TEST(EwFuse, SharedValueInsideTheGroupAndRepeatedInput) {
  // x * sigmoid(x): %s's one use and %x read twice; then a LeakyRelu on top.
  const char *before = R"x(graph(%x: f32[2,3]) -> (%y) {
  %s = Sigmoid(%x) : f32[2,3]
  %m = Mul(%x, %s) : f32[2,3]
  %n = Mul(%m, %m) : f32[2,3]
  %y = LeakyRelu(%n) {alpha=0.125} : f32[2,3]
}
)x";
  const char *expected = R"x(graph(%x: f32[2,3]) -> (%y) {
  %y = FusedElementwise(%x) {program="Sigmoid(i0);Mul(i0,t0);Mul(t1,t1);LeakyRelu(t2)[0.125]"} : f32[2,3]
}
)x";
  EXPECT_EQ(run_pass(fuse_elementwise_chains, before), expected);
  expect_same_outputs(fuse_elementwise_chains, before);
}

TEST(EwFuse, ValueUsedOutsideTheGroupIsNotFused) {
  // %a (an Exp: not copied) feeds two chains: it stays, %b and %c fuse, %e stays alone.
  const char *before = R"x(graph(%x: f32[4], %y: f32[4]) -> (%c, %e) {
  %a = Exp(%x) : f32[4]
  %b = Sub(%a, %y) : f32[4]
  %c = Neg(%b) : f32[4]
  %e = Abs(%a) : f32[4]
}
)x";
  const char *expected = R"x(graph(%x: f32[4], %y: f32[4]) -> (%c, %e) {
  %a = Exp(%x) : f32[4]
  %c = FusedElementwise(%a, %y) {program="Sub(i0,i1);Neg(t0)"} : f32[4]
  %e = Abs(%a) : f32[4]
}
)x";
  EXPECT_EQ(run_pass(fuse_elementwise_chains, before), expected);
  expect_same_outputs(fuse_elementwise_chains, before);
  // Nothing to fuse: every intermediate has two uses or is a graph output.
  const char *two_uses = R"x(graph(%x: f32[4]) -> (%b, %c) {
  %a = Sigmoid(%x) : f32[4]
  %b = Exp(%a) : f32[4]
  %c = Abs(%a) : f32[4]
}
)x";
  EXPECT_EQ(run_pass(fuse_elementwise_chains, two_uses, false), two_uses);
  const char *graph_output = R"x(graph(%x: f32[4]) -> (%a, %b) {
  %a = Exp(%x) : f32[4]
  %b = Neg(%a) : f32[4]
}
)x";
  EXPECT_EQ(run_pass(fuse_elementwise_chains, graph_output, false), graph_output);
}

TEST(EwFuse, CheapSharedProducersAreCopied) {
  // YOLOv8's decode: %a and %b each feed both outputs' chains; each chain recomputes them.
  const char *before = R"x(graph(%x: f32[1,2,8], %y: f32[1,2,8], %z: f32[1,2,8]) -> (%w, %d) {
  %k = const f32[] [2]
  %a = Sub(%x, %y) : f32[1,2,8]
  %b = Add(%x, %z) : f32[1,2,8]
  %w = Sub(%b, %a) : f32[1,2,8]
  %c = Add(%a, %b) : f32[1,2,8]
  %d = Div(%c, %k) : f32[1,2,8]
}
)x";
  const char *expected = R"x(graph(%x: f32[1,2,8], %y: f32[1,2,8], %z: f32[1,2,8]) -> (%w, %d) {
  %k = const f32[] [2]
  %w = FusedElementwise(%x, %y, %z) {program="Sub(i0,i1);Add(i0,i2);Sub(t1,t0)"} : f32[1,2,8]
  %d = FusedElementwise(%x, %y, %z, %k) {program="Sub(i0,i1);Add(i0,i2);Add(t0,t1);Div(t2,i3)"} : f32[1,2,8]
}
)x";
  EXPECT_EQ(run_pass(fuse_elementwise_chains, before), expected);
  expect_same_outputs(fuse_elementwise_chains, before);
}

TEST(EwFuse, BroadcastProducerAndConvAreLeftAlone) {
  // %s is [1,2,1,1], smaller than the Mul's output: not fused into it. The Conv is no
  // elementwise op.
  std::string before = conv_graph("  %p = GlobalAveragePool(%c) : f32[1,2,1,1]\n"
                                  "  %s = Sigmoid(%p) : f32[1,2,1,1]\n"
                                  "  %y = Mul(%c, %s) : f32[1,2,3,3]\n");
  EXPECT_EQ(run_pass(fuse_elementwise_chains, before, false), before);
}

TEST(EwFuse, GroupingIsTheSameOnEveryParse) {
  // Two chains of 13 Negs meet in an Add: 27 steps, over the 24 a group may hold, so which
  // producers join first decides the grouping. Candidates are taken in value-id order (the %a
  // chain, then %b from the top), never in heap-address order.
  std::string before = "graph(%x: f32[4], %z: f32[4]) -> (%y) {\n";
  for (const char *c : {"a", "b"})
    for (int i = 1; i <= 13; ++i)
      before += "  %" + std::string(c) + std::to_string(i) + " = Neg(" +
                (i == 1 ? std::string(*c == 'a' ? "%x" : "%z")
                        : "%" + std::string(c) + std::to_string(i - 1)) +
                ") : f32[4]\n";
  before += "  %y = Add(%a13, %b13) : f32[4]\n}\n";
  std::string first = run_pass(fuse_elementwise_chains, before);
  // Another parse, with other heap blocks taken in between, prints the same.
  std::vector<std::unique_ptr<Graph>> noise;
  for (int i = 0; i < 5; ++i)
    noise.push_back(parse_graph(before));
  EXPECT_EQ(run_pass(fuse_elementwise_chains, before), first);
  std::string a_chain = "Neg(i0)", b_top = "Neg(i1)";
  for (int k = 1; k < 13; ++k)
    a_chain += ";Neg(t" + std::to_string(k - 1) + ")";
  for (int k = 14; k < 23; ++k)
    b_top += ";Neg(t" + std::to_string(k - 1) + ")";
  const std::string expected =
      "graph(%x: f32[4], %z: f32[4]) -> (%y) {\n"
      "  %b3 = FusedElementwise(%z) {program=\"Neg(i0);Neg(t0);Neg(t1)\"} : "
      "f32[4]\n"
      "  %y = FusedElementwise(%x, %b3) {program=\"" +
      a_chain + ";" + b_top + ";Add(t12,t22)\"} : f32[4]\n}\n";
  EXPECT_EQ(first, expected);
  expect_same_outputs(fuse_elementwise_chains, before);
}

TEST(EwFuse, ProgramsAreChecked) {
  for (const char *bad : {"Sub(i0)", "Foo(i0)", "Exp(i1)", "Exp(t0)", "Exp(i0);Neg(i0)", "Clip(i0)",
                          "Clip(i0)[1]", "Relu(i0)[1]", "Add(i0,x1)", ""}) {
    std::string text = std::string(R"x(graph(%x: f32[4]) -> (%y) {
  %y = FusedElementwise(%x) {program=")x") +
                       bad + "\"} : f32[4]\n}\n";
    EXPECT_THROW(parse_graph(text), Error) << bad;
  }
}

// ---- pipelines ----

TEST(Pipeline, LevelsExpand) {
  EXPECT_EQ(parse_pipeline("O0").str(), "");
  EXPECT_EQ(parse_pipeline("").str(), "");
  EXPECT_EQ(parse_pipeline("O1").str(), "fold,dce,tile,memplan");
  EXPECT_EQ(parse_pipeline("O2").str(), "qconv,fold,dce,cse,bnfold,fuse,ewfuse,tile,memplan");
  EXPECT_EQ(parse_pipeline("O3").str(),
            "qconv,fold,dce,cse,bnfold,fuse,ewfuse,layout,tile,memplan,concat");
  EXPECT_EQ(parse_pipeline("default").str(), parse_pipeline("O3").str());
  EXPECT_EQ(parse_pipeline(" fold , dce ").str(), "fold,dce");
}

TEST(Pipeline, MinusRemovesEarlierPasses) {
  EXPECT_EQ(parse_pipeline("O3,-fuse").str(),
            "qconv,fold,dce,cse,bnfold,ewfuse,layout,tile,memplan,concat");
  EXPECT_EQ(parse_pipeline("O1,-fold,-dce,-tile,-memplan").str(), "");
  EXPECT_EQ(parse_pipeline("-fuse,fuse").str(), "fuse");
}

TEST(Pipeline, TileSizes) {
  Pipeline p = parse_pipeline("O3,tile=oc8,px32");
  EXPECT_EQ(p.tile_oc, 8);
  EXPECT_EQ(p.tile_px, 32);
  // The tile moves to where it was given; its sizes are part of the text (and the cache key).
  EXPECT_EQ(p.str(), "qconv,fold,dce,cse,bnfold,fuse,ewfuse,layout,memplan,concat,tile=oc8,px32");
  EXPECT_EQ(parse_pipeline("O2,-tile,tile=px64").str(),
            "qconv,fold,dce,cse,bnfold,fuse,ewfuse,memplan,tile=px64");
  EXPECT_EQ(parse_pipeline("tile=auto").str(), "tile");
  EXPECT_EQ(parse_pipeline("tile=oc4,fold").str(), "tile=oc4,fold");
  for (const char *bad : {"tile=oc", "tile=oc0", "tile=ow8", "tile=big", "tile=oc8,px"}) {
    try {
      parse_pipeline(bad);
      FAIL() << bad << ": no error";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("tile"), std::string::npos) << bad << ": " << e.what();
    }
  }
  EXPECT_THROW(parse_pipeline("O1,px32"), Error); // a size with no tile before it
}

TEST(Pipeline, UnknownNameListsTheValidOnes) {
  try {
    parse_pipeline("O3,fusee");
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown pass 'fusee' (valid: qconv, fold, dce, cse, bnfold, precision, fuse, "
              "ewfuse, layout, concat, tile, memplan; levels O0, O1, O2, O3; -NAME removes a "
              "pass; tile=auto|ocN,pxN)");
  }
  EXPECT_THROW(parse_pipeline("-nope"), Error);
  EXPECT_THROW(parse_pipeline("o3"), Error);
}

TEST(PassManager, ReportsTimesChangesAndPrintsAfterChange) {
  std::unique_ptr<Graph> g = parse_graph(conv_graph("  %y = Relu(%c) : f32[1,2,3,3]\n"));
  std::ostringstream os;
  PassOptions opt;
  opt.print = PassOptions::Print::AfterChange;
  opt.print_to = &os;
  opt.verify_each_pass = true;
  PassReport report;
  run_graph_passes(*g, parse_pipeline("O2"), opt, &report);
  ASSERT_EQ(report.size(), 7u);
  EXPECT_EQ(report[5].name, "fuse");
  EXPECT_TRUE(report[5].changed);
  EXPECT_FALSE(report[1].changed);
  EXPECT_EQ(os.str().find("// ---- IR after fold"), std::string::npos);
  EXPECT_NE(os.str().find("// ---- IR after fuse ----"), std::string::npos);
  EXPECT_NE(os.str().find(R"(activation="relu")"), std::string::npos);
}

namespace {
/// A buggy pass: drops the inputs of the graph's second node.
bool drop_second_node_inputs(Graph &g) {
  const_cast<Node *>(g.nodes()[1].get())->inputs.clear();
  return true;
}
} // namespace

TEST(PassManager, VerificationNamesTheBrokenPass) {
  std::unique_ptr<Graph> g = parse_graph(conv_graph("  %y = Relu(%c) : f32[1,2,3,3]\n"));
  const PassInfo broken{"broken", PassLevel::Graph, "test: drops inputs", drop_second_node_inputs,
                        nullptr};
  PassOptions opt;
  opt.verify_each_pass = true;
  try {
    run_graph_pass(*g, broken, opt);
    FAIL() << "no error";
  } catch (const InternalError &e) {
    EXPECT_NE(std::string(e.what()).find("pass 'broken' broke the graph: "), std::string::npos)
        << e.what();
  }
  // Off: the pass runs unchecked (the broken graph stays for whoever reads it next).
  std::unique_ptr<Graph> g2 = parse_graph(conv_graph("  %y = Relu(%c) : f32[1,2,3,3]\n"));
  opt.verify_each_pass = false;
  PassReport report;
  run_graph_pass(*g2, broken, opt, &report);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].name, "broken");
  EXPECT_TRUE(g2->nodes()[1]->inputs.empty());
}

TEST(PassManager, AnInvalidInputGraphIsNotBlamedOnThePipeline) {
  std::unique_ptr<Graph> g = parse_graph(conv_graph("  %y = Relu(%c) : f32[1,2,3,3]\n"));
  drop_second_node_inputs(*g);
  PassOptions opt;
  opt.verify_each_pass = true;
  try {
    run_graph_passes(*g, parse_pipeline("cse"), opt);
    FAIL() << "no error";
  } catch (const InternalError &e) {
    EXPECT_NE(std::string(e.what()).find("the graph is invalid before the first pass: "),
              std::string::npos)
        << e.what();
  }
}

TEST(PassManager, VerificationDefaultsOnInDebugOrWithKilnVerifyPasses) {
  const char *old = std::getenv("KILN_VERIFY_PASSES");
  std::string saved = old ? old : "";
  ::setenv("KILN_VERIFY_PASSES", "1", 1);
  EXPECT_TRUE(verify_passes_by_default());
  EXPECT_TRUE(PassOptions{}.verify_each_pass);
  ::setenv("KILN_VERIFY_PASSES", "0", 1);
#ifdef NDEBUG
  EXPECT_FALSE(verify_passes_by_default());
#else
  EXPECT_TRUE(verify_passes_by_default());
#endif
  if (old)
    ::setenv("KILN_VERIFY_PASSES", saved.c_str(), 1);
  else
    ::unsetenv("KILN_VERIFY_PASSES");
}
