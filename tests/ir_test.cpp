// Tests of the graph IR's text form (ir/Printer.h, ir/Parser.h) and DOT export (ir/Dot.h).
#include "ir/Dot.h"
#include "ir/Graph.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace kiln {
namespace {

// ==== ir text: printer / parser / dot ====

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

Attrs conv_attrs(std::vector<int64_t> pads) {
  Attrs a;
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("group", int64_t{1});
  a.set("pads", std::move(pads));
  a.set("strides", std::vector<int64_t>{1, 1});
  return a;
}

// A graph with every attribute kind, quoted names, metadata, a multi-output node and an
// absent input. Output types are given, so it does not depend on shape inference.
std::unique_ptr<Graph> build_sample() {
  auto g = std::make_unique<Graph>();
  g->metadata().emplace_back("names", "{0: 'person', 1: \"bi\\cycle\"}\nx");
  g->metadata().emplace_back("stride", "32");
  Value *x = g->add_input("images/0:x", DType::f32, {1, 3, 4, 4});
  Value *w = g->add_constant(
      "model.0.conv.weight",
      Tensor::from_vector(std::vector<float>{0.5f, -1.25f, 0.1f, 3.0f, -0.0f, 1e-45f},
                          {2, 3, 1, 1}));
  Value *b = g->add_constant("bias", Tensor::from_vector(std::vector<float>{kInf, -kInf}, {2}));
  Value *w2 = g->add_constant("w2", Tensor::from_vector(std::vector<float>{kNan}, {1, 1, 1, 1}));
  g->add_constant(
      "_", Tensor::from_vector(std::vector<int64_t>{std::numeric_limits<int64_t>::min()}, {}));

  Node *conv = g->add_node_typed(OpKind::Conv, {x, w, b}, conv_attrs({0, 0, 0, 0}),
                                 "/model.0/conv/Conv", {{DType::f32, {1, 2, 4, 4}}});
  g->set_name(conv->outputs[0], "conv");
  Attrs lrelu;
  lrelu.set("alpha", 0.1);
  Node *act = g->add_node_typed(OpKind::LeakyRelu, {conv->outputs[0]}, lrelu, "act \"q\"\\",
                                {{DType::f32, {1, 2, 4, 4}}});
  g->set_name(act->outputs[0], "act");
  Attrs split;
  split.set("axis", int64_t{1});
  split.set("split", std::vector<int64_t>{1, 1});
  Node *sp = g->add_node_typed(OpKind::Split, {act->outputs[0]}, split, "",
                               {{DType::f32, {1, 1, 4, 4}}, {DType::f32, {1, 1, 4, 4}}});
  g->set_name(sp->outputs[0], "s0");
  g->set_name(sp->outputs[1], "s1");
  Attrs resize;
  resize.set("mode", std::string("nearest"));
  resize.set("coordinate_transformation_mode", std::string("asymmetric"));
  resize.set("nearest_mode", std::string("floor"));
  resize.set("scales", std::vector<double>{1.0, 1.0, 2.0, 2.0});
  resize.set("sizes", std::vector<int64_t>{1, 1, 8, 8});
  resize.set("extrapolation_value", 0.0);
  resize.set("exclude_outside", int64_t{0});
  Node *up =
      g->add_node_typed(OpKind::Resize, {sp->outputs[0]}, resize, "", {{DType::f32, {1, 1, 8, 8}}});
  g->set_name(up->outputs[0], "up");
  Node *c2 = g->add_node_typed(OpKind::Conv, {sp->outputs[1], w2, nullptr},
                               conv_attrs({0, 0, 0, 0}), "", {{DType::f32, {1, 1, 4, 4}}});
  g->set_name(c2->outputs[0], "out 1");
  g->outputs() = {up->outputs[0], c2->outputs[0]};
  return g;
}

const char *const kSampleText = R"(meta "names" = "{0: 'person', 1: \"bi\\cycle\"}\nx"
meta "stride" = "32"
graph(%"images/0:x": f32[1,3,4,4]) -> (%up, %"out 1") {
  %model.0.conv.weight = const f32[2,3,1,1] [0.5, -1.25, 0.1, 3, -0, 1e-45]
  %bias = const f32[2] [inf, -inf]
  %w2 = const f32[1,1,1,1] [nan]
  %"_" = const i64[] [-9223372036854775808]
  %conv = Conv(%"images/0:x", %model.0.conv.weight, %bias) {dilations=[1,1], group=1, pads=[0,0,0,0], strides=[1,1]} : f32[1,2,4,4] loc("/model.0/conv/Conv")
  %act = LeakyRelu(%conv) {alpha=0.1} : f32[1,2,4,4] loc("act \"q\"\\")
  %s0, %s1 = Split(%act) {axis=1, split=[1,1]} : f32[1,1,4,4], f32[1,1,4,4]
  %up = Resize(%s0) {coordinate_transformation_mode="asymmetric", exclude_outside=0, extrapolation_value=0.0, mode="nearest", nearest_mode="floor", scales=[1.0,1.0,2.0,2.0], sizes=[1,1,8,8]} : f32[1,1,8,8]
  %"out 1" = Conv(%s1, %w2, _) {dilations=[1,1], group=1, pads=[0,0,0,0], strides=[1,1]} : f32[1,1,4,4]
}
)";

void expect_same_graph(const Graph &a, const Graph &b) {
  ASSERT_EQ(a.metadata(), b.metadata());
  ASSERT_EQ(a.inputs().size(), b.inputs().size());
  ASSERT_EQ(a.outputs().size(), b.outputs().size());
  for (size_t i = 0; i < a.outputs().size(); ++i)
    EXPECT_EQ(a.outputs()[i]->name, b.outputs()[i]->name);
  for (const auto &v : a.values()) {
    if (!v->is_constant())
      continue;
    const Value *w = b.find(v->name);
    ASSERT_NE(w, nullptr) << v->name;
    ASSERT_TRUE(w->is_constant()) << v->name;
    EXPECT_TRUE(v->constant->bitwise_equal(*w->constant)) << v->name;
  }
  ASSERT_EQ(a.nodes().size(), b.nodes().size());
  for (size_t i = 0; i < a.nodes().size(); ++i) {
    const Node &m = *a.nodes()[i], &n = *b.nodes()[i];
    EXPECT_EQ(m.op, n.op);
    EXPECT_EQ(m.name, n.name);
    EXPECT_TRUE(m.attrs == n.attrs) << m.name;
    ASSERT_EQ(m.inputs.size(), n.inputs.size());
    for (size_t k = 0; k < m.inputs.size(); ++k) {
      ASSERT_EQ(m.inputs[k] == nullptr, n.inputs[k] == nullptr);
      if (m.inputs[k]) {
        EXPECT_EQ(m.inputs[k]->name, n.inputs[k]->name);
      }
    }
    ASSERT_EQ(m.outputs.size(), n.outputs.size());
    for (size_t k = 0; k < m.outputs.size(); ++k) {
      EXPECT_EQ(m.outputs[k]->name, n.outputs[k]->name);
      EXPECT_EQ(m.outputs[k]->dtype, n.outputs[k]->dtype);
      EXPECT_EQ(m.outputs[k]->shape, n.outputs[k]->shape);
    }
  }
}

TEST(IrText, PrintsSample) {
  auto g = build_sample();
  EXPECT_EQ(graph_to_string(*g), kSampleText);
  // Deterministic: printing again gives the same bytes.
  EXPECT_EQ(graph_to_string(*g), graph_to_string(*g));
}

TEST(IrText, RoundTripsSample) {
  auto g = build_sample();
  std::string text = graph_to_string(*g);
  auto p = parse_graph(text);
  EXPECT_EQ(graph_to_string(*p), text);
  expect_same_graph(*g, *p);
  // The absent input stays absent, the float attribute stays a float.
  EXPECT_EQ(p->nodes()[4]->inputs[2], nullptr);
  EXPECT_DOUBLE_EQ(p->nodes()[1]->attrs.f("alpha"), 0.1);
  EXPECT_EQ(p->nodes()[3]->attrs.floats("scales"), (std::vector<double>{1, 1, 2, 2}));
}

template <class T> Tensor bits_tensor(DType dt, std::vector<T> bits) {
  Tensor t(dt, {static_cast<int64_t>(bits.size())});
  std::memcpy(t.raw(), bits.data(), bits.size() * sizeof(T));
  return t;
}

TEST(IrText, ConstantsRoundTripBitwise) {
  Graph g;
  Value *x = g.add_input("x", DType::f32, {2});
  g.add_constant("f32", bits_tensor<uint32_t>(DType::f32, {0x7fc00000u, 0xffc00000u, 0x7fc00001u,
                                                           0x7f800001u, 0x7f800000u, 0xff800000u,
                                                           0x80000000u, 0x00000000u, 0x00000001u,
                                                           0x7f7fffffu, 0x3dcccccdu, 0x3eaaaaabu}));
  g.add_constant("f16", bits_tensor<uint16_t>(DType::f16, {0x7e00, 0xfe00, 0x7d01, 0x7c00, 0xfc00,
                                                           0x8000, 0x0001, 0x7bff, 0x3555}));
  g.add_constant("bf16", bits_tensor<uint16_t>(DType::bf16, {0x7fc0, 0xffc0, 0x7f81, 0x7f80, 0xff80,
                                                             0x8000, 0x0001, 0x3dcd}));
  g.add_constant("f64",
                 bits_tensor<uint64_t>(DType::f64, {0x7ff8000000000000ull, 0xfff8000000000000ull,
                                                    0x7ff0000000000001ull, 0x8000000000000000ull,
                                                    0x3fb999999999999aull, 0x0000000000000001ull,
                                                    0x7fefffffffffffffull}));
  g.add_constant("i64",
                 Tensor::from_vector(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -1,
                                                          0, std::numeric_limits<int64_t>::max()},
                                     {2, 2}));
  g.add_constant("i32", Tensor::from_vector(std::vector<int32_t>{-2147483647 - 1, 7}, {2}));
  g.add_constant("i16", Tensor::from_vector(std::vector<int16_t>{-32768, 32767}, {2}));
  g.add_constant("i8", Tensor::from_vector(std::vector<int8_t>{-128, 127}, {2}));
  g.add_constant("u8", Tensor::from_vector(std::vector<uint8_t>{0, 1, 128, 255}, {4}));
  Tensor bools(DType::boolean, {3});
  bools.data<bool>()[0] = true;
  bools.data<bool>()[2] = true;
  g.add_constant("bools", bools);
  g.add_constant("empty", Tensor(DType::f32, {2, 0}));
  g.add_constant("scalar", Tensor::from_vector(std::vector<float>{-2.5f}, {}));
  Node *n = g.add_node_typed(OpKind::Relu, {x}, {}, "", {{DType::f32, {2}}});
  g.outputs().push_back(n->outputs[0]);

