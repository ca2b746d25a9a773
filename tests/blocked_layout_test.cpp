// The channel-blocked layout (docs/DESIGN.md, "Blocked layout"): Conv's x_block/y_block and
// MaxPool's block in shape inference and the reference interpreter (equal to NCHW after
// block/unblock), the blocked MaxPool kernel and the two layout Transposes lowered and run
// against the reference (exact).
#include "LowerTestUtil.h"

#include "ir/ShapeInference.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

using testing::expect_close;
using testing::random_tensor;
using testing::run_lowered;
using ints = std::vector<int64_t>;

/// A graph with its inputs; input() takes the tensor it is fed.
struct Case {
  Graph g;
  std::vector<Tensor> ins;

  Value *input(const Tensor &t) {
    ins.push_back(t);
    return g.add_input("in" + std::to_string(ins.size()), t.dtype(), t.shape());
  }
  Value *constant(const Tensor &t) { return g.add_constant(g.unique_name("c"), t); }
  Value *node(OpKind op, std::vector<Value *> in, Attrs a) {
    return g.add_node(op, std::move(in), std::move(a), g.unique_name(std::string(op_name(op))))
        ->outputs[0];
  }
  Tensor reference() {
    std::vector<Tensor> out = run_reference(g, ins);
    EXPECT_EQ(out.size(), 1u);
    return out.at(0);
  }
};

Attrs pool_attrs(ints kernel, ints strides, ints pads, int64_t block, ints dil = {1, 1},
                 int64_t ceil_mode = 0) {
  Attrs a;
  a.set("kernel", kernel);
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("dilations", dil);
  a.set("ceil_mode", ceil_mode);
  if (block)
    a.set("block", block);
  return a;
}

/// The Reshape + Transpose of the definition: [N,C,H,W] -> [N,C/b,H,W,b].
Value *to_blocked(Case &c, Value *x, int64_t b) {
  const Shape &s = x->shape;
  Attrs r, t;
  r.set("shape", ints{s[0], s[1] / b, b, s[2], s[3]});
  t.set("perm", ints{0, 1, 3, 4, 2});
  return c.node(OpKind::Transpose, {c.node(OpKind::Reshape, {x}, r)}, t);
}

/// [N,C/b,H,W,b] -> [N,C,H,W]: Transpose then Reshape.
Value *from_blocked(Case &c, Value *x) {
  const Shape &s = x->shape;
  Attrs r, t;
  t.set("perm", ints{0, 1, 4, 2, 3});
  r.set("shape", ints{s[0], s[1] * s[4], s[2], s[3]});
  return c.node(OpKind::Reshape, {c.node(OpKind::Transpose, {x}, t)}, r);
}

// ==== block/unblock helpers ====

TEST(BlockedLayout, HelpersFollowTheDefinition) {
  Tensor x = random_tensor(DType::f32, {2, 32, 5, 7}, 1);
  Tensor blk = block_channels(x, 16);
  ASSERT_EQ(blk.shape(), (Shape{2, 2, 5, 7, 16}));
  // Logical (n, c, h, w) is at [n][c/b][h][w][c%b].
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t ch = 0; ch < 32; ++ch)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t w = 0; w < 7; ++w)
          ASSERT_EQ(blk.data<float>()[(((n * 2 + ch / 16) * 5 + h) * 7 + w) * 16 + ch % 16],
                    x.data<float>()[((n * 32 + ch) * 5 + h) * 7 + w]);
  EXPECT_TRUE(unblock_channels(blk).bitwise_equal(x));
  // The Reshape + Transpose pair of the definition computes the same.
  Case c;
  c.g.outputs().push_back(to_blocked(c, c.input(x), 16));
  EXPECT_TRUE(c.reference().bitwise_equal(blk));
  EXPECT_THROW(block_channels(x, 12), Error);
  EXPECT_THROW(unblock_channels(x), Error);
}

// ==== Conv: reference on the blocked layout equals NCHW ====

struct ConvSpec {
  Shape x; // logical NCHW input
  int64_t m, k, stride, pad, group;
  int64_t xb, yb; // 0: NCHW
  bool residual = false;
  std::string act = "none";
};

