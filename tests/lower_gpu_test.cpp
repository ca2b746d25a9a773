// GPU-shaped lowering (LowerOptions::gpu, what the OpenCL target compiles with): the kernels
// are JIT-compiled with the LLVM CPU backend and run against the reference interpreter, which
// proves their values; the shapes (parallel extents, tiles) are checked on the programs.
//
// Conv: passes/LowerConvGpu.cpp (stride 2, padding, groups, depthwise, dilation, fused
// activation + residual, f16, ConvInteger, tiles that leave partial channel blocks and pixel
// tiles). Simple ops: one small chunk per parallel iteration (LowerOptions::task_elems).
#include "LowerTestUtil.h"

#include "passes/LowerConvGpu.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>

using namespace kiln;
using kiln::testing::conv_attrs;
using kiln::testing::random_tensor;

namespace {

/// The options the OpenCL target lowers with (runtime/Compiler.cpp).
LowerOptions gpu_options(int64_t tile_oc = 0, int64_t tile_px = 0) {
  LowerOptions o;
  o.gpu = true;
  o.vector_lanes_f32 = 4;
  o.task_elems = 4;
  o.tile_oc = tile_oc;
  o.tile_px = tile_px;
  return o;
}

struct Case {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  std::vector<Tensor> inputs;
  uint32_t seed = 1;

  Value *input(DType t, const Shape &s) {
    inputs.push_back(random_tensor(t, s, seed++));
    return g->add_input("in" + std::to_string(inputs.size()), t, s);
  }
  Value *constant(DType t, const Shape &s) {
    uint32_t sd = seed++;
    return g->add_constant("c" + std::to_string(sd), random_tensor(t, s, sd));
  }
  Value *constant(Tensor t) { return g->add_constant("c" + std::to_string(seed++), t); }
  Node *node(OpKind op, std::vector<Value *> in, Attrs a) {
    return g->add_node(op, std::move(in), std::move(a), "n" + std::to_string(seed++));
  }
  /// Lowers with `opt`, runs, compares with the reference; returns the program for checks
  /// of its shape.
  Program check(Node *n, double tol, const LowerOptions &opt) {
    g->outputs().push_back(n->outputs[0]);
    std::vector<Tensor> want = run_reference(*g, inputs);
    Program p = lower(*g, opt);
    std::vector<Tensor> got = kiln::testing::run_program(p, inputs);
    EXPECT_EQ(got.size(), 1u);
    if (!got.empty())
      kiln::testing::expect_close(got[0], want[0], tol);
    return p;
  }
};

struct ConvSpec {
  DType dtype = DType::f32;
  int64_t n = 1, c = 8, h = 12, w = 13, m = 16, k = 3;
  std::vector<int64_t> strides{1, 1}, pads{1, 1, 1, 1}, dil{1, 1};
  int64_t group = 1;
  bool bias = true, residual = false;
  std::string act = "none";
  int64_t tile_oc = 0, tile_px = 0;
};

/// Checks the conv against the reference and returns the conv launch's kernel.
Kernel check_conv(const ConvSpec &s) {
  Case c;
  Value *x = c.input(s.dtype, {s.n, s.c, s.h, s.w});
  Value *w = c.constant(s.dtype, {s.m, s.c / s.group, s.k, s.k});
  std::vector<Value *> in{x, w};
  if (s.bias || s.residual)
    in.push_back(c.constant(s.dtype, {s.m}));
  auto out_dim = [&](int64_t i, int64_t d) {
    int64_t ext = (d == 2 ? s.h : s.w) + s.pads[i] + s.pads[i + 2];
    return (ext - s.dil[i] * (s.k - 1) - 1) / s.strides[i] + 1;
  };
  if (s.residual)
    in.push_back(c.input(s.dtype, {s.n, s.m, out_dim(0, 2), out_dim(1, 3)}));
  Attrs a = conv_attrs(s.strides, s.pads, s.dil, s.group);
  a.set("activation", s.act);
  a.set("alpha", 0.125);
  double tol = s.dtype == DType::f16 ? 3e-3 : 2e-5;
  Program p = c.check(c.node(OpKind::Conv, in, a), tol, gpu_options(s.tile_oc, s.tile_px));
  EXPECT_FALSE(p.launches.empty());
  return p.launches.empty() ? Kernel{} : p.launches.back().kernel;
}

} // namespace

