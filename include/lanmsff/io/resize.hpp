// Bilinear resizing with the half-pixel-centre convention: output pixel o samples the input at
// (o + 0.5) * in/out - 0.5, clamped to the edge. This is PyTorch's F.interpolate(mode='bilinear',
// align_corners=False, antialias=False), TF2's tf.image.resize(method='bilinear') and OpenCV's INTER_LINEAR.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "lanmsff/io/image.hpp"

namespace lanmsff::io {

namespace detail {

// Output coordinate o along one axis reads (1 - weight) * in[lower] + weight * in[upper].
struct LinearTap {
  int lower = 0, upper = 0;
  float weight = 0.0f;
};

inline std::vector<LinearTap> linear_taps(int in_size, int out_size) {
  std::vector<LinearTap> taps(static_cast<std::size_t>(out_size));
  const double scale = static_cast<double>(in_size) / out_size;
  for (int o = 0; o < out_size; ++o) {
    // Below 0 the sample is clamped to the first pixel (PyTorch clamps the coordinate, TF the
    // indices: the same values); past the last pixel `upper` is clamped, which is also the edge.
    const double source = std::max((o + 0.5) * scale - 0.5, 0.0);
    const int lower = std::min(static_cast<int>(source), in_size - 1);
    taps[o] = {lower, std::min(lower + 1, in_size - 1), static_cast<float>(source - lower)};
  }
  return taps;
}

// Resizes one interleaved H x W x C buffer into out (out_h x out_w x C). Integer pixel types are
// interpolated in float and rounded to the nearest level.
template <class T>
void resize_bilinear(const T* in, int in_h, int in_w, int channels, T* out, int out_h, int out_w) {
  const std::vector<LinearTap> rows = linear_taps(in_h, out_h), cols = linear_taps(in_w, out_w);
  const std::size_t in_stride = static_cast<std::size_t>(in_w) * channels;
  for (int y = 0; y < out_h; ++y) {
    const LinearTap r = rows[y];
    const T* top = in + r.lower * in_stride;
    const T* bottom = in + r.upper * in_stride;
    T* dst = out + static_cast<std::size_t>(y) * out_w * channels;
    for (int x = 0; x < out_w; ++x) {
      const LinearTap t = cols[x];
      const T* tl = top + static_cast<std::size_t>(t.lower) * channels;
      const T* tr = top + static_cast<std::size_t>(t.upper) * channels;
      const T* bl = bottom + static_cast<std::size_t>(t.lower) * channels;
      const T* br = bottom + static_cast<std::size_t>(t.upper) * channels;
      for (int c = 0; c < channels; ++c) {
        const float upper_row = float(tl[c]) + t.weight * (float(tr[c]) - float(tl[c]));
        const float lower_row = float(bl[c]) + t.weight * (float(br[c]) - float(bl[c]));
        const float v = upper_row + r.weight * (lower_row - upper_row);
        if constexpr (std::is_integral_v<T>)
          dst[static_cast<std::size_t>(x) * channels + c] = static_cast<T>(std::clamp(std::lround(v), 0l, 255l));
        else
          dst[static_cast<std::size_t>(x) * channels + c] = static_cast<T>(v);
      }
    }
  }
}

}  // namespace detail

// No antialiasing: shrinking by more than 2x samples only 4 input pixels per output pixel, as the
// frameworks named above do with their defaults.
template <class T>
BasicImage<T> resize_bilinear(const BasicImage<T>& in, int height, int width) {
  if (height <= 0 || width <= 0)
    throw std::invalid_argument("resize_bilinear: target size must be positive, got " + std::to_string(height) + "x" +
                                std::to_string(width));
  if (in.empty()) throw std::invalid_argument("resize_bilinear: the input image is empty");
  if (in.h() == height && in.w() == width) return in;
  BasicImage<T> out(height, width, in.c());
  detail::resize_bilinear(in.data(), in.h(), in.w(), in.c(), out.data(), height, width);
  return out;
}

}  // namespace lanmsff::io