/// Runs the Conv in NCHW and with x_block/y_block; the blocked output must be the NCHW one
/// blocked, bit for bit (the reference runs the same code between conversions).
void check_blocked_conv(const ConvSpec &s) {
  SCOPED_TRACE("x " + shape_str(s.x) + " m " + std::to_string(s.m) + " group " +
               std::to_string(s.group) + " x_block " + std::to_string(s.xb) + " y_block " +
               std::to_string(s.yb));
  Tensor x = random_tensor(DType::f32, s.x, 2);
  Tensor w = random_tensor(DType::f32, {s.m, s.x[1] / s.group, s.k, s.k}, 3);
  Tensor bias = random_tensor(DType::f32, {s.m}, 4);
  int64_t oh = (s.x[2] + 2 * s.pad - s.k) / s.stride + 1;
  int64_t ow = (s.x[3] + 2 * s.pad - s.k) / s.stride + 1;
  Tensor res = random_tensor(DType::f32, {s.x[0], s.m, oh, ow}, 5);
  Attrs a =
      testing::conv_attrs({s.stride, s.stride}, {s.pad, s.pad, s.pad, s.pad}, {1, 1}, s.group);
  if (s.act != "none") {
    a.set("activation", s.act);
    if (s.act == "leaky_relu")
      a.set("alpha", 0.1);
  }

  Case nchw;
  std::vector<Value *> in = {nchw.input(x), nchw.constant(w), nchw.constant(bias)};
  if (s.residual)
    in.push_back(nchw.input(res));
  nchw.g.outputs().push_back(nchw.node(OpKind::Conv, in, a));
  Tensor want = nchw.reference();

  Case blk;
  Attrs ab = a;
  if (s.xb)
    ab.set("x_block", s.xb);
  if (s.yb)
    ab.set("y_block", s.yb);
  in = {blk.input(s.xb ? block_channels(x, s.xb) : x), blk.constant(w), blk.constant(bias)};
  if (s.residual)
    in.push_back(blk.input(s.yb ? block_channels(res, s.yb) : res));
  Value *y = blk.node(OpKind::Conv, in, ab);
  blk.g.outputs().push_back(y);
  Tensor got = blk.reference();
  ASSERT_EQ(got.shape(), y->shape);
  EXPECT_TRUE(got.bitwise_equal(s.yb ? block_channels(want, s.yb) : want));
}

TEST(BlockedLayout, ReferenceConvEqualsNchw) {
  check_blocked_conv({{1, 32, 9, 9}, 32, 3, 1, 1, 1, 16, 16});
  check_blocked_conv({{1, 32, 9, 9}, 48, 3, 1, 1, 1, 16, 0, false, "silu"});
  check_blocked_conv({{1, 24, 9, 9}, 32, 3, 1, 1, 1, 0, 16, true, "relu"});
  check_blocked_conv({{2, 16, 10, 7}, 16, 1, 1, 0, 1, 8, 16, true, "leaky_relu"});
  check_blocked_conv({{1, 16, 8, 8}, 32, 3, 2, 1, 1, 16, 8, true, "silu"});
  // Depthwise (group = C), both sides blocked, stride 2 with padding.
  check_blocked_conv({{1, 32, 11, 13}, 32, 3, 2, 1, 32, 16, 16});
  check_blocked_conv({{1, 16, 12, 12}, 16, 5, 2, 2, 16, 8, 8, true, "hardswish"});
}

// ==== shape inference ====

