// The blocked conv kernels (passes/LowerConvBlocked.cpp) and the `layout` pass
// (passes/Layout.h): every case is lowered, JIT-compiled and run, and compared with the
// reference interpreter (blocked Conv there is NCHW conv between block/unblock).
#include "LowerTestUtil.h"

#include "ir/Verifier.h"
#include "passes/Layout.h"
#include "passes/Precision.h"

#include <gtest/gtest.h>

using namespace kiln;
using kiln::testing::conv_attrs;
using kiln::testing::random_tensor;

namespace {

struct BlockedSpec {
  DType dtype = DType::f32;
  int64_t n = 1, c = 32, h = 11, w = 13, m = 32, k = 3;
  std::vector<int64_t> strides{1, 1}, pads{1, 1, 1, 1}, dil{1, 1};
  int64_t x_block = 16, y_block = 16, group = 1;
  bool bias = true, residual = false;
  std::string act = "none";
  int lanes = 16;
  int64_t tile_oc = 0, tile_px = 0;
  bool native_f16 = false; ///< LowerOptions::native_f16: f16 accumulators (ConvGeom::half)
};

Shape blocked(const Shape &s, int64_t b) {
  if (b == 0)
    return s;
  return {s[0], s[1] / b, s[2], s[3], b};
}

void check_blocked(const BlockedSpec &s) {
  Graph g;
  std::vector<Tensor> inputs;
  uint32_t seed = 1;
  auto input = [&](const Shape &shape) {
    inputs.push_back(random_tensor(s.dtype, shape, seed++));
    return g.add_input("in" + std::to_string(inputs.size()), s.dtype, shape);
  };
  Value *x = input(blocked({s.n, s.c, s.h, s.w}, s.x_block));
  Value *w = g.add_constant("w", random_tensor(s.dtype, {s.m, s.c / s.group, s.k, s.k}, seed++));
  std::vector<Value *> in{x, w,
                          s.bias ? g.add_constant("b", random_tensor(s.dtype, {s.m}, 9)) : nullptr};
  Attrs a = conv_attrs(s.strides, s.pads, s.dil, s.group);
  if (s.x_block)
    a.set("x_block", s.x_block);
  if (s.y_block)
    a.set("y_block", s.y_block);
  if (s.act != "none")
    a.set("activation", s.act);
  if (s.residual) {
    // The residual has the output's shape: infer it from a Conv without one.
    Node *probe = g.add_node(OpKind::Conv, in, a, "probe");
    in.push_back(input(probe->outputs[0]->shape));
  }
  Node *n = g.add_node(OpKind::Conv, in, a, "conv");
  g.outputs().push_back(n->outputs[0]);
  g.remove_dead();
  LowerOptions opt{s.lanes};
  opt.tile_oc = s.tile_oc, opt.tile_px = s.tile_px;
  opt.native_f16 = s.native_f16;
  Program p = lower(g, opt);
  bool blocked_kernel = false;
  for (const Launch &l : p.launches)
    blocked_kernel = blocked_kernel || l.kernel.name.find("c_") != std::string::npos ||
                     l.kernel.name.find("nchw") != std::string::npos;
  EXPECT_TRUE(blocked_kernel) << "no blocked conv kernel";
  std::vector<Tensor> want = run_reference(g, inputs);
  std::vector<Tensor> got = kiln::testing::run_program(p, inputs);
  const bool half = s.dtype == DType::f16;
  // f16 storage rounds inputs and outputs (2^-11); f16 accumulation also rounds each of the
  // C*K*K = 288 partial sums (up to ~15 here, an f16 step of 2^-7), a random walk that reaches
  // ~0.05 on some outputs (measured); YOLO's BN-folded layers are checked on models.
  kiln::testing::expect_close(got[0], want[0], s.native_f16 ? 6e-2 : half ? 3e-3 : 2e-5);
}

} // namespace

