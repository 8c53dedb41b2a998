// Matrix product for the convolution kernels, C (+)= A * B, with a register-blocked micro-kernel
// written once over the lanes type of each instruction set (simd/portable.hpp lists what a lanes
// type provides) and compiled for each of them (simd/foreach_isa.hpp).
//
// Why not Eigen's product: the convolutions multiply many small tiles (256 pixels x 600 patch
// values) by one weight matrix, so B can be packed once per layer call instead of once per tile,
// and the A operand is read in place with any strides (im2col rows, or their transpose for the
// weight gradient) instead of being copied. The micro-kernel keeps an MR x (2 vectors) block of C in
// registers and streams one k at a time: two loads of B, MR broadcasts of A, 2 MR fused
// multiply-adds. MR follows the register file: 12 rows (24 accumulators) with 32 vector registers
// (AVX-512, NEON), 6 (12 accumulators) with 16 (AVX2, SSE2). A few columns past a multiple of the
// vector width (LANMSFF's 66 and 36 filters) would waste most of a vector there; when A's rows are
// contiguous those columns are dot products along k instead, so every lane does useful work.
#ifndef LANMSFF_KERNELS_GEMM_HPP
#define LANMSFF_KERNELS_GEMM_HPP

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/simd/dispatch.hpp"

namespace lanmsff::kernels {

// A strided matrix operand: element (i, k) at data[i * row_stride + k * col_stride].
template <class T>
struct Strided {
  const T* data;
  std::ptrdiff_t row_stride, col_stride;
  const T& operator()(std::ptrdiff_t i, std::ptrdiff_t k) const { return data[i * row_stride + k * col_stride]; }
};

// Requests the cache line at p for reading (Write = false) or writing, into all cache levels.
template <bool Write = false>
inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, Write ? 1 : 0, 3);
#else
  (void)p;
#endif
}

}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "lanmsff/kernels/gemm.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// C (M x N, row stride ldc) = A (M x K) * B (K x N), or += when `accumulate`, on the active
// instruction set: B packed first, or, with b_in_place, read where it is (B's column stride must
// then be 1). For tests and callers outside the kernels; the convolutions use the per-ISA gemm.
template <class T>
void matmul(int M, int N, int K, Strided<T> a, Strided<T> b, T* c, std::ptrdiff_t ldc, bool accumulate,
            bool b_in_place = false) {
  LANMSFF_DISPATCH(T, matmul<T>(M, N, K, a, b, c, ldc, accumulate, b_in_place));
}
LANMSFF_KERNEL_ENTRY(matmul);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

// The micro-kernel's shape on this ISA's lanes L.
template <class L>
struct GemmShape {
  static constexpr int mr = L::registers >= 32 ? 12 : 6;  // rows of C per micro-kernel call
  static constexpr int panel = 2 * L::width;              // columns of C: two vectors
  static constexpr int kc = 256;  // depth per pass: a 256 x 32 panel of floats (AVX-512) is 32 KB, L1
  // Up to this many columns past the last whole vector are dot products (when A's rows are contiguous).
  static constexpr int max_dot_cols = L::width / 2;
};

// B (K x N) packed into panels of `panel` columns: panel p holds rows 0..K-1 of columns
// p*panel .. p*panel+panel-1, zero-padded past N. Packed once, multiplied by many A.
// Or, with view(), B read where it is (rows of N values `row_stride` apart; the panels are then
// column ranges of those rows): for a B that is multiplied only once, such as the output gradient
// of a weight gradient, whose packing would cost a good part of the product.
template <class T>
class PackedB {
 public:
  using L = Lanes<T>;
  static constexpr int panel = GemmShape<L>::panel;
  static constexpr int max_dot_cols = GemmShape<L>::max_dot_cols;

