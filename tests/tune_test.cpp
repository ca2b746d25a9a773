// Conv tuning: the key and the tiles' text form (passes/ConvTuning.h), the database file
// (runtime/TuningDb.h), and lowering with a table: the table's tile is the one compiled, the
// others keep the cost model's, explicit tile options win, and the results still match the
// reference interpreter.
#include "LowerTestUtil.h"
#include "ir/Error.h"
#include "passes/ConvTuning.h"
#include "passes/LowerConvUtil.h"
#include "runtime/TuningDb.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace kiln;
using kiln::testing::conv_attrs;
using kiln::testing::random_tensor;

namespace fs = std::filesystem;

namespace {

const ConvGeom kGeom{1, 16, 20, 24, 20, 20, 24, 3, 3, 1, 16, 20, 1, 1, 1, 1, 1, 1};

/// The message of the kiln::Error `f` throws ("" when it throws none).
template <class F> std::string error_of(F &&f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("kiln_tune_test_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

/// x[1,16,20,24] -> 3x3 conv to 20 channels -> 1x1 conv to 12 channels.
struct TwoConvs {
  Graph g;
  Node *c3 = nullptr, *c1 = nullptr;
  TwoConvs() {
    Value *x = g.add_input("x", DType::f32, {1, 16, 20, 24});
    Value *w3 = g.add_constant("w3", random_tensor(DType::f32, {20, 16, 3, 3}, 1));
    Value *b3 = g.add_constant("b3", random_tensor(DType::f32, {20}, 2));
    c3 = g.add_node(OpKind::Conv, {x, w3, b3}, conv_attrs({1, 1}, {1, 1, 1, 1}), "c3");
    Value *w1 = g.add_constant("w1", random_tensor(DType::f32, {12, 20, 1, 1}, 3));
    c1 = g.add_node(OpKind::Conv, {c3->outputs[0], w1, nullptr}, conv_attrs({1, 1}, {0, 0, 0, 0}),
                    "c1");
    g.outputs().push_back(c1->outputs[0]);
  }
  std::string key(const Node *n) const {
    return conv_tuning_key(conv_geom(*n, *n->inputs[0], *n->inputs[1], *n->outputs[0]), DType::f32);
  }
};

/// The output-channel block of node `node`'s packed weights (their last dimension).
int64_t packed_ocb(const Program &p, const std::string &node) {
  for (const BufferDecl &b : p.buffers)
    if (b.name == node + ".packed_w")
      return b.shape.back();
  ADD_FAILURE() << "no packed weights for " << node;
  return 0;
}

} // namespace

TEST(ConvTuning, KeyNamesEveryFieldAndTheDtype) {
  EXPECT_EQ(conv_tuning_key(kGeom, DType::f32),
            "f32 n=1 c=16 h=20 w=24 m=20 oh=20 ow=24 kh=3 kw=3 group=1 cg=16 mg=20 sh=1 sw=1 "
            "dh=1 dw=1 pt=1 pl=1 x_block=0 y_block=0");
  EXPECT_NE(conv_tuning_key(kGeom, DType::f16), conv_tuning_key(kGeom, DType::f32));
  ConvGeom padded = kGeom;
  padded.pl = 0;
  EXPECT_NE(conv_tuning_key(padded, DType::f32), conv_tuning_key(kGeom, DType::f32));
}

TEST(ConvTuning, TilesTextRoundTrips) {
  ConvTiles t;
  t.ocb = 4, t.nv = 3, t.lanes = 8, t.flat = true, t.rows = 5, t.row_len = 48;
  EXPECT_EQ(conv_tiles_str(t),
            "ocb=4 nv=3 lanes=8 flat=1 rows=5 row_len=48 blocked=0 px=1 oc_outer=0");
  ConvTiles back = parse_conv_tiles(conv_tiles_str(t));
  EXPECT_EQ(conv_tiles_str(back), conv_tiles_str(t));
  // Any order, extra spaces.
  EXPECT_EQ(conv_tiles_str(parse_conv_tiles(
                " rows=5  row_len=48 flat=1 lanes=8 nv=3 ocb=4 oc_outer=0 px=1 blocked=0")),
            conv_tiles_str(t));
}

TEST(ConvTuning, BadTilesTextIsOneClearError) {
  const std::string full = "ocb=4 nv=1 lanes=16 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0";
  EXPECT_EQ(error_of([] { parse_conv_tiles("ocb=4 nv=1 lanes=16 flat=0 rows=1"); }),
            "conv tiles 'ocb=4 nv=1 lanes=16 flat=0 rows=1': field 'row_len' is missing");
  EXPECT_EQ(error_of([&] { parse_conv_tiles(full + " ocb=8"); }),
            "conv tiles '" + full + " ocb=8': field 'ocb' given twice");
  EXPECT_EQ(error_of([&] { parse_conv_tiles(full + " zz=1"); }),
            "conv tiles '" + full + " zz=1': unknown field 'zz'");
  EXPECT_EQ(error_of([] {
              parse_conv_tiles(
                  "ocb=x nv=1 lanes=16 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0");
            }),
            "conv tiles 'ocb=x nv=1 lanes=16 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0': "
            "'ocb=x' is not "
            "NAME=INTEGER");
  EXPECT_EQ(error_of([] {
              parse_conv_tiles(
                  "ocb=0 nv=1 lanes=16 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0");
            }),
            "conv tiles 'ocb=0 nv=1 lanes=16 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0': "
            "field 'ocb' must be at "
            "least 1");
  EXPECT_EQ(error_of([] {
              parse_conv_tiles(
                  "ocb=1 nv=1 lanes=16 flat=2 rows=1 row_len=1 blocked=0 px=1 oc_outer=0");
            }),
            "conv tiles 'ocb=1 nv=1 lanes=16 flat=2 rows=1 row_len=1 blocked=0 px=1 oc_outer=0': "
            "field 'flat' must be 0 "
            "or 1");
}

TEST(ConvTuning, LookupTakesTheEntryElseTheCostModel) {
  ConvTuning table;
  ConvTiles mine =
      parse_conv_tiles("ocb=4 nv=1 lanes=16 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0");
  table.tiles[conv_tuning_key(kGeom, DType::f32)] = mine;
  LowerOptions opt;
  opt.conv_tuning = &table;
  EXPECT_EQ(conv_tiles_str(conv_tiles_for(kGeom, DType::f32, opt)), conv_tiles_str(mine));
  // Another dtype (another key), no table, or explicit tile options: the cost model.
  LowerOptions plain;
  const std::string model = conv_tiles_str(choose_conv_tiles(kGeom, plain));
  EXPECT_NE(model, conv_tiles_str(mine));
  EXPECT_EQ(conv_tiles_str(conv_tiles_for(kGeom, DType::f16, opt)), model);
  EXPECT_EQ(conv_tiles_str(conv_tiles_for(kGeom, DType::f32, plain)), model);
  LowerOptions given = opt;
  given.tile_oc = 16;
  EXPECT_EQ(conv_tiles_for(kGeom, DType::f32, given).ocb, 16);
  LowerOptions off = opt;
  off.tile = false;
  EXPECT_EQ(conv_tiles_for(kGeom, DType::f32, off).ocb, 1);
}

TEST(ConvTuning, AnEntryThatDoesNotFitIsAnErrorNamingIt) {
  ConvTuning table;
  const std::string key = conv_tuning_key(kGeom, DType::f32);
  table.tiles[key] =
      parse_conv_tiles("ocb=4 nv=1 lanes=8 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0");
  LowerOptions opt; // 16 lanes
  opt.conv_tuning = &table;
  EXPECT_EQ(error_of([&] { conv_tiles_for(kGeom, DType::f32, opt); }),
            "conv tuning entry '" + key +
                "' (ocb=4 nv=1 lanes=8 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0): lanes=8 "
                "but the target's "
                "vectors have 16; tune again with 'kiln tune --retune'");
  table.tiles[key] =
      parse_conv_tiles("ocb=4 nv=1 lanes=16 flat=1 rows=1 row_len=480 blocked=0 px=1 oc_outer=0");
  EXPECT_NE(error_of([&] {
              conv_tiles_for(kGeom, DType::f32, opt);
            }).find("flat=1 needs a 1x1 stride-1 unpadded conv"),
            std::string::npos);
}

TEST(ConvTuning, LoweringCompilesTheTablesTileAndMatchesTheReference) {
  TwoConvs m;
  LowerOptions plain;
  Program untuned = lower(m.g, plain);
  // A tile the cost model does not pick for c3: another channel block, one vector.
  ConvGeom g3 = conv_geom(*m.c3, *m.c3->inputs[0], *m.c3->inputs[1], *m.c3->outputs[0]);
  ConvTiles mine = choose_conv_tiles(g3, plain);
  mine.ocb = mine.ocb == 16 ? 8 : 16, mine.nv = 1;
  ConvTuning table;
  table.tiles[m.key(m.c3)] = mine;
  LowerOptions opt;
  opt.conv_tuning = &table;
  Program tuned = lower(m.g, opt);
  // c3's weights are packed in blocks of the table's channels; c1, which the table lacks,
  // keeps the cost model's tile.
  EXPECT_EQ(packed_ocb(tuned, "c3"), mine.ocb);
  EXPECT_NE(packed_ocb(untuned, "c3"), mine.ocb);
  EXPECT_EQ(packed_ocb(tuned, "c1"), packed_ocb(untuned, "c1"));

  Tensor x = random_tensor(DType::f32, {1, 16, 20, 24}, 7);
  std::vector<Tensor> want = run_reference(m.g, {x});
  kiln::testing::expect_close(kiln::testing::run_program(tuned, {x})[0], want[0], 1e-4, "tuned");
  kiln::testing::expect_close(kiln::testing::run_program(untuned, {x})[0], want[0], 1e-4,
                              "untuned");
}

TEST(TuningDb, FileRoundTripsBySection) {
  TempDir dir;
  const std::string path = (dir.path / "sub" / "tuning.json").string();
  EXPECT_EQ(TuningDb::load(path).find("t", "cpu"), nullptr) << "a missing file is empty";
  TuningDb db;
  ConvTiles a =
      parse_conv_tiles("ocb=4 nv=1 lanes=16 flat=0 rows=1 row_len=1 blocked=0 px=1 oc_outer=0");
  ConvTiles b =
      parse_conv_tiles("ocb=8 nv=2 lanes=16 flat=1 rows=2 row_len=224 blocked=0 px=1 oc_outer=0");
  db.section("x86/avx512", "Xeon A")["k1"] = {a, 0.5, 0.75};
  db.section("x86/avx512", "Xeon A")["k2"] = {b, 1.25, 1.25};
  db.section("x86/avx2", "Core B")["k1"] = {b, 2, 3};
  db.save(path); // creates the folder

  TuningDb back = TuningDb::load(path);
  const TuningSection *s = back.find("x86/avx512", "Xeon A");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ(conv_tiles_str(s->at("k1").tiles), conv_tiles_str(a));
  EXPECT_EQ(s->at("k1").ms, 0.5);
  EXPECT_EQ(s->at("k1").default_ms, 0.75);
  EXPECT_EQ(conv_tiles_str(s->at("k2").tiles), conv_tiles_str(b));
  ASSERT_NE(back.find("x86/avx2", "Core B"), nullptr);
  EXPECT_EQ(back.find("x86/avx2", "Xeon A"), nullptr) << "sections are per target and CPU";
  EXPECT_EQ(conv_tuning_of(*s).tiles.size(), 2u);
  EXPECT_FALSE(cpu_model_name().empty());
}

TEST(TuningDb, CorruptFileIsOneLineErrorNamingIt) {
  TempDir dir;
  const std::string path = (dir.path / "tuning.json").string();
  auto write = [&](const std::string &text) { std::ofstream(path) << text; };
  auto expect_corrupt = [&](const std::string &detail) {
    std::string e = error_of([&] { TuningDb::load(path); });
    EXPECT_EQ(e.rfind("tuning database " + path + " is corrupt (", 0), 0u) << e;
    EXPECT_NE(e.find(detail), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  write("{not json");
  expect_corrupt("parse error");
  write(R"({"format": "something else"})");
  expect_corrupt("not a kiln-conv-tuning file");
  write(R"({"format": "kiln-conv-tuning", "version": 1, "sections": [{"target": "t",
           "cpu": "c", "convs": {"k": {"tiles": "ocb=4", "ms": 1, "default_ms": 1}}}]})");
  expect_corrupt("field 'nv' is missing");
  write(R"({"format": "kiln-conv-tuning", "version": 1, "sections": [{"target": "t"}]})");
  expect_corrupt("cpu");
}

TEST(TuningDb, DefaultPathIsInTheCacheFolder) {
  EXPECT_EQ(tuning_db_path("/x/my.json", "/cache"), "/x/my.json");
  EXPECT_EQ(tuning_db_path("", "/cache"), "/cache/tuning.json");
}