  std::string text = graph_to_string(g);
  EXPECT_NE(text.find("  %f32 = const f32[12] [nan, -nan, nan(0x7fc00001), nan(0x7f800001), inf, "
                      "-inf, -0, 0, 1e-45, 3.4028235e+38, 0.1, 0.33333334]\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  %f16 = const f16[9] [nan, -nan, nan(0x7d01), inf, -inf, -0, "
                      "5.9604645e-08, 65504, 0.33325195]\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  %u8 = const u8[4] [0, 1, 128, 255]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  %bools = const bool[3] [1, 0, 1]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  %empty = const f32[2,0] []\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  %scalar = const f32[] [-2.5]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  %i64 = const i64[2,2] [-9223372036854775808, -1, 0, "
                      "9223372036854775807]\n"),
            std::string::npos)
      << text;

  auto p = parse_graph(text);
  EXPECT_EQ(graph_to_string(*p), text);
  expect_same_graph(g, *p);
}

TEST(IrText, EveryHalfAndManyFloatBitPatternsRoundTrip) {
  Graph g;
  Value *x = g.add_input("x", DType::f32, {1});
  std::vector<uint16_t> halves(65536);
  for (size_t i = 0; i < halves.size(); ++i)
    halves[i] = static_cast<uint16_t>(i);
  g.add_constant("f16", bits_tensor<uint16_t>(DType::f16, halves));
  g.add_constant("bf16", bits_tensor<uint16_t>(DType::bf16, halves));
  // A fixed LCG: the same patterns every run.
  std::vector<uint32_t> f32(20000);
  std::vector<uint64_t> f64(20000);
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < f32.size(); ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    f32[i] = static_cast<uint32_t>(state >> 32);
    f64[i] = state ^ (state << 17);
  }
  g.add_constant("f32", bits_tensor<uint32_t>(DType::f32, f32));
  g.add_constant("f64", bits_tensor<uint64_t>(DType::f64, f64));
  Node *n = g.add_node_typed(OpKind::Relu, {x}, {}, "", {{DType::f32, {1}}});
  g.outputs().push_back(n->outputs[0]);
  std::string text = graph_to_string(g);
  auto p = parse_graph(text);
  EXPECT_EQ(graph_to_string(*p), text);
  expect_same_graph(g, *p);
}