  void pack(int K, int N, Strided<T> b) {
    K_ = K, N_ = N;
    view_ = nullptr;
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
    // The last N % width columns, when there are few, also as rows along k (zero-padded to a
    // multiple of the width) for the dot-product path.
    dot_cols_ = N % L::width <= max_dot_cols ? N % L::width : 0;
    dot_stride_ = (K + L::width - 1) / L::width * L::width;
    dot_data_.assign(std::size_t(dot_cols_) * dot_stride_, T(0));
    for (int j = 0; j < dot_cols_; ++j)
      for (int k = 0; k < K; ++k) dot_data_[std::size_t(j) * dot_stride_ + k] = b(k, N - dot_cols_ + j);
  }
  // Storage for a K x N B that the caller writes in the packed layout itself: element (k, j) at
  // [(j / panel * K + k) * panel + j % panel], zeros in the columns past N. No dot-product columns.
  // For a B computed rather than copied (Winograd's transformed kernel), written once where pack()
  // would copy it.
  T* storage(int K, int N) {
    K_ = K, N_ = N;
    view_ = nullptr;
    panels_ = (N + panel - 1) / panel;
    row_stride_ = panel;
    data_.resize(std::size_t(panels_) * std::size_t(K) * panel);
    dot_cols_ = 0;
    return data_.data();
  }
  // B (K x N) read in place: element (k, j) at data[k * row_stride + j]; data must outlive the use.
  void view(int K, int N, const T* data, std::ptrdiff_t row_stride) {
    K_ = K, N_ = N;
    view_ = data;
    panels_ = (N + panel - 1) / panel;
    row_stride_ = row_stride;
    dot_cols_ = 0;  // the last columns are a masked panel (no transposed copy)
  }
  // Columns [cols() - dot_cols(), cols()) are also stored as dot_cols() rows of dot_stride() values.
  int dot_cols() const { return dot_cols_; }
  std::ptrdiff_t dot_stride() const { return dot_stride_; }
  const T* dot_data() const { return dot_data_.data(); }
  int rows() const { return K_; }
  int cols() const { return N_; }
  int panels() const { return panels_; }
  // The bytes this object's own copies hold (the panels and the dot-product rows; a view's data is the caller's).
  std::size_t bytes() const { return (data_.size() + dot_data_.size()) * sizeof(T); }
  // Row k0 of panel p; the panel's next rows follow every row_stride() values.
  const T* panel_data(int p, int k0) const {
    return view_ ? view_ + std::ptrdiff_t(k0) * row_stride_ + std::ptrdiff_t(p) * panel
                 : data_.data() + (std::size_t(p) * K_ + k0) * panel;
  }
  std::ptrdiff_t row_stride() const { return row_stride_; }
  bool in_place() const { return view_ != nullptr; }

 private:
  int K_ = 0, N_ = 0, panels_ = 0, dot_cols_ = 0;
  std::ptrdiff_t dot_stride_ = 0, row_stride_ = panel;
  const T* view_ = nullptr;
  AlignedVector<T> data_, dot_data_;
};

namespace detail {

// Where the micro-kernel's B panel comes from: packed (rows of `panel` values, zero-padded past N:
// plain loads at a fixed stride, the fastest form), or read in place (rows ldb apart, masked to N),
// then optionally with B's rows fetched a few k ahead (a large panel on its first use).
enum class PanelSource { packed, in_place, in_place_prefetch };

// C[0..MR) x [0..NV vectors) (+)= A[0..MR) x [0..kc) * Bpanel[0..kc) x [0..NV vectors), columns
// masked to N. NV = 1 for a last panel at most one vector wide, which then costs half.
template <class T, int MR, int NV, PanelSource Source = PanelSource::packed>
inline void gemm_micro(int kc, const T* a, std::ptrdiff_t a_rs, std::ptrdiff_t a_cs, const T* b, std::ptrdiff_t ldb,
                       T* c, std::ptrdiff_t ldc, typename Lanes<T>::Mask m0, typename Lanes<T>::Mask m1, bool load_c) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  constexpr int W = L::width;
  constexpr bool packed = Source == PanelSource::packed;
  if constexpr (packed) ldb = 2 * W;
  V c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    c0[i] = load_c ? L::load(c + i * ldc, m0) : L::zero();
    if constexpr (NV == 2) c1[i] = load_c ? L::load(c + i * ldc + W, m1) : L::zero();
  }
  for (int k = 0; k < kc; ++k, a += a_cs, b += ldb) {
    if constexpr (Source == PanelSource::in_place_prefetch) {
      prefetch(b + 8 * ldb);
      prefetch(b + 8 * ldb + W);
      prefetch(b + 8 * ldb + 2 * W - 1);
    }
    const V b0 = packed ? L::load(b) : L::load(b, m0);
    [[maybe_unused]] const V b1 = NV == 1 ? b0 : packed ? L::load(b + W) : L::load(b + W, m1);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V ai = L::broadcast(a + i * a_rs);
      c0[i] = L::fma(ai, b0, c0[i]);
      if constexpr (NV == 2) c1[i] = L::fma(ai, b1, c1[i]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    L::store(c + i * ldc, c0[i], m0);
    if constexpr (NV == 2) L::store(c + i * ldc + W, c1[i], m1);
  }
}

// The micro-kernel for mr rows (1..MR) and NV vectors, chosen at run time.
template <class T, int NV, int... R>
inline void gemm_micro_rows(int mr, std::integer_sequence<int, R...>, int kc, const T* a, std::ptrdiff_t a_rs,
                            std::ptrdiff_t a_cs, const T* b, std::ptrdiff_t ldb, T* c, std::ptrdiff_t ldc,
                            typename Lanes<T>::Mask m0, typename Lanes<T>::Mask m1, bool load_c, PanelSource source) {
  const auto call = [&](auto rows) {
    constexpr int MR = decltype(rows)::value + 1;
    switch (source) {
      case PanelSource::packed: gemm_micro<T, MR, NV>(kc, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1, load_c); break;
      case PanelSource::in_place:
        gemm_micro<T, MR, NV, PanelSource::in_place>(kc, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1, load_c);
        break;
      case PanelSource::in_place_prefetch:
        gemm_micro<T, MR, NV, PanelSource::in_place_prefetch>(kc, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1, load_c);
    }
    return true;
  };
  (void)((mr == R + 1 && call(std::integral_constant<int, R>{})) || ...);
}

