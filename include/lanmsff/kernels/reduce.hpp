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

}  // namespace lanmsff::kernels
