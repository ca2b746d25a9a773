// Lowering of the simple op families (passes/Lower*.cpp): program structure, and every kernel
// JIT-compiled and run against the reference interpreter (exact for ints and bools, 1e-5 for
// floats).
#include "LowerTestUtil.h"

#include "passes/EwFuse.h"
#include "passes/KernelPasses.h"
#include "passes/Lower.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <thread>

namespace kiln {
namespace {

using testing::expect_close;
using testing::run_lowered;

/// A graph under construction with random inputs, checked against the reference.
struct Case {
  Graph g;
  std::vector<Tensor> ins;
  std::mt19937 rng{1234};

  Tensor random(DType t, const Shape &s, double lo, double hi) {
    Tensor x(t, s);
    std::uniform_real_distribution<double> u(lo, hi);
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = u(rng);
      dispatch_dtype(t, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>)
          x.data<T>()[i] = v > (lo + hi) / 2;
        else if constexpr (std::is_integral_v<T>)
          x.data<T>()[i] = static_cast<T>(std::llround(v));
        else
          x.data<T>()[i] = from_f64<T>(v);
      });
    }
    return x;
  }
  Value *input(DType t, Shape s, double lo = -3, double hi = 3) {
    ins.push_back(random(t, s, lo, hi));
    return g.add_input("in" + std::to_string(ins.size()), t, std::move(s));
  }
  Value *input(Tensor t) {
    ins.push_back(t);
    return g.add_input("in" + std::to_string(ins.size()), t.dtype(), t.shape());
  }
  Value *constant(Tensor t) { return g.add_constant(g.unique_name("c"), std::move(t)); }
  Node *node(OpKind op, std::vector<Value *> in, Attrs a = {}) {
    return g.add_node(op, std::move(in), std::move(a), g.unique_name(std::string(op_name(op))));
  }
  Value *out(OpKind op, std::vector<Value *> in, Attrs a = {}) {
    Value *v = node(op, std::move(in), std::move(a))->outputs[0];
    g.outputs().push_back(v);
    return v;
  }
  void check(double tol = 1e-5, int lanes = 16) {
    std::vector<Tensor> want = run_reference(g, ins);
    LowerOptions opt;
    opt.vector_lanes_f32 = lanes;
    std::vector<Tensor> got = run_lowered(g, ins, opt);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(got[i], want[i], tol, "output " + std::to_string(i));
  }
};

Attrs attrs(std::initializer_list<std::pair<const char *, AttrValue>> kv) {
  Attrs a;
  for (auto &[k, v] : kv)
    a.set(k, v);
  return a;
}
using ints = std::vector<int64_t>;
using floats = std::vector<double>;

// ==== program structure (no code generation) ====

TEST(LowerProgram, BuffersLaunchesAndNames) {
  Case c;
  Value *x = c.input(DType::f32, {1, 8, 5, 5});
  Value *k = c.constant(Tensor::from_vector(std::vector<float>(8, 0.5f), {1, 8, 1, 1}));
  Value *k2 = c.node(OpKind::Sigmoid, {k})->outputs[0]; // weight only
  Value *y = c.node(OpKind::Mul, {x, k2})->outputs[0];  // per channel
  Value *z = c.node(OpKind::Sigmoid, {y})->outputs[0];
  c.g.outputs().push_back(
      c.node(OpKind::Concat, {z, y}, attrs({{"axis", int64_t{1}}}))->outputs[0]);
  Program p = lower(c.g);
  ASSERT_EQ(p.inputs.size(), 1u);
  ASSERT_EQ(p.outputs.size(), 1u);
  EXPECT_EQ(p.buffers[p.inputs[0]].kind, BufferDecl::Kind::Input);
  EXPECT_EQ(p.buffers[p.outputs[0]].kind, BufferDecl::Kind::Output);
  std::vector<std::string> names;
  for (const Launch &l : p.launches)
    names.push_back(l.kernel.name);
  EXPECT_EQ(names, (std::vector<std::string>{"sigmoid_f32", "mul_bcast_f32", "sigmoid_f32",
                                             "concat_copy_f32", "concat_copy_f32"}));
  EXPECT_TRUE(p.launches[0].weight_only);
  EXPECT_FALSE(p.launches[1].weight_only);
  int consts = 0, weights = 0;
  for (const BufferDecl &b : p.buffers) {
    consts += b.kind == BufferDecl::Kind::Constant;
    weights += b.weight_only;
  }
  EXPECT_EQ(consts, 1);
  EXPECT_EQ(weights, 1);
  for (const Launch &l : p.launches) {
    // The outermost statement is the Parallel loop and its extent is the work size.
    ASSERT_EQ(l.kernel.body->kind, StmtKind::For) << l.kernel.name;
    EXPECT_EQ(l.kernel.body->for_kind, ForKind::Parallel);
    EXPECT_EQ(l.kernel.body->extent->ival, l.kernel.parallel_extent);
    ASSERT_EQ(l.args.size(), l.kernel.params.size());
    Kernel prepared = prepare_for_codegen(l.kernel);
    EXPECT_FALSE(kernel_to_string(prepared).empty());
  }
}

