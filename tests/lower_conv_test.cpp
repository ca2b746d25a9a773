// Lowering of Conv, ConvInteger, ConvTranspose, pools, BatchNormalization, MatMul and Gemm:
// each small graph is lowered, JIT-compiled and run, and compared with the reference
// interpreter (allclose rtol 1e-4, atol 1e-5; integers exactly).
#include "LowerTestUtil.h"

#include "passes/ConvTileCost.h"

#include <gtest/gtest.h>
#include <tuple>

#include <memory>
#include <random>

using namespace kiln;
using kiln::testing::conv_attrs;
using kiln::testing::random_tensor;

namespace {

void expect_allclose(const Tensor &got, const Tensor &want, double rtol = 1e-4,
                     double atol = 1e-5) {
  ASSERT_EQ(got.dtype(), want.dtype());
  ASSERT_EQ(got.shape(), want.shape());
  int bad = 0;
  for (int64_t i = 0; i < want.numel() && bad < 5; ++i) {
    if (!is_float(want.dtype())) {
      if (got.get_i64(i) != want.get_i64(i)) {
        ADD_FAILURE() << "element " << i << ": got " << got.get_i64(i) << ", want "
                      << want.get_i64(i);
        ++bad;
      }
      continue;
    }
    double a = got.get_f64(i), b = want.get_f64(i);
    if (!(std::fabs(a - b) <= atol + rtol * std::fabs(b)) && !(a == b)) {
      ADD_FAILURE() << "element " << i << ": got " << a << ", want " << b;
      ++bad;
    }
  }
}

/// A graph under test: inputs with their values, one output.
struct Case {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  std::vector<Tensor> inputs;
  uint32_t seed = 1;

  Value *input(DType t, const Shape &s) {
    Tensor v = random_tensor(t, s, seed++);
    inputs.push_back(v);
    return g->add_input("in" + std::to_string(inputs.size()), t, s);
  }
  Value *constant(DType t, const Shape &s) {
    uint32_t sd = seed++;
    return g->add_constant("c" + std::to_string(sd), random_tensor(t, s, sd));
  }
  Value *constant(Tensor t) { return g->add_constant("c" + std::to_string(seed++), t); }
  Node *node(OpKind op, std::vector<Value *> in, Attrs a) {
    Node *n = g->add_node(op, std::move(in), std::move(a), "n" + std::to_string(seed++));
    return n;
  }
  void check(Node *n, double rtol = 1e-4, double atol = 1e-5, LowerOptions opt = {}) {
    g->outputs().push_back(n->outputs[0]);
    std::vector<Tensor> want = run_reference(*g, inputs);
    std::vector<Tensor> got = kiln::testing::run_lowered(*g, inputs, opt);
    ASSERT_EQ(got.size(), 1u);
    expect_allclose(got[0], want[0], rtol, atol);
  }
};

struct ConvSpec {
  DType dtype = DType::f32;
  int64_t n = 1, c = 8, h = 12, w = 13, m = 16, k = 3;
  std::vector<int64_t> strides{1, 1}, pads{1, 1, 1, 1}, dil{1, 1};
  int64_t group = 1;
  bool bias = true, weights_input = false;
  int lanes = 16;
};

void check_conv(const ConvSpec &s) {
  Case c;
  Value *x = c.input(s.dtype, {s.n, s.c, s.h, s.w});
  Shape ws = {s.m, s.c / s.group, s.k, s.k};
  Value *w = s.weights_input ? c.input(s.dtype, ws) : c.constant(s.dtype, ws);
  std::vector<Value *> in{x, w};
  if (s.bias)
    in.push_back(c.constant(s.dtype, {s.m}));
  // f16 outputs are rounded once from f32 sums: allow a half-precision ulp or two.
  bool half = s.dtype == DType::f16;
  c.check(c.node(OpKind::Conv, in, conv_attrs(s.strides, s.pads, s.dil, s.group)),
          half ? 2e-3 : 1e-4, half ? 2e-3 : 1e-5, LowerOptions{s.lanes});
}

} // namespace

