// Depthwise 2-D convolution (depth multiplier 1) on NHWC data, vectorised along channels; weights
// are (kh, kw, C). Threads take whole rows; per block of channels (one SIMD register) a row is one
// run along x with the block's k*k weights, or its k*k weight-gradient sums, held in registers.
//
// A depthwise tap is one multiply-add per value loaded, so these kernels are bound by loads and
// memory, not arithmetic. 3x3 stride-1 windows (all of LANMSFF's, dilated or not) take a fast path
// that computes several outputs spaced by the dilation together: they share input columns, so each
// input vector is loaded once for all the taps that read it. Only pixels whose window leaves the
// image check bounds. The data gradient of a stride-1 convolution is a correlation of grad_out with
// the flipped kernel and runs the same code. Other geometries (strides, other kernel sizes) take a
// plain per-tap path; each further kernel size in the fast path would add seconds to the compile
// time of every program that uses the layer. A channel count that is not a multiple of the register
// width (66 = 4 * 16 + 2) ends in one partial block: masked loads and stores on AVX-512 and AVX2, a
// zero-padded copy elsewhere. Compiled once per instruction set over its lanes (simd/portable.hpp).
#ifndef LANMSFF_KERNELS_DEPTHWISE_HPP
#define LANMSFF_KERNELS_DEPTHWISE_HPP

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "lanmsff/kernels/conv.hpp"

// The unrolled loops below are lambdas; they must be inlined for their register arrays to stay in
// registers, and GCC does not always do so on its own.
#if defined(__GNUC__)
#define LANMSFF_DEPTHWISE_INLINE __attribute__((always_inline))
#else
#define LANMSFF_DEPTHWISE_INLINE
#endif

#define LANMSFF_ISA_BODY "lanmsff/kernels/depthwise.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"
#undef LANMSFF_DEPTHWISE_INLINE

