// Single-precision matrix product for the convolution kernels, C (+)= A * B, with an AVX-512
// register-blocked micro-kernel where the compiler targets AVX-512 (`-march=native` on such a CPU);
// elsewhere, and for double, Eigen's product.
//
// Why not only Eigen: the convolutions multiply many small tiles (256 pixels x 600 patch values)
// by one weight matrix, so B can be packed once per layer call instead of once per tile, and the
// A operand is read in place with any strides (im2col rows, or their transpose for the weight
// gradient) instead of being copied. The micro-kernel keeps a 12 x 32 block of C in 24 registers
// and streams one k at a time: two loads of B, twelve broadcasts of A, 24 fused multiply-adds.
// A few columns past a multiple of 16 (LANMSFF's 66 = 64 + 2 and 36 = 32 + 4 filters) would waste
// most of a vector there; when A's rows are contiguous those columns are dot products along k
// instead (16 k per vector), so every lane does useful work.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "lanmsff/core/tensor.hpp"

namespace lanmsff::kernels {

// A strided matrix operand: element (i, k) at data[i * row_stride + k * col_stride].
template <class T>
struct Strided {
  const T* data;
  std::ptrdiff_t row_stride, col_stride;
  const T& operator()(std::ptrdiff_t i, std::ptrdiff_t k) const { return data[i * row_stride + k * col_stride]; }
};

// B (K x N) packed into panels of `panel` columns: panel p holds rows 0..K-1 of columns
// p*panel .. p*panel+panel-1, zero-padded past N. Packed once, multiplied by many A.
// Or, with view(), B read where it is (rows of N values `row_stride` apart; the panels are then
// column ranges of those rows): for a B that is multiplied only once, such as the output gradient
// of a weight gradient, whose packing would cost a good part of the product.
template <class T>
class PackedB {
 public:
  static constexpr int panel = 32;
#if defined(__AVX512F__)
  static constexpr bool uses_panels = std::is_same_v<T, float>;
#else
  static constexpr bool uses_panels = false;
#endif
  void pack(int K, int N, Strided<T> b) {
    K_ = K, N_ = N;
    source_ = b;
    view_ = nullptr;
    if constexpr (!uses_panels) return;  // Eigen's product reads B where it is
    panels_ = (N + panel - 1) / panel;
    row_stride_ = panel;
    data_.resize(std::size_t(panels_) * std::size_t(K) * panel);
    for (int p = 0; p < panels_; ++p) {
      T* dst = data_.data() + std::size_t(p) * K * panel;
      const int j0 = p * panel, width = std::min(panel, N - j0);
      for (int k = 0; k < K; ++k, dst += panel) {
        int j = 0;
        for (; j < width; ++j) dst[j] = b(k, j0 + j);
        for (; j < panel; ++j) dst[j] = T(0);
      }
    }
    // The last N % 16 columns, when there are few, also as rows along k (zero-padded to a multiple of
    // 16) for the dot-product path.
    dot_cols_ = N % 16 <= max_dot_cols ? N % 16 : 0;
    dot_stride_ = (K + 15) / 16 * 16;
    dot_data_.assign(std::size_t(dot_cols_) * dot_stride_, T(0));
    for (int j = 0; j < dot_cols_; ++j)
      for (int k = 0; k < K; ++k) dot_data_[std::size_t(j) * dot_stride_ + k] = b(k, N - dot_cols_ + j);
  }
  // B (K x N) read in place: element (k, j) at data[k * row_stride + j]; data must outlive the use.
  void view(int K, int N, const T* data, std::ptrdiff_t row_stride) {
    K_ = K, N_ = N;
    source_ = {data, row_stride, 1};
    view_ = data;
    panels_ = (N + panel - 1) / panel;
    row_stride_ = row_stride;
    dot_cols_ = 0;  // the last columns are a masked panel (no transposed copy)
  }
  // Columns [cols() - dot_cols(), cols()) are also stored as dot_cols() rows of dot_stride() values.
  static constexpr int max_dot_cols = 8;
  int dot_cols() const { return dot_cols_; }
  std::ptrdiff_t dot_stride() const { return dot_stride_; }
  const T* dot_data() const { return dot_data_.data(); }
  int rows() const { return K_; }
  int cols() const { return N_; }
  int panels() const { return panels_; }
  // Row k0 of panel p; the panel's next rows follow every row_stride() values.
  const T* panel_data(int p, int k0) const {
    return view_ ? view_ + std::ptrdiff_t(k0) * row_stride_ + std::ptrdiff_t(p) * panel
                 : data_.data() + (std::size_t(p) * K_ + k0) * panel;
  }
  std::ptrdiff_t row_stride() const { return row_stride_; }
  bool in_place() const { return view_ != nullptr; }
  Strided<T> source() const { return source_; }

