// The kernels of int8 inference. The integer matrix product: C = A * B with A (M x K) unsigned 8-bit
// activations and B (K x N) signed 8-bit weights, summed exactly in int32, then either stored as it is or
// mapped per column (y = (C - a_zero * sum_k B(k, n)) * scale[n] + shift[n], then max(y, 0) when asked) to
// float or, requantised, to uint8: the dequantisation of an asymmetric uint8 input against symmetric
// per-channel int8 weights, with the layer's bias and folded BatchNorm in `shift`. Beside it: the
// convolution, the depthwise convolution, max pooling, quantize and dequantize.
//
// B is packed once (weights are constants in inference): panels of 16 columns, k in groups of four, so
// that one 32-bit lane holds B(k .. k + 3, n). One step of the micro-kernel then multiplies a lane's four
// weights by four bytes of an A row broadcast to every lane and adds the four products into the lane:
// one vpdpbusd instruction where the CPU has AVX-512 VNNI (64 products per instruction, four times the
// float FMA's 16), or AVX-VNNI on the AVX2 path. Without VNNI the same step widens both operands to 16
// bits and uses vpmaddwd (AVX-512BW, AVX2); NEON widens and multiplies; the baseline is plain C++. Every path gives the same int32 sums: no
// path saturates (vpmaddubsw's 16-bit sums would, at 255 x -128 twice).
//
// The convolution (int8_conv) is the same product without a patch matrix: each tile of output pixels
// reads its window's input pixels where they are (NHWC: a pixel's channels are contiguous), and the
// padding from a row of zero points.
//
// Which path runs follows the float kernels' choice (core/isa.hpp: LANMSFF_ISA, set_isa), and within
// AVX-512 and AVX2 whether the CPU has VNNI for it (set_int8_vnni(false) forces the 16-bit step, for tests).
#ifndef LANMSFF_KERNELS_INT8_HPP
#define LANMSFF_KERNELS_INT8_HPP

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lanmsff/core/isa.hpp"
#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"
#include "lanmsff/kernels/entry.hpp"

#if LANMSFF_X86_DISPATCH
#include <immintrin.h>
#endif
#if LANMSFF_NEON
#include <arm_neon.h>
#endif

namespace lanmsff::kernels {

// The int8 kernels, in the order of core/isa.hpp's paths; avx2_vnni and avx512_vnni are the AVX2 and
// AVX-512 paths on a CPU with VNNI for that vector width (AVX-VNNI: Intel since Alder Lake, AMD since Zen 5).
enum class Int8Kernel { baseline, neon, avx2, avx2_vnni, avx512, avx512_vnni };

inline constexpr std::string_view int8_kernel_name(Int8Kernel k) {
  switch (k) {
    case Int8Kernel::avx512_vnni: return "avx512-vnni";
    case Int8Kernel::avx512: return "avx512";
    case Int8Kernel::avx2_vnni: return "avx2-vnni";
    case Int8Kernel::avx2: return "avx2";
    case Int8Kernel::neon: return "neon";
    case Int8Kernel::baseline: break;
  }
  return "baseline";
}

namespace detail {
// Bit `bit` of register `reg` (0 EAX, 1 EBX, 2 ECX, 3 EDX) of CPUID leaf `leaf`, sub-leaf `sub`.
inline bool cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit) {
#if LANMSFF_X86_DISPATCH
  unsigned r[4] = {};
  return __get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]) && (r[reg] & (1u << bit)) != 0;
#else
  (void)leaf, (void)sub, (void)reg, (void)bit;
  return false;
#endif
}
}  // namespace detail

// Whether the CPU executes AVX-512 VNNI (CPUID leaf 7, ECX bit 11). The operating system's support for
// the AVX-512 registers is core/isa.hpp's check, made before the avx512 path can be active at all.
inline bool cpu_has_avx512_vnni() {
  static const bool has = detail::cpuid_bit(7, 0, 2, 11);
  return has;
}

