// Single-precision matrix product for the convolution kernels, C (+)= A * B, with an AVX-512
// register-blocked micro-kernel where the compiler targets AVX-512 (`-march=native` on such a CPU);
// elsewhere, and for double, Eigen's product.
//
// Why not only Eigen: the convolutions multiply many small tiles (256 pixels x 600 patch values)
// by one weight matrix, so B can be packed once per layer call instead of once per tile, and the
// A operand is read in place with any strides (im2col rows, or their transpose for the weight
// gradient) instead of being copied. The micro-kernel keeps a 12 x 32 block of C in 24 registers
// and streams one k at a time: two loads of B, twelve broadcasts of A, 24 fused multiply-adds.
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
    if constexpr (!uses_panels) return;  // Eigen's product reads B where it is
    panels_ = (N + panel - 1) / panel;
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
  }
  int rows() const { return K_; }
  int cols() const { return N_; }
  int panels() const { return panels_; }
  const T* panel_data(int p, int k0) const { return data_.data() + (std::size_t(p) * K_ + k0) * panel; }
  Strided<T> source() const { return source_; }

 private:
  int K_ = 0, N_ = 0, panels_ = 0;
  AlignedVector<T> data_;
  Strided<T> source_{nullptr, 0, 0};
};

#if defined(__AVX512F__)
namespace detail {
inline constexpr int gemm_mr = 12;    // rows of C per micro-kernel call
inline constexpr int gemm_kc = 256;   // depth per pass: a 256 x 32 panel of B is 32 KB (L1)

// C[0..MR) x [0..16 NV) (+)= A[0..MR) x [0..kc) * Bpanel[0..kc) x [0..16 NV), columns masked to N.
// NV = 1 for a last panel at most 16 columns wide, which then costs half.
template <int MR, int NV>
inline void gemm_micro(int kc, const float* a, std::ptrdiff_t a_rs, std::ptrdiff_t a_cs, const float* b, float* c,
                       std::ptrdiff_t ldc, __mmask16 m0, __mmask16 m1, bool load_c) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    c0[i] = load_c ? _mm512_maskz_loadu_ps(m0, c + i * ldc) : _mm512_setzero_ps();
    if constexpr (NV == 2) c1[i] = load_c ? _mm512_maskz_loadu_ps(m1, c + i * ldc + 16) : _mm512_setzero_ps();
  }
  for (int k = 0; k < kc; ++k, a += a_cs, b += 32) {
    const __m512 b0 = _mm512_loadu_ps(b);
    [[maybe_unused]] const __m512 b1 = NV == 2 ? _mm512_loadu_ps(b + 16) : b0;
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
                            std::ptrdiff_t a_cs, const float* b, float* c, std::ptrdiff_t ldc, __mmask16 m0,
                            __mmask16 m1, bool load_c) {
  ((mr == R + 1 ? (gemm_micro<R + 1, NV>(kc, a, a_rs, a_cs, b, c, ldc, m0, m1, load_c), true) : false) || ...);
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
    for (int k0 = 0; k0 < K; k0 += detail::gemm_kc) {
      const int kc = std::min(detail::gemm_kc, K - k0);
      const bool load_c = accumulate || k0 > 0;
      for (int p = 0; p < b.panels(); ++p) {
        const int j0 = p * PackedB<T>::panel, width = std::min(PackedB<T>::panel, N - j0);
        const __mmask16 m0 = width >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << width) - 1);
        const __mmask16 m1 = width >= 32 ? __mmask16(0xFFFF) : width <= 16 ? __mmask16(0) : __mmask16((1u << (width - 16)) - 1);
        const float* bp = b.panel_data(p, k0);
        for (int i0 = 0; i0 < M; i0 += detail::gemm_mr) {
          const int mr = std::min(detail::gemm_mr, M - i0);
          const float* ap = a.data + i0 * a.row_stride + std::ptrdiff_t(k0) * a.col_stride;
          float* cp = c + i0 * ldc + j0;
          constexpr auto rows = std::make_integer_sequence<int, detail::gemm_mr>{};
          if (width > 16) {
            if (mr == detail::gemm_mr)
              detail::gemm_micro<detail::gemm_mr, 2>(kc, ap, a.row_stride, a.col_stride, bp, cp, ldc, m0, m1, load_c);
            else
              detail::gemm_micro_rows<2>(mr, rows, kc, ap, a.row_stride, a.col_stride, bp, cp, ldc, m0, m1, load_c);
          } else {
            detail::gemm_micro_rows<1>(mr, rows, kc, ap, a.row_stride, a.col_stride, bp, cp, ldc, m0, m1, load_c);
          }
        }
      }
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
