// Program passes (passes/ProgramPasses.h) and the memory plan (passes/MemPlan.h): concat
// elimination removes the copy launches and leaves views that compute the same outputs as the
// reference interpreter; the arena plan never overlaps live buffers, views included, its lower
// bound is the busiest launch's live bytes, and the runtime places buffers where it says.
#include "LowerTestUtil.h"

#include "passes/MemPlan.h"
#include "passes/PassManager.h"
#include "passes/ProgramPasses.h"
#include "passes/ProgramVerifier.h"
#include "runtime/Manifest.h"
#include "runtime/RunState.h"

#include <gtest/gtest.h>

#include <random>

namespace kiln {
namespace {

using testing::expect_close;
using testing::run_program;
using ints = std::vector<int64_t>;

Attrs conv_attrs() {
  Attrs a;
  a.set("strides", ints{1, 1});
  a.set("pads", ints{1, 1, 1, 1});
  a.set("dilations", ints{1, 1});
  a.set("group", int64_t{1});
  return a;
}

Tensor random(const Shape &s, uint32_t seed) {
  Tensor t(DType::f32, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = u(rng);
  return t;
}

/// x -> conv a, conv b -> Concat(a, b) -> Split(3, 7) -> Relu(s1) (output 0), conv(s2) ->
/// Reshape (output 1); plus a Concat over the inner axis (not contiguous: stays a copy) and a
/// Concat of a third conv's output with itself.
struct ConcatGraph {
  Graph g;
  std::vector<Tensor> inputs;
  Value *a = nullptr, *b = nullptr, *cat = nullptr, *s1 = nullptr, *s2 = nullptr, *d = nullptr,
        *e = nullptr;

  Value *conv(Value *x, int64_t m, uint32_t seed) {
    int64_t c = x->shape[1];
    Value *w = g.add_constant(g.unique_name("w"), random({m, c, 3, 3}, seed));
    return g.add_node(OpKind::Conv, {x, w}, conv_attrs(), g.unique_name("conv"))->outputs[0];
  }
  Value *node(OpKind op, std::vector<Value *> in, Attrs at = {}) {
    return g.add_node(op, std::move(in), std::move(at), g.unique_name(std::string(op_name(op))))
        ->outputs[0];
  }

  ConcatGraph() {
    Value *x = g.add_input("x", DType::f32, {1, 3, 8, 8});
    inputs.push_back(random({1, 3, 8, 8}, 1));
    a = conv(x, 4, 2);
    b = conv(x, 6, 3);
    Attrs axis1;
    axis1.set("axis", int64_t{1});
    cat = node(OpKind::Concat, {a, b}, axis1);
    Attrs split = axis1;
    split.set("split", ints{3, 7});
    Node *sp = g.add_node(OpKind::Split, {cat}, split, "split");
    s1 = sp->outputs[0];
    s2 = sp->outputs[1];
    g.outputs().push_back(node(OpKind::Relu, {s1}));
    d = conv(s2, 4, 4);
    Attrs shape;
    shape.set("shape", ints{1, 4 * 64});
    g.outputs().push_back(node(OpKind::Reshape, {d}, shape));
    Attrs axis3;
    axis3.set("axis", int64_t{3});
    Value *inner = node(OpKind::Concat, {a, a}, axis3); // rows of 8: not contiguous
    g.outputs().push_back(node(OpKind::Sigmoid, {inner}));
    e = conv(x, 2, 5);
    Value *twice = node(OpKind::Concat, {e, e}, axis1);
    g.outputs().push_back(node(OpKind::Tanh, {twice}));
  }
};

int buffer_of(const Program &p, const Value *v) {
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (p.buffers[i].name == v->name)
      return static_cast<int>(i);
  ADD_FAILURE() << "no buffer for " << v->name;
  return -1;
}

int copies(const Program &p) {
  int n = 0;
  for (const Launch &l : p.launches)
    n += l.copy.has_value();
  return n;
}

TEST(ConcatElimination, CopiesBecomeViewsAndOutputsMatch) {
  ConcatGraph cg;
  Program p = lower(cg.g);
  // Copies: concat 2, split 2, reshape 1, inner concat 2, concat-twice 2.
  ASSERT_EQ(copies(p), 9);
  size_t before = p.launches.size();
  ASSERT_TRUE(eliminate_concat(p));
  EXPECT_FALSE(eliminate_concat(p)) << "a second run has nothing left to do";

  int a = buffer_of(p, cg.a), b = buffer_of(p, cg.b), cat = buffer_of(p, cg.cat);
  int s1 = buffer_of(p, cg.s1), s2 = buffer_of(p, cg.s2), d = buffer_of(p, cg.d);
  // The producers of the concat inputs write into their slices of the concat output.
  EXPECT_EQ(p.buffers[a].alias_of, cat);
  EXPECT_EQ(p.buffers[a].alias_offset, 0);
  EXPECT_EQ(p.buffers[b].alias_of, cat);
  EXPECT_EQ(p.buffers[b].alias_offset, 4 * 64 * 4);
  // The split outputs are views of the concat output (flattened: no alias of an alias).
  EXPECT_EQ(p.buffers[s1].alias_of, cat);
  EXPECT_EQ(p.buffers[s1].alias_offset, 0);
  EXPECT_EQ(p.buffers[s2].alias_of, cat);
  EXPECT_EQ(p.buffers[s2].alias_offset, 3 * 64 * 4);
  EXPECT_EQ(p.buffers[cat].alias_of, -1);
  // The conv before the output Reshape writes the graph output itself.
  EXPECT_EQ(p.buffers[d].alias_of, p.outputs[1]);
  for (const BufferDecl &bd : p.buffers) {
    if (bd.alias_of < 0)
      continue;
    EXPECT_EQ(p.buffers[bd.alias_of].alias_of, -1) << bd.name;
    EXPECT_NE(bd.kind, BufferDecl::Kind::Output) << bd.name;
    EXPECT_NE(bd.kind, BufferDecl::Kind::Input) << bd.name;
  }
  // Concat(e, e): e lives in the first half; the second half stays a copy from it.
  EXPECT_EQ(p.buffers[buffer_of(p, cg.e)].alias_offset, 0);
  EXPECT_GE(p.buffers[buffer_of(p, cg.e)].alias_of, 0);
  // Left: the inner-axis concat (2) and the second half of Concat(e, e) (1).
  EXPECT_EQ(copies(p), 3);
  EXPECT_EQ(p.launches.size(), before - 6);

  std::vector<Tensor> want = run_reference(cg.g, cg.inputs);
  std::vector<Tensor> got = run_program(p, cg.inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    expect_close(got[i], want[i], 1e-5, "output " + std::to_string(i));
}

/// YOLOv8's C2f: conv -> Split(a, b); b -> conv -> c; Concat(a, b, c) -> conv. With `swap`,
/// Concat(b, a, c): the halves land out of place and must stay copies.
struct C2fGraph {
  Graph g;
  std::vector<Tensor> inputs;
  Value *r = nullptr, *a = nullptr, *b = nullptr, *c = nullptr, *cat = nullptr;

  explicit C2fGraph(bool swap) {
    Value *x = g.add_input("x", DType::f32, {1, 3, 6, 6});
    inputs.push_back(random({1, 3, 6, 6}, 7));
    auto conv = [&](Value *in, int64_t m, uint32_t seed) {
      Value *w = g.add_constant(g.unique_name("w"), random({m, in->shape[1], 3, 3}, seed));
      return g.add_node(OpKind::Conv, {in, w}, conv_attrs(), g.unique_name("conv"))->outputs[0];
    };
    r = conv(x, 8, 8);
    Attrs split;
    split.set("axis", int64_t{1});
    split.set("split", ints{4, 4});
    Node *sp = g.add_node(OpKind::Split, {r}, split, "split");
    a = sp->outputs[0];
    b = sp->outputs[1];
    c = conv(b, 4, 9);
    Attrs axis1;
    axis1.set("axis", int64_t{1});
    std::vector<Value *> parts =
        swap ? std::vector<Value *>{b, a, c} : std::vector<Value *>{a, b, c};
    cat = g.add_node(OpKind::Concat, parts, axis1, "cat")->outputs[0];
    g.outputs().push_back(conv(cat, 2, 10));
  }
};

TEST(ConcatElimination, SplitThenConcatOfTheSameHalvesCostsNoCopy) {
  C2fGraph cg(false);
  Program p = lower(cg.g);
  ASSERT_TRUE(eliminate_concat(p));
  EXPECT_EQ(copies(p), 0);
  int r = buffer_of(p, cg.r), cat = buffer_of(p, cg.cat);
  EXPECT_EQ(p.buffers[r].alias_of, cat);
  EXPECT_EQ(p.buffers[r].alias_offset, 0);
  EXPECT_EQ(p.buffers[buffer_of(p, cg.b)].alias_of, cat);
  EXPECT_EQ(p.buffers[buffer_of(p, cg.b)].alias_offset, 4 * 36 * 4);
  EXPECT_EQ(p.buffers[buffer_of(p, cg.c)].alias_offset, 8 * 36 * 4);
  std::vector<Tensor> want = run_reference(cg.g, cg.inputs);
  expect_close(run_program(p, cg.inputs)[0], want[0], 1e-5);
}

TEST(ConcatElimination, HalvesOutOfPlaceStayCopies) {
  C2fGraph cg(true);
  Program p = lower(cg.g);
  eliminate_concat(p);
  EXPECT_EQ(p.buffers[buffer_of(p, cg.r)].alias_of, -1);
  EXPECT_EQ(copies(p), 2) << "b and a are copied; c is written in place";
  std::vector<Tensor> want = run_reference(cg.g, cg.inputs);
  expect_close(run_program(p, cg.inputs)[0], want[0], 1e-5);
}

TEST(ConcatElimination, LeavesInputsAndNonContiguousSlicesAlone) {
  Graph g;
  Value *x = g.add_input("x", DType::f32, {2, 3, 4});
  Value *y = g.add_input("y", DType::f32, {2, 3, 4});
  Attrs axis1;
  axis1.set("axis", int64_t{1});
  // Batch 2: each input is two runs in the output, not one slice.
  Value *c = g.add_node(OpKind::Concat, {x, y}, axis1, "cat")->outputs[0];
  g.outputs().push_back(g.add_node(OpKind::Relu, {c}, {}, "relu")->outputs[0]);
  Program p = lower(g);
  EXPECT_FALSE(eliminate_concat(p));
  for (const BufferDecl &bd : p.buffers)
    EXPECT_EQ(bd.alias_of, -1) << bd.name;
}

// ---- memory plan ----

namespace {
std::unique_ptr<CompiledSchedule> capture_program(const Program &p) {
  std::vector<Kernel> kernels;
  std::vector<int> launch_kernel;
  for (const Launch &l : p.launches) {
    launch_kernel.push_back(static_cast<int>(kernels.size()));
    kernels.push_back(prepare_for_codegen(l.kernel));
    kernels.back().name += "_" + std::to_string(launch_kernel.back()); // unique symbols
  }
  Backend &be = llvm_cpu_backend();
  CompiledModule cm = be.compile(kernels);
  std::unique_ptr<LoadedModule> loaded = be.load(cm);
  return CompiledSchedule::capture(p, launch_kernel, std::move(cm), std::move(loaded));
}
} // namespace

TEST(ArenaPlan, WithoutMemplanEveryBufferHasItsOwnBytes) {
  ConcatGraph cg;
  Program p = lower(cg.g);
  p.plan_memory = false;
  std::unique_ptr<CompiledSchedule> ex = capture_program(p);
  const ScheduleDesc &d = ex->desc();
  EXPECT_GE(d.arena_bytes, d.arena_naive_bytes);
  EXPECT_LT(d.arena_lower_bound_bytes, d.arena_naive_bytes) << "the graph must allow reuse";
  for (size_t a = 0; a < d.buffers.size(); ++a)
    for (size_t b = a + 1; b < d.buffers.size(); ++b) {
      const SlotDesc &x = d.buffers[a], &y = d.buffers[b];
      if (x.place != Place::Arena || y.place != Place::Arena || x.view_of >= 0 || y.view_of >= 0)
        continue;
      EXPECT_TRUE(x.offset + x.bytes <= y.offset || y.offset + y.bytes <= x.offset)
          << x.name << " and " << y.name << " share bytes";
    }
  Program planned = lower(cg.g);
  EXPECT_LT(capture_program(planned)->desc().arena_bytes, d.arena_bytes);
}

TEST(ArenaPlan, ScheduleWithViewsReplaysAndNeverOverlapsLiveRoots) {
  ConcatGraph cg;
  Program p = lower(cg.g);
  ASSERT_TRUE(eliminate_concat(p));
  std::unique_ptr<CompiledSchedule> ex = capture_program(p);
  const ScheduleDesc &d = ex->desc();
  EXPECT_GT(d.arena_bytes, 0);
  EXPECT_GE(d.arena_bytes, d.arena_lower_bound_bytes);
  EXPECT_LE(d.arena_bytes, d.arena_naive_bytes);

  // Root lifetimes over the replay list, views counted for their roots.
  auto root = [&](int b) { return d.buffers[b].view_of >= 0 ? d.buffers[b].view_of : b; };
  std::vector<int> first(d.buffers.size(), -1), last(d.buffers.size(), -1);
  for (size_t i = 0; i < d.launches.size(); ++i)
    for (int b : d.launches[i].args) {
      int r = root(b);
      if (first[r] < 0)
        first[r] = int(i);
      last[r] = int(i);
    }
  for (size_t a = 0; a < d.buffers.size(); ++a) {
    const SlotDesc &x = d.buffers[a];
    if (x.view_of >= 0) {
      const SlotDesc &r = d.buffers[x.view_of];
      EXPECT_EQ(x.place, r.place) << x.name;
      EXPECT_GE(x.offset, r.offset) << x.name;
      EXPECT_LE(x.offset + x.bytes, r.offset + r.bytes) << x.name << " outside its root";
      continue;
    }
    if (x.place != Place::Arena || first[a] < 0)
      continue;
    EXPECT_EQ(x.offset % 64, 0) << x.name;
    for (size_t b = a + 1; b < d.buffers.size(); ++b) {
      const SlotDesc &y = d.buffers[b];
      if (y.view_of >= 0 || y.place != Place::Arena || first[b] < 0 || first[a] > last[b] ||
          first[b] > last[a])
        continue;
      EXPECT_TRUE(x.offset + x.bytes <= y.offset || y.offset + y.bytes <= x.offset)
          << x.name << " and " << y.name << " overlap while both are live";
    }
  }
  ScheduleDesc back = schedule_from_json(schedule_to_json(d), size_t(d.weights_bytes));
  EXPECT_EQ(schedule_to_json(back), schedule_to_json(d));

  // Replay twice (the second run must not depend on leftovers of the first).
  std::vector<Tensor> want = run_reference(cg.g, cg.inputs);
  std::vector<Tensor> got;
  for (int o : p.outputs)
    got.emplace_back(p.buffers[o].dtype, p.buffers[o].shape);
  std::vector<const void *> in = {cg.inputs[0].raw()};
  std::vector<void *> out;
  for (Tensor &t : got)
    out.push_back(t.raw());
  ThreadPool pool(2);
  RunState state(*ex);
  for (int run = 0; run < 2; ++run) {
    state.run(pool, in.data(), out.data());
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(got[i], want[i], 1e-5,
                   "run " + std::to_string(run) + " output " + std::to_string(i));
  }
}

TEST(ArenaPlan, LowerBoundIsTheBusiestLaunch) {
  // Launch:   0    1    2    3
  //   A 100   [=========]            (0..2)
  //   B 200        [====]            (1..1)
  //   C 300             [=======]    (2..3)
  //   D 50                   [==]    (3..3)
  // Live: 0: A=128, 1: A+B=384, 2: A+C=448, 3: C+D=384 (sizes rounded up to 64).
  std::vector<ArenaRequest> req = {{100, 0, 2}, {200, 1, 1}, {300, 2, 3}, {50, 3, 3}};
  ArenaPlan plan = plan_arena(req);
  EXPECT_EQ(plan.lower_bound, 448);
  EXPECT_EQ(plan.naive, 128 + 256 + 320 + 64);
  EXPECT_GE(plan.bytes, plan.lower_bound);
  EXPECT_EQ(plan.bytes, 448) << "an interval graph this small is packed optimally";
}

TEST(ArenaPlan, RandomPlansStayDisjointAndNearTheBound) {
  std::mt19937 rng(11);
  double worst = 1;
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<ArenaRequest> req;
    int n = 10 + int(rng() % 60);
    for (int i = 0; i < n; ++i) {
      int first = int(rng() % 50);
      req.push_back({1 + int64_t(rng() % 100000), first, first + int(rng() % 6)});
    }
    ArenaPlan plan = plan_arena(req);
    ASSERT_GE(plan.bytes, plan.lower_bound);
    ASSERT_LE(plan.bytes, plan.naive);
    worst = std::max(worst, double(plan.bytes) / double(plan.lower_bound));
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) {
        bool live = req[i].first <= req[j].last && req[j].first <= req[i].last;
        int64_t oi = plan.offsets[i], oj = plan.offsets[j];
        bool apart = oi + req[i].bytes <= oj || oj + req[j].bytes <= oi;
        ASSERT_TRUE(!live || apart) << "trial " << trial << ": " << i << " and " << j;
      }
  }
  EXPECT_LT(worst, 1.5);
}

TEST(ArenaPlan, LiveBuffersNeverOverlap) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<ArenaRequest> req;
    int n = 5 + int(rng() % 40);
    int64_t sum = 0;
    for (int i = 0; i < n; ++i) {
      int first = int(rng() % 30);
      int last = first + int(rng() % 8);
      int64_t bytes = 1 + int64_t(rng() % 5000);
      req.push_back({bytes, first, last});
      sum += (bytes + 63) / 64 * 64;
    }
    ArenaPlan plan = plan_arena(req);
    EXPECT_LE(plan.bytes, sum);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(plan.offsets[i] % 64, 0);
      EXPECT_LE(plan.offsets[i] + req[i].bytes, plan.bytes);
      for (int j = i + 1; j < n; ++j) {
        int64_t oi = plan.offsets[i], oj = plan.offsets[j];
        bool live_together = req[i].first <= req[j].last && req[j].first <= req[i].last;
        bool disjoint = oi + req[i].bytes <= oj || oj + req[j].bytes <= oi;
        EXPECT_TRUE(!live_together || disjoint) << "buffers " << i << " and " << j;
      }
    }
  }
}

