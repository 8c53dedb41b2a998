// What the face front end finds in a photo: a box, a detector score, and 68 landmarks in the layout
// of the iBUG 300-W annotation (dlib's shape predictor): jaw 0-16, brows 17-26, nose 27-35, eyes
// 36-41 (the eye on the image's left) and 42-47, mouth 48-67. Coordinates are in pixels of the photo,
// x to the right and y down, with (0, 0) the top-left corner of the top-left pixel.
// No dependency beyond the standard library: the detector (faces/detector.hpp) needs dlib, the rest
// of the front end (alignment, tracking, drawing) does not.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace lanmsff::faces {

struct Point {
  float x = 0, y = 0;
  bool operator==(const Point&) const = default;
};

// An axis-aligned box: left, top, width, height in pixels.
struct Box {
  float left = 0, top = 0, width = 0, height = 0;
  float right() const { return left + width; }
  float bottom() const { return top + height; }
  float area() const { return std::max(width, 0.0f) * std::max(height, 0.0f); }
  Point centre() const { return {left + width / 2, top + height / 2}; }
  bool operator==(const Box&) const = default;
};

// Intersection over union of two boxes, in [0, 1].
inline float iou(const Box& a, const Box& b) {
  const float w = std::min(a.right(), b.right()) - std::max(a.left, b.left);
  const float h = std::min(a.bottom(), b.bottom()) - std::max(a.top, b.top);
  if (w <= 0 || h <= 0) return 0;
  const float inter = w * h;
  return inter / (a.area() + b.area() - inter);
}

inline constexpr int landmark_count = 68;

struct Face {
  Box box;
  float score = 0;                     // the detector's confidence (dlib: SVM margin; > 0 is a face)
  std::vector<Point> landmarks;        // landmark_count points, or empty when none were located
  int id = -1;                         // a track id in video (faces/track.hpp); -1 in a photo

  bool has_landmarks() const { return landmarks.size() == std::size_t(landmark_count); }
  // The centres of the eyes (the mean of each eye's six contour points): [0] is the eye on the image's
  // left (the person's right eye), [1] the one on the image's right.
  std::array<Point, 2> eyes() const {
    if (!has_landmarks())
      throw std::logic_error("Face::eyes: the face has " + std::to_string(landmarks.size()) + " landmarks, not " +
                             std::to_string(landmark_count));
    std::array<Point, 2> eye{};
    for (int e = 0; e < 2; ++e) {
      for (int i = 36 + 6 * e; i < 42 + 6 * e; ++i) eye[e].x += landmarks[i].x, eye[e].y += landmarks[i].y;
      eye[e].x /= 6, eye[e].y /= 6;
    }
    return eye;
  }
};

// The angle of the line from the first eye to the second, in degrees (0 = level, positive = the second
// eye lower on the image, i.e. the head tilted clockwise as seen).
inline double eye_line_degrees(Point first, Point second) {
  return std::atan2(double(second.y) - first.y, double(second.x) - first.x) * 180.0 / std::numbers::pi;
}

}  // namespace lanmsff::faces