TEST(LowerProgram, BigTensorsSplitIntoTasks) {
  Case c;
  Value *x = c.input(DType::f32, {1, 64, 160, 160});
  c.out(OpKind::Sigmoid, {x});
  Program p = lower(c.g);
  ASSERT_EQ(p.launches.size(), 1u);
  int64_t n = 64 * 160 * 160;
  EXPECT_GE(p.launches[0].kernel.parallel_extent, n / 32768);
  EXPECT_LE(p.launches[0].kernel.parallel_extent, n / 16384 + 1);
}

TEST(LowerProgram, TaskSizeComesFromTheOptionsOfEachLowering) {
  // 1x64x160x160 Sigmoid is one flat row of 1638400 elements, cut into tasks of task_elems
  // (LowerOptions::task_elems; 0: 16384). Lowerings with different sizes, one after another
  // and at the same time on two threads, do not see each other's setting.
  Case c;
  Value *x = c.input(DType::f32, {1, 64, 160, 160});
  c.out(OpKind::Sigmoid, {x});
  auto extent = [&](int64_t task_elems) {
    LowerOptions o;
    o.task_elems = task_elems;
    return lower(c.g, o).launches.at(0).kernel.parallel_extent;
  };
  EXPECT_EQ(extent(0), 1638400 / 16384);
  EXPECT_EQ(extent(1024), 1638400 / 1024);
  EXPECT_EQ(extent(0), 1638400 / 16384);
  int wrong_small = 0, wrong_default = 0; // lowerings that got the other thread's task size
  std::thread t1([&] {
    for (int i = 0; i < 20; ++i)
      wrong_small += extent(1024) != 1600;
  });
  std::thread t2([&] {
    for (int i = 0; i < 20; ++i)
      wrong_default += extent(0) != 100;
  });
  t1.join();
  t2.join();
  EXPECT_EQ(wrong_small, 0);
  EXPECT_EQ(wrong_default, 0);
}

TEST(LowerProgram, ResizeNames) {
  Case c;
  Value *x = c.input(DType::f32, {1, 4, 5, 6});
  c.out(OpKind::Resize, {x},
        attrs({{"mode", std::string("nearest")},
               {"coordinate_transformation_mode", std::string("asymmetric")},
               {"nearest_mode", std::string("floor")},
               {"scales", floats{1, 1, 2, 2}},
               {"sizes", ints{1, 4, 10, 12}},
               {"extrapolation_value", 0.0},
               {"exclude_outside", int64_t{0}}}));
  Program p = lower(c.g);
  ASSERT_EQ(p.launches.size(), 1u);
  EXPECT_EQ(p.launches[0].kernel.name, "resize_nearest2x_f32");
}

TEST(LowerProgram, UnsupportedNamesNodeAndWhat) {
  Case c;
  Value *x = c.input(DType::i64, {1, 1, 3, 3});
  Node *n = c.node(OpKind::Resize, {x},
                   attrs({{"mode", std::string("linear")},
                          {"coordinate_transformation_mode", std::string("half_pixel")},
                          {"nearest_mode", std::string("floor")},
                          {"scales", floats{1, 1, 2, 2}},
                          {"sizes", ints{1, 1, 6, 6}},
                          {"extrapolation_value", 0.0},
                          {"exclude_outside", int64_t{0}}}));
  c.g.outputs().push_back(n->outputs[0]);
  try {
    lower(c.g);
    FAIL() << "expected kiln::Error";
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()),
              "node '" + n->name + "' (Resize): no CPU kernel for linear resize of i64");
  }
}

// ==== elementwise ====

struct UnaryCase {
  OpKind op;
  Attrs a;
  double lo = -4, hi = 4;
};