 private:
  int K_ = 0, N_ = 0, panels_ = 0, dot_cols_ = 0;
  std::ptrdiff_t dot_stride_ = 0, row_stride_ = panel;
  const T* view_ = nullptr;
  AlignedVector<T> data_, dot_data_;
  Strided<T> source_{nullptr, 0, 0};
};

#if defined(__AVX512F__)
namespace detail {
inline constexpr int gemm_mr = 12;    // rows of C per micro-kernel call
inline constexpr int gemm_kc = 256;   // depth per pass: a 256 x 32 panel of B is 32 KB (L1)

// Where the micro-kernel's B panel comes from: packed (rows of 32 values, zero-padded past N: plain
// loads at a fixed stride, the fastest form), or read in place (rows ldb apart, masked to N), then
// optionally with B's rows fetched a few k ahead (a large panel on its first use).
enum class PanelSource { packed, in_place, in_place_prefetch };

// C[0..MR) x [0..16 NV) (+)= A[0..MR) x [0..kc) * Bpanel[0..kc) x [0..16 NV), columns masked to N.
// NV = 1 for a last panel at most 16 columns wide, which then costs half.
template <int MR, int NV, PanelSource Source = PanelSource::packed>
inline void gemm_micro(int kc, const float* a, std::ptrdiff_t a_rs, std::ptrdiff_t a_cs, const float* b,
                       std::ptrdiff_t ldb, float* c, std::ptrdiff_t ldc, __mmask16 m0, __mmask16 m1, bool load_c) {
  constexpr bool packed = Source == PanelSource::packed;
  if constexpr (packed) ldb = 32;
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    c0[i] = load_c ? _mm512_maskz_loadu_ps(m0, c + i * ldc) : _mm512_setzero_ps();
    if constexpr (NV == 2) c1[i] = load_c ? _mm512_maskz_loadu_ps(m1, c + i * ldc + 16) : _mm512_setzero_ps();
  }
  for (int k = 0; k < kc; ++k, a += a_cs, b += ldb) {
    if constexpr (Source == PanelSource::in_place_prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb + 16), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb + 31), _MM_HINT_T0);
    }
    const __m512 b0 = packed ? _mm512_loadu_ps(b) : _mm512_maskz_loadu_ps(m0, b);
    [[maybe_unused]] const __m512 b1 = NV == 1 ? b0 : packed ? _mm512_loadu_ps(b + 16) : _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i * a_rs]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      if constexpr (NV == 2) c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);
    if constexpr (NV == 2) _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);
  }
}

// The micro-kernel for mr rows (1..MR) and NV vectors, chosen at run time.
template <int NV, int... R>
inline void gemm_micro_rows(int mr, std::integer_sequence<int, R...>, int kc, const float* a, std::ptrdiff_t a_rs,
                            std::ptrdiff_t a_cs, const float* b, std::ptrdiff_t ldb, float* c, std::ptrdiff_t ldc,
                            __mmask16 m0, __mmask16 m1, bool load_c, PanelSource source) {
  const auto call = [&](auto rows) {
    constexpr int MR = decltype(rows)::value + 1;
    switch (source) {
      case PanelSource::packed: gemm_micro<MR, NV>(kc, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1, load_c); break;
      case PanelSource::in_place:
        gemm_micro<MR, NV, PanelSource::in_place>(kc, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1, load_c);
        break;
      case PanelSource::in_place_prefetch:
        gemm_micro<MR, NV, PanelSource::in_place_prefetch>(kc, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1, load_c);
    }
    return true;
  };
  ((mr == R + 1 && call(std::integral_constant<int, R>{})) || ...);
}

// The lane sums of 16 vectors as one vector (element q: the sum of v[q]'s 16 lanes), by a transposing
// tree of shuffles and adds: 45 instructions, where reducing each vector on its own (four shuffles
// and four adds) takes 128.
inline __m512 lane_sums16(const __m512 (&v)[16]) {
  __m512 pairs[8], quads[4], halves[2];
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k)  // per 128-bit lane: (a0 + a2, b0 + b2, a1 + a3, b1 + b3)
    pairs[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k)  // per 128-bit lane: that lane's sums of the four vectors 4k .. 4k + 3
    quads[k] = _mm512_add_ps(_mm512_shuffle_ps(pairs[2 * k], pairs[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(pairs[2 * k], pairs[2 * k + 1], 0xEE));
#pragma GCC unroll 2
  for (int k = 0; k < 2; ++k)  // lanes 0 + 1 and 2 + 3 of quads 2k, then of quads 2k + 1
    halves[k] = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2 * k], quads[2 * k + 1], 0x88),
                              _mm512_shuffle_f32x4(quads[2 * k], quads[2 * k + 1], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(halves[0], halves[1], 0x88),
                       _mm512_shuffle_f32x4(halves[0], halves[1], 0xDD));
}

