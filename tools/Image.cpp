// Image I/O through stb (the implementations are compiled here, once) and simple drawing.
#include "tools/Image.h"

#include "ir/AtomicFile.h"

#include "ir/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

namespace fs = std::filesystem;

namespace kiln {

Image::Image(int w, int h, Rgb fill) : width(w), height(h) {
  pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = fill.r;
    pixels[i + 1] = fill.g;
    pixels[i + 2] = fill.b;
  }
}

Image load_image(const std::string &path) {
  int w = 0, h = 0, channels = 0;
  unsigned char *data = stbi_load(path.c_str(), &w, &h, &channels, 3);
  if (!data) {
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw Error(path + ": no such image file");
    throw Error(path + ": cannot decode image (" + stbi_failure_reason() + ")");
  }
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.assign(data, data + static_cast<size_t>(w) * h * 3);
  stbi_image_free(data);
  return img;
}

static std::string lower_extension(const std::string &path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool can_save_image(const std::string &path) {
  std::string ext = lower_extension(path);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

void save_image(const std::string &path, const Image &img) {
  if (!can_save_image(path))
    throw Error(path + ": cannot write this image type (use .png, .jpg or .jpeg)");
  // The temporary name keeps the extension out of the way: the format comes from `path`.
  bool png = lower_extension(path) == ".png";
  write_file_atomically(path, [&](const std::string &tmp) {
    return png ? stbi_write_png(tmp.c_str(), img.width, img.height, 3, img.pixels.data(),
                                img.width * 3) != 0
               : stbi_write_jpg(tmp.c_str(), img.width, img.height, 3, img.pixels.data(), 90) != 0;
  });
}

namespace {

// Source index and weight of the right/lower neighbour for each destination coordinate, with
// OpenCV's half-pixel mapping and edge clamping.
struct Tap {
  int i0, i1;
  float f;
};

std::vector<Tap> taps(int src, int dst) {
  std::vector<Tap> t(dst);
  double scale = static_cast<double>(src) / dst;
  for (int d = 0; d < dst; ++d) {
    double s = (d + 0.5) * scale - 0.5;
    int i = static_cast<int>(std::floor(s));
    float f = static_cast<float>(s - i);
    if (i < 0) {
      i = 0;
      f = 0;
    }
    if (i >= src - 1) {
      i = src - 1;
      f = 0;
    }
    t[d] = {i, std::min(i + 1, src - 1), f};
  }
  return t;
}

} // namespace

Image resize_bilinear(const Image &src, int width, int height) {
  KILN_ASSERT(width > 0 && height > 0 && src.width > 0 && src.height > 0, "resize: empty image");
  Image dst(width, height);
  std::vector<Tap> tx = taps(src.width, width), ty = taps(src.height, height);
  for (int y = 0; y < height; ++y) {
    const Tap &v = ty[y];
    for (int x = 0; x < width; ++x) {
      const Tap &u = tx[x];
      const uint8_t *p00 = src.at(u.i0, v.i0), *p01 = src.at(u.i1, v.i0);
      const uint8_t *p10 = src.at(u.i0, v.i1), *p11 = src.at(u.i1, v.i1);
      uint8_t *out = dst.at(x, y);
      for (int c = 0; c < 3; ++c) {
        float top = p00[c] + (p01[c] - p00[c]) * u.f;
        float bottom = p10[c] + (p11[c] - p10[c]) * u.f;
        float val = top + (bottom - top) * v.f;
        out[c] = static_cast<uint8_t>(std::clamp(std::lround(val), 0L, 255L));
      }
    }
  }
  return dst;
}

void fill_rect(Image &img, int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, img.width);
  y1 = std::min(y1, img.height);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      uint8_t *p = img.at(x, y);
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
}

void draw_rect(Image &img, int x0, int y0, int x1, int y1, int thickness, Rgb c) {
  fill_rect(img, x0, y0, x1 + 1, y0 + thickness, c);
  fill_rect(img, x0, y1 + 1 - thickness, x1 + 1, y1 + 1, c);
  fill_rect(img, x0, y0, x0 + thickness, y1 + 1, c);
  fill_rect(img, x1 + 1 - thickness, y0, x1 + 1, y1 + 1, c);
}

// stb_easy_font draws printable ASCII only; anything else would index past its tables.
static std::string printable(const std::string &text) {
  std::string s = text;
  for (char &ch : s)
    if (ch < 32 || ch > 126)
      ch = '?';
  return s;
}

int text_width(const std::string &text, int scale) {
  std::string s = printable(text);
  return stb_easy_font_width(s.data()) * scale;
}

// The glyphs' cap height is 7 units; one unit of margin above and below reads better.
int text_height(int scale) { return 9 * scale; }

void draw_text(Image &img, int x, int y, const std::string &text, int scale, Rgb c) {
  std::string s = printable(text);
  // Each quad is 4 vertices of 16 bytes (x, y, z floats and RGBA); ~270 bytes per character.
  std::vector<char> buf(300 * (s.size() + 1));
  int quads =
      stb_easy_font_print(0, 0, s.data(), nullptr, buf.data(), static_cast<int>(buf.size()));
  for (int q = 0; q < quads; ++q) {
    const float *v0 = reinterpret_cast<const float *>(&buf[q * 64]);
    const float *v2 = reinterpret_cast<const float *>(&buf[q * 64 + 32]);
    int qx0 = static_cast<int>(std::lround(v0[0] * scale)), qy0 = static_cast<int>(v0[1] * scale);
    int qx1 = static_cast<int>(std::lround(v2[0] * scale)), qy1 = static_cast<int>(v2[1] * scale);
    fill_rect(img, x + qx0, y + scale + qy0, x + qx1, y + scale + qy1, c);
  }
}

} // namespace kiln