// Whether the CPU executes AVX-VNNI, the VEX-encoded vpdpbusd on 256-bit vectors (CPUID leaf 7, sub-leaf
// 1, EAX bit 4).
inline bool cpu_has_avx_vnni() {
  static const bool has = detail::cpuid_bit(7, 1, 0, 4);
  return has;
}

namespace detail {
inline std::atomic<bool>& int8_vnni_allowed() {
  static std::atomic<bool> allowed{true};
  return allowed;
}
}  // namespace detail

// false: the AVX-512 and AVX2 paths multiply with 16-bit products even where the CPU has VNNI (tests and
// measurements of those paths); true (the default) uses VNNI where it exists.
inline void set_int8_vnni(bool allowed) { detail::int8_vnni_allowed().store(allowed); }

// The int8 kernel that runs now.
inline Int8Kernel int8_kernel() {
  switch (active_isa()) {
    case Isa::avx512:
      return cpu_has_avx512_vnni() && detail::int8_vnni_allowed().load() ? Int8Kernel::avx512_vnni : Int8Kernel::avx512;
    case Isa::avx2: return cpu_has_avx_vnni() && detail::int8_vnni_allowed().load() ? Int8Kernel::avx2_vnni : Int8Kernel::avx2;
    case Isa::neon: return Int8Kernel::neon;
    case Isa::baseline: break;
  }
  return Int8Kernel::baseline;
}

// B packed for int8_gemm: panels of `panel_width` columns (the last padded with zero columns), each
// `depth` = K rounded up to 4 rows deep (padded with zero rows), stored k-quad after k-quad as
// panel_width lanes of 4 bytes: B(4q + j, 16p + c) at data[(p * depth + 4q) * 16 + 4c + j].
struct PackedInt8 {
  static constexpr int panel_width = 16;
  int k = 0, n = 0, depth = 0;
  AlignedVector<std::int8_t> data;
  std::vector<std::int32_t> column_sums;  // sum over k of B(k, n), for the input's zero point

  int panels() const { return (n + panel_width - 1) / panel_width; }
  const std::int8_t* panel(int p) const { return data.data() + std::size_t(p) * std::size_t(depth) * panel_width; }
};

// Packs B (K x N), element (k, n) at b[k * ldb + n]: a convolution's HWIO kernel with K = kh kw Ci rows
// and N = Co columns, ldb = Co.
inline PackedInt8 pack_int8(int K, int N, const std::int8_t* b, std::ptrdiff_t ldb) {
  if (K < 1 || N < 1) throw std::invalid_argument("pack_int8: K and N must be positive, not " + std::to_string(K) + " and " + std::to_string(N));
  PackedInt8 p;
  p.k = K, p.n = N, p.depth = (K + 3) / 4 * 4;
  constexpr int W = PackedInt8::panel_width;
  p.data.assign(std::size_t(p.panels()) * std::size_t(p.depth) * W, 0);
  p.column_sums.assign(std::size_t(p.panels()) * W, 0);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) {
      const std::int8_t v = b[std::ptrdiff_t(k) * ldb + n];
      const int panel = n / W, c = n % W;
      p.data[(std::size_t(panel) * p.depth + std::size_t(k / 4 * 4)) * W + std::size_t(4 * c + k % 4)] = v;
      p.column_sums[std::size_t(n)] += v;
    }
  return p;
}

// The largest kernel window int8_conv takes (taps = kernel height x width; MA-Net's stem has 49).
inline constexpr int int8_max_taps = 64;

// A batch of uint8 activations, NHWC, with its quantisation: value = (q - zero) * scale. The buffer
// keeps 3 bytes past the last value, so that the kernels may read a pixel's channels four at a time.
struct QuantizedBatch {
  int n = 0;
  Shape shape;
  float scale = 1;
  int zero = 0;
  AlignedVector<std::uint8_t> data;

