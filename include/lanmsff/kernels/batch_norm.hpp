// BatchNorm's passes over an NHWC activation (the layer, layers/batch_norm.hpp, computes the
// per-channel values they take): the normalising affine map (optionally with the ReLU after it), the
// two per-channel sums of the backward pass, and the input gradient. Whole channel periods run on
// full vectors with the per-channel values expanded into patterns (channel_period.hpp); the pixels
// past the last whole period row by row.
#ifndef LANMSFF_KERNELS_BATCH_NORM_HPP
#define LANMSFF_KERNELS_BATCH_NORM_HPP

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/kernels/channel_period.hpp"
#include "lanmsff/kernels/copy.hpp"

namespace lanmsff::kernels {

// What a BatchNorm backward pass reads: its input x and the batch mean; with relu, its (ReLU'd)
// output y, where only y > 0 passes the gradient (BatchNorm and the ReLU after it as one layer).
template <class T>
struct BatchNormBackward {
  std::ptrdiff_t pixels;
  int channels;
  const T* x;
  const T* grad_output;
  const T* y;  // null unless relu
  const T* mean;
  bool relu;
};

}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "lanmsff/kernels/batch_norm.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// y = x * scale + shift per channel, then max(y, 0) when relu, over pixels x C values (x == y allowed).
template <class T>
void channel_affine(std::ptrdiff_t pixels, int C, const T* x, T* y, const T* scale, const T* shift, bool relu) {
  LANMSFF_DISPATCH(T, channel_affine<T>(pixels, C, x, y, scale, shift, relu));
}
LANMSFF_KERNEL_ENTRY(channel_affine);

// sum_dy[c] = the sum of the gradient g over the pixels, sum_dy_xmu[c] = the sum of g * (x - mean),
// where g is grad_output (masked by y > 0 with relu). Summed per thread, in thread order.
template <class T>
void batch_norm_backward_sums(const BatchNormBackward<T>& b, T* sum_dy, T* sum_dy_xmu) {
  LANMSFF_DISPATCH(T, batch_norm_backward_sums<T>(b, sum_dy, sum_dy_xmu));
}
LANMSFF_KERNEL_ENTRY(batch_norm_backward_sums);

// The input gradient: dx = scale * (g - mean_dy - (x - mean) * k) in training (batch statistics), or
// dx = scale * g in inference (fixed statistics: mean_dy and k are not read).
template <class T>
void batch_norm_backward_input(const BatchNormBackward<T>& b, const T* scale, const T* mean_dy, const T* k, bool training,
                               T* dx) {
  LANMSFF_DISPATCH(T, batch_norm_backward_input<T>(b, scale, mean_dy, k, training, dx));
}
LANMSFF_KERNEL_ENTRY(batch_norm_backward_input);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

namespace detail {

// Over `pixels` pixels of NHWC data, spread over the threads: full(at, j) for every vector of every
// whole period (at: its offset in the data, j: its offset in an expanded pattern), then part(at, c,
// mask) for every channel vector of the pixels past the last whole period.
template <class T, class Full, class Part>
void for_each_vector(const ChannelPeriod<T>& period, std::ptrdiff_t pixels, Full&& full, Part&& part) {
  using L = Lanes<T>;
  const int C = period.channels;
  const std::ptrdiff_t periods = period.periods(pixels), first_left = periods * period.rows, vectors = period.vectors();
  // Work items of about 16 K values (a few periods each), and then the left-over pixels one by one.
  const std::ptrdiff_t per_item = std::max<std::ptrdiff_t>(1, (std::ptrdiff_t(1) << 14) / period.size);
  const std::ptrdiff_t items = (periods + per_item - 1) / per_item;
  parallel_for(0, items + (pixels - first_left), [&](std::ptrdiff_t i) {
    if (i < items) {
      for (std::ptrdiff_t p = i * per_item, end = std::min(periods, p + per_item); p < end; ++p)
        for (std::ptrdiff_t v = 0; v < vectors; ++v) full(p * period.size + v * L::width, v * L::width);
      return;
    }
    const std::ptrdiff_t r = first_left + (i - items);
    for_each_channel_vector<T>(C, [&](auto mask, int c) { part(r * C + c, c, mask); });
  });
}

// f(std::true_type) or f(std::false_type): a run-time flag as a compile-time one, so that the loops
// it selects have no branch in them.
template <class F>
inline void with_flag(bool flag, F&& f) {
  if (flag) f(std::true_type{});
  else f(std::false_type{});
}

// The gradient before the ReLU at `at` (+ mask): grad_output where y > 0 (Relu), else grad_output.
template <bool Relu, class L, class T, class... Mask>
inline typename L::Vec gradient(const BatchNormBackward<T>& b, std::ptrdiff_t at, Mask... mask) {
  const typename L::Vec g = L::load(b.grad_output + at, mask...);
  if constexpr (Relu) return L::positive_or_zero(L::load(b.y + at, mask...), g);
  else return g;
}

}  // namespace detail

template <class T>
void channel_affine(std::ptrdiff_t pixels, int C, const T* x, T* y, const T* scale, const T* shift, bool relu) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  const ChannelPeriod<T> period(C);
  // The patterns in this thread's buffers, read by every worker (through the lambda's captures).
  T* scale_p = period_buffer<T>(0, std::size_t(period.size));
  T* shift_p = period_buffer<T>(1, std::size_t(period.size));
  period.expand(scale, scale_p);
  period.expand(shift, shift_p);
  detail::with_flag(relu, [&](auto with_relu) {
    const auto map = [&](V v, V s, V t) {  // (a capture: no function-pointer thunk outside the target region)
      v = L::fma(v, s, t);
      if constexpr (decltype(with_relu)::value) v = L::max(v, L::zero());
      return v;
    };
    detail::for_each_vector<T>(
        period, pixels,
        [&](std::ptrdiff_t at, std::ptrdiff_t j) {
          L::store(y + at, map(L::load(x + at), L::load(scale_p + j), L::load(shift_p + j)));
        },
        [&](std::ptrdiff_t at, int c, auto mask) {
          L::store(y + at, map(L::load(x + at, mask), L::load(scale + c, mask), L::load(shift + c, mask)), mask);
        });
  });
}

