// Dense 2-D convolution on NHWC data through tiled im2col + GEMM (gemm.hpp).
// Weights are HWIO (kh, kw, in, out), i.e. a (kh*kw*in) x out row-major matrix, so one im2col row
// (the patch under one output pixel) times the weight matrix is that pixel's output channels.
// Work is split into tiles of whole output rows of one sample; each thread packs its own tile.
// Compiled once per instruction set (simd/foreach_isa.hpp), like the GEMM and Winograd under it.
#ifndef LANMSFF_KERNELS_CONV_HPP
#define LANMSFF_KERNELS_CONV_HPP

#include <algorithm>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/channel_period.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"
#include "lanmsff/kernels/copy.hpp"
#include "lanmsff/kernels/epilogue.hpp"
#include "lanmsff/kernels/gemm.hpp"
#include "lanmsff/kernels/pooling.hpp"
#include "lanmsff/kernels/winograd.hpp"

namespace lanmsff::kernels {

struct ConvTiling {
  int rows_per_tile, tiles_per_sample, out_h, out_w;
  // even_rows: tiles of an even number of rows (but the last), so that 2x2 pooling windows never
  // straddle two tiles (a pooled epilogue).
  explicit ConvTiling(const ConvGeometry& g, bool even_rows = false) : out_h(g.out_h), out_w(g.out_w) {
    rows_per_tile = conv_rows_per_tile(g);
    if (even_rows && rows_per_tile % 2 == 1 && rows_per_tile < out_h) ++rows_per_tile;
    tiles_per_sample = g.out_h > 0 ? (g.out_h + rows_per_tile - 1) / rows_per_tile : 0;
  }
  // Tile t (numbered across the batch) covers output rows [y0(t), y1(t)) of sample(t): pixels(t)
  // rows of the (batch * out_h * out_w) x C output. Consecutive tiles are consecutive rows.
  int sample(std::ptrdiff_t t) const { return int(t / tiles_per_sample); }
  int y0(std::ptrdiff_t t) const { return int(t % tiles_per_sample) * rows_per_tile; }
  int y1(std::ptrdiff_t t) const { return std::min(y0(t) + rows_per_tile, out_h); }
  std::ptrdiff_t pixels(std::ptrdiff_t t) const { return std::ptrdiff_t(y1(t) - y0(t)) * out_w; }
  // Offset of tile t's first pixel row in an NHWC tensor whose samples hold `sample_size` values and
  // whose pixels hold `channels` (the output, or a same-grid input).
  std::size_t offset(std::ptrdiff_t t, std::size_t sample_size, int width, int channels) const {
    return sample(t) * sample_size + std::size_t(y0(t)) * width * channels;
  }
};

// On late layers a whole sample is one small tile (7x7: 49 rows), and every tile would stream all the
// packed weights (4.7 MB for 3x3x512 -> 256) through the cache for a few rows. Several samples then
// form one GEMM: this many per work item, at most ~256 rows, and a multiple of the thread count of items.
inline int samples_per_item(const ConvGeometry& g, const ConvTiling& tiling, int batch) {
  if (tiling.tiles_per_sample != 1 || batch <= 1) return 1;
  const int most = std::max(1, 256 / std::max(1, g.out_h * g.out_w)), threads = std::max(1, max_threads());
  for (int items = threads;; items += threads) {
    const int samples = (batch + items - 1) / items;
    if (samples <= most) return std::max(1, samples);
  }
}

}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "lanmsff/kernels/conv.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// out = conv(in, W) + bias, then `post` applied per tile when given. `bias` and `post` may be null.
// With post->max_pool, out is the pooled map (out_h / 2 x out_w / 2 x out_c). `use`: whether these
// weights come again unchanged (inference), so that a form derived from them (Winograd's transformed
// kernel) is kept between calls (weight_cache.hpp); it also lets Winograd run on smaller maps.
template <class T>
void conv2d_forward(const ConvGeometry& g, int batch, const T* in, const T* weights, const T* bias, T* out,
                    const std::type_identity_t<ChannelAffine<T>>* post = nullptr, WeightUse use = WeightUse::once) {
  LANMSFF_DISPATCH(T, conv2d_forward<T>(g, batch, in, weights, bias, out, post, use));
}
LANMSFF_KERNEL_ENTRY(conv2d_forward);

