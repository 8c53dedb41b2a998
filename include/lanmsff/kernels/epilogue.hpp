// The per-channel affine epilogue that a convolution can apply to its output tiles: an inference
// BatchNorm (and the ReLU after it) folded into the convolution's forward (Sequential plans this).
#ifndef LANMSFF_KERNELS_EPILOGUE_HPP
#define LANMSFF_KERNELS_EPILOGUE_HPP

#include <cstddef>

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

}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "lanmsff/kernels/epilogue.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

// v = (v + bias) * scale + shift, then max(v, 0) if relu: the order of operations of a separate
// bias, BatchNorm and ReLU.
template <class L>
inline typename L::Vec affine(typename L::Vec v, const typename L::Vec* bias, typename L::Vec scale,
                              typename L::Vec shift, bool relu) {
  if (bias) v = L::add(v, *bias);
  v = L::fma(v, scale, shift);
  return relu ? L::max(v, L::zero()) : v;
}

// y = (y + bias) * scale + shift, then max(y, 0) if post.relu, over the rows x channels tile at y,
// in one pass. `bias` may be null. Whole channel periods (channel_period.hpp) run on full vectors
// with the parameters expanded into period-long patterns; the pixels past the last whole period
// row by row.
template <class T>
void apply_channel_affine(T* y, std::ptrdiff_t rows, int channels, const T* bias, const ChannelAffine<T>& post) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  constexpr int W = L::width;
  const ChannelPeriod<T> period(channels);
  const std::ptrdiff_t periods = period.periods(rows), vectors = period.vectors();
  if (periods > 0) {
    // Expanded once per thread and call (a few hundred values; a tile has thousands).
    T* scale = period_buffer<T>(0, std::size_t(period.size));
    T* shift = period_buffer<T>(1, std::size_t(period.size));
    T* b = period_buffer<T>(2, std::size_t(period.size));
    period.expand(post.scale, scale);
    period.expand(post.shift, shift);
    if (bias) period.expand(bias, b);
    for (std::ptrdiff_t p = 0; p < periods; ++p) {
      T* x = y + p * period.size;
      for (std::ptrdiff_t v = 0; v < vectors; ++v) {
        const V bv = bias ? L::load(b + v * W) : L::zero();
        L::store(x + v * W, affine<L>(L::load(x + v * W), bias ? &bv : nullptr, L::load(scale + v * W),
                                      L::load(shift + v * W), post.relu));
      }
    }
  }
  for (std::ptrdiff_t r = periods * period.rows; r < rows; ++r) {
    T* x = y + r * channels;
    for_each_channel_vector<T>(channels, [&](auto mask, int c) {
      const V bv = bias ? L::load(bias + c, mask) : L::zero();
      L::store(x + c,
               affine<L>(L::load(x + c, mask), bias ? &bv : nullptr, L::load(post.scale + c, mask),
                         L::load(post.shift + c, mask), post.relu),
               mask);
    });
  }
}

// y (rows x channels) += bias per channel, over whole periods and then row by row.
template <class T>
void add_channel_bias(T* y, std::ptrdiff_t rows, int channels, const T* bias) {
  using L = Lanes<T>;
  constexpr int W = L::width;
  const ChannelPeriod<T> period(channels);
  const std::ptrdiff_t periods = period.periods(rows), vectors = period.vectors();
  if (periods > 0) {
    T* b = period_buffer<T>(2, std::size_t(period.size));
    period.expand(bias, b);
    for (std::ptrdiff_t p = 0; p < periods; ++p) {
      T* x = y + p * period.size;
      for (std::ptrdiff_t v = 0; v < vectors; ++v) L::store(x + v * W, L::add(L::load(x + v * W), L::load(b + v * W)));
    }
  }
  for (std::ptrdiff_t r = periods * period.rows; r < rows; ++r) {
    T* x = y + r * channels;
    for_each_channel_vector<T>(channels, [&](auto mask, int c) {
      L::store(x + c, L::add(L::load(x + c, mask), L::load(bias + c, mask)), mask);
    });
  }
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