// C[0..MR) x [0..NR) (+)= A[0..MR) x [0..K) * B, where A's rows are contiguous and bt holds B's NR
// columns as rows of `bt_stride` values (zero past K): MR x NR dot products, 16 k per step, summed
// across lanes at the end.
template <int MR, int NR>
inline void gemm_dot(int K, const float* a, std::ptrdiff_t a_rs, const float* bt, std::ptrdiff_t bt_stride, float* c,
                     std::ptrdiff_t ldc, bool accumulate) {
  __m512 acc[MR][NR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  const auto step = [&](int k, __mmask16 mask) {
    __m512 b[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) b[j] = _mm512_load_ps(bt + j * bt_stride + k);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      __m512 ai = _mm512_maskz_loadu_ps(mask, a + i * a_rs + k);
      asm("" : "+v"(ai));  // one load for NR multiply-adds: GCC would fold it into each of them
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(ai, b[j], acc[i][j]);
    }
  };
  int k = 0;
  for (; k + 16 <= K; k += 16) step(k, __mmask16(0xFFFF));
  if (k < K) step(k, __mmask16((1u << (K - k)) - 1));
  // The lane sums, 16 accumulators at a time (in row-major order; zeros past the last).
  constexpr int total = MR * NR, groups = (total + 15) / 16;
  alignas(64) float sums[groups * 16];
#pragma GCC unroll 2
  for (int g = 0; g < groups; ++g) {
    __m512 v[16];
#pragma GCC unroll 16
    for (int q = 0; q < 16; ++q)
      v[q] = g * 16 + q < total ? acc[(g * 16 + q) / NR][(g * 16 + q) % NR] : _mm512_setzero_ps();
    _mm512_store_ps(sums + g * 16, lane_sums16(v));
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const float sum = sums[i * NR + j];
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
}

// gemm_dot for mr rows (1..MR), chosen at run time.
template <int NR, int... R>
inline void gemm_dot_rows(int mr, std::integer_sequence<int, R...>, int K, const float* a, std::ptrdiff_t a_rs,
                          const float* bt, std::ptrdiff_t bt_stride, float* c, std::ptrdiff_t ldc, bool accumulate) {
  ((mr == R + 1 ? (gemm_dot<R + 1, NR>(K, a, a_rs, bt, bt_stride, c, ldc, accumulate), true) : false) || ...);
}

// The columns [N - dot_cols, N) of C (+)= A * B by dot products, up to 4 columns at a time with as
// many rows as keep 24 accumulators (12 x 2, 8 x 3, 6 x 4).
template <int NR>
inline void gemm_dot_columns(int M, int K, const float* a, std::ptrdiff_t a_rs, const float* bt,
                             std::ptrdiff_t bt_stride, float* c, std::ptrdiff_t ldc, bool accumulate) {
  constexpr int MR = NR == 1 ? 12 : 24 / NR;
  for (int i0 = 0; i0 < M; i0 += MR) {
    const int mr = std::min(MR, M - i0);
    if (mr == MR)
      gemm_dot<MR, NR>(K, a + i0 * a_rs, a_rs, bt, bt_stride, c + i0 * ldc, ldc, accumulate);
    else
      gemm_dot_rows<NR>(mr, std::make_integer_sequence<int, MR>{}, K, a + i0 * a_rs, a_rs, bt, bt_stride,
                        c + i0 * ldc, ldc, accumulate);
  }
}
}  // namespace detail
#endif

