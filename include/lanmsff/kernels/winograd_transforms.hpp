// The data and kernel transforms of kernels/winograd.hpp for one instruction set: the constant-matrix
// products (combine, apply, two_sided), the tile gather with its prefetch, V = B^T d B of the input tiles,
// A^T M A of the products back into the output (with the bias and a fused epilogue), dM = A dY A^T of
// the output gradient, and U = G g G^T of the kernel and its adjoint, a vector of channel pairs at a
// time. Part of winograd.hpp's pass per instruction set, which includes it (inside namespace
// lanmsff::kernels::<isa>::winograd); no include guard, and it includes nothing.
#if !defined(LANMSFF_ISA_PASS)
#error "lanmsff: kernels/winograd_transforms.hpp is part of kernels/winograd.hpp; include that instead"
#endif

namespace detail {
using L = Lanes<float>;
using V = L::Vec;
inline constexpr int W = L::width;
// out = sum_k C[i][k] x[k], unrolled at compile time: zero coefficients skipped, +-1 as adds.
template <const auto& C, int i, int k = 0, bool started = false>
inline V combine(const V* x, V acc = L::zero()) {
  constexpr int cols = int(std::extent_v<std::remove_cvref_t<decltype(C)>, 1>);
  if constexpr (k == cols) {
    return acc;
  } else {
    constexpr float c = float(C[i][k]);
    if constexpr (c == 0) {
      return combine<C, i, k + 1, started>(x, acc);
    } else if constexpr (!started) {
      const V v = c == 1 ? x[k] : c == -1 ? L::sub(L::zero(), x[k]) : L::mul(L::set1(c), x[k]);
      return combine<C, i, k + 1, true>(x, v);
    } else if constexpr (c == 1) {
      return combine<C, i, k + 1, true>(x, L::add(acc, x[k]));
    } else if constexpr (c == -1) {
      return combine<C, i, k + 1, true>(x, L::sub(acc, x[k]));
    } else {
      return combine<C, i, k + 1, true>(x, L::fma(L::set1(c), x[k], acc));
    }
  }
}

// out[i] = sum_k C[i][k] in[k] for every row i of C.
template <const auto& C, int... I>
inline void apply_rows(const V* in, V* out, std::integer_sequence<int, I...>) {
  ((out[I] = combine<C, I>(in)), ...);
}
template <const auto& C>
inline void apply(const V* in, V* out) {
  constexpr int rows = int(std::extent_v<std::remove_cvref_t<decltype(C)>, 0>);
  apply_rows<C>(in, out, std::make_integer_sequence<int, rows>{});
}

// Y (R x R) = Cm X Cm^T for the constant matrix Cm (R x S) and X (S x S), X read by load(k, s) and Y
// written by store(i, j, value): a pass down X's columns into a scratch tile, then one along its
// rows, so that only one column or row (and its result) is in registers at a time.
template <const auto& Cm, int R, int S, class Load, class Store>
inline void two_sided(Load&& load, Store&& store) {
  V t[R][S];  // Cm X
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
    V col[S], out[R];
#pragma GCC unroll 8
    for (int k = 0; k < S; ++k) col[k] = load(k, s);
    apply<Cm>(col, out);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) t[i][s] = out[i];
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    V out[R];
    apply<Cm>(t[i], out);
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) store(i, j, out[j]);
  }
}

// Software prefetch of the `side` x `side` pixels (dilation d apart) at (y0, x0) of an NHWC sample
// (height x width x C): the rows of pixels a tile gathers a few tiles ahead. The gathers walk six
// (input) or four (output gradient) rows at once, a few pixels along each, which the hardware
// prefetchers follow too late: on 64x64x66 maps they stalled on every new line.
inline void prefetch_tile(const float* sample, int height, int width, int C, int y0, int x0, int side, int d) {
  const int first = std::max(0, x0), last = std::min(width - 1, x0 + (side - 1) * d);
  if (first > last) return;
  for (int i = 0; i < side; ++i) {
    const int y = y0 + i * d;
    if (y < 0 || y >= height) continue;
    const char* p = reinterpret_cast<const char*>(sample + (std::size_t(y) * width + first) * C);
    const char* end = reinterpret_cast<const char*>(sample + (std::size_t(y) * width + last + 1) * C);
    for (; p < end; p += 64) prefetch(p);
  }
}
inline constexpr int prefetch_ahead = 2;  // tiles