// ---- Conv ----

TEST(LowerConv, Conv3x3Pad1) { check_conv({}); }
TEST(LowerConv, Conv3x3Stride2) {
  ConvSpec s;
  s.h = 20, s.w = 20, s.strides = {2, 2};
  check_conv(s);
}
TEST(LowerConv, Conv1x1Flat) {
  ConvSpec s;
  s.k = 1, s.pads = {0, 0, 0, 0}, s.h = 20, s.w = 20, s.c = 32, s.m = 24;
  check_conv(s);
}
TEST(LowerConv, Conv1x1FlatOddPixels) {
  ConvSpec s;
  s.k = 1, s.pads = {0, 0, 0, 0}, s.h = 7, s.w = 33, s.c = 5, s.m = 40;
  check_conv(s);
}
TEST(LowerConv, Conv1x1Stride2) {
  ConvSpec s;
  s.k = 1, s.pads = {0, 0, 0, 0}, s.strides = {2, 2};
  check_conv(s);
}
TEST(LowerConv, Conv5x5Pad2) {
  ConvSpec s;
  s.k = 5, s.pads = {2, 2, 2, 2}, s.w = 40, s.h = 6;
  check_conv(s);
}
TEST(LowerConv, Dilation2) {
  ConvSpec s;
  s.dil = {2, 2}, s.pads = {2, 2, 2, 2}, s.w = 33;
  check_conv(s);
}
TEST(LowerConv, AsymmetricPadsNoBias) {
  ConvSpec s;
  s.pads = {0, 1, 2, 0}, s.bias = false, s.w = 20;
  check_conv(s);
}
TEST(LowerConv, Groups2) {
  ConvSpec s;
  s.group = 2, s.c = 8, s.m = 6;
  check_conv(s);
}
TEST(LowerConv, Depthwise) {
  ConvSpec s;
  s.group = 16, s.c = 16, s.m = 16, s.w = 40, s.h = 9;
  check_conv(s);
}
TEST(LowerConv, DepthwiseStride2) {
  ConvSpec s;
  s.group = 8, s.c = 8, s.m = 8, s.w = 33, s.strides = {2, 2};
  check_conv(s);
}
TEST(LowerConv, Batch2Width33) {
  ConvSpec s;
  s.n = 2, s.w = 33, s.h = 5;
  check_conv(s);
}
TEST(LowerConv, OutputChannelsNotMultipleOfBlock) {
  ConvSpec s;
  s.m = 21, s.c = 3, s.w = 40, s.h = 7;
  check_conv(s);
}
TEST(LowerConv, WeightsAsInput) {
  ConvSpec s;
  s.weights_input = true, s.m = 12;
  check_conv(s);
}
TEST(LowerConv, Wide3x3) {
  ConvSpec s;
  s.c = 16, s.m = 32, s.h = 4, s.w = 80;
  check_conv(s);
}

TEST(LowerConv, Conv1x1FlatBatch2) {
  ConvSpec s;
  s.k = 1, s.pads = {0, 0, 0, 0}, s.n = 2, s.h = 9, s.w = 9, s.c = 7, s.m = 9;
  check_conv(s);
}
TEST(LowerConv, ChannelMultiplier) {
  ConvSpec s;
  s.group = 4, s.c = 4, s.m = 8, s.w = 17;
  check_conv(s);
}
TEST(LowerConv, Avx2Lanes) {
  for (int64_t k : {1, 3}) {
    ConvSpec s;
    s.lanes = 8, s.k = k, s.pads = std::vector<int64_t>(4, k / 2), s.w = 21, s.m = 20;
    check_conv(s);
  }
}
TEST(LowerConv, Float16) {
  ConvSpec s;
  s.dtype = DType::f16, s.w = 20;
  check_conv(s);
}