TEST(ArenaPlan, ReusesMemoryOfDeadBuffers) {
  // A chain a -> b -> c -> d: each buffer dies after the next is made, so two slots suffice.
  std::vector<ArenaRequest> req = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  EXPECT_EQ(plan_arena(req).bytes, 2 * 1024);
}

namespace {
/// x -> [pack w: weight-only] -> k1(x, packed) -> t1 -> k2 -> t2 -> k3 writes v (a view of t3)
/// -> k4(t3) -> y; outputs y and t2 (not an Output buffer: copied out after the run).
Program hand_built_program() {
  Program p;
  auto add = [&](const std::string &name, int64_t numel, BufferDecl::Kind kind) {
    BufferDecl b;
    b.name = name;
    b.dtype = DType::f32;
    b.shape = {numel};
    b.kind = kind;
    if (kind == BufferDecl::Kind::Constant)
      b.constant = Tensor(DType::f32, {numel});
    p.buffers.push_back(std::move(b));
    return int(p.buffers.size()) - 1;
  };
  using K = BufferDecl::Kind;
  int x = add("x", 16, K::Input), w = add("w", 16, K::Constant);
  int packed = add("packed", 16, K::Intermediate);
  p.buffers[packed].weight_only = true;
  int t1 = add("t1", 100, K::Intermediate), t2 = add("t2", 16, K::Intermediate);
  int t3 = add("t3", 64, K::Intermediate), v = add("v", 32, K::Intermediate);
  p.buffers[v].alias_of = t3;
  p.buffers[v].alias_offset = 64;
  int y = add("y", 16, K::Output);
  auto launch = [&](std::vector<int> args, bool weight_only) {
    Launch l;
    l.args = std::move(args);
    l.weight_only = weight_only;
    p.launches.push_back(std::move(l));
  };
  launch({w, packed}, true);
  launch({x, packed, t1}, false);
  launch({t1, t2}, false);
  launch({t2, v}, false);
  launch({t3, y}, false);
  p.inputs = {x};
  p.outputs = {y, t2};
  return p;
}
} // namespace

