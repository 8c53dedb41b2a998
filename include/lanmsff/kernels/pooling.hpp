// Max pooling on NHWC data, vectorised along channels. Backward finds the arg-max again from the
// input alone instead of storing it, so the layer keeps nothing and never reads its output (a
// following ReLU may overwrite it in place).
#ifndef LANMSFF_KERNELS_POOLING_HPP
#define LANMSFF_KERNELS_POOLING_HPP

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/channel_period.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"

namespace lanmsff::kernels {

// 2x2 windows at stride 2 that tile the input exactly (no padding, even sizes; LANMSFF's pooling):
// every input element is in exactly one window, so backward writes each gradient element once
// instead of zero-filling and scattering.
inline bool pool_tiles_2x2(const ConvGeometry& g) {
  return g.k_h == 2 && g.k_w == 2 && g.stride == 2 && g.dilation == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.in_h == 2 * g.out_h && g.in_w == 2 * g.out_w;
}

}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "lanmsff/kernels/pooling.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// Padding cells count as -inf, so they are never selected. The first valid tap initialises the
// window's maximum; later taps replace it only when greater.
template <class T>
void maxpool_forward(const ConvGeometry& g, int batch, const T* in, T* out) {
  LANMSFF_DISPATCH(T, maxpool_forward<T>(g, batch, in, out));
}
LANMSFF_KERNEL_ENTRY(maxpool_forward);

// grad_in (overwritten) receives each output's gradient at its arg-max, found again from the
// input: the window's maximum is recomputed exactly as forward computed it, then the first tap, in
// row-major window order, whose value equals it takes the gradient (the tie rule of TensorFlow and
// PyTorch). Nothing is stored between forward and backward.
template <class T>
void maxpool_backward(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_in) {
  LANMSFF_DISPATCH(T, maxpool_backward<T>(g, batch, in, grad_out, grad_in));
}
LANMSFF_KERNEL_ENTRY(maxpool_backward);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

namespace detail {

// Calls f(a, b, c, d, o) for every window of output row `row` (across the batch): a, b the window's
// top-left and top-right pixels, c, d the bottom ones, o the output pixel (element offsets).
template <class F>
inline void for_each_window_2x2(const ConvGeometry& g, std::ptrdiff_t row, F&& f) {
  const int C = g.in_c, n = int(row / g.out_h), oy = int(row % g.out_h);
  const std::size_t in_row = std::size_t(g.in_w) * C;
  const std::size_t top = std::size_t(n) * g.in_h * in_row + std::size_t(2 * oy) * in_row;
  const std::size_t out = (std::size_t(n) * g.out_h + oy) * g.out_w * C;
  for (int ox = 0; ox < g.out_w; ++ox) {
    const std::size_t a = top + std::size_t(2 * ox) * C;
    f(a, a + C, a + in_row, a + in_row + C, out + std::size_t(ox) * C);
  }
}

// y[0..C) = the maximum of one 2x2 window's four pixels (a, b the top-left and top-right, c, d the
// bottom ones): the same comparisons, in the same order, as the general path (m = p > m ? p : m).
template <class T>
inline void max_of_window_2x2(const T* pa, const T* pb, const T* pc, const T* pd, T* y, int C) {
  using L = Lanes<T>;
  for_each_channel_vector<T>(C, [&](auto mask, int c) {
    auto m = L::load(pa + c, mask);
    m = L::max(L::load(pb + c, mask), m);
    m = L::max(L::load(pc + c, mask), m);
    L::store(y + c, L::max(L::load(pd + c, mask), m), mask);
  });
}

}  // namespace detail

// The 2x2 max pool (stride 2, 'valid') of a tile of `rows` x `width` pixels (C channels, rows
// contiguous): rows / 2 rows of width / 2 pixels at out, `out_row` values apart (a convolution's pooled
// epilogue). The same result as maxpool_forward on those pixels.
template <class T>
void max_pool_2x2_rows(const T* tile, int rows, int width, int C, T* out, std::ptrdiff_t out_row) {
  const std::ptrdiff_t in_row = std::ptrdiff_t(width) * C;
  for (int i = 0; i < rows / 2; ++i)
    for (int j = 0; j < width / 2; ++j) {
      const T* top = tile + 2 * i * in_row + std::ptrdiff_t(2 * j) * C;
      detail::max_of_window_2x2(top, top + C, top + in_row, top + in_row + C, out + i * out_row + std::ptrdiff_t(j) * C, C);
    }
}

template <class T>
void maxpool_forward(const ConvGeometry& g, int batch, const T* in, T* out) {
  const int C = g.in_c;
  if (pool_tiles_2x2(g)) {
    parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
      detail::for_each_window_2x2(g, row, [&](std::size_t a, std::size_t b, std::size_t c, std::size_t d, std::size_t o) {
        detail::max_of_window_2x2(in + a, in + b, in + c, in + d, out + o, C);
      });
    });
    return;
  }
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

template <class T>
void maxpool_backward(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_in) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  const int C = g.in_c;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  if (pool_tiles_2x2(g)) {
    parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
      detail::for_each_window_2x2(g, row, [&](std::size_t a, std::size_t b, std::size_t c, std::size_t d, std::size_t o) {
        // The window's maximum as forward computes it; then the first tap in row-major order that
        // equals it takes the gradient: weights 1 or 0 as in the general path, by selects rather than
        // branches (random inputs would mispredict every other branch). "+ 0" turns -0 into 0 as the
        // general path's zero-filled sums do.
        for_each_channel_vector<T>(C, [&](auto mask, int k) {
          const V xa = L::load(in + a + k, mask), xb = L::load(in + b + k, mask), xc = L::load(in + c + k, mask),
                  xd = L::load(in + d + k, mask), gradient = L::load(grad_out + o + k, mask);
          V m = xa;
          m = L::max(xb, m);
          m = L::max(xc, m);
          m = L::max(xd, m);
          V left = L::set1(T(1));
          const auto take = [&](V x, T* target) {
            L::store(target + k, L::add(L::mul(L::select_equal(x, m, left, L::zero()), gradient), L::zero()), mask);
            left = L::select_equal(x, m, L::zero(), left);
          };
          take(xa, grad_in + a);
          take(xb, grad_in + b);
          take(xc, grad_in + c);
          take(xd, grad_in + d);
        });
      });
    });
    return;
  }
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

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