std::vector<UnaryCase> unary_cases() {
  return {
      {OpKind::Identity, {}},
      {OpKind::Relu, {}},
      {OpKind::Sigmoid, {}, -20, 20},
      {OpKind::Tanh, {}},
      {OpKind::Exp, {}},
      {OpKind::Log, {}, 0.01, 50},
      {OpKind::Sqrt, {}, 0, 50},
      {OpKind::Erf, {}},
      {OpKind::Neg, {}},
      {OpKind::Abs, {}},
      {OpKind::Floor, {}},
      {OpKind::Ceil, {}},
      {OpKind::Reciprocal, {}, 0.1, 5},
      {OpKind::Softplus, {}, -30, 30},
      {OpKind::HardSwish, {}},
      {OpKind::LeakyRelu, attrs({{"alpha", 0.1}})},
      {OpKind::HardSigmoid, attrs({{"alpha", 0.2}, {"beta", 0.5}})},
      {OpKind::Clip, attrs({{"min", -1.0}, {"max", 2.5}})},
      {OpKind::Clip, attrs({{"min", 0.0}, {"max", INFINITY}})},
  };
}

TEST(LowerElementwise, UnaryF32) {
  for (const UnaryCase &u : unary_cases()) {
    for (Shape s : {Shape{3, 37}, Shape{}, Shape{2, 40000}}) {
      SCOPED_TRACE(std::string(op_name(u.op)) + " " + shape_str(s));
      Case c;
      c.out(u.op, {c.input(DType::f32, s, u.lo, u.hi)}, u.a);
      c.check();
    }
  }
}

TEST(LowerElementwise, UnaryF16AndLanes8) {
  for (const UnaryCase &u : unary_cases()) {
    SCOPED_TRACE(op_name(u.op));
    Case c;
    c.out(u.op, {c.input(DType::f16, {5, 29}, u.lo, u.hi)}, u.a);
    c.check(2e-3, 8);
  }
}

TEST(LowerElementwise, RoundHalfToEven) {
  Case c;
  std::vector<float> v;
  for (int i = -20; i <= 20; ++i)
    v.push_back(i * 0.5f);
  c.out(OpKind::Round, {c.input(Tensor::from_vector(v, {41}))});
  c.check(0);
}

TEST(LowerElementwise, BinaryBroadcastForms) {
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 37}, {4, 37}},            // same shape
      {{2, 5, 33}, {}},              // scalar
      {{1}, {3, 7}},                 // scalar first
      {{1, 6, 9, 11}, {1, 6, 1, 1}}, // per channel
      {{3, 1, 5}, {4, 1}},           // both broadcast
      {{2, 3, 4, 5}, {3, 1, 5}},     // rank difference
      {{1, 3, 40000}, {1, 3, 1}},    // long rows
  };
  for (OpKind op : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Min, OpKind::Max,
                    OpKind::Less, OpKind::GreaterOrEqual, OpKind::Equal}) {
    for (auto &[a, b] : shapes) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + shape_str(a) + " " + shape_str(b));
      Case c;
      Value *x = c.input(DType::f32, a), *y = c.input(DType::f32, b, 0.5, 3);
      c.out(op, {x, y});
      c.check();
    }
  }
}

// The ewfuse pass's FusedElementwise: one kernel, checked against the reference interpreter on
// the graph before fusion.
void check_fused(Case &c, const std::string &kernel, double tol = 1e-5, int lanes = 16) {
  std::vector<Tensor> want = run_reference(c.g, c.ins);
  ASSERT_TRUE(fuse_elementwise_chains(c.g));
  LowerOptions opt;
  opt.vector_lanes_f32 = lanes;
  Program p = lower(c.g, opt);
  int fused = 0;
  for (const Launch &l : p.launches)
    fused += l.kernel.name == kernel;
  EXPECT_EQ(fused, 1) << kernel;
  // The reference on the fused graph (step by step) agrees too.
  std::vector<Tensor> ref_fused = run_reference(c.g, c.ins);
  std::vector<Tensor> got = testing::run_program(p, c.ins);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    expect_close(got[i], want[i], tol, "output " + std::to_string(i));
    expect_close(ref_fused[i], want[i], 0, "reference output " + std::to_string(i));
  }
}

