// Annotated photos: each face's box, its 68 landmarks as dots, and a label above the box (the tool
// writes "1 happy 0.83": face number, top class, its probability), in a colour per face.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lanmsff/faces/face.hpp"
#include "lanmsff/io/plot.hpp"

namespace lanmsff::faces {

// labels[i] is drawn above faces[i] (a missing or empty label draws none).
inline io::ImageU8 annotate(const io::ImageU8& photo, const std::vector<Face>& faces, const std::vector<std::string>& labels) {
  io::Canvas canvas(photo);
  const int size = std::max(photo.h(), photo.w());
  const int thickness = std::max(1, size / 300);
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const Face& face = faces[i];
    // Text about as wide as the box: small faces in a group photo get small labels.
    const int scale = face.box.width >= 300 ? 3 : face.box.width >= 100 ? 2 : 1;
    const io::Color colour = io::palette[i % io::palette.size()];
    const Box& b = face.box;
    canvas.line(b.left, b.top, b.right(), b.top, colour, thickness);
    canvas.line(b.right(), b.top, b.right(), b.bottom(), colour, thickness);
    canvas.line(b.right(), b.bottom(), b.left, b.bottom(), colour, thickness);
    canvas.line(b.left, b.bottom(), b.left, b.top, colour, thickness);
    for (const Point& p : face.landmarks) {
      const int x = int(std::floor(p.x)), y = int(std::floor(p.y)), r = std::max(1, thickness / 2 + 1) / 2;
      canvas.fill_rect(x - r, y - r, x + r + 1, y + r + 1, colour);
    }
    if (i < labels.size() && !labels[i].empty()) {
      // On a filled band above the box (inside it when the box touches the top edge).
      const int text_h = 8 * scale, pad = scale;
      const int w = io::Canvas::text_width(labels[i], scale) + 2 * pad;
      int top = int(b.top) - text_h - 2 * pad;
      if (top < 0) top = int(b.top);
      const int left = std::clamp(int(b.left), 0, std::max(0, photo.w() - w));
      canvas.fill_rect(left, top, left + w, top + text_h + 2 * pad, colour);
      canvas.text(left + pad, top + pad, labels[i], io::white, scale);
    }
  }
  return canvas.image();
}

}  // namespace lanmsff::faces