TEST(MemPlan, LifetimesFollowTheReplayViewsAndCopiedOutputs) {
  // Replay launches 0..3 (the packing runs at capture). t1: 448 bytes (rounded), live 0..1;
  // t2: 64, live 1..4 (copied out at the end); t3: 256, live 2..3 (its view v is written at 2).
  // Busiest launch: 1 (t1 + t2 = 512). Largest first: t1 at 0, t3 at 0 (t1 is dead by then),
  // t2 above both.
  Program p = hand_built_program();
  MemPlan m = plan_memory(p);
  EXPECT_EQ(m.offset, (std::vector<int64_t>{-1, -1, -1, 0, 448, 0, -1, -1}));
  EXPECT_EQ(m.arena_bytes, 512);
  EXPECT_EQ(m.lower_bound, 512);
  EXPECT_EQ(m.naive_bytes, 448 + 64 + 256);

  // Without `memplan`: the same buffers, each its own bytes in buffer order.
  p.plan_memory = false;
  MemPlan naive = plan_memory(p);
  EXPECT_EQ(naive.offset, (std::vector<int64_t>{-1, -1, -1, 0, 448, 512, -1, -1}));
  EXPECT_EQ(naive.arena_bytes, 768);
  EXPECT_EQ(naive.lower_bound, 512);
  EXPECT_EQ(naive.naive_bytes, 768);
}