TEST(LowerConv, TilesChoice) {
  ConvGeom g{1, 64, 80, 80, 64, 80, 80, 3, 3, 1, 64, 64, 1, 1, 1, 1, 1, 1};
  ConvTiles t = choose_conv_tiles(g, LowerOptions{});
  EXPECT_EQ(t.lanes, 16);
  EXPECT_LE(t.ocb * t.nv, 16);
  EXPECT_FALSE(t.flat);
  ConvGeom pw{1, 64, 20, 20, 64, 20, 20, 1, 1, 1, 64, 64, 1, 1, 1, 1, 0, 0};
  ConvTiles tp = choose_conv_tiles(pw, LowerOptions{});
  EXPECT_TRUE(tp.flat);
  EXPECT_GE(tp.rows * tp.row_len, 400);

  // The `tile` pass off: one channel x one vector; given sizes are taken as they are.
  LowerOptions off;
  off.tile = false;
  ConvTiles t0 = choose_conv_tiles(g, off);
  EXPECT_EQ(t0.ocb, 1);
  EXPECT_EQ(t0.nv, 1);
  LowerOptions given;
  given.tile_oc = 4, given.tile_px = 48;
  ConvTiles tg = choose_conv_tiles(g, given);
  EXPECT_EQ(tg.ocb, 4);
  EXPECT_EQ(tg.nv, 3);
}

TEST(LowerConv, GivenAndMinimalTilesComputeTheSame) {
  // Tiles that leave partial channel blocks (20 = 3*6 + 2) and partial pixel tiles (w 21).
  for (auto [tile, oc, px] : {std::tuple{false, 0, 0}, {true, 3, 48}, {true, 16, 16}}) {
    for (int64_t stride : {1, 2}) {
      Case c;
      Value *x = c.input(DType::f32, {1, 5, 13, 21});
      Value *w = c.constant(DType::f32, {20, 5, 3, 3});
      Value *b = c.constant(DType::f32, {20});
      LowerOptions opt;
      opt.tile = tile, opt.tile_oc = oc, opt.tile_px = px;
      c.check(
          c.node(OpKind::Conv, {x, w, b}, conv_attrs({stride, stride}, {1, 1, 1, 1}, {1, 1}, 1)),
          1e-4, 1e-5, opt);
    }
  }
}

// ---- ConvInteger ----

namespace {
void check_conv_integer(DType wt, int64_t w_zp_count, std::vector<int64_t> pads,
                        std::vector<int64_t> strides) {
  Case c;
  const int64_t m = 10;
  Value *x = c.input(DType::u8, {1, 6, 9, 21});
  Value *w = c.constant(wt, {m, 6, 3, 3});
  Value *xz = c.constant(Tensor::from_vector<uint8_t>({131}, {}));
  Value *wz;
  if (wt == DType::u8) {
    std::vector<uint8_t> z(static_cast<size_t>(w_zp_count));
    for (size_t i = 0; i < z.size(); ++i)
      z[i] = static_cast<uint8_t>(120 + 3 * i);
    wz = c.constant(Tensor::from_vector(z, w_zp_count == 1 ? Shape{} : Shape{w_zp_count}));
  } else {
    std::vector<int8_t> z(static_cast<size_t>(w_zp_count));
    for (size_t i = 0; i < z.size(); ++i)
      z[i] = static_cast<int8_t>(-5 + 2 * int(i));
    wz = c.constant(Tensor::from_vector(z, w_zp_count == 1 ? Shape{} : Shape{w_zp_count}));
  }
  c.check(c.node(OpKind::ConvInteger, {x, w, xz, wz}, conv_attrs(strides, pads)));
}
} // namespace

TEST(LowerConv, ConvIntegerU8U8) { check_conv_integer(DType::u8, 1, {1, 1, 1, 1}, {1, 1}); }
TEST(LowerConv, ConvIntegerU8I8PerChannel) {
  check_conv_integer(DType::i8, 10, {1, 1, 1, 1}, {2, 2});
}
TEST(LowerConv, ConvIntegerNoPad) { check_conv_integer(DType::i8, 1, {0, 0, 0, 0}, {1, 1}); }

