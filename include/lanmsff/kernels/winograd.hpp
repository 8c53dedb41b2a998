// Winograd F(4x4, 3x3) convolution for float: 3x3 kernels, stride 1, any dilation and padding,
// forward and weight gradient (the input gradient of a stride-1 convolution is itself a forward
// convolution, conv.hpp). Written over the lanes of each instruction set, one vector of channels at
// a time.
//
// Each 4x4 block of output pixels (of one dilation phase) is Y = A^T [ U (.) V ] A, where
// V = B^T d B is the 6x6 input tile under it and U = G g G^T the kernel: 36 products per channel pair
// instead of 144, so the convolution's multiply-adds become 36 independent GEMMs, one per position
// xi of the 6x6 tile, each (tiles x Ci) x (Ci x Co), and cost a quarter of im2col + GEMM's. Two
// layouts, by the size of the transformed kernel U (36 Ci Co floats) against the CPU's L2 (read at
// run time, core/cache.hpp):
//  - tile by tile (U fits): work items are blocks of tiles small enough that their transformed inputs
//    and products stay in L2: transform the inputs, 36 GEMMs (gemm.hpp's micro-kernel) against the
//    whole packed U, transform the products back (with the bias and a fused BatchNorm/ReLU epilogue
//    applied on the way out);
//  - position by position (U larger, MA-Net's 128 to 512 channels): the inputs of a group of tiles
//    are transformed first; work items are panels of output channels, which transform the kernel a
//    block of input channels at a time, straight into the GEMM's packed layout, and multiply it at
//    every position while it is in cache (forward_by_position, in winograd_by_position.hpp).
//
// The weight gradient differentiates the same identity: dU_xi += V_xi^T dM_xi with dM = A dY A^T per
// tile, then dW = G^T dU G, in the same two layouts.
//
// Rounding: the transforms scale values by up to 25 (input) and 1/24 .. 8 (kernel, output), so
// results differ from im2col's by a few units in the fifth or sixth significant digit (tests bound
// it against double sums). set_conv_algorithm(ConvAlgorithm::im2col) turns it off.
#ifndef LANMSFF_KERNELS_WINOGRAD_HPP
#define LANMSFF_KERNELS_WINOGRAD_HPP

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "lanmsff/core/cache.hpp"
#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/channel_period.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"
#include "lanmsff/kernels/epilogue.hpp"
#include "lanmsff/kernels/gemm.hpp"
#include "lanmsff/kernels/weight_cache.hpp"

namespace lanmsff {

// Which algorithm runs the dense convolutions that could use either. `automatic` (the default) takes
// Winograd F(4x4, 3x3) where it applies and pays (winograd::chosen): float, 3x3, stride 1, at least 8
// channels in and out, and enough tiles to amortise transforming the kernel. `winograd` takes it
// wherever it can run (float, 3x3, stride 1), `im2col` never. `winograd_by_position` is `winograd`
// with the position-major layout that large kernels use (winograd::large_kernel) for every kernel,
// for tests and measurements. Process-wide; set it before running a network, not while one runs.
enum class ConvAlgorithm { automatic, im2col, winograd, winograd_by_position };

namespace detail {
inline std::atomic<ConvAlgorithm>& conv_algorithm_setting() {
  static std::atomic<ConvAlgorithm> setting{ConvAlgorithm::automatic};
  return setting;
}
}  // namespace detail

inline void set_conv_algorithm(ConvAlgorithm a) { detail::conv_algorithm_setting().store(a); }
inline ConvAlgorithm conv_algorithm() { return detail::conv_algorithm_setting().load(); }

}  // namespace lanmsff