namespace lanmsff::kernels {

// out = depthwise(in, W) + bias (bias may be null). g.in_c == g.out_c.
template <class T>
void depthwise_forward(const ConvGeometry& g, int batch, const T* in, const T* weights, const T* bias, T* out) {
  LANMSFF_DISPATCH(T, depthwise_forward<T>(g, batch, in, weights, bias, out));
}
LANMSFF_KERNEL_ENTRY(depthwise_forward);

// grad_in (overwritten) = depthwise^T(grad_out, W). Threads own disjoint input rows, so nothing is
// zero-filled first or written twice.
template <class T>
void depthwise_backward_data(const ConvGeometry& g, int batch, const T* grad_out, const T* weights, T* grad_in) {
  LANMSFF_DISPATCH(T, depthwise_backward_data<T>(g, batch, grad_out, weights, grad_in));
}
LANMSFF_KERNEL_ENTRY(depthwise_backward_data);

// grad_W += sum over pixels of in(tap) * grad_out; grad_bias += sum of grad_out (if not null).
// Each thread sums a fixed share of the rows; the partial sums are added in thread order, so the
// result depends on the thread count only.
template <class T>
void depthwise_backward_weights(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_weights,
                                T* grad_bias) {
  LANMSFF_DISPATCH(T, depthwise_backward_weights<T>(g, batch, in, grad_out, grad_weights, grad_bias));
}
LANMSFF_KERNEL_ENTRY(depthwise_backward_weights);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

namespace detail {

// ---- Channel blocks: one register of consecutive channels, and the few operations the kernels need

// A block of `width` channels, or (Partial) of fewer: then loads and stores touch only those
// channels (the lanes' masked forms) and the others load as zero.
template <class T, bool Partial>
struct ChannelBlock {
  using L = Lanes<T>;
  using Vec = typename L::Vec;
  static constexpr int width = L::width;
  static constexpr int registers = L::registers;
  typename L::Mask mask;
  explicit ChannelBlock(int channels) : mask(L::mask(channels)) {}
  Vec load(const T* p) const {
    if constexpr (Partial) return L::load(p, mask);
    else return L::load(p);
  }
  void store(T* p, const Vec& v) const {
    if constexpr (Partial) L::store(p, v, mask);
    else L::store(p, v);
  }
  static Vec zero() { return L::zero(); }
  static Vec fma(const Vec& a, const Vec& b, const Vec& c) { return L::fma(a, b, c); }  // a * b + c
  static Vec add(const Vec& a, const Vec& b) { return L::add(a, b); }
  static void keep_in_register(Vec& v) { L::keep_in_register(v); }
};

// Calls f(lanes, c) for every block [c, c + width) of the C channels; the last may be partial.
template <class T, class F>
EIGEN_ALWAYS_INLINE void for_each_channel_block(int C, F&& f) {
  constexpr int width = Lanes<T>::width;
  int c = 0;
  for (; c + width <= C; c += width) f(ChannelBlock<T, false>(width), c);
  if (c < C) f(ChannelBlock<T, true>(C - c), c);
}

// f(std::integral_constant<int, i>) for i = 0 .. N-1, unrolled: register arrays are indexed by
// constants. index_of<decltype(i)> is the constant (through a capture, decltype names a reference).
template <class Index>
inline constexpr int index_of = std::remove_cvref_t<Index>::value;

template <class F, int... I>
EIGEN_ALWAYS_INLINE void unrolled(F& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, class F>
EIGEN_ALWAYS_INLINE void unrolled(F&& f) {
  unrolled(f, std::make_integer_sequence<int, N>{});
}

// ---- The fast path: K x K windows at stride 1, K = 3 ---------------------------------------------
// Everything a row calls is forced inline: a call that took the register arrays (weights,
// accumulators) by reference would move them to memory for the whole row.

// The kernel size that the fast path handles for g (3), or 0.
inline int fast_kernel_size(const ConvGeometry& g) { return g.stride == 1 && g.k_h == 3 && g.k_w == 3 ? 3 : 0; }

// Outputs computed together: as many as the registers left beside the K*K weights allow, a power of two.
constexpr int fast_group(int K, int vector_registers) {
  const int spare = vector_registers - K * K - 3;
  return spare >= 8 ? 8 : spare >= 4 ? 4 : 2;
}

// Each row prefetches the next one (see prefetch()) when the tensors a call reads and writes exceed
// this size. Below it they mostly stay in cache between calls, and the prefetch instructions cost
// 10-20% (64x64x66 x 4: 0.23 ms without, 0.28 ms with, one thread); above it they save 30-60%.
inline constexpr std::size_t prefetch_threshold_bytes = std::size_t(16) << 20;

// A stride-1 correlation dst(y, x) = sum over taps (ky, kx) of
// src(y - pad_top + ky * dilation, x - pad_left + kx * dilation) * w(ky, kx), taps outside src
// skipped. w(ky, kx) is weight row ky * k + kx, or the flipped kernel's (k*k - 1 - that) for the
// data gradient. src and dst have the same channels.
struct Window {
  int src_h, src_w, dst_h, dst_w, k, dilation, pad_top, pad_left;
  bool flipped;
  int tap(int t) const { return flipped ? k * k - 1 - t : t; }
  // Destination columns [first_interior, last_interior) have every tap inside src.
  int first_interior() const { return std::clamp(pad_left, 0, dst_w); }
  int last_interior() const { return std::clamp(src_w - (k - 1) * dilation + pad_left, first_interior(), dst_w); }
};

// One destination row y of one channel block c: its K source rows (null where a row is padding)
// and what to prefetch for row y + 1, which the same thread computes next: the source row that it
// adds and its destination (or grad_out) row; null for nothing.
template <int K, class T, class D>
struct Row {
  const T* src[K];
  D* dst;
  const T* next_src;
  D* next_dst;
};

// dst is the destination sample, whose row y is written; or, with dst_y >= 0, a buffer whose row
// dst_y is (a band of rows, whose next row is not prefetched: it is in cache).
template <int K, class T, class D>
EIGEN_ALWAYS_INLINE Row<K, T, D> make_row(const Window& win, const T* src, D* dst, int y, int C, int c, bool prefetch,
                                          int dst_y = -1) {
  const std::ptrdiff_t src_row = std::ptrdiff_t(win.src_w) * C, dst_row = std::ptrdiff_t(win.dst_w) * C;
  const auto source = [&](int iy) { return iy >= 0 && iy < win.src_h ? src + iy * src_row + c : nullptr; };
  Row<K, T, D> row;
  for (int ky = 0; ky < K; ++ky) row.src[ky] = source(y - win.pad_top + ky * win.dilation);
  row.dst = dst + (dst_y >= 0 ? dst_y : y) * dst_row + c;
  const bool next = prefetch && y + 1 < win.dst_h;
  row.next_src = next ? source(y + 1 - win.pad_top + (K - 1) * win.dilation) : nullptr;
  row.next_dst = next && dst_y < 0 ? row.dst + dst_row : nullptr;  // a band stays in cache
  return row;
}

// A channel block's pass along a row reads every 4th cache line or so (a pixel of 66 floats is 4.1
// lines), a pattern that the hardware prefetchers do not run ahead of: on tensors larger than the
// cache the first pass over each row would wait for memory (64x64x66 x 32 forward, one thread: 5.0 ms
// without software prefetch, 2.8 ms with; kernels::prefetch, gemm.hpp).

// The prefetches of a group of P outputs `step` apart at column x: their columns of the next row.
// Plain loops: GCC drops prefetches that sit alone in a lambda (it deems the call pure).
template <int P, bool WriteDst, int K, class T, class D>
EIGEN_ALWAYS_INLINE void prefetch_next(const Row<K, T, D>& row, std::ptrdiff_t src_at, std::ptrdiff_t dst_at,
                                       std::ptrdiff_t step) {
  if (row.next_src)
    for (int p = 0; p < P; ++p) prefetch<false>(row.next_src + src_at + p * step);
  if (row.next_dst)
    for (int p = 0; p < P; ++p) prefetch<WriteDst>(row.next_dst + dst_at + p * step);
}

// One destination pixel x whose window may leave src.
template <int K, class L, class T, class V>
EIGEN_ALWAYS_INLINE void correlate_pixel(const L& lanes, const Row<K, T, T>& row, int x, const Window& win, int C,
                                         const V (&w)[K * K], const V& b) {
  V acc = b;
  unrolled<K>([&](auto ky) LANMSFF_DEPTHWISE_INLINE {
    if (!row.src[ky]) return;
    unrolled<K>([&](auto kx) LANMSFF_DEPTHWISE_INLINE {
      const int ix = x - win.pad_left + kx * win.dilation;
      if (ix >= 0 && ix < win.src_w) acc = L::fma(lanes.load(row.src[ky] + std::ptrdiff_t(ix) * C), w[ky * K + kx], acc);
    });
  });
  lanes.store(row.dst + std::ptrdiff_t(x) * C, acc);
}

// P interior destination pixels x, x + d, ..., `step` = d * C elements apart. They read source
// columns x - pad_left + j * d, j < P + K - 1: vector j serves every (pixel p, tap kx) with
// p + kx = j and is loaded once. Each accumulator sums its taps in the order of correlate_pixel,
// so grouping does not change the result.
template <int K, int P, class L, class T, class V>
EIGEN_ALWAYS_INLINE void correlate_group(const L& lanes, const Row<K, T, T>& row, int x, const Window& win, int C,
                                         const V (&w)[K * K], const V& b) {
  const std::ptrdiff_t step = std::ptrdiff_t(win.dilation) * C, at = std::ptrdiff_t(x - win.pad_left) * C;
  prefetch_next<P, true>(row, at, std::ptrdiff_t(x) * C, step);
  V acc[P];
  unrolled<P>([&](auto p) LANMSFF_DEPTHWISE_INLINE { acc[p] = b; });
  unrolled<K>([&](auto ky) LANMSFF_DEPTHWISE_INLINE {
    if (!row.src[ky]) return;
    unrolled<P + K - 1>([&](auto j) LANMSFF_DEPTHWISE_INLINE {
      V v = lanes.load(row.src[ky] + at + j * step);
      L::keep_in_register(v);
      unrolled<K>([&](auto kx) LANMSFF_DEPTHWISE_INLINE {
        constexpr int p = index_of<decltype(j)> - index_of<decltype(kx)>;
        if constexpr (p >= 0 && p < P) acc[p] = L::fma(v, w[ky * K + kx], acc[p]);
      });
    });
  });
  unrolled<P>([&](auto p) LANMSFF_DEPTHWISE_INLINE { lanes.store(row.dst + std::ptrdiff_t(x) * C + p * step, acc[p]); });
}

// The interior columns [x, end) in groups of P outputs d apart while P * d columns remain, then of
// P / 2, ..., 2, and the rest one at a time.
template <int K, int P, class L, class T, class V>
EIGEN_ALWAYS_INLINE void correlate_interior(const L& lanes, const Row<K, T, T>& row, int x, int end, const Window& win,
                                            int C, const V (&w)[K * K], const V& b) {
  const int d = P > 1 ? win.dilation : 1;  // single outputs need no spacing: they also take the < d columns left
  for (; x + P * d <= end; x += P * d)
    for (int r = 0; r < d; ++r) correlate_group<K, P>(lanes, row, x + r, win, C, w, b);
  if constexpr (P > 1) correlate_interior<K, P / 2>(lanes, row, x, end, win, C, w, b);
}

// One destination row, one channel block: the block's weights stay in registers for the row.
template <int K, class L, class T>
void correlate_row(const L& lanes, const Window& win, const Row<K, T, T>& row, int C, int c, const T* weights,
                   const T* bias) {
  using V = typename L::Vec;
  V w[K * K];
  unrolled<K * K>([&](auto t) LANMSFF_DEPTHWISE_INLINE {
    w[t] = lanes.load(weights + std::ptrdiff_t(win.tap(t)) * C + c);
    L::keep_in_register(w[t]);
  });
  const V b = bias ? lanes.load(bias + c) : L::zero();
  const int first = win.first_interior(), last = win.last_interior();
  for (int x = 0; x < first; ++x) correlate_pixel<K>(lanes, row, x, win, C, w, b);
  correlate_interior<K, fast_group(K, L::registers)>(lanes, row, first, last, win, C, w, b);
  for (int x = last; x < win.dst_w; ++x) correlate_pixel<K>(lanes, row, x, win, C, w, b);
}

// dst = correlation of src (plus bias, may be null) over the whole batch, one destination row per
// work item. parallel_for gives each thread consecutive rows, which the prefetching assumes.
template <int K, class T>
void correlate(const Window& win, int batch, int C, const T* src, const T* weights, const T* bias, T* dst) {
  const std::size_t src_sample = std::size_t(win.src_h) * win.src_w * C, dst_sample = std::size_t(win.dst_h) * win.dst_w * C;
  const bool prefetch = (src_sample + dst_sample) * batch * sizeof(T) > prefetch_threshold_bytes;
  parallel_for(0, std::ptrdiff_t(batch) * win.dst_h, [&](std::ptrdiff_t item) {
    const int n = int(item / win.dst_h), y = int(item % win.dst_h);
    for_each_channel_block<T>(C, [&](const auto& lanes, int c) {
      const auto row = make_row<K>(win, src + n * src_sample, dst + n * dst_sample, y, C, c, prefetch);
      correlate_row<K>(lanes, win, row, C, c, weights, bias);
    });
  });
}

// Rows [y0, y1) of one sample's correlation (src: that sample) into dst, (y1 - y0) rows of dst_w * C
// values: a band that a caller consumes while it is in cache (the fused separable convolution).
// `prefetch`: request each next source row (for sources larger than the cache, see prefetch()).
template <int K, class T>
void correlate_band(const Window& win, int C, const T* src, const T* weights, const T* bias, int y0, int y1, T* dst,
                    bool prefetch) {
  for (int y = y0; y < y1; ++y)
    for_each_channel_block<T>(C, [&](const auto& lanes, int c) {
      const auto row = make_row<K>(win, src, dst, y, C, c, prefetch && y + 1 < y1, y - y0);
      correlate_row<K>(lanes, win, row, C, c, weights, bias);
    });
}

// Adds destination pixel x's contribution (a window that may leave src) to the sums (K*K taps,
// then the bias). row.dst is the grad_out row.
template <int K, class L, class T, class V>
EIGEN_ALWAYS_INLINE void weight_gradient_pixel(const L& lanes, const Row<K, T, const T>& row, int x, const Window& win,
                                               int C, V (&sums)[K * K + 1]) {
  const V g = lanes.load(row.dst + std::ptrdiff_t(x) * C);
  sums[K * K] = L::add(sums[K * K], g);
  unrolled<K>([&](auto ky) LANMSFF_DEPTHWISE_INLINE {
    if (!row.src[ky]) return;
    unrolled<K>([&](auto kx) LANMSFF_DEPTHWISE_INLINE {
      const int ix = x - win.pad_left + kx * win.dilation;
      if (ix >= 0 && ix < win.src_w)
        sums[ky * K + kx] = L::fma(g, lanes.load(row.src[ky] + std::ptrdiff_t(ix) * C), sums[ky * K + kx]);
    });
  });
}

// P interior pixels d apart, sharing source vectors as in correlate_group. Column j is the outer
// loop, so that consecutive multiply-adds go to all K*K sums rather than to the K of one source
// row: K*K independent dependency chains keep both FMA pipes busy.
template <int K, int P, class L, class T, class V>
EIGEN_ALWAYS_INLINE void weight_gradient_group(const L& lanes, const Row<K, T, const T>& row, int x,
                                               const Window& win, int C, V (&sums)[K * K + 1]) {
  const std::ptrdiff_t step = std::ptrdiff_t(win.dilation) * C, at = std::ptrdiff_t(x - win.pad_left) * C;
  prefetch_next<P, false>(row, at, std::ptrdiff_t(x) * C, step);
  V g[P];
  unrolled<P>([&](auto p) LANMSFF_DEPTHWISE_INLINE {
    g[p] = lanes.load(row.dst + std::ptrdiff_t(x) * C + p * step);
    L::keep_in_register(g[p]);
    sums[K * K] = L::add(sums[K * K], g[p]);
  });
  unrolled<P + K - 1>([&](auto j) LANMSFF_DEPTHWISE_INLINE {
    unrolled<K>([&](auto ky) LANMSFF_DEPTHWISE_INLINE {
      if (!row.src[ky]) return;
      V v = lanes.load(row.src[ky] + at + j * step);
      L::keep_in_register(v);
      unrolled<K>([&](auto kx) LANMSFF_DEPTHWISE_INLINE {
        constexpr int p = index_of<decltype(j)> - index_of<decltype(kx)>;
        if constexpr (p >= 0 && p < P) sums[ky * K + kx] = L::fma(g[p], v, sums[ky * K + kx]);
      });
    });
  });
}

template <int K, int P, class L, class T, class V>
EIGEN_ALWAYS_INLINE void weight_gradient_interior(const L& lanes, const Row<K, T, const T>& row, int x, int end,
                                                  const Window& win, int C, V (&sums)[K * K + 1]) {
  const int d = P > 1 ? win.dilation : 1;
  for (; x + P * d <= end; x += P * d)
    for (int r = 0; r < d; ++r) weight_gradient_group<K, P>(lanes, row, x + r, win, C, sums);
  if constexpr (P > 1) weight_gradient_interior<K, P / 2>(lanes, row, x, end, win, C, sums);
}

// The weight (and bias) gradient sums of one grad_out row, one channel block, in registers for the
// row, then added to `total` ((K*K + 1) x C: the taps, then the bias). win is the forward window.
template <int K, class L, class T>
void weight_gradient_row(const L& lanes, const Window& win, const Row<K, T, const T>& row, int C, int c, T* total) {
  using V = typename L::Vec;
  V sums[K * K + 1];
  unrolled<K * K + 1>([&](auto t) LANMSFF_DEPTHWISE_INLINE { sums[t] = L::zero(); });
  const int first = win.first_interior(), last = win.last_interior();
  for (int x = 0; x < first; ++x) weight_gradient_pixel<K>(lanes, row, x, win, C, sums);
  weight_gradient_interior<K, fast_group(K, L::registers)>(lanes, row, first, last, win, C, sums);
  for (int x = last; x < win.dst_w; ++x) weight_gradient_pixel<K>(lanes, row, x, win, C, sums);
  unrolled<K * K + 1>([&](auto t) LANMSFF_DEPTHWISE_INLINE {
    T* s = total + std::ptrdiff_t(t) * C + c;
    lanes.store(s, L::add(lanes.load(s), sums[t]));
  });
}

// ---- The general path: any window, any stride ------------------------------------------------
// Forward and data gradient: per pixel, the taps that fall inside the image are listed once, then
// every channel block sums over the list. Weight gradient: per row, channel block and tap, a sum
// over the output columns in registers.

// The valid taps of one pixel: weight row and element offset of the pixel they pair it with.
struct TapList {
  std::vector<int> tap;
  std::vector<std::ptrdiff_t> at;
  int count = 0;
  void clear(int capacity) {
    if (int(tap.size()) < capacity) tap.resize(std::size_t(capacity)), at.resize(std::size_t(capacity));
    count = 0;
  }
  void add(int t, std::ptrdiff_t offset) { tap[std::size_t(count)] = t, at[std::size_t(count++)] = offset; }
};

// This thread's list, kept between calls so that steady-state training does not allocate.
inline TapList& thread_tap_list(int capacity) {
  thread_local TapList list;
  list.clear(capacity);
  return list;
}

// out(c..) = bias(c..) (or 0) + the sum over the listed taps of a(at + c..) * b(tap * C + c..), for
// every channel. The list is read through locals: the vector stores may alias anything, so its
// members would be reloaded after each store.
template <class T>
void sum_taps(const TapList& list, int C, const T* a, const T* b, const T* bias, T* out) {
  const int* tap = list.tap.data();
  const std::ptrdiff_t* at = list.at.data();
  const int count = list.count;
  for_each_channel_block<T>(C, [=](const auto& lanes, int c) LANMSFF_DEPTHWISE_INLINE {
    using L = std::remove_cvref_t<decltype(lanes)>;
    auto acc = bias ? lanes.load(bias + c) : L::zero();
    for (int i = 0; i < count; ++i) acc = L::fma(lanes.load(a + at[i] + c), lanes.load(b + std::ptrdiff_t(tap[i]) * C + c), acc);
    lanes.store(out + c, acc);
  });
}

template <class T>
void forward_row_general(const ConvGeometry& g, const T* in, int oy, const T* weights, const T* bias, T* out_row) {
  TapList& list = thread_tap_list(g.k_h * g.k_w);
  for (int ox = 0; ox < g.out_w; ++ox) {
    list.count = 0;
    for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t at) { list.add(tap, std::ptrdiff_t(at)); });
    sum_taps(list, g.in_c, in, weights, bias, out_row + std::ptrdiff_t(ox) * g.in_c);
  }
}

// Input row iy of grad_in as a gather: each input pixel sums, over the taps that read it, grad_out
// at the reading output pixel times that tap's weights.
template <class T>
void backward_data_row_general(const ConvGeometry& g, const T* dy, int iy, const T* weights, T* grad_in_row) {
  // Output o reads input i = o * stride - pad + k * dilation: o = (i + pad - k * dilation) / stride.
  const auto source = [&](int i, int k, int pad, int out_size) {
    const int num = i + pad - k * g.dilation;
    if (num < 0 || num % g.stride != 0) return -1;
    const int o = num / g.stride;
    return o < out_size ? o : -1;
  };
  TapList& list = thread_tap_list(g.k_h * g.k_w);
  for (int ix = 0; ix < g.in_w; ++ix) {
    list.count = 0;
    for (int ky = 0; ky < g.k_h; ++ky) {
      const int oy = source(iy, ky, g.pad_top, g.out_h);
      if (oy < 0) continue;
      for (int kx = 0; kx < g.k_w; ++kx)
        if (const int ox = source(ix, kx, g.pad_left, g.out_w); ox >= 0)
          list.add(ky * g.k_w + kx, (std::ptrdiff_t(oy) * g.out_w + ox) * g.in_c);
    }
    sum_taps(list, g.in_c, dy, weights, static_cast<const T*>(nullptr), grad_in_row + std::ptrdiff_t(ix) * g.in_c);
  }
}

// Adds grad_out row oy's contribution to `total` ((taps + 1) x C: the taps, then the bias). Per
// channel block and tap, the output columns whose input column lies inside the image form one
// range, summed in registers (four sums, for four dependency chains) and added to `total` once.
template <class T>
void weight_gradient_row_general(const ConvGeometry& g, const T* in, int oy, const T* dy_row, T* total) {
  const int C = g.in_c, taps = g.k_h * g.k_w;
  for_each_channel_block<T>(C, [&](const auto& lanes, int c) LANMSFF_DEPTHWISE_INLINE {
    using L = std::remove_cvref_t<decltype(lanes)>;
    using V = typename L::Vec;
    const T* dy = dy_row + c;
    const auto add_to = [&](int row, const V& sum) LANMSFF_DEPTHWISE_INLINE {
      T* s = total + std::ptrdiff_t(row) * C + c;
      lanes.store(s, L::add(lanes.load(s), sum));
    };
    V bias_sum = L::zero();
    for (int ox = 0; ox < g.out_w; ++ox) bias_sum = L::add(bias_sum, lanes.load(dy + std::ptrdiff_t(ox) * C));
    add_to(taps, bias_sum);
    for (int ky = 0; ky < g.k_h; ++ky) {
      const int iy = oy * g.stride - g.pad_top + ky * g.dilation;
      if (iy < 0 || iy >= g.in_h) continue;
      for (int kx = 0; kx < g.k_w; ++kx) {
        // Input column ox * stride + shift lies in [0, in_w) for ox in [first, last).
        const int shift = kx * g.dilation - g.pad_left;
        const int first = shift >= 0 ? 0 : (-shift + g.stride - 1) / g.stride;
        const int last = shift > g.in_w - 1 ? 0 : std::min(g.out_w, (g.in_w - 1 - shift) / g.stride + 1);
        const T* x = in + std::ptrdiff_t(iy) * g.in_w * C + c;
        const auto term = [&](int o, const V& sum) LANMSFF_DEPTHWISE_INLINE {
          return L::fma(lanes.load(dy + std::ptrdiff_t(o) * C), lanes.load(x + (std::ptrdiff_t(o) * g.stride + shift) * C), sum);
        };
        V sum[4] = {L::zero(), L::zero(), L::zero(), L::zero()};
        int ox = first;
        for (; ox + 4 <= last; ox += 4)
          for (int i = 0; i < 4; ++i) sum[i] = term(ox + i, sum[i]);
        for (int i = 0; ox < last; ++ox, ++i) sum[i] = term(ox, sum[i]);
        add_to(ky * g.k_w + kx, L::add(L::add(sum[0], sum[1]), L::add(sum[2], sum[3])));
      }
    }
  });
}

}  // namespace detail