// C (M x N, row stride ldc) = A (M x K) * B, or += when `accumulate`. B was packed with K rows.
template <class T>
void gemm(int M, Strided<T> a, const PackedB<T>& b, T* c, std::ptrdiff_t ldc, bool accumulate) {
  const int K = b.rows(), N = b.cols();
  if (M <= 0 || N <= 0) return;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (K == 0) {
      if (!accumulate)
        for (int i = 0; i < M; ++i) std::fill_n(c + i * ldc, N, 0.0f);
      return;
    }
    // Narrow last columns as dot products where A's rows are contiguous, the rest by panels.
    // (Not for a shallow K: the lane sums at the end would cost more than the idle lanes; LANMSFF's
    // first convolution has K = 9.)
    const int dot_cols = a.col_stride == 1 && K >= 32 ? b.dot_cols() : 0, panel_cols = N - dot_cols;
    const int panels = (panel_cols + PackedB<T>::panel - 1) / PackedB<T>::panel;
    constexpr auto rows = std::make_integer_sequence<int, detail::gemm_mr>{};
    // Rows [i0, i0 + 12) of C, depth block k0, panel p.
    const auto panel_block = [&](int i0, int k0, int p) {
      const int mr = std::min(detail::gemm_mr, M - i0), kc = std::min(detail::gemm_kc, K - k0);
      const bool load_c = accumulate || k0 > 0;
      const float* ap = a.data + i0 * a.row_stride + std::ptrdiff_t(k0) * a.col_stride;
      const int j0 = p * PackedB<T>::panel, width = std::min(PackedB<T>::panel, panel_cols - j0);
      const __mmask16 m0 = width >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << width) - 1);
      const __mmask16 m1 =
          width >= 32 ? __mmask16(0xFFFF) : width <= 16 ? __mmask16(0) : __mmask16((1u << (width - 16)) - 1);
      const float* bp = b.panel_data(p, k0);
      const std::ptrdiff_t ldb = b.row_stride();
      // A large panel read in place (a weight gradient's output-gradient rows) comes from memory on
      // its first use (the next blocks of rows find it in cache): fetch its rows ahead, as packing
      // would have read them in order. A small one (Winograd's per-position products) is in cache.
      using detail::PanelSource;
      const PanelSource source = !b.in_place() ? PanelSource::packed
                                 : i0 == 0 && std::size_t(K) * b.row_stride() * sizeof(float) >= (128u << 10)
                                     ? PanelSource::in_place_prefetch
                                     : PanelSource::in_place;
      float* cp = c + i0 * ldc + j0;
      if (width > 16) {
        if (mr == detail::gemm_mr && source == PanelSource::packed)
          detail::gemm_micro<detail::gemm_mr, 2>(kc, ap, a.row_stride, a.col_stride, bp, ldb, cp, ldc, m0, m1, load_c);
        else
          detail::gemm_micro_rows<2>(mr, rows, kc, ap, a.row_stride, a.col_stride, bp, ldb, cp, ldc, m0, m1, load_c,
                                     source);
      } else {
        detail::gemm_micro_rows<1>(mr, rows, kc, ap, a.row_stride, a.col_stride, bp, ldb, cp, ldc, m0, m1, load_c,
                                   source);
      }
    };
    // Rows [i0, i0 + 12) of the dot-product columns, over all of K.
    const auto dot_block = [&](int i0) {
      const int mr = std::min(detail::gemm_mr, M - i0);
      for (int j = 0; j < dot_cols; j += 4) {
        const float* ap = a.data + i0 * a.row_stride;
        const float* bt = b.dot_data() + j * b.dot_stride();
        float* cp = c + i0 * ldc + panel_cols + j;
        const std::ptrdiff_t bs = b.dot_stride(), rs = a.row_stride;
        switch (std::min(4, dot_cols - j)) {
          case 1: detail::gemm_dot_columns<1>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate); break;
          case 2: detail::gemm_dot_columns<2>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate); break;
          case 3: detail::gemm_dot_columns<3>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate); break;
          default: detail::gemm_dot_columns<4>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate);
        }
      }
    };
    if (dot_cols > 0 && std::size_t(K) * panels * PackedB<T>::panel * sizeof(float) <= (std::size_t(256) << 10)) {
      // A small B (LANMSFF's layers): one block of rows at a time through every panel and then the
      // dot products, which then read the block's rows of A from L1 (they use each loaded vector of
      // A for only a few columns).
      for (int i0 = 0; i0 < M; i0 += detail::gemm_mr) {
        for (int k0 = 0; k0 < K; k0 += detail::gemm_kc)
          for (int p = 0; p < panels; ++p) panel_block(i0, k0, p);
        dot_block(i0);
      }
    } else {
      // A large B (MA-Net's 3x3x512 -> 512: 9 MB): each depth block of a panel (32 KB, in L1) serves
      // every row before the next is loaded.
      for (int k0 = 0; k0 < K; k0 += detail::gemm_kc)
        for (int p = 0; p < panels; ++p)
          for (int i0 = 0; i0 < M; i0 += detail::gemm_mr) panel_block(i0, k0, p);
      for (int i0 = 0; i0 < M; i0 += detail::gemm_mr) dot_block(i0);
    }
    return;
  }
#endif
  // Eigen: A and B as strided maps (B from the packing's source, not the panels).
  using Stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Strided<T> bs = b.source();
  Eigen::Map<const Mat, 0, Stride> A(a.data, M, K, Stride(a.row_stride, a.col_stride));
  Eigen::Map<const Mat, 0, Stride> B(bs.data, K, N, Stride(bs.row_stride, bs.col_stride));
  Eigen::Map<Mat, 0, Eigen::OuterStride<>> C(c, M, N, Eigen::OuterStride<>(ldc));
  if (accumulate) C.noalias() += A * B;
  else C.noalias() = A * B;
}

}  // namespace lanmsff::kernels
