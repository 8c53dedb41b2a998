// Small PNG plots for training runs: line charts (loss / accuracy per epoch) and a confusion-
// matrix heat map, drawn on an RGB canvas with stb_easy_font's bitmap font and written with
// stb_image_write. No plotting library needed; good enough to look at a run.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "lanmsff/io/image.hpp"

namespace lanmsff::io {

using Color = std::array<std::uint8_t, 3>;
inline constexpr Color black{0, 0, 0}, white{255, 255, 255}, grey{200, 200, 200}, dark_grey{90, 90, 90};
inline constexpr std::array<Color, 6> palette{{{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                               {148, 103, 189}, {140, 86, 75}}};

class Canvas {
 public:
  Canvas(int width, int height, Color background = white) : image_(height, width, 3) {
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) set(x, y, background);
  }
  // Drawing over an existing RGB image (a gray one becomes RGB).
  explicit Canvas(const ImageU8& image) : image_(image.c() == 3 ? image : convert_channels(image, 3)) {}
  int width() const { return image_.w(); }
  int height() const { return image_.h(); }
  const ImageU8& image() const { return image_; }

  void set(int x, int y, Color c) {
    if (x < 0 || y < 0 || x >= image_.w() || y >= image_.h()) return;
    std::copy(c.begin(), c.end(), image_.pixel(y, x));
  }
  void fill_rect(int x0, int y0, int x1, int y1, Color c) {  // [x0, x1) x [y0, y1)
    for (int y = std::max(y0, 0); y < std::min(y1, height()); ++y)
      for (int x = std::max(x0, 0); x < std::min(x1, width()); ++x) set(x, y, c);
  }
  // A line of the given thickness (square brush), Bresenham-stepped.
  void line(double x0, double y0, double x1, double y1, Color c, int thickness = 1) {
    const double steps = std::max({std::abs(x1 - x0), std::abs(y1 - y0), 1.0});
    for (int i = 0; i <= int(steps); ++i) {
      const double t = i / steps;
      const int x = int(std::lround(x0 + t * (x1 - x0))), y = int(std::lround(y0 + t * (y1 - y0)));
      fill_rect(x - thickness / 2, y - thickness / 2, x - thickness / 2 + thickness, y - thickness / 2 + thickness, c);
    }
  }
  // Text with its top-left corner at (x, y), each font pixel drawn as scale x scale.
  void text(int x, int y, const std::string& s, Color c, int scale = 1) {
    std::vector<char> buffer(s.size() * 300 + 64);
    std::string copy = s;
    const int quads = stb_easy_font_print(0, 0, copy.data(), nullptr, buffer.data(), int(buffer.size()));
    struct Vertex {
      float x, y, z;
      unsigned char color[4];
    };
    const auto* v = reinterpret_cast<const Vertex*>(buffer.data());
    for (int q = 0; q < quads; ++q) {
      const Vertex* quad = v + 4 * q;
      fill_rect(x + int(quad[0].x) * scale, y + int(quad[0].y) * scale, x + int(quad[2].x) * scale,
                y + int(quad[2].y) * scale, c);
    }
  }
  static int text_width(const std::string& s, int scale = 1) {
    std::string copy = s;
    return stb_easy_font_width(copy.data()) * scale;
  }
  void save(const std::filesystem::path& path) const { save_png(path, image_); }

 private:
  ImageU8 image_;
};

inline std::string format_number(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) std::snprintf(buf, sizeof buf, "%.1e", v);
  else if (a < 0.1) std::snprintf(buf, sizeof buf, "%.3f", v);
  else if (a < 10) std::snprintf(buf, sizeof buf, "%.2f", v);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

struct Series {
  std::string name;
  std::vector<double> x, y;
};

// A line chart of one or more series, with axes, ticks, a title and a legend.
inline void plot_lines(const std::filesystem::path& path, const std::string& title, const std::string& x_label,
                       const std::vector<Series>& series, int width = 640, int height = 420) {
  Canvas canvas(width, height);
  const int left = 64, right = width - 16, top = 36, bottom = height - 44;
  double x_min = 1e300, x_max = -1e300, y_min = 1e300, y_max = -1e300;
  for (const auto& s : series)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]), x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]), y_max = std::max(y_max, s.y[i]);
    }
  if (x_min > x_max) x_min = 0, x_max = 1, y_min = 0, y_max = 1;  // nothing to draw: empty axes
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) y_max = y_min + 1, y_min -= 1;
  const double pad = 0.05 * (y_max - y_min);
  y_min -= pad, y_max += pad;
  const auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * (right - left); };
  const auto py = [&](double y) { return bottom - (y - y_min) / (y_max - y_min) * (bottom - top); };

  canvas.text(left, 10, title, black, 2);
  for (int i = 0; i <= 5; ++i) {  // grid and tick labels
    const double yv = y_min + (y_max - y_min) * i / 5, xv = x_min + (x_max - x_min) * i / 5;
    canvas.line(left, py(yv), right, py(yv), grey);
    const std::string yl = format_number(yv), xl = format_number(xv);
    canvas.text(left - 6 - Canvas::text_width(yl), int(py(yv)) - 3, yl, dark_grey);
    canvas.line(px(xv), bottom, px(xv), bottom + 4, black);
    canvas.text(int(px(xv)) - Canvas::text_width(xl) / 2, bottom + 8, xl, dark_grey);
  }
  canvas.line(left, top, left, bottom, black);
  canvas.line(left, bottom, right, bottom, black);
  canvas.text((left + right - Canvas::text_width(x_label)) / 2, height - 18, x_label, black);
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const Color c = palette[k % palette.size()];
    for (std::size_t i = 0; i + 1 < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.y[i]) && std::isfinite(s.y[i + 1]))
        canvas.line(px(s.x[i]), py(s.y[i]), px(s.x[i + 1]), py(s.y[i + 1]), c, 2);
    if (s.x.size() == 1 && std::isfinite(s.y[0]))
      canvas.fill_rect(int(px(s.x[0])) - 2, int(py(s.y[0])) - 2, int(px(s.x[0])) + 3, int(py(s.y[0])) + 3, c);
    const int ly = top + 6 + 14 * int(k);  // legend, top right
    canvas.fill_rect(right - 120, ly + 2, right - 104, ly + 5, c);
    canvas.text(right - 98, ly, s.name, black);
  }
  canvas.save(path);
}