TEST(LowerElementwise, FusedChainWithBroadcastInputs) {
  Case c;
  // YOLOv8's box decode: anchors [1,2,N], distances [1,2,N], a [1,1,N] stride row, a scalar.
  Value *anchor = c.input(DType::f32, {1, 2, 67}), *l = c.input(DType::f32, {1, 2, 67});
  Value *stride = c.input(DType::f32, {1, 1, 67}, 0.5, 3);
  Value *two = c.constant(Tensor::from_vector(std::vector<float>{2.0f}, {}));
  Value *a = c.node(OpKind::Sub, {anchor, l})->outputs[0];
  Value *b = c.node(OpKind::Add, {a, anchor})->outputs[0];
  Value *d = c.node(OpKind::Div, {b, two})->outputs[0];
  Value *e = c.node(OpKind::Mul, {d, stride})->outputs[0];
  Value *f = c.node(OpKind::Sigmoid, {e})->outputs[0];
  Value *h = c.node(OpKind::Clip, {f}, attrs({{"min", 0.25}, {"max", INFINITY}}))->outputs[0];
  c.out(OpKind::Mul, {h, e});
  check_fused(c, "fused_sub_add_div_mul_sigmoid_clip_etc_bcast_f32");
}

TEST(LowerElementwise, FusedUnaryOpsWithAttributes) {
  Case c;
  Value *x = c.input(DType::f32, {3, 41}, -6, 6), *ch = c.input(DType::f32, {3, 1});
  Value *a = c.node(OpKind::LeakyRelu, {x}, attrs({{"alpha", 0.1}}))->outputs[0];
  Value *b = c.node(OpKind::HardSigmoid, {a}, attrs({{"alpha", 0.2}, {"beta", 0.5}}))->outputs[0];
  Value *d = c.node(OpKind::Max, {b, ch})->outputs[0];
  Value *e = c.node(OpKind::HardSwish, {d})->outputs[0];
  c.out(OpKind::Tanh, {e});
  check_fused(c, "fused_leaky_relu_hard_sigmoid_max_hard_swish_tanh_bcast_f32");
}

TEST(LowerElementwise, FusedF16AndEightLanes) {
  Case c;
  Value *x = c.input(DType::f16, {2, 3, 5, 7}), *s = c.input(DType::f16, {1, 3, 1, 1});
  Value *m = c.node(OpKind::Mul, {x, s})->outputs[0];
  Value *sig = c.node(OpKind::Sigmoid, {m})->outputs[0];
  c.out(OpKind::Mul, {m, sig}); // %m used twice, both inside the group
  // The fused kernel rounds to f16 once, the reference after every step.
  check_fused(c, "fused_mul_sigmoid_mul_bcast_f16", 2e-3, 8);
}

TEST(LowerElementwise, PowAndModFloat) {
  Case c;
  c.out(OpKind::Pow, {c.input(DType::f32, {3, 19}, 0.1, 3), c.input(DType::f32, {19}, -2, 2)});
  c.out(OpKind::Mod, {c.input(DType::f32, {3, 19}, -9, 9), c.input(DType::f32, {3, 19}, 0.5, 3)},
        attrs({{"fmod", int64_t{1}}}));
  c.check();
}

TEST(LowerElementwise, IntegerOps) {
  for (DType t : {DType::i64, DType::i32, DType::i8}) {
    SCOPED_TRACE(dtype_name(t));
    Case c;
    Value *a = c.input(t, {5, 23}, -50, 50), *b = c.input(t, {23}, 1, 9);
    Value *nb = c.node(OpKind::Neg, {b})->outputs[0];
    for (OpKind op : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Min, OpKind::Max,
                      OpKind::Greater, OpKind::LessOrEqual, OpKind::Equal})
      c.out(op, {a, nb});
    c.out(OpKind::Mod, {a, nb}, attrs({{"fmod", int64_t{0}}}));
    c.out(OpKind::Mod, {a, b}, attrs({{"fmod", int64_t{0}}}));
    c.out(OpKind::Mod, {a, nb}, attrs({{"fmod", int64_t{1}}}));
    c.out(OpKind::Pow, {c.input(t, {7}, -3, 3), c.input(t, {7}, 0, 3)});
    c.out(OpKind::Clip, {a}, attrs({{"min", -7.5}, {"max", 20.0}}));
    c.out(OpKind::Abs, {a});
    c.out(OpKind::Relu, {a});
    c.check(0);
  }
}

