// Depthwise 2-D convolution (depth multiplier 1) on NHWC data, vectorised along channels: every
// tap is one fused multiply-add of two contiguous channel vectors. Weights are (kh, kw, C).
#pragma once

#include <algorithm>
#include <stdexcept>

#include "lanmsff/kernels/conv.hpp"

namespace lanmsff::kernels {

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <class T>
using ConstVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

namespace detail {
// Channels per register block: one AVX-512 register of T (two AVX2 ones). Each output value is
// accumulated over all its taps in a register and stored once.
template <class T>
inline constexpr int depthwise_block = int(64 / sizeof(T));

// The valid taps of one pixel, as (tap index, element offset) pairs, so that every channel block
// reuses them.
struct PixelTaps {
  int count = 0;
  int tap[64];
  std::size_t at[64];
};

// out(c..c+B) = sum over the taps of a(offset + c..) * w(tap * C + c..) (+ bias), accumulated in
// registers and stored once.
template <int B, class T>
inline void depthwise_block_sum(const PixelTaps& taps, int C, int c, const T* a, const T* weights, const T* bias,
                                T* __restrict out) {
  using Block = Eigen::Array<T, B, 1>;
  Block acc = bias ? Block(Eigen::Map<const Block>(bias + c)) : Block::Zero();
  for (int k = 0; k < taps.count; ++k)
    acc += Eigen::Map<const Block>(a + taps.at[k] + c) * Eigen::Map<const Block>(weights + std::size_t(taps.tap[k]) * C + c);
  Eigen::Map<Block>(out + c) = acc;
}

// One pixel, all channels: full register blocks, then half and quarter blocks, then single channels.
template <class T>
inline void depthwise_pixel(const PixelTaps& taps, int C, const T* a, const T* weights, const T* bias, T* __restrict out) {
  constexpr int B = depthwise_block<T>;
  int c = 0;
  for (; c + B <= C; c += B) depthwise_block_sum<B>(taps, C, c, a, weights, bias, out);
  if (c + B / 2 <= C) depthwise_block_sum<B / 2>(taps, C, c, a, weights, bias, out), c += B / 2;
  if (c + B / 4 <= C) depthwise_block_sum<B / 4>(taps, C, c, a, weights, bias, out), c += B / 4;
  for (; c < C; ++c) depthwise_block_sum<1>(taps, C, c, a, weights, bias, out);
}
// acc(tap, c..c+B) += gy(c..c+B) * a(offset + c..) for every tap of the pixel; gy stays in a register.
template <int B, class T>
inline void depthwise_weight_block(const PixelTaps& taps, int C, int c, const T* gy, const T* a, T* acc) {
  using Block = Eigen::Array<T, B, 1>;
  const Block g = Eigen::Map<const Block>(gy + c);
  for (int k = 0; k < taps.count; ++k)
    Eigen::Map<Block>(acc + std::size_t(taps.tap[k]) * C + c) += g * Eigen::Map<const Block>(a + taps.at[k] + c);
}
template <class T>
inline void depthwise_weight_sums(const PixelTaps& taps, int C, const T* gy, const T* a, T* acc) {
  constexpr int B = depthwise_block<T>;
  int c = 0;
  for (; c + B <= C; c += B) depthwise_weight_block<B>(taps, C, c, gy, a, acc);
  if (c + B / 2 <= C) depthwise_weight_block<B / 2>(taps, C, c, gy, a, acc), c += B / 2;
  if (c + B / 4 <= C) depthwise_weight_block<B / 4>(taps, C, c, gy, a, acc), c += B / 4;
  for (; c < C; ++c) depthwise_weight_block<1>(taps, C, c, gy, a, acc);
}
}  // namespace detail

// out = depthwise(in, W) + bias (bias may be null). g.in_c == g.out_c.
template <class T>
void depthwise_forward(const ConvGeometry& g, int batch, const T* in, const T* weights, const T* bias, T* out) {
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  const ConvTiling tiling(g);
  if (g.k_h * g.k_w > 64) throw std::invalid_argument("depthwise convolution: at most 64 taps");
  parallel_for(0, std::ptrdiff_t(batch) * tiling.tiles_per_sample, [&](std::ptrdiff_t tile) {
    const int n = int(tile / tiling.tiles_per_sample), y0 = int(tile % tiling.tiles_per_sample) * tiling.rows_per_tile;
    const int y1 = std::min(y0 + tiling.rows_per_tile, g.out_h);
    const T* x = in + n * in_sample;
    detail::PixelTaps taps;
    for (int oy = y0; oy < y1; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox) {
        taps.count = 0;
        for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t at) {
          taps.tap[taps.count] = tap;
          taps.at[taps.count++] = at;
        });
        detail::depthwise_pixel(taps, C, x, weights, bias, out + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C);
      }
  });
}

