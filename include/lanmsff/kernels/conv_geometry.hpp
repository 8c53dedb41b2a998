// Geometry of a 2-D convolution: padding rules (TensorFlow 'same' / 'valid', explicit symmetric as
// PyTorch), output size, and the tiling of output rows that the GEMM kernels work on.
#pragma once

#include <cstddef>

#include "lanmsff/core/shape.hpp"

namespace lanmsff {

struct Padding {
  enum Kind { same, valid, symmetric };
  Kind kind = same;
  int amount = 0;  // per side, for symmetric
  constexpr bool operator==(const Padding&) const = default;
};

inline constexpr Padding same{Padding::same, 0};
inline constexpr Padding valid{Padding::valid, 0};
// Explicit zero padding of `p` on every side (PyTorch's `padding=p`).
constexpr Padding pad(int p) { return {Padding::symmetric, p}; }

struct ConvGeometry {
  int in_h = 0, in_w = 0, in_c = 0;
  int out_h = 0, out_w = 0, out_c = 0;
  int k_h = 1, k_w = 1, stride = 1, dilation = 1;
  int pad_top = 0, pad_left = 0;

  constexpr int patch_size() const { return k_h * k_w * in_c; }  // GEMM inner dimension
  constexpr bool is_pointwise() const {
    return k_h == 1 && k_w == 1 && stride == 1 && pad_top == 0 && pad_left == 0;
  }
  constexpr Shape input_shape() const { return {in_h, in_w, in_c}; }
  constexpr Shape output_shape() const { return {out_h, out_w, out_c}; }
};

constexpr int conv_output_size(int in, int k, int stride, int dilation, Padding p) {
  const int span = (k - 1) * dilation + 1;
  switch (p.kind) {
    case Padding::same: return (in + stride - 1) / stride;
    case Padding::valid: return in >= span ? (in - span) / stride + 1 : 0;
    case Padding::symmetric: return in + 2 * p.amount >= span ? (in + 2 * p.amount - span) / stride + 1 : 0;
  }
  return 0;
}

// Padding before (top / left). TensorFlow's 'same' puts the smaller half before.
constexpr int conv_pad_before(int in, int k, int stride, int dilation, Padding p) {
  if (p.kind == Padding::valid) return 0;
  if (p.kind == Padding::symmetric) return p.amount;
  const int out = (in + stride - 1) / stride;
  const int total = (out - 1) * stride + (k - 1) * dilation + 1 - in;
  return total > 0 ? total / 2 : 0;
}

constexpr ConvGeometry make_conv_geometry(Shape in, int out_channels, int k, int stride, int dilation, Padding p) {
  ConvGeometry g;
  g.in_h = in.h, g.in_w = in.w, g.in_c = in.c;
  g.k_h = k, g.k_w = k, g.stride = stride, g.dilation = dilation;
  g.out_h = conv_output_size(in.h, k, stride, dilation, p);
  g.out_w = conv_output_size(in.w, k, stride, dilation, p);
  g.out_c = out_channels;
  g.pad_top = conv_pad_before(in.h, k, stride, dilation, p);
  g.pad_left = conv_pad_before(in.w, k, stride, dilation, p);
  return g;
}

// Calls f(tap, offset) for every kernel tap of output pixel (oy, ox) that falls inside the input:
// tap = ky * k_w + kx, offset = (iy * in_w + ix) * in_c, the tap's pixel in the input sample.
// Taps in the padding are skipped. Every kernel that walks a window goes through here.
template <class F>
inline void for_each_valid_tap(const ConvGeometry& g, int oy, int ox, F&& f) {
  for (int ky = 0; ky < g.k_h; ++ky) {
    const int iy = oy * g.stride - g.pad_top + ky * g.dilation;
    if (iy < 0 || iy >= g.in_h) continue;
    for (int kx = 0; kx < g.k_w; ++kx) {
      const int ix = ox * g.stride - g.pad_left + kx * g.dilation;
      if (ix < 0 || ix >= g.in_w) continue;
      f(ky * g.k_w + kx, (static_cast<std::size_t>(iy) * g.in_w + ix) * g.in_c);
    }
  }
}

// Output rows are processed in blocks of `rows_per_tile`. Tiles two apart never touch the same
// input rows, which lets scatter-style backward kernels run even tiles, then odd tiles, in parallel.
constexpr int conv_rows_per_tile(const ConvGeometry& g, int target_pixels = 256) {
  int rows = g.out_w > 0 ? target_pixels / g.out_w : 1;
  if (rows < 1) rows = 1;
  const int reach = ((g.k_h - 1) * g.dilation + g.stride - 1) / g.stride;  // ceil((k-1)d / s)
  if (rows < reach) rows = reach;
  if (rows > g.out_h) rows = g.out_h;
  return rows < 1 ? 1 : rows;
}

}  // namespace lanmsff
