#pragma once
/// 8-bit RGB images for `kiln detect`: reading and writing with stb (Debian's libstb-dev), a
/// bilinear resize with OpenCV's INTER_LINEAR sampling (what YOLO exporters letterbox with),
/// and the drawing the annotated pictures need (rectangles and stb_easy_font text).
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels; ///< RGB, row-major, 3 bytes per pixel

  Image() = default;
  Image(int w, int h, Rgb fill = {});
  uint8_t *at(int x, int y) { return &pixels[(static_cast<size_t>(y) * width + x) * 3]; }
  const uint8_t *at(int x, int y) const {
    return &pixels[(static_cast<size_t>(y) * width + x) * 3];
  }
};

/// Decodes a JPEG, PNG, BMP, ... file (any channel count becomes RGB). Throws kiln::Error naming
/// the file and stb's reason.
Image load_image(const std::string &path);

/// True for the file extensions save_image can write (.jpg, .jpeg, .png; any case).
bool can_save_image(const std::string &path);

/// Writes a PNG or JPEG (quality 90) chosen by the extension, atomically (temporary file, then
/// rename). Throws kiln::Error for another extension or a failed write.
void save_image(const std::string &path, const Image &img);

/// Bilinear resize sampling at pixel centres, as OpenCV's INTER_LINEAR does (no antialiasing).
Image resize_bilinear(const Image &src, int width, int height);

/// Rectangle outline of the given thickness, drawn inwards from (x0,y0)-(x1,y1); clipped.
void draw_rect(Image &img, int x0, int y0, int x1, int y1, int thickness, Rgb c);
/// Filled rectangle [x0,x1) x [y0,y1), clipped.
void fill_rect(Image &img, int x0, int y0, int x1, int y1, Rgb c);

/// Size in pixels of printable-ASCII text drawn at integer `scale` (stb_easy_font glyphs).
int text_width(const std::string &text, int scale);
int text_height(int scale);
/// Draws text with its top-left corner at (x, y); clipped.
void draw_text(Image &img, int x, int y, const std::string &text, int scale, Rgb c);

} // namespace kiln