TEST(LowerElementwise, BoolOpsAndWhere) {
  Case c;
  Value *p = c.input(DType::boolean, {4, 17}), *q = c.input(DType::boolean, {17});
  c.out(OpKind::And, {p, q});
  c.out(OpKind::Or, {p, q});
  c.out(OpKind::Not, {p});
  c.out(OpKind::Equal, {p, q});
  Value *x = c.input(DType::f32, {4, 17}), *y = c.input(DType::f32, {1});
  c.out(OpKind::Where, {p, x, y});
  c.out(OpKind::Where, {q, x, c.input(DType::f32, {4, 1})});
  Value *i = c.input(DType::i64, {4, 17}, -9, 9);
  c.out(OpKind::Where, {p, i, c.input(DType::i64, {}, -9, 9)});
  c.check(0);
}

TEST(LowerElementwise, Cast) {
  struct C {
    DType from, to;
    double lo, hi;
  };
  std::vector<C> cases = {
      {DType::f32, DType::f16, -70000, 70000}, {DType::f16, DType::f32, -100, 100},
      {DType::f32, DType::i64, -100, 100},     {DType::i64, DType::f32, -1e6, 1e6},
      {DType::f32, DType::boolean, -1, 1},     {DType::boolean, DType::f32, 0, 1},
      {DType::f32, DType::u8, 0, 255},         {DType::i32, DType::i8, -1000, 1000},
      {DType::u8, DType::f32, 0, 255},         {DType::i64, DType::i32, -1e5, 1e5},
      {DType::f16, DType::i64, -100, 100},     {DType::f64, DType::f16, -10, 10},
      {DType::i64, DType::f16, -3000, 3000},   {DType::f32, DType::f64, -10, 10},
  };
  for (const C &k : cases) {
    SCOPED_TRACE(std::string(dtype_name(k.from)) + "->" + std::string(dtype_name(k.to)));
    Case c;
    c.out(OpKind::Cast, {c.input(k.from, {3, 41}, k.lo, k.hi)},
          attrs({{"to", std::string(dtype_name(k.to))}}));
    c.check(0);
  }
}

// ==== movement ====

TEST(LowerMovement, ConcatSplitReshapeIdentity) {
  Case c;
  Value *a = c.input(DType::f32, {2, 3, 5}), *b = c.input(DType::f32, {2, 1, 5});
  Value *d = c.input(DType::f32, {2, 4, 5});
  c.out(OpKind::Concat, {a, b, d}, attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::Concat, {a, a}, attrs({{"axis", int64_t{0}}}));
  c.out(OpKind::Concat, {a, a}, attrs({{"axis", int64_t{2}}}));
  Node *s = c.node(OpKind::Split, {d}, attrs({{"axis", int64_t{1}}, {"split", ints{1, 3}}}));
  c.g.outputs().push_back(s->outputs[0]);
  c.g.outputs().push_back(s->outputs[1]);
  c.out(OpKind::Reshape, {d}, attrs({{"shape", ints{5, 8}}}));
  c.out(OpKind::Identity, {c.input(DType::u8, {33})});
  c.check(0);
}

TEST(LowerMovement, SliceTransposeExpand) {
  Case c;
  Value *x = c.input(DType::f32, {3, 8, 9});
  c.out(OpKind::Slice, {x},
        attrs({{"starts", ints{0, 1, 0}}, {"ends", ints{3, 8, 9}}, {"steps", ints{1, 2, 1}}}));
  c.out(OpKind::Slice, {x},
        attrs({{"starts", ints{2, 7, 8}}, {"ends", ints{-1, -1, 2}}, {"steps", ints{-1, -3, -2}}}));
  c.out(OpKind::Slice, {x},
        attrs({{"starts", ints{1, 0, 2}}, {"ends", ints{2, 8, 7}}, {"steps", ints{1, 1, 1}}}));
  c.out(OpKind::Transpose, {x}, attrs({{"perm", ints{2, 0, 1}}}));
  c.out(OpKind::Transpose, {c.input(DType::i64, {2, 3, 5, 7})},
        attrs({{"perm", ints{0, 2, 3, 1}}}));
  c.out(OpKind::Expand, {c.input(DType::f32, {3, 1})}, attrs({{"shape", ints{2, 3, 20}}}));
  c.out(OpKind::Expand, {c.input(DType::boolean, {1, 5})}, attrs({{"shape", ints{4, 5}}}));
  c.check(0);
}

