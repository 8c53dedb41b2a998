// Max pooling on NHWC data, vectorised along channels. Backward finds the arg-max again from the
// input alone instead of storing it, so the layer keeps nothing and never reads its output (a
// following ReLU may overwrite it in place).
#pragma once

#include <cstdint>
#include <algorithm>
#include <limits>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"

namespace lanmsff::kernels {

// Padding cells count as -inf, so they are never selected. The first valid tap initialises the
// window's maximum; later taps replace it only when greater. Branch-free along channels.
template <class T>
void maxpool_forward(const ConvGeometry& g, int batch, const T* in, T* out) {
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
    const int n = int(row / g.out_h), oy = int(row % g.out_h);
    const T* x = in + n * in_sample;
    for (int ox = 0; ox < g.out_w; ++ox) {
      T* __restrict y = out + n * out_sample + (std::size_t(oy) * g.out_w + ox) * C;
      bool first = true;
      for_each_valid_tap(g, oy, ox, [&](int, std::size_t at) {
        const T* __restrict p = x + at;
        if (first) {
          std::copy_n(p, C, y);
          first = false;
        } else {
          for (int c = 0; c < C; ++c) y[c] = p[c] > y[c] ? p[c] : y[c];
        }
      });
      if (first) std::fill_n(y, C, -std::numeric_limits<T>::infinity());  // window entirely in the padding
    }
  });
}

// grad_in (overwritten) receives each output's gradient at its arg-max, found again from the
// input: the window's maximum is recomputed exactly as forward computed it, then the first tap, in
// row-major window order, whose value equals it takes the gradient (the tie rule of TensorFlow and
// PyTorch). Nothing is stored between forward and backward.
template <class T>
void maxpool_backward(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_in) {
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  // Windows overlap when stride < kernel: then one sample per thread. Otherwise rows of windows
  // never share an input element and can be split across threads.
  const bool overlapping = g.stride < g.k_h || g.stride < g.k_w;
  parallel_for(0, batch, [&](std::ptrdiff_t n) { std::fill_n(grad_in + n * in_sample, in_sample, T(0)); });
  const std::ptrdiff_t rows_per_item = overlapping ? g.out_h : 1;
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h / rows_per_item, [&](std::ptrdiff_t item) {
    const int n = int(item * rows_per_item / g.out_h), oy0 = int(item * rows_per_item % g.out_h);
    T* __restrict dx = grad_in + n * in_sample;
    const T* __restrict x = in + n * in_sample;
    thread_local AlignedVector<T> scratch;  // the window's maximum, then 1 per channel until its arg-max is found
    if (scratch.size() < 2 * std::size_t(C)) scratch.resize(2 * std::size_t(C));
    for (int oy = oy0; oy < oy0 + rows_per_item; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox) {
        const std::size_t o = (std::size_t(oy) * g.out_w + ox) * C;
        T* __restrict y = scratch.data();
        bool first = true;
        for_each_valid_tap(g, oy, ox, [&](int, std::size_t base) {
          const T* __restrict p = x + base;
          if (first) {
            std::copy_n(p, C, y);
            first = false;
          } else {
            for (int c = 0; c < C; ++c) y[c] = p[c] > y[c] ? p[c] : y[c];
          }
        });
        const T* __restrict dy = grad_out + n * out_sample + o;
        T* __restrict left = scratch.data() + C;
        std::fill_n(left, C, T(1));
        for_each_valid_tap(g, oy, ox, [&](int, std::size_t base) {
          for (int c = 0; c < C; ++c) {
            const T take = (x[base + c] == y[c]) ? left[c] : T(0);
            dx[base + c] += take * dy[c];
            left[c] -= take;
          }
        });
      }
  });
}

}  // namespace lanmsff::kernels