TEST(MemPlan, TheRuntimePlacesArenaBuffersWhereThePlanSays) {
  for (bool planned : {true, false}) {
    ConcatGraph cg;
    Program p = lower(cg.g);
    ASSERT_TRUE(eliminate_concat(p));
    p.plan_memory = planned;
    MemPlan m = plan_memory(p);
    std::unique_ptr<CompiledSchedule> ex = capture_program(p);
    const ScheduleDesc &d = ex->desc();
    EXPECT_EQ(d.arena_bytes, m.arena_bytes);
    EXPECT_EQ(d.arena_lower_bound_bytes, m.lower_bound);
    EXPECT_EQ(d.arena_naive_bytes, m.naive_bytes);
    int in_arena = 0;
    for (size_t b = 0; b < d.buffers.size(); ++b) {
      const SlotDesc &s = d.buffers[b];
      bool root_in_arena = s.place == Place::Arena && s.view_of < 0;
      EXPECT_EQ(root_in_arena, m.offset[b] >= 0) << s.name;
      if (root_in_arena) {
        EXPECT_EQ(s.offset, m.offset[b]) << s.name;
        ++in_arena;
      }
    }
    EXPECT_GT(in_arena, 2);
  }
}

TEST(ProgramVerifier, LoweredAndConcatEliminatedProgramsAreValid) {
  ConcatGraph cg;
  Program p = lower(cg.g);
  EXPECT_NO_THROW(verify_program(p));
  ASSERT_TRUE(eliminate_concat(p));
  EXPECT_NO_THROW(verify_program(p));
}