// grad_in = conv^T(grad_out, W): overwritten.
template <class T>
void conv2d_backward_data(const ConvGeometry& g, int batch, const T* grad_out, const T* weights, T* grad_in) {
  LANMSFF_DISPATCH(T, conv2d_backward_data<T>(g, batch, grad_out, weights, grad_in));
}
LANMSFF_KERNEL_ENTRY(conv2d_backward_data);

// grad_W += im2col(in)^T grad_out; grad_bias += column sums of grad_out (if not null).
template <class T>
void conv2d_backward_weights(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_weights,
                             T* grad_bias) {
  LANMSFF_DISPATCH(T, conv2d_backward_weights<T>(g, batch, in, grad_out, grad_weights, grad_bias));
}
LANMSFF_KERNEL_ENTRY(conv2d_backward_weights);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

// Packs the patches under output rows [y0, y1) of one sample into `col` ((y1-y0)*out_w x patch_size).
// With dilation 1, a kernel row's taps that all fall inside the input are adjacent input pixels, so
// they are one copy of k_w * C values.
template <class T>
void im2col(const ConvGeometry& g, const T* in, int y0, int y1, T* col) {
  const int K = g.patch_size(), C = g.in_c;
  for (int oy = y0; oy < y1; ++oy)
    for (int ox = 0; ox < g.out_w; ++ox) {
      T* row = col + (static_cast<std::size_t>(oy - y0) * g.out_w + ox) * K;
      const int ix0 = ox * g.stride - g.pad_left, ix_last = ix0 + (g.k_w - 1) * g.dilation;
      const bool row_inside = g.dilation == 1 && ix0 >= 0 && ix_last < g.in_w;
      for (int ky = 0; ky < g.k_h; ++ky) {
        const int iy = oy * g.stride - g.pad_top + ky * g.dilation;
        T* dst = row + ky * g.k_w * C;
        if (iy < 0 || iy >= g.in_h) {
          std::fill_n(dst, g.k_w * C, T(0));
          continue;
        }
        const T* src_row = in + static_cast<std::size_t>(iy) * g.in_w * C;
        if (row_inside) {
          copy_values(dst, src_row + std::size_t(ix0) * C, g.k_w * C);
          continue;
        }
        for (int kx = 0; kx < g.k_w; ++kx, dst += C) {
          const int ix = ix0 + kx * g.dilation;
          if (ix >= 0 && ix < g.in_w) copy_values(dst, src_row + std::size_t(ix) * C, C);
          else std::fill_n(dst, C, T(0));
        }
      }
    }
}

// im2col of the consecutive tiles [first, last), one after the other into `col`.
template <class T>
void im2col_tiles(const ConvGeometry& g, const ConvTiling& tiling, const T* in, std::ptrdiff_t first,
                  std::ptrdiff_t last, T* col) {
  const std::size_t in_sample = static_cast<std::size_t>(g.in_h) * g.in_w * g.in_c;
  for (std::ptrdiff_t t = first; t < last; col += std::size_t(tiling.pixels(t)) * g.patch_size(), ++t)
    im2col(g, in + tiling.sample(t) * in_sample, tiling.y0(t), tiling.y1(t), col);
}

// Adds the patch rows of `col` back onto the input positions they came from (the adjoint of im2col).
template <class T>
void col2im_add(const ConvGeometry& g, const T* col, int y0, int y1, T* in) {
  const int K = g.patch_size(), C = g.in_c;
  for (int oy = y0; oy < y1; ++oy)
    for (int ox = 0; ox < g.out_w; ++ox) {
      const T* row = col + (static_cast<std::size_t>(oy - y0) * g.out_w + ox) * K;
      for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t at) {
        T* dst = in + at;
        const T* src = row + std::size_t(tap) * C;
        for (int c = 0; c < C; ++c) dst[c] += src[c];
      });
    }
}

template <class T>
AlignedVector<T>& thread_buffer(int which, std::size_t size) {
  thread_local AlignedVector<T> buffers[2];
  auto& b = buffers[which];
  if (b.size() < size) b.resize(size);
  return b;
}

// A GEMM's output tile (rows x channels at y) + bias, then `post`; either may be null.
template <class T>
void finish_tile(T* y, std::ptrdiff_t rows, int channels, const T* bias, const ChannelAffine<T>* post) {
  if (post) apply_channel_affine(y, rows, channels, bias, *post);
  else if (bias) add_channel_bias(y, rows, channels, bias);
}