// A confusion matrix (rows = true class, columns = prediction) as a heat map with counts.
inline void plot_confusion_matrix(const std::filesystem::path& path, const std::string& title,
                                  const std::vector<std::vector<long long>>& counts,
                                  const std::vector<std::string>& class_names) {
  const int k = int(counts.size());
  int label_width = 0;
  for (const auto& n : class_names) label_width = std::max(label_width, Canvas::text_width(n));
  const int cell = std::clamp(480 / std::max(k, 1), 28, 64);
  const int left = label_width + 24, top = 60;
  const int width = left + cell * k + 20, height = top + cell * k + 40;
  Canvas canvas(std::max(width, 260), height);
  canvas.text(10, 10, title, black, 2);
  canvas.text(left, top - 16, "predicted ->", dark_grey);
  for (int r = 0; r < k; ++r) {
    long long row_total = 0;
    for (long long v : counts[r]) row_total += v;
    const std::string name = r < int(class_names.size()) ? class_names[r] : std::to_string(r);
    canvas.text(left - 8 - Canvas::text_width(name), top + r * cell + cell / 2 - 3, name, black);
    for (int c = 0; c < k; ++c) {
      const double share = row_total > 0 ? double(counts[r][c]) / double(row_total) : 0;  // row-normalised colour
      const auto shade = std::uint8_t(255 - std::lround(200 * share));
      const Color fill{shade, shade, 255};
      canvas.fill_rect(left + c * cell, top + r * cell, left + (c + 1) * cell - 1, top + (r + 1) * cell - 1, fill);
      const std::string v = std::to_string(counts[r][c]);
      canvas.text(left + c * cell + (cell - Canvas::text_width(v)) / 2, top + r * cell + cell / 2 - 3, v,
                  share > 0.6 ? white : black);
    }
  }
  canvas.text(left, top + k * cell + 8, "rows: true class; colour: share of the row", dark_grey);
  canvas.save(path);
}

}  // namespace lanmsff::io