TEST(LowerMovement, PadModes) {
  for (const char *mode : {"constant", "reflect", "edge", "wrap"}) {
    SCOPED_TRACE(mode);
    Case c;
    Value *x = c.input(DType::f32, {2, 5, 6});
    c.out(OpKind::Pad, {x},
          attrs({{"pads", ints{0, 2, 1, 1, 3, 4}}, {"mode", std::string(mode)}, {"value", 1.5}}));
    c.out(OpKind::Pad, {x},
          attrs({{"pads", ints{0, -1, 2, 0, 1, -2}}, {"mode", std::string(mode)}, {"value", 0.0}}));
    c.out(OpKind::Pad, {x},
          attrs({{"pads", ints{1, 0, 0, 0, 0, 0}}, {"mode", std::string(mode)}, {"value", -2.0}}));
    c.check(0);
  }
}

TEST(LowerMovement, TileGather) {
  Case c;
  Value *x = c.input(DType::f32, {2, 3, 5});
  c.out(OpKind::Tile, {x}, attrs({{"repeats", ints{2, 1, 3}}}));
  c.out(OpKind::Tile, {x}, attrs({{"repeats", ints{1, 2, 1}}}));
  Value *idx = c.constant(Tensor::from_vector(std::vector<int64_t>{0, -1, 2, 1, -3}, {5}));
  c.out(OpKind::Gather, {x, idx}, attrs({{"axis", int64_t{1}}}));
  Value *idx2 = c.constant(Tensor::from_vector(std::vector<int32_t>{4, -5, 0}, {3, 1}));
  c.out(OpKind::Gather, {x, idx2}, attrs({{"axis", int64_t{2}}}));
  Value *idx3 = c.constant(Tensor::from_vector(std::vector<int64_t>{1}, {}));
  c.out(OpKind::Gather, {x, idx3}, attrs({{"axis", int64_t{0}}}));
  Value *ie = c.input(
      Tensor::from_vector(std::vector<int64_t>{0, 4, -1, 2, -5, 3, 1, 1, 0, 2, 3, 4}, {2, 3, 2}));
  c.out(OpKind::GatherElements, {x, ie}, attrs({{"axis", int64_t{2}}}));
  Value *ie1 =
      c.input(Tensor::from_vector(std::vector<int64_t>{0, 2, -1, 1, 0, 2, 1, 1}, {2, 2, 2}));
  c.out(OpKind::GatherElements, {x, ie1}, attrs({{"axis", int64_t{1}}}));
  c.check(0);
}

// ==== resize ====

Attrs resize_attrs(const std::string &mode, const std::string &ctm, const std::string &nearest,
                   floats scales, ints sizes) {
  return attrs({{"mode", mode},
                {"coordinate_transformation_mode", ctm},
                {"nearest_mode", nearest},
                {"scales", scales},
                {"sizes", sizes},
                {"extrapolation_value", 0.0},
                {"exclude_outside", int64_t{0}}});
}

TEST(LowerResize, NearestModes) {
  struct R {
    std::string ctm, nearest;
    floats scales;
    ints sizes;
  };
  std::vector<R> cases = {
      {"asymmetric", "floor", {1, 1, 2, 2}, {1, 3, 10, 14}},
      {"asymmetric", "floor", {1, 1, 3, 3}, {1, 3, 15, 21}},
      {"asymmetric", "floor", {1, 1, 2, 1}, {1, 3, 10, 7}},
      {"half_pixel", "round_prefer_floor", {1, 1, 1.6, 1.5}, {1, 3, 8, 10}},
      {"half_pixel", "round_prefer_ceil", {1, 1, 0.6, 0.5}, {1, 3, 3, 3}},
      {"align_corners", "round_prefer_floor", {1, 1, 1.6, 2}, {1, 3, 8, 14}},
      {"pytorch_half_pixel", "ceil", {1, 1, 1.6, 1}, {1, 3, 8, 7}},
      {"half_pixel_symmetric", "floor", {1, 1, 1.6, 1.5}, {1, 3, 8, 10}},
      {"asymmetric", "round_prefer_ceil", {1, 1, 2, 2}, {1, 3, 10, 14}},
  };
  for (const R &r : cases) {
    SCOPED_TRACE(r.ctm + " " + r.nearest + " " + shape_str(r.sizes));
    Case c;
    Value *x = c.input(DType::f32, {1, 3, 5, 7});
    c.out(OpKind::Resize, {x}, resize_attrs("nearest", r.ctm, r.nearest, r.scales, r.sizes));
    Value *h = c.input(DType::f16, {1, 3, 5, 7});
    c.out(OpKind::Resize, {h}, resize_attrs("nearest", r.ctm, r.nearest, r.scales, r.sizes));
    c.check(0);
  }
}