std::string infer_error(OpKind op, std::vector<const Value *> in, const Attrs &a) {
  try {
    infer_types(op, in, a);
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

TEST(BlockedLayout, ShapeInference) {
  auto val = [](Shape s) {
    Value v;
    v.dtype = DType::f32;
    v.shape = std::move(s);
    return v;
  };
  Value x = val({1, 4, 20, 20, 16}), w = val({32, 64, 3, 3}), xn = val({1, 64, 20, 20});
  Attrs a = testing::conv_attrs({2, 2}, {1, 1, 1, 1});
  Attrs both = a;
  both.set("x_block", int64_t{16});
  both.set("y_block", int64_t{8});
  auto out = infer_types(OpKind::Conv, {&x, &w}, both);
  EXPECT_EQ(out.at(0).shape, (Shape{1, 4, 10, 10, 8}));
  Attrs xonly = a;
  xonly.set("x_block", int64_t{16});
  EXPECT_EQ(infer_types(OpKind::Conv, {&x, &w}, xonly).at(0).shape, (Shape{1, 32, 10, 10}));
  Attrs zero = a;
  zero.set("x_block", int64_t{0});
  zero.set("y_block", int64_t{0});
  EXPECT_EQ(infer_types(OpKind::Conv, {&xn, &w}, zero).at(0).shape, (Shape{1, 32, 10, 10}));

  // x_block against X's shape.
  Attrs x8 = a;
  x8.set("x_block", int64_t{8});
  EXPECT_EQ(infer_error(OpKind::Conv, {&x, &w}, x8),
            "Conv: x_block 8 does not match the last dim of input X 1x4x20x20x16");
  EXPECT_EQ(infer_error(OpKind::Conv, {&xn, &w}, xonly),
            "Conv: input X has shape 1x64x20x20 but x_block 16 needs the blocked rank-5 "
            "[N, C/b, H, W, b]");
  EXPECT_EQ(infer_error(OpKind::Conv, {&x, &w}, a),
            "Conv: input X has shape 1x4x20x20x16 but must have rank 4");
  // Group rules on the logical channels (4 * 16 = 64).
  Value w_bad = val({32, 48, 3, 3});
  EXPECT_EQ(infer_error(OpKind::Conv, {&x, &w_bad}, xonly),
            "Conv: weight has 48 input channels per group but input has 64 channels (group 1)");
  // M % y_block.
  Attrs y12 = a;
  y12.set("y_block", int64_t{12});
  EXPECT_EQ(infer_error(OpKind::Conv, {&xn, &w}, y12),
            "Conv: the output has 32 channels, not divisible by y_block 12");
  Attrs neg = a;
  neg.set("y_block", int64_t{-16});
  EXPECT_EQ(infer_error(OpKind::Conv, {&xn, &w}, neg),
            "Conv: attribute 'y_block' is -16, must be >= 0");
  // The residual has the (blocked) output's shape.
  Attrs y8 = a;
  y8.set("y_block", int64_t{8});
  Value res_nchw = val({1, 32, 10, 10}), res_blk = val({1, 4, 10, 10, 8});
  EXPECT_EQ(infer_types(OpKind::Conv, {&xn, &w, nullptr, &res_blk}, y8).at(0).shape,
            (Shape{1, 4, 10, 10, 8}));
  EXPECT_EQ(infer_error(OpKind::Conv, {&xn, &w, nullptr, &res_nchw}, y8),
            "Conv: residual has shape 1x32x10x10 but the output is 1x4x10x10x8");
  // Only Conv and MaxPool read block attributes.
  Value xq = val({1, 64, 20, 20}), wq = val({32, 64, 3, 3}), zp = val({});
  xq.dtype = wq.dtype = zp.dtype = DType::u8;
  EXPECT_EQ(infer_error(OpKind::ConvInteger, {&xq, &wq, &zp, &zp}, xonly),
            "ConvInteger: unexpected attribute 'x_block'");

  // MaxPool: the window on H, W of the blocked X.
  Attrs p = pool_attrs({5, 5}, {1, 1}, {2, 2, 2, 2}, 16);
  EXPECT_EQ(infer_types(OpKind::MaxPool, {&x}, p).at(0).shape, (Shape{1, 4, 20, 20, 16}));
  Attrs p2 = pool_attrs({3, 3}, {2, 2}, {1, 1, 1, 1}, 16);
  Value xo = val({1, 2, 13, 11, 16});
  EXPECT_EQ(infer_types(OpKind::MaxPool, {&xo}, p2).at(0).shape, (Shape{1, 2, 7, 6, 16}));
  EXPECT_EQ(infer_error(OpKind::MaxPool, {&xn}, p),
            "MaxPool: input X has shape 1x64x20x20 but block 16 needs the blocked rank-5 "
            "[N, C/b, H, W, b]");
  Attrs p8 = pool_attrs({5, 5}, {1, 1}, {2, 2, 2, 2}, 8);
  EXPECT_EQ(infer_error(OpKind::MaxPool, {&x}, p8),
            "MaxPool: block 8 does not match the last dim of input X 1x4x20x20x16");
  Attrs avg = pool_attrs({5, 5}, {1, 1}, {2, 2, 2, 2}, 16);
  avg.erase("dilations");
  avg.set("count_include_pad", int64_t{0});
  EXPECT_EQ(infer_error(OpKind::AveragePool, {&x}, avg),
            "AveragePool: input X has shape 1x4x20x20x16 but must have rank 4");
}

// ==== lowering: blocked MaxPool and the layout Transposes, exact against the reference ====

/// Lowers and runs `c` with `lanes`-wide vectors and compares with the reference exactly.
void check_lowered(Case &c, int lanes = 16) {
  std::vector<Tensor> want = run_reference(c.g, c.ins);
  LowerOptions opt;
  opt.vector_lanes_f32 = lanes;
  std::vector<Tensor> got = run_lowered(c.g, c.ins, opt);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    expect_close(got[i], want[i], 0, "output " + std::to_string(i));
}

struct PoolSpec {
  Shape x; // logical NCHW
  int64_t b, k, s, p;
  DType dtype = DType::f32;
  ints dil = {1, 1};
  int64_t ceil_mode = 0;
};

void check_blocked_pool(const PoolSpec &ps, int lanes = 16) {
  SCOPED_TRACE("x " + shape_str(ps.x) + " block " + std::to_string(ps.b) + " kernel " +
               std::to_string(ps.k) + " stride " + std::to_string(ps.s) + " lanes " +
               std::to_string(lanes));
  Tensor x = random_tensor(ps.dtype, ps.x, 7);
  Case c;
  Attrs a =
      pool_attrs({ps.k, ps.k}, {ps.s, ps.s}, {ps.p, ps.p, ps.p, ps.p}, ps.b, ps.dil, ps.ceil_mode);
  c.g.outputs().push_back(c.node(OpKind::MaxPool, {c.input(block_channels(x, ps.b))}, a));
  check_lowered(c, lanes);
  // ... and the reference equals NCHW MaxPool blocked.
  Case n;
  a.erase("block");
  n.g.outputs().push_back(n.node(OpKind::MaxPool, {n.input(x)}, a));
  EXPECT_TRUE(run_reference(c.g, c.ins)[0].bitwise_equal(block_channels(n.reference(), ps.b)));
}

TEST(BlockedLayout, LoweredMaxPool) {
  check_blocked_pool({{1, 32, 20, 20}, 16, 5, 1, 2});    // YOLO SPPF at 640
  check_blocked_pool({{2, 32, 40, 37}, 16, 5, 1, 2});    // interior tiles, ragged tail
  check_blocked_pool({{1, 32, 13, 11}, 16, 3, 2, 1});    // odd H, W
  check_blocked_pool({{1, 16, 13, 11}, 8, 3, 2, 1});     // b = 8
  check_blocked_pool({{1, 16, 13, 11}, 8, 3, 2, 1}, 8);  // b = 8 on 8 lanes
  check_blocked_pool({{1, 32, 20, 20}, 16, 5, 1, 2}, 8); // b = 16 on 8 lanes
  check_blocked_pool({{1, 32, 9, 30}, 32, 3, 1, 1});     // b = 32: two vectors a column
  check_blocked_pool({{1, 16, 6, 5}, 16, 5, 1, 2});      // narrower than a tile
  check_blocked_pool({{1, 16, 17, 19}, 16, 2, 2, 0});    // no padding
  check_blocked_pool({{1, 16, 12, 23}, 16, 3, 2, 1, DType::f32, {2, 2}});    // dilation
  check_blocked_pool({{1, 16, 12, 14}, 16, 3, 2, 0, DType::f32, {1, 1}, 1}); // ceil_mode
  check_blocked_pool({{1, 32, 20, 21}, 16, 5, 1, 2, DType::f16});
  check_blocked_pool({{1, 32, 9, 10}, 16, 3, 1, 1, DType::u8});
}

TEST(BlockedLayout, LoweredSppfChainWithConversions) {
  // NCHW -> blocked -> MaxPool 5x5 three times -> NCHW, as YOLO's SPPF after the layout pass.
  for (int64_t b : {16, 8}) {
    Case c;
    Tensor x = random_tensor(DType::f32, {1, 64, 20, 20}, 11);
    Value *v = to_blocked(c, c.input(x), b);
    for (int i = 0; i < 3; ++i) {
      v = c.node(OpKind::MaxPool, {v}, pool_attrs({5, 5}, {1, 1}, {2, 2, 2, 2}, b));
      c.g.outputs().push_back(from_blocked(c, v));
    }
    check_lowered(c);
  }
}

TEST(BlockedLayout, LoweredLayoutTransposes) {
  for (int64_t b : {16, 8, 4}) {
    for (Shape s : {Shape{1, 64, 80, 80}, Shape{2, 32, 7, 13}}) {
      Case c;
      Value *x = c.input(random_tensor(DType::f32, s, 13));
      Value *blk = to_blocked(c, x, b);
      c.g.outputs().push_back(blk);
      c.g.outputs().push_back(from_blocked(c, blk));
      check_lowered(c);
    }
  }
  Case h;
  Value *x = h.input(random_tensor(DType::f16, {1, 48, 9, 11}, 17));
  h.g.outputs().push_back(from_blocked(h, to_blocked(h, x, 16)));
  check_lowered(h);
}

TEST(BlockedLayout, NoGpuKernelForBlockedMaxPool) {
  Case c;
  Value *x = c.input(random_tensor(DType::f32, {1, 2, 8, 8, 16}, 19));
  c.g.outputs().push_back(
      c.node(OpKind::MaxPool, {x}, pool_attrs({3, 3}, {1, 1}, {1, 1, 1, 1}, 16)));
  LowerOptions opt;
  opt.gpu = true;
  try {
    lower(c.g, opt);
    ADD_FAILURE() << "lowered a blocked MaxPool for the GPU";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("no CPU kernel for blocked MaxPool"), std::string::npos)
        << e.what();
  }
}

} // namespace
} // namespace kiln