// C[0..MR) x [0..NR) (+)= A[0..MR) x [0..K) * B, where A's rows are contiguous and bt holds B's NR
// columns as rows of `bt_stride` values (zero past K): MR x NR dot products, one vector of k per
// step, summed across lanes at the end (L::lane_sums, width accumulators at a time).
template <class T, int MR, int NR>
inline void gemm_dot(int K, const T* a, std::ptrdiff_t a_rs, const T* bt, std::ptrdiff_t bt_stride, T* c,
                     std::ptrdiff_t ldc, bool accumulate) {
  using L = Lanes<T>;
  using V = typename L::Vec;
  constexpr int W = L::width;
  V acc[MR][NR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = L::zero();
  const auto step = [&](int k, bool partial) {
    V b[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) b[j] = L::load(bt + j * bt_stride + k);
    const auto mask = L::mask(K - k);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      V ai = partial ? L::load(a + i * a_rs + k, mask) : L::load(a + i * a_rs + k);
      L::keep_in_register(ai);  // one load for NR multiply-adds: GCC would fold it into each of them
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = L::fma(ai, b[j], acc[i][j]);
    }
  };
  int k = 0;
  for (; k + W <= K; k += W) step(k, false);
  if (k < K) step(k, true);
  // The lane sums, W accumulators at a time (in row-major order; zeros past the last).
  constexpr int total = MR * NR, groups = (total + W - 1) / W;
  alignas(64) T sums[groups * W];
#pragma GCC unroll 4
  for (int g = 0; g < groups; ++g) {
    V v[W];
#pragma GCC unroll 16
    for (int q = 0; q < W; ++q) v[q] = g * W + q < total ? acc[(g * W + q) / NR][(g * W + q) % NR] : L::zero();
    L::store(sums + g * W, L::lane_sums(v));
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const T sum = sums[i * NR + j];
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
}

// gemm_dot for mr rows (1..MR), chosen at run time.
template <class T, int NR, int... R>
inline void gemm_dot_rows(int mr, std::integer_sequence<int, R...>, int K, const T* a, std::ptrdiff_t a_rs,
                          const T* bt, std::ptrdiff_t bt_stride, T* c, std::ptrdiff_t ldc, bool accumulate) {
  (void)((mr == R + 1 ? (gemm_dot<T, R + 1, NR>(K, a, a_rs, bt, bt_stride, c, ldc, accumulate), true) : false) || ...);
}

// The columns [N - dot_cols, N) of C (+)= A * B by dot products, up to 4 columns at a time with as
// many rows as keep about two thirds of the registers as accumulators (AVX-512: 12 x 2, 8 x 3, 6 x 4).
template <class T, int NR>
inline void gemm_dot_columns(int M, int K, const T* a, std::ptrdiff_t a_rs, const T* bt, std::ptrdiff_t bt_stride,
                             T* c, std::ptrdiff_t ldc, bool accumulate) {
  constexpr int accumulators = Lanes<T>::registers * 3 / 4;
  constexpr int MR = NR == 1 ? GemmShape<Lanes<T>>::mr : accumulators / NR;
  for (int i0 = 0; i0 < M; i0 += MR) {
    const int mr = std::min(MR, M - i0);
    if (mr == MR)
      gemm_dot<T, MR, NR>(K, a + i0 * a_rs, a_rs, bt, bt_stride, c + i0 * ldc, ldc, accumulate);
    else
      gemm_dot_rows<T, NR>(mr, std::make_integer_sequence<int, MR>{}, K, a + i0 * a_rs, a_rs, bt, bt_stride,
                           c + i0 * ldc, ldc, accumulate);
  }
}

}  // namespace detail