TEST(BlockedConv, Conv3x3BothBlocked) { check_blocked({}); }
TEST(BlockedConv, Stride2OddSizes) {
  BlockedSpec s;
  s.h = 15, s.w = 17, s.strides = {2, 2}, s.m = 48;
  check_blocked(s);
}
TEST(BlockedConv, NchwInputThreeChannels) {
  BlockedSpec s;
  s.c = 3, s.x_block = 0, s.h = 20, s.w = 21, s.strides = {2, 2}, s.act = "silu";
  check_blocked(s);
}
TEST(BlockedConv, NchwOutputChannelsNotABlockMultiple) {
  BlockedSpec s;
  s.m = 51, s.y_block = 0, s.k = 1, s.pads = {0, 0, 0, 0};
  check_blocked(s);
}
TEST(BlockedConv, NchwOutput3x3WithResidual) {
  BlockedSpec s;
  s.m = 20, s.y_block = 0, s.residual = true;
  check_blocked(s);
}
TEST(BlockedConv, ResidualAndSilu) {
  BlockedSpec s;
  s.residual = true, s.act = "silu";
  check_blocked(s);
}
TEST(BlockedConv, PointwiseFlatWithTail) {
  BlockedSpec s;
  s.k = 1, s.pads = {0, 0, 0, 0}, s.h = 7, s.w = 9, s.m = 80, s.tile_px = 5;
  check_blocked(s);
}
TEST(BlockedConv, PaddedOutputChannelGroup) {
  // 80 channels in groups of 3 blocks: the last group has 2 real blocks.
  BlockedSpec s;
  s.m = 80, s.tile_oc = 48, s.tile_px = 4;
  check_blocked(s);
}
TEST(BlockedConv, Conv5x5Dilated) {
  BlockedSpec s;
  s.k = 5, s.dil = {2, 2}, s.pads = {4, 4, 4, 4}, s.w = 23, s.h = 9;
  check_blocked(s);
}
TEST(BlockedConv, AsymmetricPadsNoBias) {
  BlockedSpec s;
  s.pads = {0, 1, 2, 0}, s.bias = false, s.tile_px = 6;
  check_blocked(s);
}
TEST(BlockedConv, DepthwiseStride1And2) {
  for (int64_t st : {1, 2}) {
    BlockedSpec s;
    s.group = s.c = s.m = 48, s.strides = {st, st}, s.w = 19, s.act = "relu";
    check_blocked(s);
  }
}
TEST(BlockedConv, DepthwiseResidualTiles) {
  for (int64_t px : {1, 3, 8}) {
    BlockedSpec s;
    s.group = s.c = s.m = 32, s.residual = true, s.tile_px = px, s.w = 14;
    check_blocked(s);
  }
}
TEST(BlockedConv, F16Storage) {
  BlockedSpec s;
  s.dtype = DType::f16, s.act = "silu";
  check_blocked(s);
}
TEST(BlockedConv, F16NativeHalfAccumulators) {
  // 32 f16 lanes a vector (one zmm of halves), residual and SiLU in the f32 epilogue, bias
  // added there; edge tiles and a stride-2 case.
  for (int64_t stride : {1, 2}) {
    BlockedSpec s;
    s.dtype = DType::f16, s.act = "silu", s.residual = true, s.native_f16 = true;
    s.x_block = s.y_block = 32, s.m = 64, s.strides = {stride, stride};
    check_blocked(s);
  }
  BlockedSpec nchw_in; // the stem: NCHW f16 image, blocked f16 output
  nchw_in.dtype = DType::f16, nchw_in.native_f16 = true, nchw_in.c = 3, nchw_in.x_block = 0;
  nchw_in.y_block = 32;
  check_blocked(nchw_in);
}
TEST(BlockedConv, Avx2Lanes) {
  for (int64_t b : {8, 16}) {
    BlockedSpec s;
    s.lanes = 8, s.x_block = s.y_block = b, s.strides = {2, 2};
    check_blocked(s);
  }
}
TEST(BlockedConv, EveryCandidateTileMatches) {
  // The tiles `kiln tune` may pick: every candidate of the cost model gives the same outputs.
  for (int64_t px : {1, 2, 7, 12})
    for (int64_t oc : {16, 32, 64}) {
      BlockedSpec s;
      s.m = 64, s.tile_px = px, s.tile_oc = oc, s.w = 25;
      check_blocked(s);
    }
}

// ---- the layout pass ----

