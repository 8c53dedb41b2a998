// Per-channel reductions over the pixels of NHWC data (kernels/channel_period.hpp's periods), split
// over threads and summed in thread order so results are reproducible.
#ifndef LANMSFF_KERNELS_REDUCE_HPP
#define LANMSFF_KERNELS_REDUCE_HPP

#include <algorithm>
#include <cstddef>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/channel_period.hpp"

#define LANMSFF_ISA_BODY "lanmsff/kernels/reduce.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// Per-channel mean and population variance of the pixels x C matrix x, reading it once from memory:
// each thread takes blocks of whole periods (ChannelPeriod) small enough for L1, sums a block, then
// its squared deviations from the block's own mean (a second read, from cache), and merges (count,
// mean, M2) into its running totals by Chan et al.'s pairwise update; the pixels past the last whole
// period are one more block, and the threads' totals are merged in thread order. As exact as two
// passes over the whole matrix (no sum-of-squares cancellation), reproducible for a fixed thread
// count and instruction set. mean and variance (C values each) are overwritten.
template <class T>
void channel_mean_variance(std::ptrdiff_t pixels, int C, const T* x, T* mean, T* variance) {
  LANMSFF_DISPATCH(T, channel_mean_variance<T>(pixels, C, x, mean, variance));
}
LANMSFF_KERNEL_ENTRY(channel_mean_variance);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

namespace detail {
// (n_a, mean_a, m2_a) += (n_b, mean_b, m2_b), per channel (Chan et al.).
template <class T>
inline void merge_moments(std::ptrdiff_t& n_a, T* mean_a, T* m2_a, std::ptrdiff_t n_b, const T* mean_b, const T* m2_b,
                          int C) {
  if (n_b == 0) return;
  const std::ptrdiff_t n = n_a + n_b;
  const T wb = T(n_b) / T(n), wab = T(n_a) * wb;
  for (int c = 0; c < C; ++c) {
    const T delta = mean_b[c] - mean_a[c];
    mean_a[c] += delta * wb;
    m2_a[c] += m2_b[c] + delta * delta * wab;
  }
  n_a = n;
}
}  // namespace detail

template <class T>
void channel_mean_variance(std::ptrdiff_t pixels, int C, const T* x, T* mean, T* variance) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  constexpr int W = L::width;
  const ChannelPeriod<T> period(C);
  std::fill_n(mean, C, T(0));
  std::fill_n(variance, C, T(0));
  std::ptrdiff_t total = 0;
  const std::ptrdiff_t periods = period.periods(pixels), first_left = periods * period.rows, vectors = period.vectors();
  const std::ptrdiff_t per_block = std::max<std::ptrdiff_t>(1, (std::ptrdiff_t(16) << 10) / (period.size * std::ptrdiff_t(sizeof(T))));
  const std::ptrdiff_t blocks = (periods + per_block - 1) / per_block;
  parallel_region([&](int t, int threads) {
    // This thread's running (mean, M2) and one block's, C values each, then one period of lanes
    // and of the block's mean expanded.
    const std::size_t need = 4 * std::size_t(C) + 2 * std::size_t(period.size);
    thread_local AlignedVector<T> local;
    if (local.size() < need) local.resize(need);
    std::fill_n(local.data(), need, T(0));
    T *run_mean = local.data(), *run_m2 = run_mean + C, *block_mean = run_m2 + C, *block_m2 = block_mean + C;
    T *lanes = block_m2 + C, *lane_mean = lanes + period.size;
    std::ptrdiff_t run_n = 0;
    const Range share = static_share(blocks, t, threads);
    for (std::ptrdiff_t b = share.begin; b < share.end; ++b) {
      const std::ptrdiff_t p0 = b * per_block, p1 = std::min(periods, p0 + per_block), n_b = (p1 - p0) * period.rows;
      // The block's sums, reading it in order (from memory), into one period of lanes (in L1).
      for (std::ptrdiff_t v = 0; v < vectors; ++v) L::store(lanes + v * W, L::load(x + p0 * period.size + v * W));
      for (std::ptrdiff_t p = p0 + 1; p < p1; ++p)
        for (std::ptrdiff_t v = 0; v < vectors; ++v)
          L::store(lanes + v * W, L::add(L::load(lanes + v * W), L::load(x + p * period.size + v * W)));
      std::fill_n(block_mean, C, T(0));
      period.fold_add(lanes, block_mean);
      for (int c = 0; c < C; ++c) block_mean[c] /= T(n_b);
      period.expand(block_mean, lane_mean);
      for (std::ptrdiff_t v = 0; v < vectors; ++v) {  // its squared deviations from that mean (the block is in L1 now)
        const V m = L::load(lane_mean + v * W);
        V acc = L::zero();
        for (std::ptrdiff_t p = p0; p < p1; ++p) {
          const V d = L::sub(L::load(x + p * period.size + v * W), m);
          acc = L::fma(d, d, acc);
        }
        L::store(lanes + v * W, acc);
      }
      std::fill_n(block_m2, C, T(0));
      period.fold_add(lanes, block_m2);
      detail::merge_moments(run_n, run_mean, run_m2, n_b, block_mean, block_m2, C);
    }
    if (t == threads - 1 && first_left < pixels) {  // the pixels past the last whole period
      const std::ptrdiff_t n_b = pixels - first_left;
      std::fill_n(block_mean, C, T(0));
      std::fill_n(block_m2, C, T(0));
      for (std::ptrdiff_t r = first_left; r < pixels; ++r)
        for (int c = 0; c < C; ++c) block_mean[c] += x[r * C + c];
      for (int c = 0; c < C; ++c) block_mean[c] /= T(n_b);
      for (std::ptrdiff_t r = first_left; r < pixels; ++r)
        for (int c = 0; c < C; ++c) {
          const T d = x[r * C + c] - block_mean[c];
          block_m2[c] += d * d;
        }
      detail::merge_moments(run_n, run_mean, run_m2, n_b, block_mean, block_m2, C);
    }
    in_thread_order(t, threads, [&] { detail::merge_moments(total, mean, variance, run_n, run_mean, run_m2, C); });
  });
  if (total > 0)
    for (int c = 0; c < C; ++c) variance[c] /= T(total);
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