// See kernels::conv2d_forward.
template <class T>
void conv2d_forward(const ConvGeometry& g, int batch, const T* in, const T* weights, const T* bias, T* out,
                    const ChannelAffine<T>* post, WeightUse use) {
  const bool pool = post && post->max_pool;
  if constexpr (std::is_same_v<T, float>) {
    // Winograd pools within its 4x4 output tiles, which hold whole 2x2 windows without dilation.
    if (kernels::winograd::chosen<T>(g, batch, kernels::winograd::Pass::forward, use) && (!pool || g.dilation == 1))
      return winograd::forward(g, batch, in, weights, bias, out, post, use);
  }
  const int K = g.patch_size(), Co = g.out_c;
  // Packed once per call into this thread's buffer, read by every tile (a reference, so that the
  // worker threads see this thread's buffer and not their own thread_local one).
  thread_local PackedB<T> packed_weights;
  PackedB<T>& W = packed_weights;
  W.pack(K, Co, {weights, Co, 1});
  const std::size_t in_sample = static_cast<std::size_t>(g.in_h) * g.in_w * g.in_c;
  const std::size_t out_sample = static_cast<std::size_t>(g.out_h) * g.out_w * Co;
  const std::size_t pooled_sample = static_cast<std::size_t>(g.out_h / 2) * (g.out_w / 2) * Co;
  const ConvTiling tiling(g, pool);
  // One GEMM over the consecutive tiles [first, last), whose output rows are consecutive too; when
  // pooling, into a per-thread tile that is then pooled into out.
  const auto multiply = [&](std::ptrdiff_t first, std::ptrdiff_t last) {
    std::ptrdiff_t rows = 0;
    for (std::ptrdiff_t t = first; t < last; ++t) rows += tiling.pixels(t);
    T* y = pool ? thread_buffer<T>(1, std::size_t(rows) * Co).data() : out + tiling.offset(first, out_sample, g.out_w, Co);
    if (g.is_pointwise()) {
      gemm<T>(int(rows), {in + tiling.offset(first, in_sample, g.in_w, K), K, 1}, W, y, Co, false);
    } else {
      auto& col = thread_buffer<T>(0, std::size_t(rows) * K);
      im2col_tiles(g, tiling, in, first, last, col.data());
      gemm<T>(int(rows), {col.data(), K, 1}, W, y, Co, false);
    }
    finish_tile(y, rows, Co, bias, post);
    if (pool) {
      const T* tile = y;
      for (std::ptrdiff_t t = first; t < last; tile += tiling.pixels(t) * Co, ++t)
        max_pool_2x2_rows(tile, tiling.y1(t) - tiling.y0(t), g.out_w, Co,
                          out + tiling.sample(t) * pooled_sample + std::size_t(tiling.y0(t) / 2) * (g.out_w / 2) * Co,
                          std::ptrdiff_t(g.out_w / 2) * Co);
    }
  };
  // Whole-sample tiles `group` at a time (one tile per sample then), else one tile per work item.
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * tiling.tiles_per_sample;
  const int group = samples_per_item(g, tiling, batch);
  parallel_for(0, (tiles + group - 1) / group, [&](std::ptrdiff_t item) {
    multiply(item * group, std::min<std::ptrdiff_t>((item + 1) * group, tiles));
  });
}