namespace {

/// A YOLO-shaped block: stem conv (3 channels) -> conv -> split -> conv + residual -> concat ->
/// maxpool -> resize -> sigmoid*x -> conv with 20 channels (stays NCHW) and a second output.
struct LayoutGraph {
  Graph g;
  std::vector<Tensor> inputs;
  /// `w` scales the channels (2: every block of 32 f16 lanes is whole). `he_init`: weights
  /// scaled to keep activations near unit size, as a trained net's are (else random weights
  /// amplify every rounding layer after layer).
  explicit LayoutGraph(int64_t w = 1, bool he_init = false) {
    uint32_t seed = 3;
    auto conv = [&](Value *x, int64_t m, int64_t k, int64_t s, const std::string &name) {
      int64_t c = x->shape[1];
      Tensor wt = random_tensor(DType::f32, {m, c, k, k}, seed++);
      if (he_init)
        for (int64_t i = 0; i < wt.numel(); ++i)
          wt.data<float>()[i] *= static_cast<float>(std::sqrt(3.0 / double(c * k * k)));
      Value *w = g.add_constant(name + ".w", std::move(wt));
      Value *b = g.add_constant(name + ".b", random_tensor(DType::f32, {m}, seed++));
      Attrs a = conv_attrs({s, s}, {k / 2, k / 2, k / 2, k / 2});
      a.set("activation", std::string("silu"));
      return g.add_node(OpKind::Conv, {x, w, b}, a, name)->outputs[0];
    };
    Value *x = g.add_input("images", DType::f32, {1, 3, 24, 26});
    inputs.push_back(random_tensor(DType::f32, {1, 3, 24, 26}, 1));
    Value *a = conv(x, 16 * w, 3, 2, "stem");
    Value *b = conv(a, 32 * w, 3, 1, "c1");
    Attrs sp;
    sp.set("axis", int64_t(1));
    sp.set("split", std::vector<int64_t>{16 * w, 16 * w});
    Node *split = g.add_node(OpKind::Split, {b}, sp, "split");
    Value *s0 = split->outputs[0], *s1 = split->outputs[1];
    Value *r = conv(s1, 16 * w, 3, 1, "bottleneck");
    Value *sum = g.add_node(OpKind::Add, {r, s1}, {}, "add")->outputs[0];
    Attrs cat;
    cat.set("axis", int64_t(1));
    Value *c = g.add_node(OpKind::Concat, {s0, s1, sum}, cat, "concat")->outputs[0];
    Attrs mp;
    mp.set("kernel", std::vector<int64_t>{5, 5});
    mp.set("strides", std::vector<int64_t>{1, 1});
    mp.set("pads", std::vector<int64_t>{2, 2, 2, 2});
    mp.set("dilations", std::vector<int64_t>{1, 1});
    mp.set("ceil_mode", int64_t(0));
    Value *p = g.add_node(OpKind::MaxPool, {c}, mp, "pool")->outputs[0];
    Attrs rs;
    rs.set("mode", std::string("nearest"));
    rs.set("coordinate_transformation_mode", std::string("asymmetric"));
    rs.set("nearest_mode", std::string("floor"));
    rs.set("scales", std::vector<double>{1, 1, 2, 2});
    rs.set("sizes", std::vector<int64_t>{1, 48 * w, 24, 26});
    rs.set("extrapolation_value", 0.0);
    rs.set("exclude_outside", int64_t(0));
    Value *up = g.add_node(OpKind::Resize, {p}, rs, "up")->outputs[0];
    Value *sig = g.add_node(OpKind::Sigmoid, {up}, {}, "sig")->outputs[0];
    Value *gated = g.add_node(OpKind::Mul, {sig, up}, {}, "gate")->outputs[0];
    Value *head = conv(gated, 20, 1, 1, "head");
    g.set_name(head, "out_head");
    g.set_name(c, "out_concat");
    g.outputs() = {head, c};
  }
};

int count_ops(const Graph &g, OpKind op) {
  int n = 0;
  for (const auto &node : g.nodes())
    n += node->op == op;
  return n;
}

} // namespace

