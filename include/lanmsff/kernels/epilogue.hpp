// The per-channel affine epilogue that a convolution can apply to its output tiles: an inference
// BatchNorm (and the ReLU after it) folded into the convolution's forward (Sequential plans this).
#pragma once

#include <cstddef>

#include <Eigen/Core>

namespace lanmsff::kernels {

// A per-channel affine map y = x * scale + shift, then max(y, 0) when `relu`: an inference BatchNorm
// (and the ReLU after it) that the convolution applies to each output tile right after its GEMM,
// while the tile is still in cache, instead of two more passes over the whole output (the
// Conv -> BN -> ReLU fusion that Sequential plans).
template <class T>
struct ChannelAffine {
  const T* scale;
  const T* shift;
  bool relu;
};

// y = (y + bias) * scale + shift, then max(y, 0) if post.relu, over the rows x channels tile at y, in
// one pass; the order of operations is that of a separate bias, BatchNorm and ReLU. `bias` may be null.
template <class T>
void apply_channel_affine(T* y, std::ptrdiff_t rows, int channels, const T* bias, const ChannelAffine<T>& post) {
  using Row = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;
  using ConstRow = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>;
  const ConstRow scale(post.scale, channels), shift(post.shift, channels);
  const auto each_row = [&](auto&& f) {
    for (std::ptrdiff_t r = 0; r < rows; ++r) {
      Row v(y + r * channels, channels);
      f(v);
    }
  };
  if (bias) {
    const ConstRow b(bias, channels);
    if (post.relu) each_row([&](Row& v) { v = ((v + b) * scale + shift).max(T(0)); });
    else each_row([&](Row& v) { v = (v + b) * scale + shift; });
  } else if (post.relu) {
    each_row([&](Row& v) { v = (v * scale + shift).max(T(0)); });
  } else {
    each_row([&](Row& v) { v = v * scale + shift; });
  }
}

}  // namespace lanmsff::kernels
