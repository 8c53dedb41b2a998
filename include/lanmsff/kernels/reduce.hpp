// Column reductions over the rows of an NHWC matrix (one row per pixel, one column per channel),
// split over threads and summed in thread order so results are reproducible.
#pragma once

#include <algorithm>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"

namespace lanmsff::kernels {

template <class T>
using ChannelArray = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <class T>
using ConstChannelArray = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

// result[0 .. width*parts) = sum over rows r of what add_row(r, acc) adds into acc (width*parts
// values, so several sums can be taken in one pass). result is overwritten.
template <class T, class AddRow>
void sum_over_rows(std::ptrdiff_t rows, int width, T* result, AddRow&& add_row) {
  std::fill_n(result, width, T(0));
  parallel_region([&](int t, int threads) {
    thread_local AlignedVector<T> local;
    local.assign(width, T(0));
    const Range share = static_share(rows, t, threads);
    ChannelArray<T> acc(local.data(), width);
    for (std::ptrdiff_t r = share.begin; r < share.end; ++r) add_row(r, acc);
    in_thread_order(t, threads, [&] { ChannelArray<T>(result, width) += acc; });
  });
}

// Per-channel mean and population variance of the rows x C matrix x, reading it once from memory:
// each thread takes blocks of rows small enough for L1, sums a block, then its squared deviations
// from the block's own mean (a second read, from cache), and merges (count, mean, M2) into its running
// totals by Chan et al.'s pairwise update; the threads' totals are merged in thread order. As exact as
// two passes over the whole matrix (no sum-of-squares cancellation), reproducible for a fixed thread
// count. mean and variance (C values each) are overwritten.
template <class T>
void channel_mean_variance(std::ptrdiff_t rows, int C, const T* x, T* mean, T* variance) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  std::fill_n(mean, C, T(0));
  std::fill_n(variance, C, T(0));
  std::ptrdiff_t total = 0;
  const std::ptrdiff_t block = std::max<std::ptrdiff_t>(1, (std::ptrdiff_t(16) << 10) / (std::ptrdiff_t(C) * sizeof(T)));
  // (n_a, mean_a, m2_a) += (n_b, mean_b, m2_b)
  const auto merge = [C](std::ptrdiff_t& n_a, ChannelArray<T> mean_a, ChannelArray<T> m2_a, std::ptrdiff_t n_b,
                         const Array& mean_b, const Array& m2_b) {
    if (n_b == 0) return;
    const std::ptrdiff_t n = n_a + n_b;
    const Array delta = mean_b - mean_a;
    const T wb = T(n_b) / T(n);
    mean_a += delta * wb;
    m2_a += m2_b + delta.square() * (T(n_a) * wb);
    n_a = n;
    (void)C;
  };
  parallel_region([&](int t, int threads) {
    thread_local AlignedVector<T> local;
    local.assign(2 * std::size_t(C), T(0));
    ChannelArray<T> run_mean(local.data(), C), run_m2(local.data() + C, C);
    std::ptrdiff_t run_n = 0;
    Array block_mean(C), block_m2(C);
    const Range share = static_share(rows, t, threads);
    for (std::ptrdiff_t r0 = share.begin; r0 < share.end; r0 += block) {
      const std::ptrdiff_t r1 = std::min(share.end, r0 + block);
      block_mean.setZero();
      for (std::ptrdiff_t r = r0; r < r1; ++r) block_mean += ConstChannelArray<T>(x + r * C, C);
      block_mean /= T(r1 - r0);
      block_m2.setZero();
      for (std::ptrdiff_t r = r0; r < r1; ++r) block_m2 += (ConstChannelArray<T>(x + r * C, C) - block_mean).square();
      merge(run_n, run_mean, run_m2, r1 - r0, block_mean, block_m2);
    }
    in_thread_order(t, threads, [&] {
      merge(total, ChannelArray<T>(mean, C), ChannelArray<T>(variance, C), run_n, Array(run_mean), Array(run_m2));
    });
  });
  if (total > 0) ChannelArray<T>(variance, C) /= T(total);
}

}  // namespace lanmsff::kernels
