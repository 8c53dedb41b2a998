// Lanes for AArch64's Advanced SIMD (NEON): 4 floats in a q register, 32 registers, fused
// multiply-add. NEON has no masked loads: a partial vector goes through a small zero-padded copy.
// See portable.hpp for what every lanes type provides.
#pragma once

#include <arm_neon.h>

#include <type_traits>

#include "lanmsff/core/isa.hpp"
#include "lanmsff/kernels/simd/portable.hpp"

namespace lanmsff::kernels::simd {

struct Neon {
  using Scalar = float;
  using Vec = float32x4_t;
  using Mask = int;  // the number of leading lanes
  static constexpr int width = 4;
  static constexpr int registers = 32;
  static constexpr Isa isa = Isa::neon;

  LANMSFF_LANES_INLINE static Vec zero() { return vdupq_n_f32(0.0f); }
  LANMSFF_LANES_INLINE static Vec set1(float v) { return vdupq_n_f32(v); }
  LANMSFF_LANES_INLINE static Vec broadcast(const float* p) { return vld1q_dup_f32(p); }
  LANMSFF_LANES_INLINE static Vec load(const float* p) { return vld1q_f32(p); }
  LANMSFF_LANES_INLINE static void store(float* p, Vec v) { vst1q_f32(p, v); }
  LANMSFF_LANES_INLINE static Mask mask(int n) { return n; }
  LANMSFF_LANES_INLINE static Vec load(const float* p, Mask n) {
    if (n >= 4) return vld1q_f32(p);
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; ++i) lanes[i] = p[i];
    return vld1q_f32(lanes);
  }
  LANMSFF_LANES_INLINE static void store(float* p, Vec v, Mask n) {
    if (n >= 4) return vst1q_f32(p, v);
    float lanes[4];
    vst1q_f32(lanes, v);
    for (int i = 0; i < n; ++i) p[i] = lanes[i];
  }

  LANMSFF_LANES_INLINE static Vec add(Vec a, Vec b) { return vaddq_f32(a, b); }
  LANMSFF_LANES_INLINE static Vec sub(Vec a, Vec b) { return vsubq_f32(a, b); }
  LANMSFF_LANES_INLINE static Vec mul(Vec a, Vec b) { return vmulq_f32(a, b); }
  LANMSFF_LANES_INLINE static Vec fma(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }  // a * b + c
  LANMSFF_LANES_INLINE static Vec max(Vec a, Vec b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }  // a > b ? a : b, as on x86
  LANMSFF_LANES_INLINE static Vec positive_or_zero(Vec y, Vec g) {
    return vreinterpretq_f32_u32(vandq_u32(vcgtq_f32(y, vdupq_n_f32(0.0f)), vreinterpretq_u32_f32(g)));
  }
  LANMSFF_LANES_INLINE static Vec select_equal(Vec a, Vec b, Vec if_equal, Vec otherwise) { return vbslq_f32(vceqq_f32(a, b), if_equal, otherwise); }
  LANMSFF_LANES_INLINE static float reduce_add(Vec v) { return vaddvq_f32(v); }
  LANMSFF_LANES_INLINE static Vec lane_sums(const Vec (&v)[4]) { return vpaddq_f32(vpaddq_f32(v[0], v[1]), vpaddq_f32(v[2], v[3])); }
  LANMSFF_LANES_INLINE static void keep_in_register(Vec& v) { __asm__("" : "+w"(v)); }
};

}  // namespace lanmsff::kernels::simd

namespace lanmsff::kernels::isa_neon {
// float on this ISA's lanes; other element types on the portable ones.
template <class T>
using Lanes = std::conditional_t<std::is_same_v<T, float>, simd::Neon, simd::Portable<T>>;
}  // namespace lanmsff::kernels::isa_neon