TEST(LayoutPass, MatchesTheNchwGraph) {
  LayoutGraph plain, blocked;
  std::vector<Tensor> want = run_reference(plain.g, plain.inputs);
  ASSERT_TRUE(block_layout(blocked.g, 16));
  verify(blocked.g);
  // Graph outputs keep names and NCHW shapes.
  ASSERT_EQ(blocked.g.outputs().size(), 2u);
  EXPECT_EQ(blocked.g.outputs()[0]->name, "out_head");
  EXPECT_EQ(blocked.g.outputs()[1]->name, "out_concat");
  EXPECT_EQ(blocked.g.outputs()[1]->shape, (Shape{1, 48, 12, 13}));
  // Convs between blocked values are blocked; the 20-channel head writes NCHW itself.
  for (const auto &n : blocked.g.nodes()) {
    if (n->op != OpKind::Conv)
      continue;
    const bool stem = n->name == "stem", head = n->name == "head";
    EXPECT_EQ(n->attrs.has("x_block"), !stem) << n->name;
    EXPECT_EQ(n->attrs.has("y_block"), !head) << n->name;
  }
  EXPECT_EQ(count_ops(blocked.g, OpKind::MaxPool), 1);
  // One conversion back (the concat graph output); none to blocked (the stem writes blocked).
  EXPECT_EQ(count_ops(blocked.g, OpKind::Transpose), 1);
  std::vector<Tensor> got = kiln::testing::run_lowered(blocked.g, blocked.inputs);
  // The compiled SiLU differs from the reference's in the last bits (as in NCHW): against the
  // reference at 1e-4, against the NCHW compiled graph (same math, other sum order) at 2e-6.
  std::vector<Tensor> nchw = kiln::testing::run_lowered(plain.g, plain.inputs);
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    kiln::testing::expect_close(got[i], want[i], 1e-4, "output " + std::to_string(i));
    kiln::testing::expect_close(got[i], nchw[i], 2e-6, "vs NCHW output " + std::to_string(i));
  }
}

TEST(LayoutPass, BlockOneIsANoOp) {
  LayoutGraph lg;
  EXPECT_FALSE(block_layout(lg.g, 0));
  EXPECT_FALSE(block_layout(lg.g, 1));
  EXPECT_EQ(count_ops(lg.g, OpKind::Transpose), 0);
}

TEST(LayoutPass, Avx2BlockOfEight) {
  LayoutGraph plain, blocked;
  std::vector<Tensor> want = run_reference(plain.g, plain.inputs);
  ASSERT_TRUE(block_layout(blocked.g, 8));
  verify(blocked.g);
  std::vector<Tensor> got = kiln::testing::run_lowered(blocked.g, blocked.inputs, LowerOptions{8});
  for (size_t i = 0; i < 2; ++i)
    kiln::testing::expect_close(got[i], want[i], 1e-4, "output " + std::to_string(i));
}

TEST(LayoutPass, NchwConvReadsABlockedResidualAsNchw) {
  // Regression: a conv that stays NCHW on both sides (3-channel input, output only a graph
  // output) whose fused residual comes from a blocked conv must get the residual converted.
  auto build = [](Graph &g, std::vector<Tensor> &inputs) {
    Value *x = g.add_input("images", DType::f32, {1, 3, 10, 11});
    inputs.push_back(random_tensor(DType::f32, {1, 3, 10, 11}, 1));
    auto constant = [&](const std::string &name, const Shape &s, uint32_t seed) {
      return g.add_constant(name, random_tensor(DType::f32, s, seed));
    };
    Attrs a = conv_attrs({1, 1}, {1, 1, 1, 1});
    Value *r = g.add_node(OpKind::Conv,
                          {x, constant("wa", {16, 3, 3, 3}, 2), constant("ba", {16}, 3)}, a, "a")
                   ->outputs[0];
    Value *y = g.add_node(OpKind::Conv,
                          {x, constant("wb", {16, 3, 3, 3}, 4), constant("bb", {16}, 5), r}, a, "b")
                   ->outputs[0];
    g.outputs().push_back(y);
  };
  Graph plain, blocked;
  std::vector<Tensor> in_plain, in_blocked;
  build(plain, in_plain);
  build(blocked, in_blocked);
  ASSERT_TRUE(block_layout(blocked, 16));
  verify(blocked);
  for (const auto &n : blocked.nodes())
    if (n->name == "b")
      EXPECT_FALSE(n->attrs.has("y_block"));
  std::vector<Tensor> want = run_reference(plain, in_plain);
  std::vector<Tensor> got = kiln::testing::run_lowered(blocked, in_blocked);
  kiln::testing::expect_close(got[0], want[0], 1e-4);
}

// ---- the precision pass (passes/Precision.h) with the layout pass ----

namespace {

const Value *producer_input(const Graph &g, OpKind op) {
  for (const auto &n : g.nodes())
    if (n->op == op)
      return n->inputs[0];
  return nullptr;
}

} // namespace

