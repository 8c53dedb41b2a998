// Per-channel reductions over the pixels of NHWC data (kernels/channel_period.hpp's periods), split
// over threads and summed in thread order so results are reproducible.
#pragma once

#include <algorithm>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/channel_period.hpp"

namespace lanmsff::kernels {

template <class T>
using ChannelArray = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <class T>
using ConstChannelArray = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

// Per-channel sums of `parts` terms over the pixels of NHWC data with C channels, in one pass:
// result[k * C + c] = the sum over all pixels of term k at channel c. Whole periods (ChannelPeriod)
// go to add_period(p, acc), which adds period p's terms into acc (parts runs of period.size lanes,
// term k at acc.segment(k * period.size, period.size)); the pixels past the last whole period go to
// add_pixel(i, acc) (parts runs of C values). Threads take static shares and are summed in thread
// order, so results are reproducible for a given thread count. result is overwritten.
template <class T, class AddPeriod, class AddPixel>
void channel_sums(const ChannelPeriod<T>& period, std::ptrdiff_t pixels, int parts, T* result, AddPeriod&& add_period,
                  AddPixel&& add_pixel) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  const int C = period.channels;
  const std::ptrdiff_t periods = period.periods(pixels), first_left = periods * period.rows;
  std::fill_n(result, std::size_t(parts) * C, T(0));
  parallel_region([&](int t, int threads) {
    thread_local Array lane_acc, pixel_acc;
    lane_acc.setZero(parts * period.size);
    pixel_acc.setZero(parts * C);
    const Range share = static_share(periods, t, threads);
    for (std::ptrdiff_t p = share.begin; p < share.end; ++p) add_period(p, lane_acc);
    if (t == threads - 1)
      for (std::ptrdiff_t i = first_left; i < pixels; ++i) add_pixel(i, pixel_acc);
    in_thread_order(t, threads, [&] {
      for (int k = 0; k < parts; ++k)
        ChannelArray<T>(result + std::size_t(k) * C, C) +=
            period.fold(lane_acc.segment(k * period.size, period.size)) + pixel_acc.segment(k * C, C);
    });
  });
}

// Per-channel mean and population variance of the pixels x C matrix x, reading it once from memory:
// each thread takes blocks of whole periods (ChannelPeriod) small enough for L1, sums a block, then
// its squared deviations from the block's own mean (a second read, from cache), and merges (count,
// mean, M2) into its running totals by Chan et al.'s pairwise update; the pixels past the last whole
// period are one more block, and the threads' totals are merged in thread order. As exact as two
// passes over the whole matrix (no sum-of-squares cancellation), reproducible for a fixed thread
// count. mean and variance (C values each) are overwritten.
template <class T>
void channel_mean_variance(std::ptrdiff_t pixels, int C, const T* x, T* mean, T* variance) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  const ChannelPeriod<T> period(C);
  std::fill_n(mean, C, T(0));
  std::fill_n(variance, C, T(0));
  std::ptrdiff_t total = 0;
  const std::ptrdiff_t periods = period.periods(pixels), first_left = periods * period.rows;
  const std::ptrdiff_t per_block = std::max<std::ptrdiff_t>(1, (std::ptrdiff_t(16) << 10) / (period.size * std::ptrdiff_t(sizeof(T))));
  const std::ptrdiff_t blocks = (periods + per_block - 1) / per_block;
  // (n_a, mean_a, m2_a) += (n_b, mean_b, m2_b)
  const auto merge = [](std::ptrdiff_t& n_a, ChannelArray<T> mean_a, ChannelArray<T> m2_a, std::ptrdiff_t n_b,
                        const Array& mean_b, const Array& m2_b) {
    if (n_b == 0) return;
    const std::ptrdiff_t n = n_a + n_b;
    const Array delta = mean_b - mean_a;
    const T wb = T(n_b) / T(n);
    mean_a += delta * wb;
    m2_a += m2_b + delta.square() * (T(n_a) * wb);
    n_a = n;
  };
  parallel_region([&](int t, int threads) {
    thread_local AlignedVector<T> local;
    local.assign(2 * std::size_t(C), T(0));
    ChannelArray<T> run_mean(local.data(), C), run_m2(local.data() + C, C);
    std::ptrdiff_t run_n = 0;
    Array lanes(period.size), lane_mean, block_mean(C), block_m2(C);
    const Range share = static_share(blocks, t, threads);
    for (std::ptrdiff_t b = share.begin; b < share.end; ++b) {
      const std::ptrdiff_t p0 = b * per_block, p1 = std::min(periods, p0 + per_block), n_b = (p1 - p0) * period.rows;
      lanes.setZero();
      for (std::ptrdiff_t p = p0; p < p1; ++p) lanes += period.at(x, p);
      block_mean = period.fold(lanes) / T(n_b);
      period.expand(block_mean.data(), lane_mean);
      lanes.setZero();
      for (std::ptrdiff_t p = p0; p < p1; ++p) lanes += (period.at(x, p) - lane_mean).square();
      block_m2 = period.fold(lanes);
      merge(run_n, run_mean, run_m2, n_b, block_mean, block_m2);
    }
    if (t == threads - 1 && first_left < pixels) {  // the pixels past the last whole period
      block_mean.setZero();
      for (std::ptrdiff_t r = first_left; r < pixels; ++r) block_mean += ConstChannelArray<T>(x + r * C, C);
      block_mean /= T(pixels - first_left);
      block_m2.setZero();
      for (std::ptrdiff_t r = first_left; r < pixels; ++r) block_m2 += (ConstChannelArray<T>(x + r * C, C) - block_mean).square();
      merge(run_n, run_mean, run_m2, pixels - first_left, block_mean, block_m2);
    }
    in_thread_order(t, threads, [&] {
      merge(total, ChannelArray<T>(mean, C), ChannelArray<T>(variance, C), run_n, Array(run_mean), Array(run_m2));
    });
  });
  if (total > 0) ChannelArray<T>(variance, C) /= T(total);
}

}  // namespace lanmsff::kernels