template <class T>
void batch_norm_backward_sums(const BatchNormBackward<T>& b, T* sum_dy, T* sum_dy_xmu) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  constexpr int W = L::width;
  const int C = b.channels;
  const ChannelPeriod<T> period(C);
  const std::ptrdiff_t periods = period.periods(b.pixels), first_left = periods * period.rows, vectors = period.vectors();
  T* mean_p = period_buffer<T>(0, std::size_t(period.size));
  period.expand(b.mean, mean_p);
  std::fill_n(sum_dy, C, T(0));
  std::fill_n(sum_dy_xmu, C, T(0));
  parallel_region([&](int t, int threads) {
    // Per thread: two periods of lanes (sum g, sum g (x - mean)), then two pixels' worth for the tail.
    const std::size_t need = 2 * std::size_t(period.size) + 2 * std::size_t(C);
    thread_local AlignedVector<T> local;
    if (local.size() < need) local.resize(need);
    std::fill_n(local.data(), need, T(0));
    T *lanes_dy = local.data(), *lanes_xmu = lanes_dy + period.size, *tail_dy = lanes_xmu + period.size,
      *tail_xmu = tail_dy + C;
    const Range share = static_share(periods, t, threads);
    detail::with_flag(b.relu, [&](auto relu) {
      constexpr bool Relu = decltype(relu)::value;
      for (std::ptrdiff_t p = share.begin; p < share.end; ++p)
        for (std::ptrdiff_t v = 0; v < vectors; ++v) {
          const std::ptrdiff_t at = p * period.size + v * W;
          const V g = detail::gradient<Relu, L>(b, at);
          const V xmu = L::sub(L::load(b.x + at), L::load(mean_p + v * W));
          L::store(lanes_dy + v * W, L::add(L::load(lanes_dy + v * W), g));
          L::store(lanes_xmu + v * W, L::fma(g, xmu, L::load(lanes_xmu + v * W)));
        }
      if (t == threads - 1)
        for (std::ptrdiff_t r = first_left; r < b.pixels; ++r)
          for_each_channel_vector<T>(C, [&](auto mask, int c) {
            const std::ptrdiff_t at = r * C + c;
            const V g = detail::gradient<Relu, L>(b, at, mask);
            const V xmu = L::sub(L::load(b.x + at, mask), L::load(b.mean + c, mask));
            L::store(tail_dy + c, L::add(L::load(tail_dy + c, mask), g), mask);
            L::store(tail_xmu + c, L::fma(g, xmu, L::load(tail_xmu + c, mask)), mask);
          });
    });
    period.fold_add(lanes_dy, tail_dy);
    period.fold_add(lanes_xmu, tail_xmu);
    in_thread_order(t, threads, [&] {
      add_values(sum_dy, tail_dy, C);
      add_values(sum_dy_xmu, tail_xmu, C);
    });
  });
}

template <class T>
void batch_norm_backward_input(const BatchNormBackward<T>& b, const T* scale, const T* mean_dy, const T* k, bool training,
                               T* dx) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  const ChannelPeriod<T> period(b.channels);
  T* scale_p = period_buffer<T>(0, std::size_t(period.size));
  T* mean_p = period_buffer<T>(1, std::size_t(period.size));
  T* mean_dy_p = period_buffer<T>(2, std::size_t(period.size));
  T* k_p = period_buffer<T>(3, std::size_t(period.size));
  period.expand(scale, scale_p);
  if (training) {
    period.expand(b.mean, mean_p);
    period.expand(mean_dy, mean_dy_p);
    period.expand(k, k_p);
  }
  // dx = scale * (g - mean_dy - (x - mean) * k), or scale * g.
  detail::with_flag(b.relu, [&](auto relu) {
    detail::with_flag(training, [&](auto train) {
      constexpr bool Relu = decltype(relu)::value, Training = decltype(train)::value;
      detail::for_each_vector<T>(
          period, b.pixels,
          [&](std::ptrdiff_t at, std::ptrdiff_t j) {
            const V g = detail::gradient<Relu, L>(b, at);
            if constexpr (Training)
              L::store(dx + at, L::mul(L::load(scale_p + j),
                                       L::sub(L::sub(g, L::load(mean_dy_p + j)),
                                              L::mul(L::sub(L::load(b.x + at), L::load(mean_p + j)), L::load(k_p + j)))));
            else
              L::store(dx + at, L::mul(L::load(scale_p + j), g));
          },
          [&](std::ptrdiff_t at, int c, auto mask) {
            const V g = detail::gradient<Relu, L>(b, at, mask);
            if constexpr (Training)
              L::store(dx + at,
                       L::mul(L::load(scale + c, mask),
                              L::sub(L::sub(g, L::load(mean_dy + c, mask)),
                                     L::mul(L::sub(L::load(b.x + at, mask), L::load(b.mean + c, mask)), L::load(k + c, mask)))),
                       mask);
            else
              L::store(dx + at, L::mul(L::load(scale + c, mask), g), mask);
          });
    });
  });
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