TEST(IrText, HandWrittenTextPrintsCanonically) {
  // Loose spacing, comments, `+` signs, a list of mixed ints and floats, an int-valued float.
  const char *in = R"(// a comment
graph( %x : f32[1,2,2,2] )->( %y,%z ){
  %c = const f32[ 2 ] [ +1.50 , 2e0 ]   // trailing comment
  %y = HardSigmoid(%x) {beta=0.5, alpha=2E-1} : f32[1,2,2,2]
  %z = Clip(%y) {max=6., min=-inf} : f32[1,2,2,2] loc("clip")
}
)";
  const char *out = R"(graph(%x: f32[1,2,2,2]) -> (%y, %z) {
  %c = const f32[2] [1.5, 2]
  %y = HardSigmoid(%x) {alpha=0.2, beta=0.5} : f32[1,2,2,2]
  %z = Clip(%y) {max=6.0, min=-inf} : f32[1,2,2,2] loc("clip")
}
)";
  auto g = parse_graph(in);
  EXPECT_EQ(graph_to_string(*g), out);
  EXPECT_EQ(graph_to_string(*parse_graph(out)), out);
}

TEST(IrText, EmptyLists) {
  // An empty ints list is `[]`; an empty floats list is `[]f`.
  const char *text = R"(graph(%x: f32[1]) -> (%y) {
  %y = Reshape(%x) {shape=[]} : f32[]
}
)";
  auto g = parse_graph(text);
  EXPECT_EQ(graph_to_string(*g), text);
  EXPECT_TRUE(g->nodes()[0]->attrs.ints("shape").empty());

  Graph h;
  Value *x = h.add_input("x", DType::f32, {1});
  Attrs a;
  a.set("e", std::vector<double>{});
  a.set("i", std::vector<int64_t>{});
  a.set("big", 1e300);
  a.set("tiny", -5e-324);
  a.set("third", 1.0 / 3.0);
  a.set("weird key", std::string("a\"b\\c\nd"));
  Node *n = h.add_node_typed(OpKind::Identity, {x}, a, "", {{DType::f32, {1}}});
  h.outputs().push_back(n->outputs[0]);
  EXPECT_EQ(graph_to_string(h),
            "graph(%x: f32[1]) -> (%\"Identity:0\") {\n"
            "  %\"Identity:0\" = Identity(%x) {big=1e+300, e=[]f, i=[], third=0.3333333333333333, "
            "tiny=-5e-324, \"weird key\"=\"a\\\"b\\\\c\\nd\"} : f32[1]\n"
            "}\n");
}