// C (M x N, row stride ldc) = A (M x K) * B, or += when `accumulate`. B was packed with K rows.
template <class T>
void gemm(int M, Strided<T> a, const PackedB<T>& b, T* c, std::ptrdiff_t ldc, bool accumulate) {
  using L = Lanes<T>;
  using Shape = GemmShape<L>;
  constexpr int W = L::width, panel = Shape::panel, MR = Shape::mr;
  const int K = b.rows(), N = b.cols();
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    if (!accumulate)
      for (int i = 0; i < M; ++i) std::fill_n(c + i * ldc, N, T(0));
    return;
  }
  // Narrow last columns as dot products where A's rows are contiguous, the rest by panels.
  // (Not for a shallow K: the lane sums at the end would cost more than the idle lanes; LANMSFF's
  // first convolution has K = 9.)
  const int dot_cols = a.col_stride == 1 && K >= 32 ? b.dot_cols() : 0, panel_cols = N - dot_cols;
  const int panels = (panel_cols + panel - 1) / panel;
  constexpr auto rows = std::make_integer_sequence<int, MR>{};
  // Rows [i0, i0 + MR) of C, depth block k0, panel p.
  const auto panel_block = [&](int i0, int k0, int p) {
    const int mr = std::min(MR, M - i0), kc = std::min(Shape::kc, K - k0);
    const bool load_c = accumulate || k0 > 0;
    const T* ap = a.data + i0 * a.row_stride + std::ptrdiff_t(k0) * a.col_stride;
    const int j0 = p * panel, width = std::min(panel, panel_cols - j0);
    const auto m0 = L::mask(std::min(width, W)), m1 = L::mask(std::max(0, width - W));
    const T* bp = b.panel_data(p, k0);
    const std::ptrdiff_t ldb = b.row_stride();
    // A large panel read in place (a weight gradient's output-gradient rows) comes from memory on
    // its first use (the next blocks of rows find it in cache): fetch its rows ahead, as packing
    // would have read them in order. A small one (Winograd's per-position products) is in cache.
    using detail::PanelSource;
    const PanelSource source = !b.in_place() ? PanelSource::packed
                               : i0 == 0 && std::size_t(K) * b.row_stride() * sizeof(T) >= (128u << 10)
                                   ? PanelSource::in_place_prefetch
                                   : PanelSource::in_place;
    T* cp = c + i0 * ldc + j0;
    if (width > W) {
      if (mr == MR && source == PanelSource::packed)
        detail::gemm_micro<T, MR, 2>(kc, ap, a.row_stride, a.col_stride, bp, ldb, cp, ldc, m0, m1, load_c);
      else
        detail::gemm_micro_rows<T, 2>(mr, rows, kc, ap, a.row_stride, a.col_stride, bp, ldb, cp, ldc, m0, m1, load_c,
                                      source);
    } else {
      detail::gemm_micro_rows<T, 1>(mr, rows, kc, ap, a.row_stride, a.col_stride, bp, ldb, cp, ldc, m0, m1, load_c,
                                    source);
    }
  };
  // Rows [i0, i0 + MR) of the dot-product columns, over all of K.
  const auto dot_block = [&](int i0) {
    const int mr = std::min(MR, M - i0);
    for (int j = 0; j < dot_cols; j += 4) {
      const T* ap = a.data + i0 * a.row_stride;
      const T* bt = b.dot_data() + j * b.dot_stride();
      T* cp = c + i0 * ldc + panel_cols + j;
      const std::ptrdiff_t bs = b.dot_stride(), rs = a.row_stride;
      switch (std::min(4, dot_cols - j)) {
        case 1: detail::gemm_dot_columns<T, 1>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate); break;
        case 2: detail::gemm_dot_columns<T, 2>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate); break;
        case 3: detail::gemm_dot_columns<T, 3>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate); break;
        default: detail::gemm_dot_columns<T, 4>(mr, K, ap, rs, bt, bs, cp, ldc, accumulate);
      }
    }
  };
  if (dot_cols > 0 && std::size_t(K) * panels * panel * sizeof(T) <= (std::size_t(256) << 10)) {
    // A small B (LANMSFF's layers): one block of rows at a time through every panel and then the
    // dot products, which then read the block's rows of A from L1 (they use each loaded vector of
    // A for only a few columns).
    for (int i0 = 0; i0 < M; i0 += MR) {
      for (int k0 = 0; k0 < K; k0 += Shape::kc)
        for (int p = 0; p < panels; ++p) panel_block(i0, k0, p);
      dot_block(i0);
    }
  } else {
    // A large B (MA-Net's 3x3x512 -> 512: 9 MB): each depth block of a panel (L1) serves every row
    // before the next is loaded.
    for (int k0 = 0; k0 < K; k0 += Shape::kc)
      for (int p = 0; p < panels; ++p)
        for (int i0 = 0; i0 < M; i0 += MR) panel_block(i0, k0, p);
    for (int i0 = 0; i0 < M; i0 += MR) dot_block(i0);
  }
}

// See kernels::matmul.
template <class T>
void matmul(int M, int N, int K, Strided<T> a, Strided<T> b, T* c, std::ptrdiff_t ldc, bool accumulate,
            bool b_in_place) {
  PackedB<T> packed;
  if (b_in_place) packed.view(K, N, b.data, b.row_stride);
  else packed.pack(K, N, b);
  gemm<T>(M, a, packed, c, ldc, accumulate);
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