// See kernels::conv2d_backward_data.
template <class T>
void conv2d_backward_data(const ConvGeometry& g, int batch, const T* grad_out, const T* weights, T* grad_in) {
  const int K = g.patch_size(), Co = g.out_c;
  if (g.stride == 1 && !g.is_pointwise()) {
    // With stride 1 the input gradient is itself a convolution: grad_out, padded by the kernel's
    // reach minus the forward padding, correlated with the kernel flipped in space and transposed
    // in channels. That runs the forward kernel (im2col + GEMM, every tile independent) instead of
    // a GEMM into patch rows and a scatter-add of them back onto the input (col2im).
    ConvGeometry t = g;
    t.in_h = g.out_h, t.in_w = g.out_w, t.in_c = g.out_c;
    t.out_h = g.in_h, t.out_w = g.in_w, t.out_c = g.in_c;
    t.pad_top = (g.k_h - 1) * g.dilation - g.pad_top;
    t.pad_left = (g.k_w - 1) * g.dilation - g.pad_left;
    if (t.pad_top >= 0 && t.pad_left >= 0) {
      const int taps = g.k_h * g.k_w, Ci = g.in_c;
      thread_local AlignedVector<T> flipped;  // (kh, kw, Co, Ci), tap order reversed
      flipped.resize(std::size_t(taps) * Co * Ci);
      // A transpose per tap, in 16 x 16 blocks so that reads and writes both stay within a few cache
      // lines (MA-Net's 512 x 512 taps would otherwise miss on every element).
      constexpr int block = 16;
      for (int tap = 0; tap < taps; ++tap) {
        const T* src = weights + std::size_t(tap) * Ci * Co;
        T* dst = flipped.data() + std::size_t(taps - 1 - tap) * Co * Ci;
        for (int ci0 = 0; ci0 < Ci; ci0 += block)
          for (int co0 = 0; co0 < Co; co0 += block)
            for (int ci = ci0; ci < std::min(ci0 + block, Ci); ++ci)
              for (int co = co0; co < std::min(co0 + block, Co); ++co)
                dst[std::size_t(co) * Ci + ci] = src[std::size_t(ci) * Co + co];
      }
      LANMSFF_ISA_NS::conv2d_forward(t, batch, grad_out, flipped.data(), static_cast<const T*>(nullptr), grad_in,
                                     static_cast<const ChannelAffine<T>*>(nullptr), WeightUse::once);
      return;
    }
  }
  thread_local PackedB<T> packed_weights;  // W transposed (Co x K), packed once per call (see forward)
  PackedB<T>& Wt = packed_weights;
  Wt.pack(Co, K, {weights, 1, Co});
  const std::size_t in_sample = static_cast<std::size_t>(g.in_h) * g.in_w * g.in_c;
  const std::size_t out_sample = static_cast<std::size_t>(g.out_h) * g.out_w * Co;
  const ConvTiling tiling(g);
  if (g.is_pointwise()) {  // same pixel grid: a plain GEMM per tile, no overlap
    parallel_for(0, std::ptrdiff_t(batch) * tiling.tiles_per_sample, [&](std::ptrdiff_t tile) {
      const int n = int(tile / tiling.tiles_per_sample), y0 = int(tile % tiling.tiles_per_sample) * tiling.rows_per_tile;
      const int rows = (std::min(y0 + tiling.rows_per_tile, g.out_h) - y0) * g.out_w;
      gemm<T>(rows, {grad_out + n * out_sample + std::size_t(y0) * g.out_w * Co, Co, 1}, Wt,
              grad_in + n * in_sample + std::size_t(y0) * g.in_w * K, K, false);
    });
    return;
  }
  const int group = samples_per_item(g, tiling, batch);
  if (group > 1) {  // whole samples, `group` at a time (see forward); samples never share input rows
    const int sample_rows = g.out_h * g.out_w;
    parallel_for(0, (batch + group - 1) / group, [&](std::ptrdiff_t item) {
      const int n0 = int(item) * group, n1 = std::min(n0 + group, batch), rows = (n1 - n0) * sample_rows;
      auto& col = thread_buffer<T>(0, std::size_t(rows) * K);
      gemm<T>(rows, {grad_out + n0 * out_sample, Co, 1}, Wt, col.data(), K, false);
      for (int n = n0; n < n1; ++n) {
        std::fill_n(grad_in + n * in_sample, in_sample, T(0));
        col2im_add(g, col.data() + std::size_t(n - n0) * sample_rows * K, 0, g.out_h, grad_in + n * in_sample);
      }
    });
    return;
  }
  parallel_for(0, batch, [&](std::ptrdiff_t n) { std::fill_n(grad_in + n * in_sample, in_sample, T(0)); });
  // Even row tiles, then odd ones: tiles two apart touch disjoint input rows, so no two threads add
  // to the same element.
  const int half = (tiling.tiles_per_sample + 1) / 2;
  for (int phase = 0; phase < 2; ++phase) {
    parallel_for(0, std::ptrdiff_t(batch) * half, [&](std::ptrdiff_t item) {
      const int n = int(item / half), t = int(item % half) * 2 + phase;
      if (t >= tiling.tiles_per_sample) return;
      const int y0 = t * tiling.rows_per_tile, y1 = std::min(y0 + tiling.rows_per_tile, g.out_h);
      const int rows = (y1 - y0) * g.out_w;
      auto& col = thread_buffer<T>(0, std::size_t(rows) * K);
      gemm<T>(rows, {grad_out + n * out_sample + std::size_t(y0) * g.out_w * Co, Co, 1}, Wt, col.data(), K, false);
      col2im_add(g, col.data(), y0, y1, grad_in + n * in_sample);
    });
  }
}