TEST(IrText, ElidedConstants) {
  auto g = build_sample();
  PrintOptions opt;
  opt.max_constant_elements = 2;
  std::string text = graph_to_string(*g, opt);
  EXPECT_NE(text.find("  %model.0.conv.weight = const f32[2,3,1,1] <elided 6 elements>\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  %bias = const f32[2] [inf, -inf]\n"), std::string::npos) << text;
  try {
    parse_graph(text);
    FAIL() << "parsed an elided constant";
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()),
              "line 4:45: constant %model.0.conv.weight is elided (printed with "
              "max_constant_elements) and cannot be read back");
  }
  opt.max_constant_elements = 0;
  EXPECT_NE(graph_to_string(*g, opt).find("%bias = const f32[2] <elided 2 elements>"),
            std::string::npos);
}

std::string parse_error(const std::string &text) {
  try {
    parse_graph(text);
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

TEST(IrText, ParseErrors) {
  EXPECT_EQ(parse_error("graph(%x: f32[1] -> (%x) {\n}\n"),
            "line 1:18: expected ')' but found '->'");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%y) {\n  %y = Foo(%x) : f32[1]\n}\n"),
            "line 2:8: unknown op 'Foo'");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%y) {\n  %y = Relu(%z) : f32[1]\n}\n"),
            "line 2:13: undefined value %z");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%y) {\n  %y = Relu(%\"a b\") : f32[1]\n}\n"),
            "line 2:13: undefined value %\"a b\"");
  EXPECT_EQ(parse_error("graph(%x: f33[1]) -> (%x) {\n}\n"), "line 1:11: unknown dtype 'f33'");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%q) {\n}\n"), "line 1:23: undefined value %q");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %x = Relu(%x) : f32[1]\n}\n"),
            "line 2:3: value %x is defined twice");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %c = const u8[2] [1, 256]\n}\n"),
            "line 2:24: 256 is out of range for u8");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %c = const f32[2] [1]\n}\n"),
            "line 2:23: constant %c has 1 elements but f32[2] needs 2");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %c = const f32[1] [1, 2]\n}\n"),
            "line 2:25: constant %c has more than the 1 elements of f32[1]");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %c = const f32[1] [1x]\n}\n"),
            "line 2:22: malformed f32 number '1x'");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n"), "line 2:1: expected '}' but found "
                                                          "'end of input'");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %s = \"abc\n}\n"),
            "line 2:8: unterminated string");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %y = Relu(%x) {a=1, a=2} : f32[1]\n}\n"),
            "line 2:23: attribute 'a' is given twice");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %y, %z = Relu(%x) : f32[1]\n}\n"),
            "line 2:12: 2 results but 1 types");
  EXPECT_EQ(parse_error("graph(%x: f32[1]) -> (%x) {\n  %y = Relu(%x) : f32[1] $\n}\n"),
            "line 2:26: unexpected character '$'");
}