// See kernels::depthwise_forward.
template <class T>
void depthwise_forward(const ConvGeometry& g, int batch, const T* in, const T* weights, const T* bias, T* out) {
  const int C = g.in_c;
  if (const int K = detail::fast_kernel_size(g)) {
    const detail::Window win{g.in_h, g.in_w, g.out_h, g.out_w, K, g.dilation, g.pad_top, g.pad_left, false};
    detail::correlate<3>(win, batch, C, in, weights, bias, out);
    return;
  }
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
    const int n = int(row / g.out_h), oy = int(row % g.out_h);
    T* out_row = out + n * out_sample + std::size_t(oy) * g.out_w * C;
    detail::forward_row_general(g, in + n * in_sample, oy, weights, bias, out_row);
  });
}

// See kernels::depthwise_backward_data.
template <class T>
void depthwise_backward_data(const ConvGeometry& g, int batch, const T* grad_out, const T* weights, T* grad_in) {
  const int C = g.in_c;
  if (const int K = detail::fast_kernel_size(g)) {
    // Input row iy reads output rows iy + pad - ky * d: a correlation with the flipped kernel whose
    // padding is the rest of the window's span.
    const int span = (K - 1) * g.dilation;
    const detail::Window win{g.out_h, g.out_w, g.in_h, g.in_w, K, g.dilation, span - g.pad_top, span - g.pad_left, true};
    detail::correlate<3>(win, batch, C, grad_out, weights, static_cast<const T*>(nullptr), grad_in);
    return;
  }
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  parallel_for(0, std::ptrdiff_t(batch) * g.in_h, [&](std::ptrdiff_t row) {
    const int n = int(row / g.in_h), iy = int(row % g.in_h);
    T* grad_in_row = grad_in + n * in_sample + std::size_t(iy) * g.in_w * C;
    detail::backward_data_row_general(g, grad_out + n * out_sample, iy, weights, grad_in_row);
  });
}

