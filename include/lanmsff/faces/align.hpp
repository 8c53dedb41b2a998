// Face alignment: the similarity transform (rotation, uniform scale, shift) that puts the two eye
// centres level at fixed positions of a crop, and the crop itself, sampled from the photo. This is
// how the aligned face sets the models were trained on were made (FER-2013's 48x48 crops, RAF-DB's
// and KDEF's aligned faces): a face crop from the front end looks like a training image.
//
// AlignSpec says where the eyes go, as fractions of the crop: eye_line is the height of the eye
// centres (0 = top, 1 = bottom), eye_distance the distance between them (a fraction of the width),
// centred horizontally. The defaults (0.40 and 0.36) give a crop from the top of the forehead to
// below the chin with the ears at the edges, which is roughly the framing of FER-2013 and of
// RAF-DB's aligned faces. Size and colour come from the model's input (LANMSFF 64x64 gray, MA-Net
// 224x224 RGB). Gray is the luma 0.299 R + 0.587 G + 0.114 B, as the data-set loaders make it.
//
// Sampling is bilinear, averaged over s x s points per crop pixel where the photo is s times larger
// than the crop (s <= 8), so that a large face shrunk to 64 pixels is not aliased. Outside the photo
// the edge pixels repeat.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

#include "lanmsff/core/shape.hpp"
#include "lanmsff/faces/face.hpp"
#include "lanmsff/io/image.hpp"

namespace lanmsff::faces {

struct AlignSpec {
  int height = 64, width = 64, channels = 1;
  float eye_line = 0.40f;      // eye centres at this fraction of the height
  float eye_distance = 0.36f;  // eye centres this fraction of the width apart

  // The crop a model with this input shape (H x W x C) takes, with the default eye geometry.
  static AlignSpec for_input(Shape input) {
    AlignSpec spec;
    spec.height = input.h, spec.width = input.w, spec.channels = input.c;
    return spec;
  }
  void check() const {
    if (height < 1 || width < 1) throw std::invalid_argument("AlignSpec: the crop is " + std::to_string(height) + "x" + std::to_string(width));
    io::detail::check_channels(channels, "AlignSpec");
    if (!(eye_line > 0 && eye_line < 1))
      throw std::invalid_argument("AlignSpec: eye_line must lie in (0, 1), got " + std::to_string(eye_line));
    if (!(eye_distance > 0 && eye_distance < 1))
      throw std::invalid_argument("AlignSpec: eye_distance must lie in (0, 1), got " + std::to_string(eye_distance));
  }
  // Where the two eye centres land in the crop, in pixels ([0] the image-left eye).
  std::array<Point, 2> eye_targets() const {
    const float y = eye_line * height, half = eye_distance * width / 2, cx = width / 2.0f;
    return {Point{cx - half, y}, Point{cx + half, y}};
  }
};

// x_photo = origin + [a -b; b a] * (u_crop - target0): maps crop coordinates to photo coordinates.
struct Similarity {
  float a = 1, b = 0;
  Point target, origin;
  Point to_photo(Point u) const {
    const float dx = u.x - target.x, dy = u.y - target.y;
    return {origin.x + a * dx - b * dy, origin.y + b * dx + a * dy};
  }
  // The inverse: photo coordinates to crop coordinates.
  Point to_crop(Point p) const {
    const float dx = p.x - origin.x, dy = p.y - origin.y, n = a * a + b * b;
    return {target.x + (a * dx + b * dy) / n, target.y + (-b * dx + a * dy) / n};
  }
  float scale() const { return std::sqrt(a * a + b * b); }  // photo pixels per crop pixel
};

// The transform that takes the crop's eye targets onto the photo's eye centres `eyes` ([0] the
// image-left eye).
inline Similarity eye_alignment(const std::array<Point, 2>& eyes, const AlignSpec& spec) {
  spec.check();
  const auto targets = spec.eye_targets();
  const float d = targets[1].x - targets[0].x;
  const float qx = eyes[1].x - eyes[0].x, qy = eyes[1].y - eyes[0].y;
  if (!(std::isfinite(qx) && std::isfinite(qy)) || (qx == 0 && qy == 0))
    throw std::invalid_argument("eye_alignment: the two eye centres coincide or are not finite");
  return {qx / d, qy / d, targets[0], eyes[0]};
}

// The crop (spec.height x spec.width x spec.channels, values in [0, 1]) under the transform.
inline io::Image warp_crop(const io::ImageU8& photo, const Similarity& transform, const AlignSpec& spec) {
  spec.check();
  if (photo.empty()) throw std::invalid_argument("warp_crop: the photo is empty");
  const io::ImageU8 source = photo.c() == spec.channels ? photo : io::convert_channels(photo, spec.channels);
  const int C = spec.channels, H = source.h(), W = source.w();
  const int s = std::clamp(int(std::ceil(transform.scale())), 1, 8);
  io::Image crop(spec.height, spec.width, C);
  float sum[4];
  for (int i = 0; i < spec.height; ++i)
    for (int j = 0; j < spec.width; ++j) {
      std::fill(sum, sum + C, 0.0f);
      for (int si = 0; si < s; ++si)
        for (int sj = 0; sj < s; ++sj) {
          // Pixel centres at +0.5: the crop point maps to a continuous photo point, sampled between
          // the four nearest pixel centres.
          const Point p = transform.to_photo({j + (sj + 0.5f) / s, i + (si + 0.5f) / s});
          const float fx = std::clamp(p.x - 0.5f, 0.0f, float(W - 1)), fy = std::clamp(p.y - 0.5f, 0.0f, float(H - 1));
          const int x0 = int(fx), y0 = int(fy), x1 = std::min(x0 + 1, W - 1), y1 = std::min(y0 + 1, H - 1);
          const float wx = fx - x0, wy = fy - y0;
          const std::uint8_t *p00 = source.pixel(y0, x0), *p01 = source.pixel(y0, x1), *p10 = source.pixel(y1, x0),
                             *p11 = source.pixel(y1, x1);
          for (int c = 0; c < C; ++c)
            sum[c] += (1 - wy) * ((1 - wx) * p00[c] + wx * p01[c]) + wy * ((1 - wx) * p10[c] + wx * p11[c]);
        }
      for (int c = 0; c < C; ++c) crop(i, j, c) = sum[c] / float(s * s * 255);
    }
  return crop;
}

// The aligned crop of a face with landmarks.
inline io::Image align_face(const io::ImageU8& photo, const Face& face, const AlignSpec& spec) {
  return warp_crop(photo, eye_alignment(face.eyes(), spec), spec);
}

}  // namespace lanmsff::faces