// ---- QLinearConv (Dot4 kernels) ----

namespace {
struct QConvSpec {
  DType xt = DType::u8, wt = DType::i8, yt = DType::u8;
  int64_t c = 6, h = 9, w = 21, m = 10, k = 3;
  std::vector<int64_t> strides{1, 1}, pads{1, 1, 1, 1}, dil{1, 1};
  bool per_channel = false, bias = true;
  int lanes = 16;
};

/// Exact against the reference interpreter: the integer sums are exact and the requantisation
/// is the same float arithmetic. Scales put the outputs across the whole 8-bit range, so both
/// saturation ends and the rounding are exercised.
void check_qlinear_conv(const QConvSpec &s) {
  Case c;
  Value *x = c.input(s.xt, {1, s.c, s.h, s.w});
  Value *w = c.constant(s.wt, {s.m, s.c, s.k, s.k});
  auto scalar_f = [&](float v) { return c.constant(Tensor::from_vector<float>({v}, {})); };
  auto zero = [&](DType t, int v) {
    return c.constant(t == DType::u8 ? Tensor::from_vector<uint8_t>({uint8_t(v)}, {})
                                     : Tensor::from_vector<int8_t>({int8_t(v)}, {}));
  };
  Value *xs = scalar_f(0.02f), *xz = zero(s.xt, s.xt == DType::u8 ? 131 : -7);
  std::vector<float> wsv;
  for (int64_t oc = 0; oc < (s.per_channel ? s.m : 1); ++oc)
    wsv.push_back(0.01f * (1.0f + 0.15f * static_cast<float>(oc)));
  Value *ws = c.constant(Tensor::from_vector(wsv, s.per_channel ? Shape{s.m} : Shape{}));
  const int wzv = s.wt == DType::u8 ? 128 : 0;
  Value *wz;
  if (s.per_channel)
    wz = c.constant(s.wt == DType::u8
                        ? Tensor::from_vector(std::vector<uint8_t>(s.m, uint8_t(wzv)), {s.m})
                        : Tensor::from_vector(std::vector<int8_t>(s.m, 0), {s.m}));
  else
    wz = zero(s.wt, wzv);
  const float ys = 0.02f * 0.01f * static_cast<float>(s.c * s.k * s.k) * 0.9f;
  std::vector<Value *> in{x,  xs, xz,           w,
                          ws, wz, scalar_f(ys), zero(s.yt, s.yt == DType::u8 ? 120 : 3)};
  if (s.bias) {
    std::vector<int32_t> b;
    for (int64_t oc = 0; oc < s.m; ++oc)
      b.push_back(static_cast<int32_t>(oc * 997 % 4001) - 2000);
    in.push_back(c.constant(Tensor::from_vector(b, {s.m})));
  }
  LowerOptions opt;
  opt.vector_lanes_f32 = s.lanes;
  c.check(c.node(OpKind::QLinearConv, in, conv_attrs(s.strides, s.pads, s.dil)), 0, 0, opt);
}
} // namespace

TEST(LowerConv, QLinearConv3x3) { check_qlinear_conv({}); }
TEST(LowerConv, QLinearConv3x3s2PerChannel) {
  QConvSpec s;
  s.strides = {2, 2};
  s.per_channel = true;
  check_qlinear_conv(s);
}
TEST(LowerConv, QLinearConvPointwiseWholePlane) {
  QConvSpec s;
  s.k = 1, s.c = 8, s.m = 20, s.pads = {0, 0, 0, 0}, s.bias = false;
  check_qlinear_conv(s);
}
TEST(LowerConv, QLinearConvSignedInputAndOutput) {
  QConvSpec s;
  s.xt = DType::i8, s.yt = DType::i8, s.c = 3, s.h = 17, s.w = 40;
  check_qlinear_conv(s);
}
TEST(LowerConv, QLinearConvU8WeightsDilatedAsymmetricPads) {
  QConvSpec s;
  s.wt = DType::u8, s.dil = {2, 2}, s.pads = {2, 1, 0, 2}, s.m = 3;
  check_qlinear_conv(s);
}
TEST(LowerConv, QLinearConvEightLanes) {
  QConvSpec s;
  s.lanes = 8, s.strides = {2, 1}, s.c = 16, s.m = 24, s.w = 70;
  check_qlinear_conv(s);
}