TEST(LowerResize, Linear) {
  for (const char *ctm : {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
                          "half_pixel_symmetric"}) {
    SCOPED_TRACE(ctm);
    Case c;
    Value *x = c.input(DType::f32, {1, 2, 5, 7});
    c.out(OpKind::Resize, {x}, resize_attrs("linear", ctm, "floor", {1, 1, 1.6, 2}, {1, 2, 8, 14}));
    c.out(OpKind::Resize, {x}, resize_attrs("linear", ctm, "floor", {1, 1, 0.6, 1}, {1, 2, 3, 7}));
    c.check(1e-5);
    Case h; // f16 results may land one half-precision step apart
    h.out(OpKind::Resize, {h.input(DType::f16, {2, 9})},
          resize_attrs("linear", ctm, "floor", {1, 0.5}, {2, 4}));
    h.check(1e-3);
  }
}

// ==== reductions ====

TEST(LowerReduce, ReduceOps) {
  for (OpKind op : {OpKind::ReduceMax, OpKind::ReduceMin, OpKind::ReduceMean, OpKind::ReduceSum,
                    OpKind::ReduceProd}) {
    SCOPED_TRACE(op_name(op));
    Case c;
    double lo = op == OpKind::ReduceProd ? 0.5 : -3, hi = op == OpKind::ReduceProd ? 1.5 : 3;
    Value *x = c.input(DType::f32, {2, 5, 37}, lo, hi);
    c.out(op, {x}, attrs({{"axes", ints{1}}, {"keepdims", int64_t{1}}}));
    c.out(op, {x}, attrs({{"axes", ints{2}}, {"keepdims", int64_t{0}}}));
    c.out(op, {x}, attrs({{"axes", ints{0, 2}}, {"keepdims", int64_t{0}}}));
    c.out(op, {x}, attrs({{"axes", ints{0, 1, 2}}, {"keepdims", int64_t{1}}}));
    c.out(op, {c.input(DType::i64, {3, 4, 5}, -5, 5)},
          attrs({{"axes", ints{1}}, {"keepdims", int64_t{1}}}));
    c.check(1e-5);
  }
}

TEST(LowerReduce, ArgMaxMinTopK) {
  Case c;
  Value *x = c.input(DType::i64, {3, 9, 20}, -3, 3); // many ties
  Value *f = c.input(DType::f32, {4, 50});
  for (OpKind op : {OpKind::ArgMax, OpKind::ArgMin})
    for (int64_t last : {0, 1}) {
      c.out(op, {x},
            attrs({{"axis", int64_t{1}}, {"keepdims", int64_t{1}}, {"select_last_index", last}}));
      c.out(op, {f},
            attrs({{"axis", int64_t{1}}, {"keepdims", int64_t{0}}, {"select_last_index", last}}));
    }
  for (int64_t largest : {0, 1}) {
    Attrs a = attrs(
        {{"axis", int64_t{1}}, {"k", int64_t{4}}, {"largest", largest}, {"sorted", int64_t{1}}});
    for (Value *v : {x, f}) {
      Node *n = c.node(OpKind::TopK, {v}, a);
      c.g.outputs().push_back(n->outputs[0]);
      c.g.outputs().push_back(n->outputs[1]);
    }
  }
  c.check(0);
}

TEST(LowerReduce, TopKLongLines) {
  Case c;
  Value *x = c.input(DType::i32, {2, 700, 3}, -40, 40); // ties
  Value *f = c.input(DType::f32, {1, 8400});
  Value *big = c.input(DType::f32, {1, 5000});
  auto topk = [&](Value *v, int64_t axis, int64_t k, int64_t largest) {
    Node *n =
        c.node(OpKind::TopK, {v},
               attrs({{"axis", axis}, {"k", k}, {"largest", largest}, {"sorted", int64_t{1}}}));
    c.g.outputs().push_back(n->outputs[0]);
    c.g.outputs().push_back(n->outputs[1]);
  };
  topk(x, 1, 37, 1);
  topk(x, 1, 700, 0);
  topk(f, 1, 300, 1);
  topk(big, 1, 4500, 1); // beyond the local-list limit: the selection kernel
  c.check(0);
}