// ---- Conv ----

TEST(LowerConvGpu, Conv3x3Pad1) {
  Kernel k = check_conv({});
  EXPECT_NE(k.name.find("conv2d_3x3s1_t"), std::string::npos) << k.name;
  // One work item per small tile: far more parallel iterations than output rows.
  EXPECT_GE(k.parallel_extent, 12 * 13 * 16 / 32);
}

TEST(LowerConvGpu, Stride2OddSize) {
  ConvSpec s;
  s.h = 21, s.w = 19, s.strides = {2, 2}, s.m = 24;
  check_conv(s);
}

TEST(LowerConvGpu, PartialTilesGiven) {
  // 8x4 tiles over 13 output channels and 11 pixels a row: partial blocks both ways.
  ConvSpec s;
  s.h = 9, s.w = 11, s.m = 13, s.tile_oc = 8, s.tile_px = 4;
  Kernel k = check_conv(s);
  EXPECT_NE(k.name.find("_t8x4"), std::string::npos) << k.name;
  EXPECT_EQ(k.parallel_extent, 2 * 9 * 3);
}

TEST(LowerConvGpu, Stride2PartialTiles) {
  ConvSpec s;
  s.h = 17, s.w = 23, s.m = 12, s.strides = {2, 2}, s.tile_oc = 8, s.tile_px = 4;
  check_conv(s);
}

TEST(LowerConvGpu, Conv1x1Flat) {
  ConvSpec s;
  s.k = 1, s.pads = {0, 0, 0, 0}, s.h = 7, s.w = 9, s.c = 20, s.m = 12, s.tile_px = 4;
  s.n = 2;
  Kernel k = check_conv(s);
  EXPECT_EQ(k.parallel_extent, 2 * 2 * 16); // n x channel blocks x ceil(63 / 4) (flat plane)
}

TEST(LowerConvGpu, Conv1x1Stride2) {
  ConvSpec s;
  s.k = 1, s.pads = {0, 0, 0, 0}, s.strides = {2, 2}, s.h = 10, s.w = 11;
  check_conv(s);
}

TEST(LowerConvGpu, Conv5x5Pad2Dilation) {
  ConvSpec s;
  s.k = 5, s.pads = {2, 2, 2, 2};
  check_conv(s);
  s.k = 3, s.pads = {2, 2, 2, 2}, s.dil = {2, 2};
  check_conv(s);
}

TEST(LowerConvGpu, AsymmetricPadsNoBias) {
  ConvSpec s;
  s.pads = {0, 1, 2, 0}, s.bias = false, s.strides = {2, 1};
  check_conv(s);
}

TEST(LowerConvGpu, Groups) {
  ConvSpec s;
  s.group = 2, s.c = 8, s.m = 12;
  check_conv(s);
}

TEST(LowerConvGpu, Depthwise) {
  ConvSpec s;
  s.group = 16, s.c = 16, s.m = 16;
  Kernel k = check_conv(s);
  EXPECT_NE(k.name.find("conv2d_dw3x3s1"), std::string::npos) << k.name;
  s.strides = {2, 2}, s.h = 15, s.w = 17;
  check_conv(s);
  s.m = 32; // channel multiplier 2
  check_conv(s);
}

TEST(LowerConvGpu, SiluResidual) {
  ConvSpec s;
  s.act = "silu", s.residual = true, s.h = 10, s.w = 7, s.m = 10, s.tile_oc = 4, s.tile_px = 4;
  Kernel k = check_conv(s);
  EXPECT_NE(k.name.find("_silu_add_f32"), std::string::npos) << k.name;
}

TEST(LowerConvGpu, Activations) {
  for (const char *act : {"relu", "sigmoid", "leaky_relu", "hardswish"}) {
    ConvSpec s;
    s.act = act, s.strides = {2, 2}, s.m = 6;
    check_conv(s);
  }
}

