// Shape of one sample (height, width, channels). A structural type, so it can be a
// template argument: every layer is instantiated with its input shape at compile time.
#pragma once

#include <cstddef>
#include <string>

namespace lanmsff {

struct Shape {
  int h = 0;
  int w = 0;
  int c = 0;

  constexpr std::size_t size() const { return static_cast<std::size_t>(h) * w * c; }
  constexpr std::size_t pixels() const { return static_cast<std::size_t>(h) * w; }
  constexpr bool operator==(const Shape&) const = default;
};

inline std::string to_string(Shape s) {
  return std::to_string(s.h) + "x" + std::to_string(s.w) + "x" + std::to_string(s.c);
}

}  // namespace lanmsff
