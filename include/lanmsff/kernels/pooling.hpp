// Max pooling on NHWC data, vectorised along channels, with arg-max bookkeeping for backward.
#pragma once

#include <cstdint>
#include <limits>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"

namespace lanmsff::kernels {

// Padding cells count as -inf, so they are never selected.
template <class T>
void maxpool_forward(const ConvGeometry& g, int batch, const T* in, T* out, std::int32_t* argmax) {
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
    const int n = int(row / g.out_h), oy = int(row % g.out_h);
    const T* x = in + n * in_sample;
    for (int ox = 0; ox < g.out_w; ++ox) {
      T* y = out + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C;
      std::int32_t* a = argmax + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C;
      for (int c = 0; c < C; ++c) y[c] = -std::numeric_limits<T>::infinity(), a[c] = -1;
      for (int ky = 0; ky < g.k_h; ++ky) {
        const int iy = oy * g.stride - g.pad_top + ky;
        if (iy < 0 || iy >= g.in_h) continue;
        for (int kx = 0; kx < g.k_w; ++kx) {
          const int ix = ox * g.stride - g.pad_left + kx;
          if (ix < 0 || ix >= g.in_w) continue;
          const std::int32_t base = std::int32_t((iy * g.in_w + ix) * C);
          const T* p = x + base;
          for (int c = 0; c < C; ++c)
            if (p[c] > y[c] || a[c] < 0) y[c] = p[c], a[c] = base + c;
        }
      }
    }
  });
}

// grad_in (overwritten) receives each output's gradient at its arg-max.
template <class T>
void maxpool_backward(const ConvGeometry& g, int batch, const T* grad_out, const std::int32_t* argmax, T* grad_in) {
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * g.in_c, out_sample = std::size_t(g.out_h) * g.out_w * g.in_c;
  parallel_for(0, batch, [&](std::ptrdiff_t n) {  // overlapping windows: one sample per thread
    T* dx = grad_in + n * in_sample;
    std::fill_n(dx, in_sample, T(0));
    const T* dy = grad_out + n * out_sample;
    const std::int32_t* a = argmax + n * out_sample;
    for (std::size_t e = 0; e < out_sample; ++e) dx[a[e]] += dy[e];
  });
}

}  // namespace lanmsff::kernels