// ---- ConvTranspose ----

namespace {
void check_conv_transpose(int64_t k, std::vector<int64_t> strides, std::vector<int64_t> pads,
                          std::vector<int64_t> opad, int64_t group = 1, bool bias = true) {
  Case c;
  const int64_t ch = 4, m = 6;
  Value *x = c.input(DType::f32, {1, ch, 7, 9});
  Value *w = c.constant(DType::f32, {ch, m / group, k, k});
  std::vector<Value *> in{x, w};
  if (bias)
    in.push_back(c.constant(DType::f32, {m}));
  Attrs a = conv_attrs(strides, pads, {1, 1}, group);
  a.set("output_padding", opad);
  c.check(c.node(OpKind::ConvTranspose, in, a));
}
} // namespace

TEST(LowerConv, ConvTranspose2x2s2) { check_conv_transpose(2, {2, 2}, {0, 0, 0, 0}, {0, 0}); }
TEST(LowerConv, ConvTranspose3x3s2p1OutputPadding) {
  check_conv_transpose(3, {2, 2}, {1, 1, 1, 1}, {1, 1});
}
TEST(LowerConv, ConvTransposeGroupsNoBias) {
  check_conv_transpose(3, {1, 1}, {1, 1, 1, 1}, {0, 0}, 2, false);
}

// ---- pools ----

namespace {
void check_pool(OpKind op, std::vector<int64_t> k, std::vector<int64_t> strides,
                std::vector<int64_t> pads, int64_t ceil_mode, int64_t count_include_pad = 0,
                Shape shape = {1, 3, 11, 20}, DType dtype = DType::f32) {
  Case c;
  Value *x = c.input(dtype, shape);
  Attrs a;
  a.set("kernel", k);
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("ceil_mode", ceil_mode);
  if (op == OpKind::MaxPool)
    a.set("dilations", std::vector<int64_t>{1, 1});
  else
    a.set("count_include_pad", count_include_pad);
  c.check(c.node(op, {x}, a));
}
} // namespace

