// Depthwise 2-D convolution (depth multiplier 1) on NHWC data, vectorised along channels: every
// tap is one fused multiply-add of two contiguous channel vectors. Weights are (kh, kw, C).
#pragma once

#include <algorithm>

#include "lanmsff/kernels/conv.hpp"

namespace lanmsff::kernels {

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <class T>
using ConstVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

// out = depthwise(in, W) + bias (bias may be null). g.in_c == g.out_c.
template <class T>
void depthwise_forward(const ConvGeometry& g, int batch, const T* in, const T* weights, const T* bias, T* out) {
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  const ConvTiling tiling(g);
  parallel_for(0, std::ptrdiff_t(batch) * tiling.tiles_per_sample, [&](std::ptrdiff_t tile) {
    const int n = int(tile / tiling.tiles_per_sample), y0 = int(tile % tiling.tiles_per_sample) * tiling.rows_per_tile;
    const int y1 = std::min(y0 + tiling.rows_per_tile, g.out_h);
    const T* x = in + n * in_sample;
    for (int oy = y0; oy < y1; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox) {
        Vec<T> acc(out + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C, C);
        if (bias)
          acc = ConstVec<T>(bias, C);
        else
          acc.setZero();
        for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t at) {
          acc += ConstVec<T>(x + at, C) * ConstVec<T>(weights + std::size_t(tap) * C, C);
        });
      }
  });
}

// grad_in (overwritten) = depthwise^T(grad_out, W). Even row tiles, then odd ones (see conv.hpp).
template <class T>
void depthwise_backward_data(const ConvGeometry& g, int batch, const T* grad_out, const T* weights, T* grad_in) {
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  const ConvTiling tiling(g);
  parallel_for(0, batch, [&](std::ptrdiff_t n) { std::fill_n(grad_in + n * in_sample, in_sample, T(0)); });
  const int half = (tiling.tiles_per_sample + 1) / 2;
  for (int phase = 0; phase < 2; ++phase) {
    parallel_for(0, std::ptrdiff_t(batch) * half, [&](std::ptrdiff_t item) {
      const int n = int(item / half), t = int(item % half) * 2 + phase;
      if (t >= tiling.tiles_per_sample) return;
      const int y0 = t * tiling.rows_per_tile, y1 = std::min(y0 + tiling.rows_per_tile, g.out_h);
      T* dx = grad_in + n * in_sample;
      for (int oy = y0; oy < y1; ++oy)
        for (int ox = 0; ox < g.out_w; ++ox) {
          ConstVec<T> gy(grad_out + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C, C);
          for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t at) {
            Vec<T>(dx + at, C) += gy * ConstVec<T>(weights + std::size_t(tap) * C, C);
          });
        }
    });
  }
}

// grad_W += sum over pixels of in(tap) * grad_out; grad_bias += sum of grad_out (if not null).
template <class T>
void depthwise_backward_weights(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_weights,
                                T* grad_bias) {
  const int C = g.in_c, taps = g.k_h * g.k_w;
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
      for (int oy = y0; oy < y1; ++oy)
        for (int ox = 0; ox < g.out_w; ++ox) {
          ConstVec<T> gy(grad_out + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C, C);
          for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t at) {
            Vec<T>(acc.data() + std::size_t(tap) * C, C) += gy * ConstVec<T>(x + at, C);
          });
          if (grad_bias) Vec<T>(acc.data() + std::size_t(taps) * C, C) += gy;
        }
    }
    in_thread_order(t, threads, [&] {
      Vec<T>(grad_weights, std::ptrdiff_t(taps) * C) += ConstVec<T>(acc.data(), std::ptrdiff_t(taps) * C);
      if (grad_bias) Vec<T>(grad_bias, C) += ConstVec<T>(acc.data() + std::size_t(taps) * C, C);
    });
  });
}

}  // namespace lanmsff::kernels