TEST(LowerConvGpu, Float16ResidualAndBatch) {
  ConvSpec s;
  s.dtype = DType::f16, s.act = "silu", s.residual = true, s.n = 2, s.w = 10;
  check_conv(s);
}

TEST(LowerConvGpu, EveryTileCandidate) {
  for (auto [oc, px] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 2}, {4, 2}, {8, 4}}) {
    ConvSpec s;
    s.tile_oc = oc, s.tile_px = px, s.m = 10, s.w = 9, s.strides = {2, 2};
    check_conv(s);
  }
}

TEST(LowerConvGpu, SplitKResidualSilu) {
  // 64 input channels on a 5x6 plane: few tiles, so the input channels split (8 parts of 8).
  ConvSpec s;
  s.c = 64, s.h = 5, s.w = 6, s.m = 12, s.act = "silu", s.residual = true;
  s.tile_oc = 4, s.tile_px = 4;
  Kernel k = check_conv(s);
  EXPECT_NE(k.name.find("conv2d_splitk_sum8_silu_add_f32"), std::string::npos) << k.name;
  // Pointwise: parts keep >= 72 channels, so 144 input channels split in two.
  s.k = 1, s.pads = {0, 0, 0, 0}, s.h = 3, s.w = 7, s.c = 144;
  Kernel kp = check_conv(s);
  EXPECT_NE(kp.name.find("splitk_sum2"), std::string::npos) << kp.name;
  s.dtype = DType::f16, s.k = 3, s.pads = {1, 1, 1, 1}, s.c = 32, s.strides = {2, 2};
  check_conv(s);
}

TEST(LowerConvGpu, ConvInteger) {
  for (DType wt : {DType::u8, DType::i8}) {
    Case c;
    const int64_t m = 10;
    // 48 input channels on a small plane: split-K partial sums of i32.
    Value *x = c.input(DType::u8, {1, 48, 5, 7});
    Value *w = c.constant(wt, {m, 48, 3, 3});
    Value *xz = c.constant(Tensor::from_vector<uint8_t>({131}, {}));
    Value *wz =
        wt == DType::u8
            ? c.constant(Tensor::from_vector<uint8_t>({120}, {}))
            : c.constant(Tensor::from_vector<int8_t>({-5, -3, -1, 1, 3, 5, 7, 9, 11, 13}, {m}));
    Program p =
        c.check(c.node(OpKind::ConvInteger, {x, w, xz, wz},
                       conv_attrs({2, 2}, wt == DType::u8 ? std::vector<int64_t>{1, 1, 1, 1}
                                                          : std::vector<int64_t>{0, 0, 0, 0})),
                0, gpu_options());
    EXPECT_EQ(p.launches.back().kernel.name, "convinteger_splitk_sum4_u8");
  }
}