TEST(PrecisionPass, ConvNetworkGoesF16DecodeStaysF32) {
  // The LayoutGraph block at twice the channels, plus a decode-like tail on the head:
  // Reshape -> Softmax.
  LayoutGraph lg(2, true);
  Graph &g = lg.g;
  Value *head = g.outputs()[0];
  Attrs rs;
  rs.set("shape", std::vector<int64_t>{1, 20, 24 * 26});
  Value *flat = g.add_node(OpKind::Reshape, {head}, rs, "flat")->outputs[0];
  Attrs sm;
  sm.set("axis", int64_t(1));
  Value *prob = g.add_node(OpKind::Softmax, {flat}, sm, "softmax")->outputs[0];
  g.set_name(prob, "out_prob");
  g.outputs().push_back(prob);
  std::vector<Tensor> want = run_reference(g, lg.inputs);

  ASSERT_TRUE(lower_precision(g, DType::f16));
  verify(g);
  for (const auto &n : g.nodes()) {
    if (n->op == OpKind::Conv || n->op == OpKind::Concat || n->op == OpKind::MaxPool ||
        n->op == OpKind::Resize || n->op == OpKind::Sigmoid || n->op == OpKind::Split)
      EXPECT_EQ(n->outputs[0]->dtype, DType::f16) << n->name;
    if (n->op == OpKind::Reshape || n->op == OpKind::Softmax)
      EXPECT_EQ(n->outputs[0]->dtype, DType::f32) << n->name;
  }
  // The image is cast once; the reshape reads an f32 copy of the f16 head.
  EXPECT_EQ(producer_input(g, OpKind::Reshape)->dtype, DType::f32);
  // Graph outputs keep names and f32.
  ASSERT_EQ(g.outputs().size(), 3u);
  EXPECT_EQ(g.outputs()[0]->name, "out_head");
  EXPECT_EQ(g.outputs()[1]->name, "out_concat");
  EXPECT_EQ(g.outputs()[2]->name, "out_prob");
  for (const Value *o : g.outputs())
    EXPECT_EQ(o->dtype, DType::f32) << o->name;
  EXPECT_FALSE(lower_precision(g, DType::f32));

  // Reference of the f16 graph, then blocked (f16 values 32 lanes) and compiled with half
  // accumulators: all within f16 distance of the f32 reference.
  std::vector<Tensor> ref16 = run_reference(g, lg.inputs);
  ASSERT_TRUE(block_layout(g, 16, 32));
  verify(g);
  for (const auto &n : g.nodes())
    if (n->op == OpKind::Conv && n->attrs.has("y_block"))
      EXPECT_EQ(n->attrs.i("y_block"), 32) << n->name;
  LowerOptions opt{16};
  opt.native_f16 = true;
  std::vector<Tensor> got = kiln::testing::run_lowered(g, lg.inputs, opt);
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    kiln::testing::expect_close(ref16[i], want[i], 2e-2,
                                "f16 reference output " + std::to_string(i));
    kiln::testing::expect_close(got[i], want[i], 3e-2, "compiled f16 output " + std::to_string(i));
  }
}

TEST(PrecisionPass, Bf16KeepsTheSameRegion) {
  LayoutGraph lg;
  std::vector<Tensor> want = run_reference(lg.g, lg.inputs);
  ASSERT_TRUE(lower_precision(lg.g, DType::bf16));
  verify(lg.g);
  int bf16_convs = 0;
  for (const auto &n : lg.g.nodes())
    bf16_convs += n->op == OpKind::Conv && n->outputs[0]->dtype == DType::bf16;
  EXPECT_EQ(bf16_convs, 4);
  // Random weights in [-1, 1) without normalisation amplify rounding (bf16 keeps 8 bits: this
  // graph's outputs move by up to ~10% from f32), so the compiled bf16 graph is checked
  // against the reference of the same bf16 graph: the same roundings, other sum orders.
  std::vector<Tensor> ref = run_reference(lg.g, lg.inputs);
  std::vector<Tensor> got = kiln::testing::run_lowered(lg.g, lg.inputs);
  for (size_t i = 0; i < 2; ++i)
    kiln::testing::expect_close(got[i], ref[i], 1e-2, "bf16 output " + std::to_string(i));
}