// Gathers the Side x Side pixels of tile `tile` of the batch (its origin shifted up and left by
// (shift_y, shift_x): the input's padding) from an NHWC batch `data` (height x width x C per sample)
// into `scratch` (channel block, row, column, one vector; zeros past the map's edge), walking the map
// in its own order (a row of pixels is contiguous), so that the transform reads at fixed offsets; and
// prefetches the tile prefetch_ahead tiles on.
template <int Side>
inline void gather_tile(const Tiling& tiling, const float* data, int height, int width, int C, int shift_y, int shift_x,
                        std::ptrdiff_t tile, std::ptrdiff_t tiles, float* scratch) {
  const int d = tiling.d, blocks = (C + W - 1) / W;
  const std::size_t sample_size = std::size_t(height) * width * C;
  const std::ptrdiff_t per_sample = tiling.per_sample();
  if (tile + prefetch_ahead < tiles) {
    int py, px;
    const std::ptrdiff_t ahead = tile + prefetch_ahead;
    tiling.origin(ahead % per_sample, py, px);
    prefetch_tile(data + std::size_t(ahead / per_sample) * sample_size, height, width, C, py - shift_y, px - shift_x,
                  Side, d);
  }
  int y0, x0;
  tiling.origin(tile % per_sample, y0, x0);
  const float* src = data + std::size_t(tile / per_sample) * sample_size;
  y0 -= shift_y, x0 -= shift_x;
  for (int i = 0; i < Side; ++i) {
    const int y = y0 + i * d;
    // The row's address is formed only for a row inside the map (one above it would point before the
    // array, which C++ leaves undefined even if it is never read).
    const float* row = y >= 0 && y < height ? src + std::size_t(y) * width * C : nullptr;
    for (int j = 0; j < Side; ++j) {
      const int x = x0 + j * d;
      float* dst = scratch + (i * Side + j) * W;
      if (!row || x < 0 || x >= width) {
        for (int b = 0; b < blocks; ++b) L::store(dst + b * (Side * Side * W), L::zero());
        continue;
      }
      const float* px = row + std::size_t(x) * C;
      int b = 0;
      for (; b + 1 < blocks; ++b) L::store(dst + b * (Side * Side * W), L::load(px + b * W));
      L::store(dst + b * (Side * Side * W), L::load(px + b * W, L::mask(C - b * W)));
    }
  }
}

// V for tiles [first, first + count) of the batch: B^T d B of each 6x6 input tile, zeros outside the
// input, the C values of position p of tile t at v + p pos_stride + t tile_stride (tile-major: (C,
// 36 C); position-major: (count C, C)). Each tile is first gathered into a scratch tile (gather_tile).
inline void transform_input(const ConvGeometry& g, const Tiling& tiling, const float* in, std::ptrdiff_t tiles,
                            std::ptrdiff_t first, int count, float* v, std::size_t pos_stride,
                            std::size_t tile_stride) {
  const int C = g.in_c, blocks = (C + W - 1) / W;
  thread_local AlignedVector<float> scratch_store;
  scratch_store.resize(std::size_t(blocks) * a * a * W);
  float* const scratch = scratch_store.data();
  for (int t = 0; t < count; ++t) {
    gather_tile<a>(tiling, in, g.in_h, g.in_w, C, g.pad_top, g.pad_left, first + t, tiles, scratch);
    for (int b = 0; b < blocks; ++b) {
      const auto mask = L::mask(C - b * W);
      const float* tile_in = scratch + b * (a * a * W);
      float* dst = v + std::size_t(t) * tile_stride + b * W;
      two_sided<BT, a, a>([&](int i, int j) { return L::load(tile_in + (i * a + j) * W); },
                          [&](int i, int j, V value) { L::store(dst + (i * a + j) * pos_stride, value, mask); });
    }
  }
}

// Output tiles A^T M A (+ bias, then `post`) for tiles [first, first + count), from M (position p of
// tile t at mbuf + p pos_stride + t tile_stride, as transform_input lays out V). Each tile is transformed into a scratch tile and then written out pixel by pixel (a pixel's
// channels are contiguous), skipping the pixels past the output's edge; with post->max_pool (only
// without dilation) its 2x2 windows' maxima instead, into the pooled map.
inline void transform_output(const ConvGeometry& g, const Tiling& tiling, const float* mbuf, std::size_t pos_stride,
                             std::size_t tile_stride, std::ptrdiff_t first, int count, const float* bias,
                             const ChannelAffine<float>* post, float* out) {
  const int C = g.out_c, d = g.dilation, blocks = (C + W - 1) / W;
  const std::size_t out_sample = std::size_t(g.out_h) * g.out_w * C;
  const std::ptrdiff_t per_sample = tiling.per_sample();
  thread_local AlignedVector<float> scratch_store;
  scratch_store.resize(std::size_t(blocks) * m * m * W);
  float* const scratch = scratch_store.data();
  const bool relu = post && post->relu, pool = post && post->max_pool;
  const std::size_t pooled_sample = std::size_t(g.out_h / 2) * (g.out_w / 2) * C;
  for (int t = 0; t < count; ++t) {
    const std::ptrdiff_t tile = first + t;
    int y0, x0;
    tiling.origin(tile % per_sample, y0, x0);
    for (int b = 0; b < blocks; ++b) {
      const auto mask = L::mask(C - b * W);
      const float* src = mbuf + std::size_t(t) * tile_stride + b * W;
      const V bv = bias ? L::load(bias + b * W, mask) : L::zero();
      V scale = L::set1(1), shift = L::zero();
      if (post) {
        scale = L::load(post->scale + b * W, mask);
        shift = L::load(post->shift + b * W, mask);
      }
      float* tile_out = scratch + b * (m * m * W);
      two_sided<AT, m, a>([&](int i, int j) { return L::load(src + (i * a + j) * pos_stride, mask); },
                          [&](int i, int j, V v) {
                            if (bias) v = L::add(v, bv);
                            if (post) v = L::fma(v, scale, shift);
                            if (relu) v = L::max(v, L::zero());
                            L::store(tile_out + (i * m + j) * W, v);
                          });
    }
    const int rows = std::min(m, (g.out_h - y0 + d - 1) / d), cols = std::min(m, (g.out_w - x0 + d - 1) / d);
    if (pool) {  // d == 1: the tile holds whole 2x2 windows (y0, x0 even); an odd last row or column is dropped
      const int pooled_w = g.out_w / 2;
      float* dst = out + std::size_t(tile / per_sample) * pooled_sample;
      for (int i = 0; i < rows / 2; ++i)
        for (int j = 0; j < cols / 2; ++j) {
          float* px = dst + (std::size_t(y0 / 2 + i) * pooled_w + x0 / 2 + j) * C;
          const float* from = scratch + (2 * i * m + 2 * j) * W;
          for (int b = 0; b < blocks; ++b) {
            const float* f = from + b * (m * m * W);
            // maxpool_forward's comparisons in its order: v = b > v ? b : v is max(b, v).
            V v = L::load(f);
            v = L::max(L::load(f + W), v);
            v = L::max(L::load(f + m * W), v);
            v = L::max(L::load(f + (m + 1) * W), v);
            L::store(px + b * W, v, L::mask(C - b * W));
          }
        }
      continue;
    }
    float* dst = out + std::size_t(tile / per_sample) * out_sample;
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        float* px = dst + (std::size_t(y0 + d * i) * g.out_w + x0 + d * j) * C;
        const float* from = scratch + (i * m + j) * W;
        int b = 0;
        for (; b + 1 < blocks; ++b) L::store(px + b * W, L::load(from + b * (m * m * W)));
        L::store(px + b * W, L::load(from + b * (m * m * W)), L::mask(C - b * W));
      }
  }
}

