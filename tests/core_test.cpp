// Element types, tensors and .npy files.
#include "ir/AtomicFile.h"
#include "ir/DType.h"
#include "ir/Npy.h"
#include "ir/Tensor.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

using namespace kiln;

TEST(DType, HalfRoundTripsEveryBitPattern) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    EXPECT_EQ(f32_to_f16(f), h) << "bits " << h;
  }
}

TEST(DType, HalfRoundsToNearestEven) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 1.0f / 2048)), 1.0f);               // tie -> even
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 3.0f / 2048)), 1.0f + 4.0f / 2048); // tie -> even
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(65520.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(5.9604645e-08f)), 5.9604645e-08f); // smallest subnormal
  EXPECT_EQ(f16_to_f32(f32_to_f16(2.0e-08f)), 0.0f);
}

TEST(DType, BFloatRoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.00390625f)), 1.0f);      // tie -> even
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.01171875f)), 1.015625f); // tie -> even (up)
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(Tensor, CastFollowsOnnx) {
  Tensor t = Tensor::from_vector<float>({-1.7f, 0.0f, 2.5f, 300.0f}, {4});
  EXPECT_EQ(t.cast(DType::i64).to_i64_vector(), (std::vector<int64_t>{-1, 0, 2, 300}));
  EXPECT_EQ(t.cast(DType::boolean).to_i64_vector(), (std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(t.cast(DType::f16).to_f64_vector(), (std::vector<double>{-1.7001953125, 0, 2.5, 300}));
}

TEST(Tensor, AbsurdShapesAreUserErrors) {
  EXPECT_THROW(Tensor(DType::f32, {4000000000, 4000000000}), Error);
  EXPECT_THROW(Tensor(DType::f32, {-1, 3}), Error);
  try {
    shape_numel({1, 3, 4000000000, 4000000000}, "input 'images'");
    FAIL();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "input 'images': shape 1x3x4000000000x4000000000 is too large "
                           "(over 2^40 elements)");
  }
}

class NpyTest : public ::testing::Test {
protected:
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("kiln_npy_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  void SetUp() override { std::filesystem::create_directories(dir); }
  void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(NpyTest, RoundTripsEveryDType) {
  for (DType d : {DType::f32, DType::f16, DType::f64, DType::i64, DType::i32, DType::i16, DType::i8,
                  DType::u8, DType::boolean}) {
    Tensor t(d, {2, 3});
    auto *p = static_cast<uint8_t *>(t.raw());
    for (size_t i = 0; i < t.nbytes(); ++i)
      p[i] = d == DType::boolean ? i % 2 : static_cast<uint8_t>(i * 7 + 1);
    std::string path = (dir / "t.npy").string();
    write_npy(path, t);
    Tensor back = read_npy(path);
    EXPECT_TRUE(back.bitwise_equal(t)) << dtype_name(d);
  }
  write_npy((dir / "s.npy").string(), Tensor(DType::f32, {}));
  EXPECT_EQ(read_npy((dir / "s.npy").string()).shape(), Shape{});
}

TEST_F(NpyTest, BadFilesAreOneLineErrors) {
  std::string path = (dir / "bad.npy").string();
  std::ofstream(path) << "hello";
  try {
    read_npy(path);
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), path + ": not a .npy file (bad magic)");
  }
  Tensor t(DType::f32, {4, 4});
  write_npy(path, t);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 8);
  try {
    read_npy(path);
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), path + ": file is shorter than its shape 4x4 needs");
  }
  EXPECT_THROW(read_npy((dir / "missing.npy").string()), Error);
}

TEST_F(NpyTest, AtomicWritesLeaveNothingHalfWritten) {
  std::string path = (dir / "out.txt").string();
  write_text_file(path, "first");
  write_text_file(path, "second");
  std::ifstream f(path);
  std::string got((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(got, "second");
  // A failing writer: the old file stays, no temporary is left, the error names the path.
  try {
    write_file_atomically(path, [](const std::string &tmp) {
      std::ofstream(tmp) << "partial";
      return false;
    });
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), path + ": write failed");
  }
  std::ifstream g(path);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(g)), {}), "second");
  int files = 0;
  for ([[maybe_unused]] const auto &e : std::filesystem::directory_iterator(dir))
    ++files;
  EXPECT_EQ(files, 1);
  EXPECT_THROW(write_text_file((dir / "no-such-folder" / "x.txt").string(), "x"), Error);
}