TEST(LowerReduce, SoftmaxLogSoftmax) {
  for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax}) {
    SCOPED_TRACE(op_name(op));
    Case c;
    c.out(op, {c.input(DType::f32, {1, 16, 4, 37}, -10, 10)}, attrs({{"axis", int64_t{1}}}));
    c.out(op, {c.input(DType::f32, {3, 50}, -10, 10)}, attrs({{"axis", int64_t{1}}}));
    c.out(op, {c.input(DType::f32, {2, 3, 7}, -10, 10)}, attrs({{"axis", int64_t{1}}}));
    c.check(1e-5);
    Case h;
    h.out(op, {h.input(DType::f16, {2, 5, 19}, -10, 10)}, attrs({{"axis", int64_t{1}}}));
    h.check(2e-3);
  }
}

// ==== quantisation ====

TEST(LowerQuant, QuantizeDequantize) {
  Case c;
  Value *x = c.input(DType::f32, {2, 3, 41}, -8, 8);
  Value *s = c.constant(Tensor::from_vector(std::vector<float>{0.05f}, {}));
  Value *zu = c.constant(Tensor::from_vector(std::vector<uint8_t>{128}, {}));
  Value *q = c.out(OpKind::QuantizeLinear, {x, s, zu}, attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::DequantizeLinear, {q, s, zu}, attrs({{"axis", int64_t{1}}}));
  Value *sa = c.constant(Tensor::from_vector(std::vector<float>{0.02f, 0.1f, 0.5f}, {3}));
  Value *za = c.constant(Tensor::from_vector(std::vector<int8_t>{0, -3, 7}, {3}));
  Value *qa = c.out(OpKind::QuantizeLinear, {x, sa, za}, attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::DequantizeLinear, {qa, sa, za}, attrs({{"axis", int64_t{1}}}));
  Value *h = c.input(DType::f16, {3, 33}, -4, 4);
  Value *sh = c.constant(Tensor::from_vector(std::vector<half>{half{f32_to_f16(0.03f)}}, {}));
  c.out(OpKind::QuantizeLinear, {h, sh, zu}, attrs({{"axis", int64_t{1}}}));
  Value *i = c.input(DType::i32, {50}, -100000, 100000);
  Value *zi = c.constant(Tensor::from_vector(std::vector<int32_t>{-7}, {}));
  c.out(OpKind::DequantizeLinear, {i, s, zi}, attrs({{"axis", int64_t{0}}}));
  // Values exactly halfway between quantisation steps round to even.
  std::vector<float> halves;
  for (int k = -10; k <= 10; ++k)
    halves.push_back(k * 0.5f);
  Value *one = c.constant(Tensor::from_vector(std::vector<float>{1.0f}, {}));
  Value *z0 = c.constant(Tensor::from_vector(std::vector<int8_t>{0}, {}));
  c.out(OpKind::QuantizeLinear, {c.input(Tensor::from_vector(halves, {21})), one, z0},
        attrs({{"axis", int64_t{0}}}));
  // Saturation far outside the rounding trick's range, and i16.
  Value *big = c.input(DType::f32, {3, 37}, -1e7, 1e7);
  c.out(OpKind::QuantizeLinear, {big, s, zu}, attrs({{"axis", int64_t{1}}}));
  Value *z16 = c.constant(Tensor::from_vector(std::vector<int16_t>{-300}, {}));
  c.out(OpKind::QuantizeLinear, {big, one, z16}, attrs({{"axis", int64_t{1}}}));
  c.out(OpKind::QuantizeLinear, {x, s, z16}, attrs({{"axis", int64_t{1}}}));
  c.check(0);
}

TEST(LowerQuant, DynamicQuantizeLinear) {
  for (Shape s : {Shape{3, 70001}, Shape{1, 17}, Shape{}}) {
    for (double lo : {-3.0, 0.5}) {
      SCOPED_TRACE(shape_str(s) + " lo " + std::to_string(lo));
      Case c;
      Node *n = c.node(OpKind::DynamicQuantizeLinear, {c.input(DType::f32, s, lo, lo + 5)});
      for (Value *v : n->outputs)
        c.g.outputs().push_back(v);
      c.check(0);
    }
  }
  Case z;
  Node *n = z.node(OpKind::DynamicQuantizeLinear, {z.input(Tensor(DType::f32, {40}))});
  for (Value *v : n->outputs)
    z.g.outputs().push_back(v);
  z.check(0);
}

} // namespace
} // namespace kiln