TEST(LowerPool, MaxPool5x5SPPF) {
  check_pool(OpKind::MaxPool, {5, 5}, {1, 1}, {2, 2, 2, 2}, 0, 0, {1, 4, 20, 20});
}
TEST(LowerPool, MaxPoolU8AndI8) {
  check_pool(OpKind::MaxPool, {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, 0, {1, 2, 6, 19}, DType::u8);
  check_pool(OpKind::MaxPool, {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 0, {1, 2, 6, 19}, DType::i8);
}
TEST(LowerPool, MaxPoolDilation2) {
  Case c;
  Attrs a;
  a.set("kernel", std::vector<int64_t>{3, 3});
  a.set("strides", std::vector<int64_t>{1, 1});
  a.set("pads", std::vector<int64_t>{2, 1, 2, 2});
  a.set("dilations", std::vector<int64_t>{2, 2});
  a.set("ceil_mode", int64_t(0));
  c.check(c.node(OpKind::MaxPool, {c.input(DType::f32, {1, 2, 9, 18})}, a));
}
TEST(LowerPool, MaxPool2x2s2) { check_pool(OpKind::MaxPool, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0); }
TEST(LowerPool, MaxPoolCeilMode) { check_pool(OpKind::MaxPool, {3, 3}, {2, 2}, {0, 0, 0, 0}, 1); }
TEST(LowerPool, AvgPoolPadsExcluded) {
  check_pool(OpKind::AveragePool, {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, 0);
}
TEST(LowerPool, AvgPoolPadsIncluded) {
  check_pool(OpKind::AveragePool, {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 1);
}
TEST(LowerPool, AvgPoolCeilMode) {
  check_pool(OpKind::AveragePool, {2, 2}, {2, 2}, {0, 0, 0, 0}, 1, 0, {1, 2, 7, 33});
}
TEST(LowerPool, GlobalAveragePool) {
  Case c;
  c.check(c.node(OpKind::GlobalAveragePool, {c.input(DType::f32, {2, 5, 9, 7})}, {}));
}
TEST(LowerPool, GlobalMaxPool) {
  Case c;
  c.check(c.node(OpKind::GlobalMaxPool, {c.input(DType::f32, {1, 3, 4, 8})}, {}));
}
TEST(LowerPool, BatchNormalization) {
  Case c;
  Value *x = c.input(DType::f32, {2, 3, 5, 7});
  Value *scale = c.constant(DType::f32, {3}), *bias = c.constant(DType::f32, {3});
  Value *mean = c.constant(DType::f32, {3});
  Value *var = c.constant(Tensor::from_vector<float>({0.5f, 1.0f, 2.0f}, {3}));
  Attrs a;
  a.set("epsilon", 1e-5);
  c.check(c.node(OpKind::BatchNormalization, {x, scale, bias, mean, var}, a));
}

// ---- MatMul / Gemm ----

TEST(LowerMatmul, MatMul2d) {
  Case c;
  c.check(
      c.node(OpKind::MatMul, {c.input(DType::f32, {13, 17}), c.input(DType::f32, {17, 40})}, {}));
}
TEST(LowerMatmul, MatMulBatchedBroadcast) {
  Case c;
  Value *a = c.input(DType::f32, {2, 1, 5, 9});
  Value *b = c.input(DType::f32, {3, 9, 20});
  c.check(c.node(OpKind::MatMul, {a, b}, {}));
}
TEST(LowerMatmul, MatMulInteger) {
  Case c;
  Value *a = c.input(DType::u8, {6, 11});
  Value *b = c.constant(DType::i8, {11, 19});
  Value *az = c.constant(Tensor::from_vector<uint8_t>({128}, {}));
  Value *bz = c.constant(DType::i8, {19});
  c.check(c.node(OpKind::MatMulInteger, {a, b, az, bz}, {}));
}

namespace {
void check_gemm(bool ta, bool tb, double alpha, double beta, Shape cshape, bool b_const) {
  Case c;
  const int64_t m = 7, n = 21, k = 10;
  Value *a = c.input(DType::f32, ta ? Shape{k, m} : Shape{m, k});
  Shape bs = tb ? Shape{n, k} : Shape{k, n};
  Value *b = b_const ? c.constant(DType::f32, bs) : c.input(DType::f32, bs);
  std::vector<Value *> in{a, b};
  if (!cshape.empty() || beta != 0)
    in.push_back(c.constant(DType::f32, cshape));
  Attrs at;
  at.set("alpha", alpha);
  at.set("beta", beta);
  at.set("transA", int64_t(ta));
  at.set("transB", int64_t(tb));
  c.check(c.node(OpKind::Gemm, in, at));
}
} // namespace

TEST(LowerMatmul, GemmPlain) { check_gemm(false, false, 1.0, 1.0, {21}, false); }
TEST(LowerMatmul, GemmTransAAlphaBeta) { check_gemm(true, false, 0.5, 2.0, {7, 1}, false); }
TEST(LowerMatmul, GemmTransBConstPacked) { check_gemm(false, true, 1.0, 1.0, {7, 21}, true); }
TEST(LowerMatmul, GemmTransBInput) { check_gemm(true, true, 1.5, 0.25, {}, false); }