  void resize(int batch, Shape sample) {
    n = batch, shape = sample;
    data.resize(std::size_t(batch) * sample.size() + 3, 0);
  }
  std::size_t size() const { return std::size_t(n) * shape.size(); }
  std::uint8_t* values() { return data.data(); }
  const std::uint8_t* values() const { return data.data(); }
};

// How int8_conv reads a window: as `segments` runs of bytes, each `quads` k-quads long (read four bytes
// at a time, the bytes past a run's end multiplied by zero weights).
//  - By taps (the default): a run per tap, the pixel's in_c channels.
//  - By rows: a run per kernel row, its k_w pixels' channels one after the other (in NHWC they are
//    adjacent in memory when the dilation is 1). Taken where it saves at least a quarter of the
//    quads, that is for few channels: LANMSFF's gray input reads 3 quads per 3x3 window instead of 9
//    (27 of whose 36 bytes would be padding).
struct Int8ConvLayout {
  int segments, quads;
  bool by_rows;
  int depth() const { return segments * quads * 4; }  // the packed kernel's rows
};
inline Int8ConvLayout int8_conv_layout(const ConvGeometry& g) {
  const int taps = g.k_h * g.k_w, per_tap = (g.in_c + 3) / 4, per_row = (g.k_w * g.in_c + 3) / 4;
  if (g.dilation == 1 && 4 * g.k_h * per_row <= 3 * taps * per_tap) return {g.k_h, per_row, true};
  return {taps, per_tap, false};
}

// Packs a convolution's HWIO kernel (k_h x k_w x in_c x out_c, as Conv2D stores it) for int8_conv, in
// int8_conv_layout(g): each run's rows padded with zeros to a multiple of 4.
inline PackedInt8 pack_int8_conv(const ConvGeometry& g, const std::int8_t* hwio) {
  const int taps = g.k_h * g.k_w;
  if (taps > int8_max_taps) throw std::invalid_argument("pack_int8_conv: a " + std::to_string(g.k_h) + "x" + std::to_string(g.k_w) +
                                                        " kernel has more than " + std::to_string(int8_max_taps) + " taps");
  const Int8ConvLayout layout = int8_conv_layout(g);
  std::vector<std::int8_t> rows(std::size_t(layout.depth()) * g.out_c, 0);
  for (int t = 0; t < taps; ++t)
    for (int ci = 0; ci < g.in_c; ++ci) {
      // Tap t = (ky, kx): by rows, run ky at byte kx * in_c + ci; by taps, run t at byte ci.
      const std::size_t row = layout.by_rows ? std::size_t(t / g.k_w) * layout.quads * 4 + std::size_t(t % g.k_w) * g.in_c + ci
                                             : std::size_t(t) * layout.quads * 4 + ci;
      std::memcpy(&rows[row * g.out_c], hwio + (std::size_t(t) * g.in_c + ci) * g.out_c, std::size_t(g.out_c));
    }
  return pack_int8(layout.depth(), g.out_c, rows.data(), g.out_c);
}

// How the int32 sums become the output: y(m, n) = (C(m, n) - a_zero * column_sums[n]) * scale[n] + shift[n],
// then max(y, 0) when relu (scale and shift hold N values; shift may be null: zeros). A float output
// stores y. A uint8 output (the next int8 layer's input) stores clamp(round(y), relu ? out_zero : 0, 255):
// its scale and shift then include the output's own quantisation, as requantize() makes them.
struct Int8Output {
  const float* scale = nullptr;
  const float* shift = nullptr;
  int a_zero = 0;
  bool relu = false;
  int out_zero = 0;  // uint8 outputs only
};