namespace lanmsff::kernels {

namespace winograd {

inline constexpr int m = 4;          // output tile side
inline constexpr int r = 3;          // kernel side
inline constexpr int a = m + r - 1;  // input tile side
inline constexpr int positions = a * a;

// Whether this build can run a convolution of this geometry for element type T as Winograd.
template <class T>
inline bool supports(const ConvGeometry& g) {
  return std::is_same_v<T, float> && g.k_h == r && g.k_w == r && g.stride == 1 && g.out_h > 0 && g.out_w > 0 &&
         g.in_c > 0 && g.out_c > 0;
}

// The tiles of one sample: the output grid is split into dilation^2 phases (pixels py + d qy,
// px + d qx), and each phase into 4x4 tiles of its own grid (past the edge: not stored).
struct Tiling {
  int d, phase_h, phase_w, tiles_h, tiles_w;
  explicit Tiling(const ConvGeometry& g)
      : d(g.dilation),
        phase_h((g.out_h + g.dilation - 1) / g.dilation),
        phase_w((g.out_w + g.dilation - 1) / g.dilation),
        tiles_h((phase_h + m - 1) / m),
        tiles_w((phase_w + m - 1) / m) {}
  std::ptrdiff_t per_sample() const { return std::ptrdiff_t(d) * d * tiles_h * tiles_w; }
  // Top-left output pixel of tile `t` (numbered within a sample); its pixels are (y0 + d i, x0 + d j).
  void origin(std::ptrdiff_t t, int& y0, int& x0) const {
    const int tx = int(t % tiles_w), ty = int(t / tiles_w % tiles_h), phase = int(t / (std::ptrdiff_t(tiles_w) * tiles_h));
    y0 = phase / d + d * m * ty;
    x0 = phase % d + d * m * tx;
  }
};

enum class Pass { forward, weight_gradient };

// Whether the transformed kernel (36 Ci Co floats) is larger than this CPU's L2, where the tile-major
// forward would stream it through the cache for every small block of tiles.
inline bool large_kernel(const ConvGeometry& g) {
  return std::size_t(positions) * g.in_c * g.out_c * sizeof(float) > cache_sizes().l2;
}
// The most tiles the position-major layout transforms at once (0: as many as half the L3 holds).
// For tests, which set a small one to run several groups and a partial last one.
inline std::atomic<int>& tile_group_limit() {
  static std::atomic<int> limit{0};
  return limit;
}
// The tiles per group of the position-major layout, for tiles of `per_tile` bytes (V and M).
inline std::ptrdiff_t tile_group(std::ptrdiff_t tiles, std::size_t per_tile, int at_least) {
  const int limit = tile_group_limit().load();
  if (limit > 0) return std::min<std::ptrdiff_t>(tiles, limit);
  return std::min<std::ptrdiff_t>(tiles, std::max<std::ptrdiff_t>(at_least, std::ptrdiff_t(cache_sizes().l3 / 2 / per_tile)));
}
// Whether the position-major layout runs this geometry: a large kernel, or forced by the setting.
inline bool by_position(const ConvGeometry& g) {
  return large_kernel(g) || conv_algorithm() == ConvAlgorithm::winograd_by_position;
}

// Whether conv2d_forward (the forward, and the stride-1 input gradient) or conv2d_backward_weights
// runs this geometry at this batch size as Winograd: supports() and the algorithm setting. `use`:
// whether the forward's weights come again unchanged, so that their transform is made once and kept
// (kernels/weight_cache.hpp).
template <class T>
inline bool chosen(const ConvGeometry& g, int batch, Pass pass, WeightUse use = WeightUse::once) {
  const ConvAlgorithm setting = conv_algorithm();
  if (setting == ConvAlgorithm::im2col || !supports<T>(g)) return false;
  if (setting == ConvAlgorithm::winograd || setting == ConvAlgorithm::winograd_by_position) return true;
  // Few channels: the transforms (per channel) outweigh the GEMMs they save. Few tiles: transforming
  // the kernel (and, for the weight gradient, back) costs more than the GEMMs save. The thresholds
  // are where Winograd overtook im2col on LANMSFF's and MA-Net's shapes (bench/: 32x32x72 -> 36 at
  // 64 and 128 tiles, forward 0.8x and 1.2x, weight gradient 1.2x and 1.3x; 14x14x64 at 128 tiles
  // 1.0x and 0.8x).
  if (g.in_c < 8 || g.out_c < 8) return false;
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * Tiling(g).per_sample();
  const std::ptrdiff_t pixels = std::ptrdiff_t(batch) * g.out_h * g.out_w;
  const bool fewer_multiply_adds = 36 * tiles * 5 <= 9 * pixels * 4;  // Winograd's at most 0.8 of im2col's
  if (large_kernel(g)) {
    // Position-major (forward_by_position), which transforms the kernel block by block as it goes and
    // reads the weights once, as im2col does: chosen where its multiply-adds (36 per tile) are at most
    // 0.8 of im2col's (9 per output pixel). On MA-Net's 7x7 maps (4 tiles of 4x4 for 49 pixels, 0.33)
    // the forward measured 1.5-3x faster than im2col from batch 1 to 16. The weight gradient's GEMMs
    // sum over the tiles, too few of them below 64 (7x7x128 at 32 tiles: 0.7x im2col's speed).
    if (pass == Pass::weight_gradient && tiles < 64) return false;
    return fewer_multiply_adds;
  }
  // A kept transform leaves the data transforms and the GEMMs, which overtake im2col from the
  // smallest maps on: at batch 1, 32x32x72 -> 36 in 67 us instead of 172, 16x16x78 -> 78 in 44
  // instead of 167, 8x8x84 -> 42 (4 tiles) in 21 instead of 36 (against 162, 212 and 135 us when the
  // kernel is transformed at every call). The same multiply-add rule as the position-major forward.
  if (pass == Pass::forward && use == WeightUse::repeated) return fewer_multiply_adds;
  return tiles >= 128;
}

// Tiles per work item: their transformed inputs and products (36 (Ci + Co) floats per tile) about
// 1 MB, within L2 beside the transformed kernel, and a multiple of the GEMM's row blocks (`rows`)
// where that keeps the items' count; and the items a multiple of the threads, in about equal shares
// (at batch 1, 64 tiles made one item of 60 tiles and one of 4, so one thread did nearly all of it).
inline int tiles_per_item(const ConvGeometry& g, int rows, std::ptrdiff_t tiles, int threads) {
  const std::size_t per_tile = std::size_t(positions) * (g.in_c + g.out_c) * sizeof(float);
  const int fit = int((std::size_t(1) << 20) / per_tile);
  const int most = std::clamp(fit / rows * rows, rows, 96 / rows * rows);
  const std::ptrdiff_t t = std::max<std::ptrdiff_t>(threads, 1);
  const std::ptrdiff_t items = ((tiles + most - 1) / most + t - 1) / t * t;
  const int even = int(std::max<std::ptrdiff_t>(1, (tiles + items - 1) / items));
  const int whole = (even + rows - 1) / rows * rows;
  return (tiles + whole - 1) / whole == items ? whole : even;
}

// The transform matrices (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016),
// for correlation as CNNs compute it: y_i = sum_k d_(i+k) g_k.
inline constexpr float BT[a][a] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                   {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
inline constexpr double G[a][r] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
inline constexpr double GT[r][a] = {{G[0][0], G[1][0], G[2][0], G[3][0], G[4][0], G[5][0]},
                                    {G[0][1], G[1][1], G[2][1], G[3][1], G[4][1], G[5][1]},
                                    {G[0][2], G[1][2], G[2][2], G[3][2], G[4][2], G[5][2]}};
inline constexpr float AT[m][a] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
inline constexpr float A[a][m] = {{1, 0, 0, 0}, {1, 1, 1, 1}, {1, -1, 1, -1}, {1, 2, 4, 8}, {1, -2, 4, -8}, {0, 0, 0, 1}};

}  // namespace winograd
}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "lanmsff/kernels/winograd.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels::winograd {

// u (36 x Ci x Co, position-major) = G g G^T of every channel pair of w (HWIO: 3, 3, Ci, Co), on the
// active instruction set (the transform the tile-major forward uses).
inline void transform_kernel(const float* w, int Ci, int Co, float* u) {
  const std::size_t pairs = std::size_t(Ci) * Co;
  LANMSFF_DISPATCH(float, winograd::detail::transform_kernel_pairs(w, pairs, 0, pairs, u));
}

// dw (3, 3, Ci, Co) += G^T dU G from du (36 x Ci x Co): the adjoint of transform_kernel.
inline void transform_kernel_gradient(const float* du, int Ci, int Co, float* dw) {
  const std::size_t pairs = std::size_t(Ci) * Co;
  LANMSFF_DISPATCH(float, winograd::detail::transform_kernel_gradient_pairs(du, pairs, 0, pairs, dw));
}

}  // namespace lanmsff::kernels::winograd

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS::winograd {

using namespace ::lanmsff::kernels::winograd;  // the tiling, the matrices and the kernel transforms

// The data and kernel transforms (V, M, dM, U and its adjoint).
#include "lanmsff/kernels/winograd_transforms.hpp"

namespace detail {
// grad_bias += the column sums of grad_out (pixels x Co): each thread sums its share of the pixels,
// the shares are added in thread order (reproducible for a fixed thread count).
inline void add_bias_gradient(const ConvGeometry& g, int batch, const float* grad_out, float* grad_bias) {
  const int Co = g.out_c;
  thread_local AlignedVector<float> sums_store;
  AlignedVector<float>& sums = sums_store;
  sums.assign(std::size_t(std::max(1, max_threads())) * Co, 0.0f);
  int used = 1;
  parallel_region([&](int t, int threads) {
    if (t == 0) used = threads;
    float* db = sums.data() + std::size_t(t) * Co;
    const std::size_t pixels = std::size_t(batch) * g.out_h * g.out_w;
    const Range rows = static_share(std::ptrdiff_t(pixels), t, threads);
    const ChannelPeriod<float> period(Co);
    float* lanes = period_buffer<float>(3, std::size_t(period.size));
    std::fill_n(lanes, period.size, 0.0f);
    add_pixels(period, grad_out + std::size_t(rows.begin) * Co, rows.end - rows.begin, lanes, db);
    period.fold_add(lanes, db);
  });
  for (int t = 0; t < used; ++t)
    for (int c = 0; c < Co; ++c) grad_bias[c] += sums[std::size_t(t) * Co + c];
}
}  // namespace detail

#include "lanmsff/kernels/winograd_by_position.hpp"

namespace detail {
// The transformed kernel of the tile-major forward: U_p packed for the GEMM, one per position.
struct TransformedKernel {
  std::vector<PackedB<float>> U = std::vector<PackedB<float>>(positions);
};

// This thread's kept transforms (weight_cache.hpp), per instruction set.
inline WeightCache<TransformedKernel>& transformed_kernels() {
  thread_local WeightCache<TransformedKernel> cache;
  return cache;
}

// U = G g G^T of w (HWIO: 3, 3, Ci, Co), packed; returns its bytes. The 36 positions are spread over
// the threads.
inline std::size_t make_transformed_kernel(const float* weights, int Ci, int Co, std::vector<PackedB<float>>& U) {
  const std::size_t pairs = std::size_t(Ci) * Co;
  thread_local AlignedVector<float> transformed;
  transformed.resize(positions * pairs);
  float* const u = transformed.data();
  const std::size_t span = pair_span(pairs);
  parallel_for(0, std::ptrdiff_t((pairs + span - 1) / span), [&](std::ptrdiff_t c) {
    const std::size_t e0 = std::size_t(c) * span;
    transform_kernel_pairs(weights, pairs, e0, std::min(pairs, e0 + span), u);
  });
  parallel_for(0, positions, [&](std::ptrdiff_t p) { U[p].pack(Ci, Co, {u + p * pairs, Co, 1}); });
  std::size_t bytes = 0;
  for (const PackedB<float>& b : U) bytes += b.bytes();
  return bytes;
}
}  // namespace detail

// out = conv(in, W) + bias, then `post` (see conv2d_forward). Requires supports<float>(g). With
// WeightUse::repeated the transformed kernel is kept for the next call with the same weights.
inline void forward(const ConvGeometry& g, int batch, const float* in, const float* weights, const float* bias,
                    float* out, const ChannelAffine<float>* post, WeightUse use = WeightUse::once) {
  if (by_position(g)) return forward_by_position(g, batch, in, weights, bias, out, post);
  const int Ci = g.in_c, Co = g.out_c;
  // The transformed kernel, kept or made for this call in this thread's buffers (read by every worker).
  thread_local detail::TransformedKernel scratch;
  detail::TransformedKernel* kernel = &scratch;
  if (use == WeightUse::repeated) {
    auto& cache = detail::transformed_kernels();
    auto& entry = cache.at(weights, std::size_t(9) * Ci * Co, std::uint64_t(Ci) << 32 | std::uint32_t(Co));
    if (!entry.made) cache.made(entry, detail::make_transformed_kernel(weights, Ci, Co, entry.form.U));
    kernel = &entry.form;
  } else {
    detail::make_transformed_kernel(weights, Ci, Co, scratch.U);
  }
  const std::vector<PackedB<float>>& U = kernel->U;
  const Tiling tiling(g);
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * tiling.per_sample();
  const int block = tiles_per_item(g, GemmShape<Lanes<float>>::mr, tiles, max_threads());
  parallel_for(0, (tiles + block - 1) / block, [&](std::ptrdiff_t item) {
    const std::ptrdiff_t first = item * block;
    const int count = int(std::min<std::ptrdiff_t>(block, tiles - first));
    thread_local AlignedVector<float> vbuf, mbuf;
    vbuf.resize(std::size_t(positions) * count * Ci);
    mbuf.resize(std::size_t(positions) * count * Co);
    detail::transform_input(g, tiling, in, tiles, first, count, vbuf.data(), Ci, std::size_t(positions) * Ci);
    for (int p = 0; p < positions; ++p)
      gemm<float>(count, {vbuf.data() + std::size_t(p) * Ci, positions * Ci, 1}, U[p], mbuf.data() + std::size_t(p) * Co,
                  positions * Co, false);
    detail::transform_output(g, tiling, mbuf.data(), Co, std::size_t(positions) * Co, first, count, bias, post, out);
  });
}

// grad_W += conv weight gradient of (in, grad_out); grad_bias (if not null) += column sums of
// grad_out. Requires supports<float>(g).
inline void backward_weights(const ConvGeometry& g, int batch, const float* in, const float* grad_out,
                             float* grad_weights, float* grad_bias) {
  if (by_position(g)) return backward_weights_by_position(g, batch, in, grad_out, grad_weights, grad_bias);
  const int Ci = g.in_c, Co = g.out_c;
  const std::size_t pairs = std::size_t(Ci) * Co;
  const Tiling tiling(g);
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * tiling.per_sample();
  const int block = tiles_per_item(g, GemmShape<Lanes<float>>::mr, tiles, max_threads());
  const std::ptrdiff_t items = (tiles + block - 1) / block;
  // Each thread sums dU (and the bias gradient) over its share of the tiles; the shares are then added
  // in thread order (reproducible for a fixed thread count) and transformed back, both spread over
  // the threads.
  // Each thread's dU, listed in this thread's buffer (a reference, so that the workers fill this
  // thread's list and not their own thread_local one; no allocation after the first call).
  thread_local std::vector<float*> partial_store;
  std::vector<float*>& partial = partial_store;
  partial.assign(std::size_t(max_threads()), nullptr);
  int used = 1;
  parallel_region([&](int t, int threads) {
    thread_local AlignedVector<float> du_buf, vbuf, mbuf;
    thread_local PackedB<float> packed_dm;
    du_buf.assign(positions * pairs + Co, 0.0f);
    float* du = du_buf.data();
    float* db = du + positions * pairs;
    partial[std::size_t(t)] = du;
    if (t == 0) used = threads;
    const Range share = static_share(items, t, threads);
    for (std::ptrdiff_t item = share.begin; item < share.end; ++item) {
      const std::ptrdiff_t first = item * block;
      const int count = int(std::min<std::ptrdiff_t>(block, tiles - first));
      vbuf.resize(std::size_t(positions) * count * Ci);
      mbuf.resize(std::size_t(positions) * count * Co);
      detail::transform_input(g, tiling, in, tiles, first, count, vbuf.data(), std::size_t(count) * Ci, Ci);
      detail::transform_output_gradient(g, tiling, grad_out, tiles, first, count, mbuf.data(), std::size_t(count) * Co,
                                        Co);
      for (int p = 0; p < positions; ++p) {
        // dU_p (Ci x Co) += V_p^T dM_p: A = V_p read transposed (element (ci, tile) at tile * Ci + ci).
        packed_dm.view(count, Co, mbuf.data() + std::size_t(p) * count * Co, Co);
        gemm<float>(Ci, {vbuf.data() + std::size_t(p) * count * Ci, 1, Ci}, packed_dm, du + p * pairs, Co, true);
      }
    }
    if (grad_bias) {  // column sums as vectors over whole channel periods
      const std::size_t pixels = std::size_t(batch) * g.out_h * g.out_w;
      const Range rows = static_share(std::ptrdiff_t(pixels), t, threads);
      const ChannelPeriod<float> period(Co);
      float* lanes = period_buffer<float>(3, std::size_t(period.size));
      std::fill_n(lanes, period.size, 0.0f);
      add_pixels(period, grad_out + std::size_t(rows.begin) * Co, rows.end - rows.begin, lanes, db);
      period.fold_add(lanes, db);
    }
  });
  float* const total = partial[0];
  const std::size_t values = positions * pairs + Co;
  constexpr std::size_t chunk = 4096;
  if (used > 1)
    parallel_for(0, std::ptrdiff_t((values + chunk - 1) / chunk), [&](std::ptrdiff_t c) {
      const std::size_t begin = std::size_t(c) * chunk, end = std::min(values, begin + chunk);
      for (int t = 1; t < used; ++t)
        for (std::size_t e = begin; e < end; ++e) total[e] += partial[std::size_t(t)][e];
    });
  const std::size_t span = detail::pair_span(pairs);
  parallel_for(0, std::ptrdiff_t((pairs + span - 1) / span), [&](std::ptrdiff_t c) {
    const std::size_t e0 = std::size_t(c) * span;
    detail::transform_kernel_gradient_pairs(total, pairs, e0, std::min(pairs, e0 + span), grad_weights);
  });
  if (grad_bias)
    for (int c = 0; c < Co; ++c) grad_bias[c] += total[positions * pairs + c];
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS::winograd

#endif