// See kernels::conv2d_backward_weights.
template <class T>
void conv2d_backward_weights(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_weights,
                             T* grad_bias) {
  if constexpr (std::is_same_v<T, float>) {
    if (kernels::winograd::chosen<T>(g, batch, kernels::winograd::Pass::weight_gradient))
      return winograd::backward_weights(g, batch, in, grad_out, grad_weights, grad_bias);
  }
  const int K = g.patch_size(), Co = g.out_c;
  const std::size_t in_sample = static_cast<std::size_t>(g.in_h) * g.in_w * g.in_c;
  const std::size_t out_sample = static_cast<std::size_t>(g.out_h) * g.out_w * Co;
  const ConvTiling tiling(g);
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * tiling.tiles_per_sample;
  parallel_region([&](int t, int threads) {
    // This thread's dW (K x Co) and bias sums (Co), then its bias lanes (one channel period).
    const ChannelPeriod<T> period(Co);
    auto& acc = thread_buffer<T>(1, std::size_t(K) * Co + Co + std::size_t(period.size));
    T* dW = acc.data();
    T* db = dW + std::size_t(K) * Co;
    T* bias_lanes = db + Co;
    std::fill_n(acc.data(), std::size_t(K) * Co + Co + std::size_t(period.size), T(0));
    // Consecutive tiles cover consecutive rows of the (batch * out_h * out_w) x Co gradient, so a
    // run of them is one GEMM with a deeper inner dimension: dW (K x Co, up to megabytes for wide
    // layers) is then loaded and stored once per run instead of once per tile.
    const std::ptrdiff_t max_rows =
        std::max<std::ptrdiff_t>(std::ptrdiff_t(tiling.rows_per_tile) * g.out_w,
                                 std::min<std::ptrdiff_t>(1024, (std::ptrdiff_t(4) << 20) / (std::ptrdiff_t(K) * sizeof(T))));
    const Range share = static_share(tiles, t, threads);
    for (std::ptrdiff_t first = share.begin, last; first < share.end; first = last) {
      std::ptrdiff_t rows = tiling.pixels(first);
      for (last = first + 1; last < share.end && rows + tiling.pixels(last) <= max_rows; ++last) rows += tiling.pixels(last);
      const T* gy = grad_out + tiling.offset(first, out_sample, g.out_w, Co);
      // This run's output gradient as the right operand: read in place where dW has few rows (packing
      // it would cost a good part of the product: LANMSFF's first and pointwise convolutions), packed
      // where many (3x3 convolutions of 16+ channels, whose products then run from the packed panels).
      thread_local PackedB<T> packed_g;
      if (K <= 128) packed_g.view(int(rows), Co, gy, Co);
      else packed_g.pack(int(rows), Co, {gy, Co, 1});
      if (g.is_pointwise()) {  // dW (K x Co) += X^T G: X^T(i, k) = X(k, i); X rows are contiguous too
        gemm<T>(K, {in + tiling.offset(first, in_sample, g.in_w, K), 1, K}, packed_g, dW, Co, true);
      } else {
        auto& col = thread_buffer<T>(0, std::size_t(rows) * K);
        im2col_tiles(g, tiling, in, first, last, col.data());
        gemm<T>(K, {col.data(), 1, K}, packed_g, dW, Co, true);
      }
      // The bias gradient's column sums as vectors over whole channel periods (channel_period.hpp).
      if (grad_bias) add_pixels(period, gy, rows, bias_lanes, db);
    }
    if (grad_bias) period.fold_add(bias_lanes, db);
    in_thread_order(t, threads, [&] {
      add_values(grad_weights, dW, std::ptrdiff_t(K) * Co);
      if (grad_bias) add_values(grad_bias, db, Co);
    });
  });
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