// The per-column scale and shift of a uint8 output quantised with (out_scale, out_zero), from those of
// its float value: y / out_scale + out_zero = C' * (scale / out_scale) + (shift / out_scale + out_zero).
struct Requantization {
  std::vector<float> scale, shift;
  int out_zero = 0;
  // Points into this object: only from a named one (a temporary's would dangle once the statement ends).
  Int8Output output(int a_zero, bool relu) const& { return {scale.data(), shift.data(), a_zero, relu, out_zero}; }
  Int8Output output(int a_zero, bool relu) const&& = delete;
};
inline Requantization requantize(int n, const float* scale, const float* shift, float out_scale, int out_zero) {
  if (!(out_scale > 0) || out_zero < 0 || out_zero > 255)
    throw std::invalid_argument("requantize: the output scale must be positive and its zero point within 0..255");
  Requantization r{std::vector<float>(std::size_t(n)), std::vector<float>(std::size_t(n)), out_zero};
  for (int i = 0; i < n; ++i) {
    r.scale[std::size_t(i)] = scale[i] / out_scale;
    r.shift[std::size_t(i)] = (shift ? shift[i] : 0.0f) / out_scale + float(out_zero);
  }
  return r;
}

}  // namespace lanmsff::kernels

// ---- the kernels, once per path ---------------------------------------------------------------------------
#define LANMSFF_INT8_BODY 1
#if defined(__GNUC__) || defined(__clang__)
#define LANMSFF_INT8_INLINE inline __attribute__((always_inline))
#else
#define LANMSFF_INT8_INLINE inline
#endif
// A loop over channels the compiler is to vectorise. GCC at -O2 vectorises only loops that need no
// remainder handling unless told to (OpenMP's simd directive, where the build has OpenMP); Clang vectorises
// them by itself at -O2 and would warn where it cannot (at -O1, say) if told.
// LANMSFF_INT8_SIMD16: the same for a loop that reads bytes but computes in 32 bits, at most 16 lanes a
// vector: GCC would size the vectors by the bytes (64 lanes on AVX-512) and leave a loop over a few dozen
// channels to its scalar remainder.
#if defined(__clang__)
#define LANMSFF_INT8_SIMD
#define LANMSFF_INT8_SIMD16
#elif defined(_OPENMP)
#define LANMSFF_INT8_SIMD _Pragma("omp simd")
#define LANMSFF_INT8_SIMD16 _Pragma("omp simd safelen(16)")
#elif defined(__GNUC__)
#define LANMSFF_INT8_SIMD _Pragma("GCC ivdep")
#define LANMSFF_INT8_SIMD16 _Pragma("GCC ivdep")
#else
#define LANMSFF_INT8_SIMD
#define LANMSFF_INT8_SIMD16
#endif
#if LANMSFF_X86_DISPATCH
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
#endif
#define LANMSFF_INT8_OPS 4
#define LANMSFF_INT8_NS int8_avx512_vnni
#include "lanmsff/kernels/int8_body.hpp"
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")
#endif
#define LANMSFF_INT8_OPS 3
#define LANMSFF_INT8_NS int8_avx512
#include "lanmsff/kernels/int8_body.hpp"
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define LANMSFF_INT8_OPS 2
#define LANMSFF_INT8_NS int8_avx2
#include "lanmsff/kernels/int8_body.hpp"
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma,avxvnni"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma,avxvnni")
#endif
#define LANMSFF_INT8_OPS 5
#define LANMSFF_INT8_NS int8_avx2_vnni
#include "lanmsff/kernels/int8_body.hpp"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // LANMSFF_X86_DISPATCH
#if LANMSFF_NEON
#define LANMSFF_INT8_OPS 1
#define LANMSFF_INT8_NS int8_neon
#include "lanmsff/kernels/int8_body.hpp"
#endif
#define LANMSFF_INT8_OPS 0
#define LANMSFF_INT8_NS int8_baseline
#include "lanmsff/kernels/int8_body.hpp"
#undef LANMSFF_INT8_BODY
#undef LANMSFF_INT8_INLINE
#undef LANMSFF_INT8_SIMD
#undef LANMSFF_INT8_SIMD16