// grad_in (overwritten) = depthwise^T(grad_out, W), as a gather: each input pixel sums, over the
// taps that read it, grad_out at the reading output pixel times that tap's weights. Threads own
// disjoint input rows, so nothing is zero-filled first or written twice.
template <class T>
void depthwise_backward_data(const ConvGeometry& g, int batch, const T* grad_out, const T* weights, T* grad_in) {
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  if (g.k_h * g.k_w > 64) throw std::invalid_argument("depthwise convolution: at most 64 taps");
  // Output pixel o reads input pixel i = o * stride - pad + k * dilation: o = (i + pad - k * dilation) / stride.
  const auto source = [&](int i, int k, int pad, int out_size) {
    const int num = i + pad - k * g.dilation;
    if (num < 0 || num % g.stride != 0) return -1;
    const int o = num / g.stride;
    return o < out_size ? o : -1;
  };
  parallel_for(0, std::ptrdiff_t(batch) * g.in_h, [&](std::ptrdiff_t row) {
    const int n = int(row / g.in_h), iy = int(row % g.in_h);
    const T* dy = grad_out + n * out_sample;
    detail::PixelTaps taps;
    for (int ix = 0; ix < g.in_w; ++ix) {
      taps.count = 0;
      for (int ky = 0; ky < g.k_h; ++ky) {
        const int oy = source(iy, ky, g.pad_top, g.out_h);
        if (oy < 0) continue;
        for (int kx = 0; kx < g.k_w; ++kx) {
          const int ox = source(ix, kx, g.pad_left, g.out_w);
          if (ox < 0) continue;
          taps.tap[taps.count] = ky * g.k_w + kx;
          taps.at[taps.count++] = (std::size_t(oy) * g.out_w + ox) * C;
        }
      }
      detail::depthwise_pixel(taps, C, dy, weights, static_cast<const T*>(nullptr),
                              grad_in + n * in_sample + (std::size_t(iy) * g.in_w + ix) * C);
    }
  });
}

// grad_W += sum over pixels of in(tap) * grad_out; grad_bias += sum of grad_out (if not null).
template <class T>
void depthwise_backward_weights(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_weights,
                                T* grad_bias) {
  const int C = g.in_c, taps = g.k_h * g.k_w;
  if (taps > 64) throw std::invalid_argument("depthwise convolution: at most 64 taps");
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  const ConvTiling tiling(g);
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * tiling.tiles_per_sample;
  parallel_region([&](int t, int threads) {
    auto& acc = thread_buffer<T>(1, std::size_t(taps + 1) * C);
    std::fill(acc.begin(), acc.begin() + std::size_t(taps + 1) * C, T(0));
    const Range share = static_share(tiles, t, threads);
    for (std::ptrdiff_t tile = share.begin; tile < share.end; ++tile) {
      const int n = int(tile / tiling.tiles_per_sample), y0 = int(tile % tiling.tiles_per_sample) * tiling.rows_per_tile;
      const int y1 = std::min(y0 + tiling.rows_per_tile, g.out_h);
      const T* x = in + n * in_sample;
      detail::PixelTaps pixel;
      for (int oy = y0; oy < y1; ++oy)
        for (int ox = 0; ox < g.out_w; ++ox) {
          const T* gy = grad_out + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C;
          pixel.count = 0;
          for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t at) {
            pixel.tap[pixel.count] = tap;
            pixel.at[pixel.count++] = at;
          });
          detail::depthwise_weight_sums(pixel, C, gy, x, acc.data());
          if (grad_bias) Vec<T>(acc.data() + std::size_t(taps) * C, C) += ConstVec<T>(gy, C);
        }
    }
    in_thread_order(t, threads, [&] {
      Vec<T>(grad_weights, std::ptrdiff_t(taps) * C) += ConstVec<T>(acc.data(), std::ptrdiff_t(taps) * C);
      if (grad_bias) Vec<T>(grad_bias, C) += ConstVec<T>(acc.data() + std::size_t(taps) * C, C);
    });
  });
}

}  // namespace lanmsff::kernels