TEST(IrText, ParsedGraphIsVerified) {
  // Well-formed text whose stated output type disagrees with shape inference.
  EXPECT_THROW(parse_graph("graph(%x: f32[1]) -> (%y) {\n  %y = Relu(%x) : f32[2]\n}\n"), Error);
}

TEST(IrDot, WritesGraph) {
  auto g = build_sample();
  std::ostringstream os;
  write_dot(os, *g);
  std::string dot = os.str();
  auto has = [&](const std::string &line) {
    EXPECT_NE(dot.find(line + "\n"), std::string::npos) << "missing: " << line << "\n" << dot;
  };
  EXPECT_EQ(dot.rfind("digraph kiln {\n", 0), 0u) << dot;
  has("  v0 [shape=oval, label=\"images/0:x\\nf32[1,3,4,4]\"];");
  has("  n0 [shape=box, label=\"Conv\\n/model.0/conv/Conv\\nmodel.0.conv.weight: f32[2,3,1,1]"
      "\\nbias: f32[2]\\n-> f32[1,2,4,4]\"];");
  has("  n1 [shape=box, label=\"LeakyRelu\\nact \\\"q\\\"\\\\\\n-> f32[1,2,4,4]\"];");
  has("  n2 [shape=box, label=\"Split\\n-> f32[1,1,4,4]\\n-> f32[1,1,4,4]\"];");
  has("  v0 -> n0 [label=\"f32[1,3,4,4]\"];");
  has("  n0 -> n1 [label=\"f32[1,2,4,4]\"];");
  has("  n2 -> n3 [label=\"f32[1,1,4,4]\"];");
  has("  n2 -> n4 [label=\"f32[1,1,4,4]\"];");
  has("  out1 [shape=oval, label=\"out 1\\nf32[1,1,4,4]\"];");
  has("  n3 -> out0 [label=\"f32[1,1,8,8]\"];");
  has("  n4 -> out1 [label=\"f32[1,1,4,4]\"];");
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
  // Constants are folded into labels, never drawn as their own nodes or edges.
  EXPECT_EQ(dot.find("v1"), std::string::npos) << dot;
  std::ostringstream again;
  write_dot(again, *g);
  EXPECT_EQ(again.str(), dot);
}

// ==== end ir text ====

} // namespace
} // namespace kiln