namespace lanmsff::kernels {

namespace detail {
inline std::string shape_text(Shape s) { return std::to_string(s.h) + "x" + std::to_string(s.w) + "x" + std::to_string(s.c); }

inline void check_int8_gemm(int M, int N, int K, std::ptrdiff_t lda, const PackedInt8& b, std::ptrdiff_t ldc) {
  if (M < 0 || K != b.k || N != b.n)
    throw std::invalid_argument("int8_gemm: A is " + std::to_string(M) + " x " + std::to_string(K) + " and C has " +
                                std::to_string(N) + " columns, but B was packed as " + std::to_string(b.k) + " x " +
                                std::to_string(b.n));
  if (lda < K || ldc < N) throw std::invalid_argument("int8_gemm: a row stride is shorter than its row");
}
}  // namespace detail

#if LANMSFF_X86_DISPATCH
#define LANMSFF_INT8_X86_CASES(call)                                  \
  case Int8Kernel::avx512_vnni: return int8_avx512_vnni::call;        \
  case Int8Kernel::avx512: return int8_avx512::call;                  \
  case Int8Kernel::avx2_vnni: return int8_avx2_vnni::call;            \
  case Int8Kernel::avx2: return int8_avx2::call;
#else
#define LANMSFF_INT8_X86_CASES(call)
#endif
#if LANMSFF_NEON
#define LANMSFF_INT8_NEON_CASES(call) \
  case Int8Kernel::neon: return int8_neon::call;
#else
#define LANMSFF_INT8_NEON_CASES(call)
#endif
#define LANMSFF_INT8_DISPATCH(call)  \
  switch (int8_kernel()) {           \
    LANMSFF_INT8_X86_CASES(call)     \
    LANMSFF_INT8_NEON_CASES(call)    \
    default: break;                  \
  }                                  \
  return int8_baseline::call

// C (M x N, int32, row stride ldc) = A (M x K, row stride lda) * B. A's rows are read to K bytes exactly.
inline void int8_gemm(int M, int N, int K, const std::uint8_t* a, std::ptrdiff_t lda, const PackedInt8& b,
                      std::int32_t* c, std::ptrdiff_t ldc) {
  detail::check_int8_gemm(M, N, K, lda, b, ldc);
  LANMSFF_INT8_DISPATCH(gemm(M, a, lda, b, c, ldc, nullptr));
}

// y (M x N, float or uint8, row stride ldy) = A * B mapped by `out`.
template <class Y>
  requires std::is_same_v<Y, float> || std::is_same_v<Y, std::uint8_t>
void int8_gemm(int M, int N, int K, const std::uint8_t* a, std::ptrdiff_t lda, const PackedInt8& b, Y* y, std::ptrdiff_t ldy,
               const Int8Output& out) {
  detail::check_int8_gemm(M, N, K, lda, b, ldy);
  if (!out.scale) throw std::invalid_argument("int8_gemm: the output needs its scales");
  LANMSFF_INT8_DISPATCH(gemm(M, a, lda, b, y, ldy, &out));
}
LANMSFF_INT8_KERNEL_ENTRY(int8_gemm);

// y (NHWC, batch x out_h x out_w x out_c, float or uint8) = the convolution of `in` with the kernel
// packed by pack_int8_conv(g, ...), mapped by `out` (out.a_zero is taken from `in`). The input may hold
// more channels than g.in_c: the convolution reads channels first_channel .. first_channel + g.in_c of
// each pixel (a Split's half, without a copy). Output pixels are y_stride values apart (0: out_c), so
// that a convolution can write its channels of a concatenation in place (y pointing at its first).
template <class Y>
  requires std::is_same_v<Y, float> || std::is_same_v<Y, std::uint8_t>
void int8_conv(const ConvGeometry& g, const QuantizedBatch& in, const PackedInt8& b, Y* y, Int8Output out, int first_channel = 0,
               std::ptrdiff_t y_stride = 0) {
  const int taps = g.k_h * g.k_w;
  const Int8ConvLayout layout = int8_conv_layout(g);
  if (in.shape.h != g.in_h || in.shape.w != g.in_w || first_channel < 0 || first_channel + g.in_c > in.shape.c)
    throw std::invalid_argument("int8_conv: the input is " + detail::shape_text(in.shape) + ", the convolution takes " +
                                detail::shape_text(g.input_shape()) +
                                (first_channel ? " from channel " + std::to_string(first_channel) : std::string()));
  if (b.k != layout.depth() || b.n != g.out_c || taps > int8_max_taps)
    throw std::invalid_argument("int8_conv: the packed kernel is " + std::to_string(b.k) + " x " + std::to_string(b.n) +
                                ", this convolution needs " + std::to_string(layout.depth()) + " x " + std::to_string(g.out_c) +
                                " (pack it with pack_int8_conv)");
  if (!out.scale) throw std::invalid_argument("int8_conv: the output needs its scales");
  if (y_stride == 0) y_stride = g.out_c;
  if (y_stride < g.out_c) throw std::invalid_argument("int8_conv: output pixels closer than its channels");
  out.a_zero = in.zero;
  const std::vector<std::uint8_t> zero_row(std::size_t(layout.quads) * 4, std::uint8_t(in.zero));
  LANMSFF_INT8_DISPATCH(conv(g, layout, in.n, in.values() + first_channel, in.shape.c, zero_row.data(), b, y, y_stride, &out));
}
LANMSFF_INT8_KERNEL_ENTRY(int8_conv);

// q = clamp(round(x / scale) + zero, 0, 255), ties to even (as ONNX's QuantizeLinear); NaN gives 0.
inline void quantize(const float* x, std::size_t count, float scale, int zero, std::uint8_t* q) {
  if (!(scale > 0) || zero < 0 || zero > 255)
    throw std::invalid_argument("quantize: the scale must be positive and the zero point within 0..255, not " +
                                std::to_string(scale) + " and " + std::to_string(zero));
  LANMSFF_INT8_DISPATCH(quantize(x, count, 1.0f / scale, zero, q));
}

// The depthwise convolution of `in` (g.in_c == g.out_c; weights k_h x k_w x channels, int8, as
// DepthwiseConv2D stores them), mapped by `out` (per-channel scale and shift; out.a_zero is not used).
template <class Y>
  requires std::is_same_v<Y, float> || std::is_same_v<Y, std::uint8_t>
void int8_depthwise(const ConvGeometry& g, const QuantizedBatch& in, const std::int8_t* w, Y* y, const Int8Output& out) {
  if (in.shape != g.input_shape() || g.in_c != g.out_c)
    throw std::invalid_argument("int8_depthwise: the input is " + detail::shape_text(in.shape) + ", the convolution takes " +
                                detail::shape_text(g.input_shape()) + " with as many output channels");
  if (g.k_h * g.k_w > int8_max_taps)
    throw std::invalid_argument("int8_depthwise: a " + std::to_string(g.k_h) + "x" + std::to_string(g.k_w) + " kernel has more than " +
                                std::to_string(int8_max_taps) + " taps");
  if (!out.scale) throw std::invalid_argument("int8_depthwise: the output needs its scales");
  LANMSFF_INT8_DISPATCH(depthwise(g, in.n, in.values(), in.zero, w, y, out));
}
LANMSFF_INT8_KERNEL_ENTRY(int8_depthwise);

// Max pooling of `in` over size x size windows at stride `size` into out (batch x h/size x w/size x c,
// the same quantisation).
inline void int8_max_pool(const QuantizedBatch& in, int size, QuantizedBatch& out) {
  if (size < 1 || in.shape.h < size || in.shape.w < size)
    throw std::invalid_argument("int8_max_pool: a " + std::to_string(size) + "x" + std::to_string(size) + " window on " +
                                detail::shape_text(in.shape));
  out.resize(in.n, {in.shape.h / size, in.shape.w / size, in.shape.c});
  out.scale = in.scale, out.zero = in.zero;
  LANMSFF_INT8_DISPATCH(max_pool(in.n, in.shape, size, in.values(), out.values()));
}

// y(p, c) = (in(p, c) - in.zero) * in.scale * m(sample, c) * f[p] for every pixel p of `in` (m: batch x
// channels; f: one factor per pixel of the batch, or null), as float or, quantised with (out_scale,
// out_zero), as uint8, into y (sized by the caller).
template <class Y>
  requires std::is_same_v<Y, float> || std::is_same_v<Y, std::uint8_t>
void int8_scale_channels(const QuantizedBatch& in, const float* m, const float* f, Y* y, float out_scale = 1, int out_zero = 0) {
  if (!(out_scale > 0) || out_zero < 0 || out_zero > 255)
    throw std::invalid_argument("int8_scale_channels: the output scale must be positive and its zero point within 0..255");
  std::vector<float> factors(m, m + std::size_t(in.n) * std::size_t(in.shape.c));
  for (float& v : factors) v *= in.scale;
  LANMSFF_INT8_DISPATCH(scale_channels(in.values(), in.n, std::size_t(in.shape.h) * std::size_t(in.shape.w), in.shape.c, in.zero,
                                       factors.data(), f, y, 1.0f / out_scale, out_zero));
}
LANMSFF_INT8_KERNEL_ENTRY(int8_scale_channels);

// sums[p]: the sum of the channels of pixel p of `in` (integers: take off channels x zero, then scale).
inline void int8_channel_sums(const QuantizedBatch& in, std::int32_t* sums) {
  LANMSFF_INT8_DISPATCH(channel_sums(in.values(), std::size_t(in.n) * std::size_t(in.shape.h) * std::size_t(in.shape.w), in.shape.c, sums));
}

// y (pixels x channels, float) = PWFS's (max + median) / 2 of three uint8 maps of the quantisation (scale,
// zero), each `channels` wide: map i's pixel p at in[i] + p * stride[i] (a channel range of a wider map).
inline void int8_select_max_median(const std::uint8_t* const (&in)[3], const std::size_t (&stride)[3], std::size_t pixels,
                                   int channels, float scale, int zero, float* y) {
  LANMSFF_INT8_DISPATCH(select_max_median(in, stride, pixels, channels, zero, 0.5f * scale, y));
}

// y (batch x channels) = the same selection averaged over each sample's `pixels` pixels (PWFS's pooled
// features), summed in integers.
inline void int8_select_max_median_mean(const std::uint8_t* const (&in)[3], const std::size_t (&stride)[3], int batch,
                                        std::size_t pixels, int channels, float scale, int zero, float* y) {
  if (pixels == 0) throw std::invalid_argument("int8_select_max_median_mean: no pixels to average");
  LANMSFF_INT8_DISPATCH(select_max_median_mean(in, stride, batch, pixels, channels, zero, 0.5f * scale, y));
}

// acc (batch x channels): per sample and channel, the sum over the pixels of `in`, or with max the largest value.
inline void int8_pixel_reduce(const QuantizedBatch& in, bool max, std::int32_t* acc) {
  LANMSFF_INT8_DISPATCH(pixel_reduce(in.values(), in.n, std::size_t(in.shape.h) * std::size_t(in.shape.w), in.shape.c, max, acc));
}

// x = (q - zero) * scale for every value of `in`.
inline void dequantize(const QuantizedBatch& in, float* x) {
  LANMSFF_INT8_DISPATCH(dequantize(in.values(), in.size(), in.scale, in.zero, x));
}

#undef LANMSFF_INT8_DISPATCH
#undef LANMSFF_INT8_X86_CASES
#undef LANMSFF_INT8_NEON_CASES

}  // namespace lanmsff::kernels

#endif  // LANMSFF_KERNELS_INT8_HPP