// dM = A dY A^T of each output-gradient tile, zeros for pixels past the edge (gathered into a scratch
// tile first, gather_tile), laid out by the strides as transform_input lays out V.
inline void transform_output_gradient(const ConvGeometry& g, const Tiling& tiling, const float* grad_out,
                                      std::ptrdiff_t tiles, std::ptrdiff_t first, int count, float* dm,
                                      std::size_t pos_stride, std::size_t tile_stride) {
  const int C = g.out_c, blocks = (C + W - 1) / W;
  thread_local AlignedVector<float> scratch_store;
  scratch_store.resize(std::size_t(blocks) * m * m * W);
  float* const scratch = scratch_store.data();
  for (int t = 0; t < count; ++t) {
    gather_tile<m>(tiling, grad_out, g.out_h, g.out_w, C, 0, 0, first + t, tiles, scratch);
    for (int b = 0; b < blocks; ++b) {
      const auto mask = L::mask(C - b * W);
      const float* tile_in = scratch + b * (m * m * W);
      float* dst = dm + std::size_t(t) * tile_stride + b * W;
      two_sided<A, a, m>([&](int i, int j) { return L::load(tile_in + (i * m + j) * W); },
                         [&](int i, int j, V value) { L::store(dst + (i * a + j) * pos_stride, value, mask); });
    }
  }
}

// Channel pairs per work item of the kernel transforms: about four items per thread, whole vectors.
inline std::size_t pair_span(std::size_t pairs) {
  const std::size_t items = std::size_t(4 * std::max(1, max_threads()));
  return std::max<std::size_t>(W, (pairs + items * W - 1) / (items * W) * W);
}

// u_p[e] = (G g G^T)_p of the channel pairs e in [e0, e1) for every position p: w is HWIO (3, 3, Ci,
// Co) with `pairs` = Ci Co, u position-major (36 x pairs). In float, one vector of pairs at a time.
inline void transform_kernel_pairs(const float* w, std::size_t pairs, std::size_t e0, std::size_t e1, float* u) {
  for (std::size_t e = e0; e < e1; e += W) {
    const auto mask = L::mask(int(std::min<std::size_t>(W, e1 - e)));
    two_sided<G, a, r>([&](int ky, int kx) { return L::load(w + (ky * r + kx) * pairs + e, mask); },
                       [&](int i, int j, V value) { L::store(u + (i * a + j) * pairs + e, value, mask); });
  }
}

// dw[tap][e] += (G^T dU G)[tap] of the channel pairs e in [e0, e1), from du (36 x pairs): the adjoint
// of transform_kernel_pairs.
inline void transform_kernel_gradient_pairs(const float* du, std::size_t pairs, std::size_t e0, std::size_t e1,
                                            float* dw) {
  for (std::size_t e = e0; e < e1; e += W) {
    const auto mask = L::mask(int(std::min<std::size_t>(W, e1 - e)));
    two_sided<GT, r, a>([&](int i, int j) { return L::load(du + (i * a + j) * pairs + e, mask); },
                        [&](int ky, int kx, V value) {
                          float* at = dw + (ky * r + kx) * pairs + e;
                          L::store(at, L::add(L::load(at, mask), value), mask);
                        });
  }
}

}  // namespace detail
