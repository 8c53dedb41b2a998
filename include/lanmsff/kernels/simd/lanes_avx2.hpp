// Lanes for AVX2 with FMA: 8 floats in a ymm register, 16 registers; partial vectors through
// vmaskmovps. Included by foreach_isa.hpp inside its AVX2 target region only; see portable.hpp for
// what every lanes type provides.
#pragma once

#include <immintrin.h>

#include <type_traits>

#include "lanmsff/core/isa.hpp"
#include "lanmsff/kernels/simd/portable.hpp"

namespace lanmsff::kernels::simd {

struct Avx2 {
  using Scalar = float;
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int width = 8;
  static constexpr int registers = 16;
  static constexpr Isa isa = Isa::avx2;

  LANMSFF_LANES_INLINE static Vec zero() { return _mm256_setzero_ps(); }
  LANMSFF_LANES_INLINE static Vec set1(float v) { return _mm256_set1_ps(v); }
  LANMSFF_LANES_INLINE static Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  LANMSFF_LANES_INLINE static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  LANMSFF_LANES_INLINE static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  LANMSFF_LANES_INLINE static Mask mask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  LANMSFF_LANES_INLINE static Vec load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  LANMSFF_LANES_INLINE static void store(float* p, Vec v, Mask m) { _mm256_maskstore_ps(p, m, v); }

  LANMSFF_LANES_INLINE static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  LANMSFF_LANES_INLINE static Vec sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
  LANMSFF_LANES_INLINE static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  LANMSFF_LANES_INLINE static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }  // a * b + c
  LANMSFF_LANES_INLINE static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }             // a > b ? a : b
  LANMSFF_LANES_INLINE static Vec positive_or_zero(Vec y, Vec g) {                              // y > 0 ? g : 0
    return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), g);
  }
  LANMSFF_LANES_INLINE static Vec select_equal(Vec a, Vec b, Vec if_equal, Vec otherwise) {     // a == b ? if_equal : otherwise
    return _mm256_blendv_ps(otherwise, if_equal, _mm256_cmp_ps(a, b, _CMP_EQ_OQ));
  }
  LANMSFF_LANES_INLINE static float reduce_add(Vec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // Element q = the sum of v[q]'s lanes: three levels of horizontal adds, then the two 128-bit
  // halves added.
  LANMSFF_LANES_INLINE static Vec lane_sums(const Vec (&v)[8]) {
    const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);  // per half: sums of 4 lanes
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
  }

  LANMSFF_LANES_INLINE static void keep_in_register(Vec& v) { __asm__("" : "+x"(v)); }
};

}  // namespace lanmsff::kernels::simd

namespace lanmsff::kernels::isa_avx2 {
// float on this ISA's lanes; other element types on the portable ones.
template <class T>
using Lanes = std::conditional_t<std::is_same_v<T, float>, simd::Avx2, simd::Portable<T>>;
}  // namespace lanmsff::kernels::isa_avx2