// See kernels::depthwise_backward_weights.
template <class T>
void depthwise_backward_weights(const ConvGeometry& g, int batch, const T* in, const T* grad_out, T* grad_weights,
                                T* grad_bias) {
  const int C = g.in_c, taps = g.k_h * g.k_w, K = detail::fast_kernel_size(g);
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * C;
  const bool prefetch = (in_sample + out_sample) * batch * sizeof(T) > detail::prefetch_threshold_bytes;
  const detail::Window win{g.in_h, g.in_w, g.out_h, g.out_w, K, g.dilation, g.pad_top, g.pad_left, false};
  parallel_region([&](int t, int threads) {
    auto& sums = thread_buffer<T>(1, std::size_t(taps + 1) * C);
    std::fill(sums.begin(), sums.begin() + std::size_t(taps + 1) * C, T(0));
    const Range share = static_share(std::ptrdiff_t(batch) * g.out_h, t, threads);
    for (std::ptrdiff_t item = share.begin; item < share.end; ++item) {
      const int n = int(item / g.out_h), oy = int(item % g.out_h);
      const T* x = in + n * in_sample;
      const T* dy = grad_out + n * out_sample;
      if (!K) {
        detail::weight_gradient_row_general(g, x, oy, dy + std::size_t(oy) * g.out_w * C, sums.data());
        continue;
      }
      detail::for_each_channel_block<T>(C, [&](const auto& lanes, int c) {
        detail::weight_gradient_row<3>(lanes, win, detail::make_row<3>(win, x, dy, oy, C, c, prefetch), C, c, sums.data());
      });
    }
    in_thread_order(t, threads, [&] {
      add_values(grad_weights, sums.data(), std::ptrdiff_t(taps) * C);
      if (grad_bias) add_values(grad_bias, sums.data() + std::size_t(taps) * C, C);
    });
  });
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
