// The per-channel affine epilogue that a convolution can apply to its output tiles: an inference
// BatchNorm (and the ReLU after it) folded into the convolution's forward (Sequential plans this).
#pragma once

#include <cstddef>

#include <Eigen/Core>

#include "lanmsff/kernels/channel_period.hpp"

namespace lanmsff::kernels {

// A per-channel affine map y = x * scale + shift, then max(y, 0) when `relu`: an inference BatchNorm
// (and the ReLU after it) that the convolution applies to each output tile right after its GEMM,
// while the tile is still in cache, instead of two more passes over the whole output (the
// Conv -> BN -> ReLU fusion that Sequential plans).
//
// With max_pool the convolution also applies a following 2x2 max pool (stride 2, 'valid': odd last
// rows and columns dropped) to each tile and writes only the pooled map (Conv -> BN (-> MaxPool)
// (-> ReLU): ReLU and max commute, so the ReLU may come after the pool in the chain).
template <class T>
struct ChannelAffine {
  const T* scale;
  const T* shift;
  bool relu;
  bool max_pool = false;
};

// y = (y + bias) * scale + shift, then max(y, 0) if post.relu, over the rows x channels tile at y, in
// one pass; the order of operations is that of a separate bias, BatchNorm and ReLU. `bias` may be null.
// Whole channel periods (channel_period.hpp) run on full vectors with the parameters expanded into
// period-long patterns; the pixels past the last whole period row by row.
template <class T>
void apply_channel_affine(T* y, std::ptrdiff_t rows, int channels, const T* bias, const ChannelAffine<T>& post) {
  const auto apply = [&](auto& v, const auto& b, const auto& scale, const auto& shift) {
    if (bias) {
      if (post.relu) v = ((v + b) * scale + shift).max(T(0));
      else v = (v + b) * scale + shift;
    } else if (post.relu) {
      v = (v * scale + shift).max(T(0));
    } else {
      v = v * scale + shift;
    }
  };
  const ChannelPeriod<T> period(channels);
  const std::ptrdiff_t periods = period.periods(rows);
  if (periods > 0) {
    // Expanded once per thread and call (a few hundred values; a tile has thousands).
    thread_local typename ChannelPeriod<T>::Array scale, shift, b;
    period.expand(post.scale, scale);
    period.expand(post.shift, shift);
    if (bias) period.expand(bias, b);
    for (std::ptrdiff_t p = 0; p < periods; ++p) {
      auto v = period.at(y, p);
      apply(v, b, scale, shift);
    }
  }
  using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
  using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  const ConstRow scale(post.scale, channels), shift(post.shift, channels), b(bias ? bias : post.scale, channels);
  for (std::ptrdiff_t r = periods * period.rows; r < rows; ++r) {
    Row v(y + r * channels, channels);
    apply(v, b, scale, shift);
  }
}

}  // namespace lanmsff::kernels
