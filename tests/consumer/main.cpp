// An installed Kiln from an application's point of view (find_package(Kiln) + Kiln::kiln):
// yolox_nano at 1x3x64x64 on the pattern of tests/c/ort_expected.py, against ONNX Runtime.
//
//   consumer MODEL.onnx EXPECTED.bin [hit]
//
// "hit": the schedule must come from the cache folder. The tests compile it in another program
// (tests/c/capi_test.c) with the same libkiln: cache keys name the library's build, not the
// application's.
#include <kiln/kiln.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s MODEL.onnx EXPECTED.bin [hit]\n", argv[0]);
    return 2;
  }
  std::ifstream f(argv[2], std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> expected(raw.size() / sizeof(float));
  std::copy(raw.begin(), raw.end(), reinterpret_cast<char *>(expected.data()));

  kiln::SessionOptions opt;
  opt.input_shapes["images"] = {1, 3, 64, 64};
  opt.threads = 2;
  kiln::Result<kiln::Session> s = kiln::Session::open(argv[1], opt);
  if (!s)
    return std::fprintf(stderr, "%s\n", s.error().c_str()), 1;
  kiln::HostTensor x(kiln::ElementType::f32, {1, 3, 64, 64});
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data_as<float>()[i] = static_cast<float>(i * 37 % 255) / 255.0f;
  auto out = s->run({{"images", x}});
  if (!out)
    return std::fprintf(stderr, "%s\n", out.error().c_str()), 1;
  if (argc == 4 && s->stats().cache != "hit")
    return std::fprintf(stderr, "cache: %s, expected a hit\n", s->stats().cache.c_str()), 1;
  const kiln::HostTensor &y = (*out)[0].tensor;
  if ((*out)[0].name != "output" || y.shape() != std::vector<int64_t>{1, 84, 85} ||
      static_cast<size_t>(y.numel()) != expected.size())
    return std::fprintf(stderr, "unexpected output '%s' of %lld values\n", (*out)[0].name.c_str(),
                        static_cast<long long>(y.numel())),
           1;
  int bad = 0;
  double max_diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    double d = std::fabs(double(y.data_as<float>()[i]) - expected[i]);
    max_diff = std::max(max_diff, d);
    bad += !(d <= 1e-3 + 1e-3 * std::fabs(expected[i])); // check_model.py's fp32 rule
  }
  std::printf("%s: output 1x84x85, %d of %zu values outside tolerance of ONNX Runtime, max |diff| "
              "%.3g\n",
              kiln::version().c_str(), bad, expected.size(), max_diff);
  return bad == 0 ? 0 : 1;
}