TEST(LowerConvGpu, TilesChoice) {
  ConvGeom g{1, 64, 80, 80, 64, 80, 80, 3, 3, 1, 64, 64, 1, 1, 1, 1, 1, 1};
  GpuConvTiles t = choose_gpu_conv_tiles(g, gpu_options());
  EXPECT_GE(t.work_items(g), kGpuMinItems);
  EXPECT_FALSE(t.flat);
  EXPECT_EQ(g.cg % t.split, 0);
  // A big layer keeps the largest tile and needs no split.
  ConvGeom big{1, 16, 320, 320, 32, 320, 320, 3, 3, 1, 16, 32, 1, 1, 1, 1, 1, 1};
  GpuConvTiles tb = choose_gpu_conv_tiles(big, gpu_options());
  EXPECT_EQ(tb.ocb, 8);
  EXPECT_EQ(tb.px, 4);
  EXPECT_EQ(tb.split, 1);
  // A deep layer on a small plane splits its input channels (parts of >= 72 MACs).
  ConvGeom deep{1, 256, 20, 20, 80, 20, 20, 3, 3, 1, 256, 80, 1, 1, 1, 1, 1, 1};
  GpuConvTiles td = choose_gpu_conv_tiles(deep, gpu_options());
  EXPECT_GT(td.split, 1);
  EXPECT_GE(td.work_items(deep), kGpuMinItems);
  EXPECT_GE(256 / td.split * 9, kGpuMinSplitMacs);
  // Depthwise: one channel per tile.
  ConvGeom dw{1, 32, 40, 40, 32, 40, 40, 3, 3, 32, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_EQ(choose_gpu_conv_tiles(dw, gpu_options()).ocb, 1);
  // Pointwise: the flattened plane.
  ConvGeom pw{1, 64, 20, 20, 128, 20, 20, 1, 1, 1, 64, 128, 1, 1, 1, 1, 0, 0};
  GpuConvTiles tp = choose_gpu_conv_tiles(pw, gpu_options());
  EXPECT_TRUE(tp.flat);
  EXPECT_EQ(tp.row_len, 400);
  // A CPU OpenCL driver (PoCL): one larger tile.
  LowerOptions cpu = gpu_options();
  cpu.gpu_device = false;
  EXPECT_EQ(choose_gpu_conv_tiles(g, cpu).ocb, 4);
  EXPECT_EQ(choose_gpu_conv_tiles(g, cpu).px, 8);
  // The tile pass off: one channel x one pixel, no split.
  LowerOptions off = gpu_options();
  off.tile = false;
  GpuConvTiles t1 = choose_gpu_conv_tiles(deep, off);
  EXPECT_EQ(t1.ocb, 1);
  EXPECT_EQ(t1.px, 1);
  EXPECT_EQ(t1.split, 1);
}

// ---- simple ops: a large parallel extent ----

TEST(LowerGpuOps, ElementwiseConcatResizeSoftmaxPool) {
  Case c;
  Value *x = c.input(DType::f32, {1, 8, 20, 22});
  Value *sig = c.node(OpKind::Sigmoid, {x}, {})->outputs[0];
  Value *mul = c.node(OpKind::Mul, {x, sig}, {})->outputs[0];
  Value *bias = c.constant(DType::f32, {1, 8, 1, 1});
  Value *add = c.node(OpKind::Add, {mul, bias}, {})->outputs[0];
  Attrs pool;
  pool.set("kernel", std::vector<int64_t>{5, 5});
  pool.set("strides", std::vector<int64_t>{1, 1});
  pool.set("pads", std::vector<int64_t>{2, 2, 2, 2});
  pool.set("dilations", std::vector<int64_t>{1, 1});
  pool.set("ceil_mode", int64_t{0});
  Value *mp = c.node(OpKind::MaxPool, {add}, pool)->outputs[0];
  Attrs cat;
  cat.set("axis", int64_t{1});
  Value *cc = c.node(OpKind::Concat, {add, mp}, cat)->outputs[0];
  Attrs sm;
  sm.set("axis", int64_t{1});
  Node *out = c.node(OpKind::Softmax, {cc}, sm);
  Program p = c.check(out, 1e-5, gpu_options());
  for (const Launch &l : p.launches) {
    if (l.kernel.name.starts_with("maxpool"))
      continue; // one row per work item
    // Softmax: one work item per 4 positions of the 20x22 plane (each walks the 16 channels);
    // the others one per 4 elements.
    int64_t want = l.kernel.name.starts_with("softmax") ? 20 * 22 / 4 : 8 * 20 * 22 / 4;
    EXPECT_GE(l.kernel.parallel_extent, want) << l.kernel.name;
  }
}

TEST(LowerGpuOps, ResizeNearest2x) {
  Case c;
  Value *x = c.input(DType::f32, {1, 6, 5, 7});
  Attrs a;
  a.set("mode", std::string("nearest"));
  a.set("coordinate_transformation_mode", std::string("asymmetric"));
  a.set("nearest_mode", std::string("floor"));
  a.set("scales", std::vector<double>{1, 1, 2, 2});
  a.set("sizes", std::vector<int64_t>{1, 6, 10, 14});
  a.set("extrapolation_value", 0.0);
  a.set("exclude_outside", int64_t{0});
  Program p = c.check(c.node(OpKind::Resize, {x}, a), 0, gpu_options());
  EXPECT_GE(p.launches.back().kernel.parallel_extent, 6 * 10);
}