namespace {
std::string verify_error(const Program &p) {
  try {
    verify_program(p);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}
} // namespace

TEST(ProgramVerifier, NamesWhatIsBroken) {
  ConcatGraph cg;
  const Program lowered = lower(cg.g);
  ASSERT_GE(lowered.launches.size(), 2u);
  const Launch &l0 = lowered.launches[0];
  const std::string launch0 = "launch 0 (" + l0.kernel.name + "): ";

  Program p = lowered;
  p.launches[0].args.pop_back();
  EXPECT_EQ(verify_error(p), launch0 + std::to_string(l0.args.size() - 1) + " args for " +
                                 std::to_string(l0.args.size()) + " kernel params");

  p = lowered;
  p.launches[0].args[0] = int(p.buffers.size());
  EXPECT_EQ(verify_error(p), launch0 + "arg 0 names buffer " + std::to_string(p.buffers.size()) +
                                 " of " + std::to_string(p.buffers.size()));

  p = lowered;
  p.buffers[p.launches[0].args[0]].dtype = DType::f16;
  EXPECT_NE(verify_error(p).find(launch0 + "arg 0 binds buffer '"), std::string::npos)
      << verify_error(p);

  // Views: inside a root, and an intermediate.
  Program v = lowered;
  ASSERT_TRUE(eliminate_concat(v));
  int view = -1;
  for (size_t b = 0; b < v.buffers.size() && view < 0; ++b)
    if (v.buffers[b].alias_of >= 0)
      view = int(b);
  ASSERT_GE(view, 0);
  const BufferDecl &vb = v.buffers[view];
  const BufferDecl &root = v.buffers[vb.alias_of];
  const int64_t root_bytes = shape_numel(root.shape) * int64_t(dtype_size(root.dtype));
  const int64_t view_bytes = shape_numel(vb.shape) * int64_t(dtype_size(vb.dtype));
  p = v;
  p.buffers[view].alias_offset = root_bytes - view_bytes + 4;
  EXPECT_EQ(verify_error(p), "buffer '" + vb.name + "': bytes [" +
                                 std::to_string(root_bytes - view_bytes + 4) + ", " +
                                 std::to_string(root_bytes + 4) + ") lie outside '" + root.name +
                                 "' (" + std::to_string(root_bytes) + " bytes)");
  p = v;
  p.buffers[view].kind = BufferDecl::Kind::Output;
  EXPECT_EQ(verify_error(p), "buffer '" + vb.name + "': a view must be an intermediate buffer");
}

namespace {
/// A buggy program pass: drops the last argument of the first launch.
bool drop_an_argument(Program &p) {
  p.launches.at(0).args.pop_back();
  return true;
}
} // namespace

TEST(ProgramVerifier, ThePassManagerNamesThePassThatBrokeTheProgram) {
  ConcatGraph cg;
  Program p = lower(cg.g);
  const PassInfo broken{"broken", PassLevel::Program, "test: drops an argument", nullptr,
                        drop_an_argument};
  PassOptions opt;
  opt.verify_each_pass = true;
  try {
    run_program_pass(p, broken, opt);
    FAIL() << "no error";
  } catch (const InternalError &e) {
    EXPECT_NE(std::string(e.what()).find("pass 'broken' broke the program: launch 0 ("),
              std::string::npos)
        << e.what();
  }
  // The registered pipeline keeps the program valid.
  Program q = lower(cg.g);
  PassReport report;
  run_program_passes(q, parse_pipeline("O3"), opt, &report);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].name, "concat");
  EXPECT_TRUE(report[0].changed);
  // A lowering bug is not blamed on the first pass.
  q.launches.at(0).args.pop_back();
  try {
    run_program_passes(q, parse_pipeline("O3"), opt);
    FAIL() << "no error";
  } catch (const InternalError &e) {
    EXPECT_NE(std::string(e.what()).find("the lowered program is invalid: launch 0 ("),
              std::string::npos)
        << e.what();
  }
}

} // namespace
} // namespace kiln
