// Lanes for AVX-512 (F, BW, DQ, VL): 16 floats in a zmm register, 32 registers, masked loads and
// stores. Included by foreach_isa.hpp inside its AVX-512 target region only (the functions need the
// target attributes that region gives them); see portable.hpp for what every lanes type provides.
#pragma once

#include <immintrin.h>

#include <type_traits>

#include "lanmsff/core/isa.hpp"
#include "lanmsff/kernels/simd/portable.hpp"

namespace lanmsff::kernels::simd {

struct Avx512 {
  using Scalar = float;
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int width = 16;
  static constexpr int registers = 32;
  static constexpr Isa isa = Isa::avx512;

  LANMSFF_LANES_INLINE static Vec zero() { return _mm512_setzero_ps(); }
  LANMSFF_LANES_INLINE static Vec set1(float v) { return _mm512_set1_ps(v); }
  LANMSFF_LANES_INLINE static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  LANMSFF_LANES_INLINE static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  LANMSFF_LANES_INLINE static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  LANMSFF_LANES_INLINE static Mask mask(int n) { return n >= 16 ? Mask(0xFFFF) : Mask((1u << n) - 1); }
  LANMSFF_LANES_INLINE static Vec load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  LANMSFF_LANES_INLINE static void store(float* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }

  LANMSFF_LANES_INLINE static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  LANMSFF_LANES_INLINE static Vec sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
  LANMSFF_LANES_INLINE static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  LANMSFF_LANES_INLINE static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }  // a * b + c
  LANMSFF_LANES_INLINE static Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }             // a > b ? a : b
  LANMSFF_LANES_INLINE static Vec positive_or_zero(Vec y, Vec g) {                              // y > 0 ? g : 0
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), g);
  }
  LANMSFF_LANES_INLINE static Vec select_equal(Vec a, Vec b, Vec if_equal, Vec otherwise) {     // a == b ? if_equal : otherwise
    return _mm512_mask_mov_ps(otherwise, _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ), if_equal);
  }
  LANMSFF_LANES_INLINE static float reduce_add(Vec v) { return _mm512_reduce_add_ps(v); }

  // Element q = the sum of v[q]'s lanes, by a transposing tree of shuffles and adds: 45
  // instructions, where reducing each vector on its own would take 128.
  LANMSFF_LANES_INLINE static Vec lane_sums(const Vec (&v)[16]) {
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

  // A vector that several multiply-adds read: GCC would otherwise fold its load into each of them.
  LANMSFF_LANES_INLINE static void keep_in_register(Vec& v) { __asm__("" : "+v"(v)); }
};

}  // namespace lanmsff::kernels::simd

namespace lanmsff::kernels::isa_avx512 {
// float on this ISA's lanes; other element types on the portable ones.
template <class T>
using Lanes = std::conditional_t<std::is_same_v<T, float>, simd::Avx512, simd::Portable<T>>;
}  // namespace lanmsff::kernels::isa_avx512
