// The vector operations of one path of kernels/int8.hpp: Ops (below) and, on AVX-512, the half panel's
// Half. Part of kernels/int8_body.hpp, which includes it first, in the same pass (the same target region,
// LANMSFF_INT8_OPS and LANMSFF_INT8_NS); no include guard, and it includes nothing.
//
// Ops, the path's operations on one vector of `lanes` int32 sums (columns):
//   load_b(p)          B's next k-quad for `lanes` columns (4 bytes each, packed by pack_int8)
//   broadcast_a(p)     four bytes of an A row (A(m, k .. k + 3) at p) for every lane
//   dot(acc, a, b)     acc + a's four bytes times each lane's four weights, summed per lane
//   quantize(x, inverse, zero, q, n)   n (<= lanes) floats to uint8, as kernels::quantize
//   store(p, acc, n)   the first n lanes as int32; store(p, acc, sums, out, n) through Int8Output, to
//                      float or (rounded to nearest, ties to even, and clamped) uint8
// and the register blocking: rows_for(np) rows by np panels of 16 columns. A product with at most max_np
// panels takes them all in one pass; a wider one goes np panels at a time.
// A last panel of at most 8 columns is taken as half a panel: fewer vectors where a panel is several
// (AVX2, NEON), and on AVX-512, where it is one, a 256-bit vector (LANMSFF_INT8_HALF; Ops::Half, its
// weights HalfB, load_half, dot_half, widen), which costs half a 512-bit multiply on cores that split
// those in two and no more than one elsewhere (LANMSFF's 66, 72 and 84 filters leave 2, 8 and 4).
#if !defined(LANMSFF_INT8_BODY)
#error "lanmsff: kernels/int8_ops.hpp is part of kernels/int8.hpp; include that instead"
#endif

namespace lanmsff::kernels::LANMSFF_INT8_NS {

// Four bytes at p as one 32-bit integer (a load the broadcast can take from memory).
LANMSFF_INT8_INLINE int quad(const std::uint8_t* p) {
  int q;
  std::memcpy(&q, p, 4);
  return q;
}

#if LANMSFF_INT8_OPS == 3 || LANMSFF_INT8_OPS == 4
struct Ops {
  static constexpr int lanes = 16;
  using Acc = __m512i;
#if LANMSFF_INT8_OPS == 4
  // Up to 6 panels in one pass (LANMSFF's 36 to 84 filters), 20 to 24 accumulators of 32 registers.
  static constexpr int max_np = 6, np = 4;
  static constexpr int rows_for(int panels) {
    constexpr int rows[] = {0, 12, 12, 8, 6, 5, 4};
    return rows[panels];
  }
  using A = __m512i;
  using B = __m512i;
  LANMSFF_INT8_INLINE static B load_b(const std::int8_t* p) { return _mm512_loadu_si512(p); }
  LANMSFF_INT8_INLINE static A broadcast_a(const std::uint8_t* p) { return _mm512_set1_epi32(quad(p)); }
  LANMSFF_INT8_INLINE static Acc dot(Acc acc, const A& a, const B& b) { return _mm512_dpbusd_epi32(acc, a, b); }
  using HalfB = __m256i;
  LANMSFF_INT8_INLINE static HalfB load_half(const std::int8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  LANMSFF_INT8_INLINE static __m256i dot_half(__m256i acc, const A& a, const HalfB& b) {
    return _mm256_dpbusd_epi32(acc, _mm512_castsi512_si256(a), b);
  }
#else
  static constexpr int max_np = 2, np = 2;  // 12 accumulators, 4 widened weights, 2 widened inputs
  static constexpr int rows_for(int) { return 6; }
  // The quad's bytes 0 and 2 (lo) and 1 and 3 (hi) as 16-bit integers in each 32-bit lane.
  struct A {
    __m512i lo, hi;
  };
  struct B {
    __m512i lo, hi;
  };
  LANMSFF_INT8_INLINE static B load_b(const std::int8_t* p) {
    const __m512i v = _mm512_loadu_si512(p);
    return {_mm512_srai_epi16(_mm512_slli_epi16(v, 8), 8), _mm512_srai_epi16(v, 8)};
  }
  LANMSFF_INT8_INLINE static A broadcast_a(const std::uint8_t* p) {
    const __m512i q = _mm512_set1_epi32(quad(p)), bytes = _mm512_set1_epi32(0x00FF00FF);
    return {_mm512_and_si512(q, bytes), _mm512_and_si512(_mm512_srli_epi32(q, 8), bytes)};
  }
  LANMSFF_INT8_INLINE static Acc dot(Acc acc, const A& a, const B& b) {
    return _mm512_add_epi32(_mm512_add_epi32(acc, _mm512_madd_epi16(a.lo, b.lo)), _mm512_madd_epi16(a.hi, b.hi));
  }
  struct HalfB {
    __m256i lo, hi;
  };
  LANMSFF_INT8_INLINE static HalfB load_half(const std::int8_t* p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), _mm256_srai_epi16(v, 8)};
  }
  LANMSFF_INT8_INLINE static __m256i dot_half(__m256i acc, const A& a, const HalfB& b) {
    return _mm256_add_epi32(_mm256_add_epi32(acc, _mm256_madd_epi16(_mm512_castsi512_si256(a.lo), b.lo)),
                            _mm256_madd_epi16(_mm512_castsi512_si256(a.hi), b.hi));
  }
#endif
  using Half = __m256i;  // the sums of 8 columns
  LANMSFF_INT8_INLINE static Half zero_half() { return _mm256_setzero_si256(); }
  LANMSFF_INT8_INLINE static Acc widen(Half v) { return _mm512_zextsi256_si512(v); }
  LANMSFF_INT8_INLINE static Acc zero() { return _mm512_setzero_si512(); }
  LANMSFF_INT8_INLINE static __mmask16 mask(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }
  LANMSFF_INT8_INLINE static void store(std::int32_t* p, Acc v, int n) { _mm512_mask_storeu_epi32(p, mask(n), v); }
  // Int8Output for n <= 16 columns made ready once (the zero point's term, scale, shift, the lower
  // bound), for the stores of every row of a tile's column: store(p, acc, map).
  struct Map {
    __m512i bias, low;
    __m512 scale, shift;
    __mmask16 m;
    bool relu;
  };
  LANMSFF_INT8_INLINE static Map prepare(const std::int32_t* sums, const Int8Output& out, int n) {
    const __mmask16 m = mask(n);
    return {_mm512_mullo_epi32(_mm512_set1_epi32(-out.a_zero), _mm512_maskz_loadu_epi32(m, sums)),
            _mm512_set1_epi32(out.relu ? out.out_zero : 0), _mm512_maskz_loadu_ps(m, out.scale),
            out.shift ? _mm512_maskz_loadu_ps(m, out.shift) : _mm512_setzero_ps(), m, out.relu};
  }
  LANMSFF_INT8_INLINE static __m512 mapped(Acc v, const Map& k) {
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(v, k.bias)), k.scale, k.shift);
  }
  LANMSFF_INT8_INLINE static void store(float* p, Acc v, const Map& k) {
    const __m512 y = mapped(v, k);
    _mm512_mask_storeu_ps(p, k.m, k.relu ? _mm512_max_ps(y, _mm512_setzero_ps()) : y);
  }
  LANMSFF_INT8_INLINE static void store(std::uint8_t* p, Acc v, const Map& k) {
    // Narrowed in a register, then stored: a narrowing store with a mask (vpmovusdb to memory) is slow on some CPUs.
    _mm_mask_storeu_epi8(p, k.m, _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_cvtps_epi32(mapped(v, k)), k.low)));
  }
  template <class C>
  LANMSFF_INT8_INLINE static void store(C* p, Acc v, const std::int32_t* sums, const Int8Output& out, int n) {
    store(p, v, prepare(sums, out, n));
  }
  // q = clamp(round(x * inverse) + zero, 0, 255) for 16 values; NaN gives 0 (max_ps returns its second
  // operand for a NaN first); the float clamp first keeps the conversion in range.
  LANMSFF_INT8_INLINE static void quantize(const float* x, float inverse, int zero, std::uint8_t* q, int n) {
    const __mmask16 m = mask(n);
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x), _mm512_set1_ps(inverse)),
                                                 _mm512_set1_ps(-512.0f)),
                                   _mm512_set1_ps(512.0f));
    const __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(zero));
    _mm_mask_storeu_epi8(q, m, _mm512_cvtusepi32_epi8(_mm512_max_epi32(i, _mm512_setzero_si512())));
  }
};
#elif LANMSFF_INT8_OPS == 2 || LANMSFF_INT8_OPS == 5
struct Ops {
  static constexpr int lanes = 8, max_np = 1, np = 1;
  using Acc = __m256i;
#if LANMSFF_INT8_OPS == 5
  static constexpr int rows_for(int) { return 6; }  // 12 accumulators, 2 weights, 1 input of 16 registers
  using A = __m256i;
  using B = __m256i;
  LANMSFF_INT8_INLINE static B load_b(const std::int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  LANMSFF_INT8_INLINE static A broadcast_a(const std::uint8_t* p) { return _mm256_set1_epi32(quad(p)); }
  LANMSFF_INT8_INLINE static Acc dot(Acc acc, const A& a, const B& b) { return _mm256_dpbusd_avx_epi32(acc, a, b); }
#else
  static constexpr int rows_for(int) { return 4; }  // 8 accumulators of 16 registers
  struct A {
    __m256i lo, hi;
  };
  struct B {
    __m256i lo, hi;
  };
  LANMSFF_INT8_INLINE static B load_b(const std::int8_t* p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), _mm256_srai_epi16(v, 8)};
  }
  LANMSFF_INT8_INLINE static A broadcast_a(const std::uint8_t* p) {
    const __m256i q = _mm256_set1_epi32(quad(p)), bytes = _mm256_set1_epi32(0x00FF00FF);
    return {_mm256_and_si256(q, bytes), _mm256_and_si256(_mm256_srli_epi32(q, 8), bytes)};
  }
  LANMSFF_INT8_INLINE static Acc dot(Acc acc, const A& a, const B& b) {
    return _mm256_add_epi32(_mm256_add_epi32(acc, _mm256_madd_epi16(a.lo, b.lo)), _mm256_madd_epi16(a.hi, b.hi));
  }
#endif
  LANMSFF_INT8_INLINE static Acc zero() { return _mm256_setzero_si256(); }
  LANMSFF_INT8_INLINE static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  LANMSFF_INT8_INLINE static void store(std::int32_t* p, Acc v, int n) {
    if (n >= 8) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
    else _mm256_maskstore_epi32(reinterpret_cast<int*>(p), mask(n), v);
  }
  LANMSFF_INT8_INLINE static void store(float* p, Acc v, const std::int32_t* sums, const Int8Output& out, int n) {
    const __m256i m = mask(n);
    const __m256i t = _mm256_sub_epi32(
        v, _mm256_mullo_epi32(_mm256_set1_epi32(out.a_zero), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums))));
    const __m256 shift = out.shift ? _mm256_maskload_ps(out.shift, m) : _mm256_setzero_ps();
    __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_maskload_ps(out.scale, m), shift);
    if (out.relu) y = _mm256_max_ps(y, _mm256_setzero_ps());
    _mm256_maskstore_ps(p, m, y);
  }
  LANMSFF_INT8_INLINE static void store_bytes(std::uint8_t* p, __m256i q, int n) {  // q: 8 values within 0..255
    const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(q, q), _mm256_setzero_si256());  // per half: its 4 values
    const std::uint64_t eight = std::uint64_t(std::uint32_t(_mm_cvtsi128_si32(_mm256_castsi256_si128(bytes)))) |
                                std::uint64_t(std::uint32_t(_mm_cvtsi128_si32(_mm256_extracti128_si256(bytes, 1)))) << 32;
    std::memcpy(p, &eight, std::size_t(std::min(n, 8)));  // little-endian: value i is byte i
  }
  LANMSFF_INT8_INLINE static void quantize(const float* x, float inverse, int zero, std::uint8_t* q, int n) {
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_maskload_ps(x, mask(n)), _mm256_set1_ps(inverse)),
                                                 _mm256_set1_ps(-512.0f)),
                                   _mm256_set1_ps(512.0f));
    const __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(zero));
    store_bytes(q, _mm256_min_epi32(_mm256_max_epi32(i, _mm256_setzero_si256()), _mm256_set1_epi32(255)), n);
  }
  LANMSFF_INT8_INLINE static void store(std::uint8_t* p, Acc v, const std::int32_t* sums, const Int8Output& out, int n) {
    const __m256i m = mask(n);
    const __m256i t = _mm256_sub_epi32(
        v, _mm256_mullo_epi32(_mm256_set1_epi32(out.a_zero), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums))));
    const __m256 shift = out.shift ? _mm256_maskload_ps(out.shift, m) : _mm256_setzero_ps();
    __m256i q = _mm256_cvtps_epi32(_mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_maskload_ps(out.scale, m), shift));
    store_bytes(p, _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(out.relu ? out.out_zero : 0)), _mm256_set1_epi32(255)), n);
  }
};
#elif LANMSFF_INT8_OPS == 1
struct Ops {
  static constexpr int lanes = 4, max_np = 1, np = 1;  // 16 accumulators, 8 widened weights of 32 registers
  static constexpr int rows_for(int) { return 4; }
  using Acc = int32x4_t;
  using A = int16x8_t;  // the quad twice, widened
  struct B {
    int16x8_t lo, hi;  // columns 0 and 1, 2 and 3: each column's four weights, widened
  };
  LANMSFF_INT8_INLINE static B load_b(const std::int8_t* p) {
    const int8x16_t v = vld1q_s8(p);
    return {vmovl_s8(vget_low_s8(v)), vmovl_s8(vget_high_s8(v))};
  }
  LANMSFF_INT8_INLINE static A broadcast_a(const std::uint8_t* p) {
    return vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_s32(vdup_n_s32(quad(p)))));
  }
  LANMSFF_INT8_INLINE static Acc dot(Acc acc, const A& a, const B& b) {
    const int32x4_t p0 = vmull_s16(vget_low_s16(b.lo), vget_low_s16(a)), p1 = vmull_s16(vget_high_s16(b.lo), vget_high_s16(a));
    const int32x4_t p2 = vmull_s16(vget_low_s16(b.hi), vget_low_s16(a)), p3 = vmull_s16(vget_high_s16(b.hi), vget_high_s16(a));
    return vaddq_s32(acc, vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3)));  // per column: its four products
  }
  LANMSFF_INT8_INLINE static Acc zero() { return vdupq_n_s32(0); }
  LANMSFF_INT8_INLINE static void store(std::int32_t* p, Acc v, int n) {
    if (n >= 4) return vst1q_s32(p, v);
    std::int32_t t[4];
    vst1q_s32(t, v);
    for (int i = 0; i < n; ++i) p[i] = t[i];
  }
  LANMSFF_INT8_INLINE static void store(float* p, Acc v, const std::int32_t* sums, const Int8Output& out, int n) {
    float scale[4] = {}, shift[4] = {}, y[4];
    for (int i = 0; i < n && i < 4; ++i) scale[i] = out.scale[i], shift[i] = out.shift ? out.shift[i] : 0.0f;
    const int32x4_t t = vsubq_s32(v, vmulq_s32(vdupq_n_s32(out.a_zero), vld1q_s32(sums)));
    float32x4_t r = vfmaq_f32(vld1q_f32(shift), vcvtq_f32_s32(t), vld1q_f32(scale));
    if (out.relu) r = vmaxq_f32(r, vdupq_n_f32(0));
    vst1q_f32(y, r);
    for (int i = 0; i < n && i < 4; ++i) p[i] = y[i];
  }
  LANMSFF_INT8_INLINE static void quantize(const float* x, float inverse, int zero, std::uint8_t* q, int n) {
    float in[4] = {};
    for (int i = 0; i < n && i < 4; ++i) in[i] = x[i];
    // vmaxq/vminq give NaN for a NaN operand, and its conversion gives 0: then zero + 0, clamped
    const float32x4_t v = vminq_f32(vmaxq_f32(vmulq_f32(vld1q_f32(in), vdupq_n_f32(inverse)), vdupq_n_f32(-512.0f)),
                                    vdupq_n_f32(512.0f));
    uint32x4_t finite = vceqq_f32(v, v);
    const int32x4_t i = vbslq_s32(finite, vaddq_s32(vcvtnq_s32_f32(v), vdupq_n_s32(zero)), vdupq_n_s32(0));
    std::uint8_t bytes[8];
    vst1_u8(bytes, vqmovn_u16(vcombine_u16(vqmovun_s32(i), vdup_n_u16(0))));
    for (int k = 0; k < n && k < 4; ++k) q[k] = bytes[k];
  }
  LANMSFF_INT8_INLINE static void store(std::uint8_t* p, Acc v, const std::int32_t* sums, const Int8Output& out, int n) {
    float scale[4] = {}, shift[4] = {};
    for (int i = 0; i < n && i < 4; ++i) scale[i] = out.scale[i], shift[i] = out.shift ? out.shift[i] : 0.0f;
    const int32x4_t t = vsubq_s32(v, vmulq_s32(vdupq_n_s32(out.a_zero), vld1q_s32(sums)));
    int32x4_t q = vcvtnq_s32_f32(vfmaq_f32(vld1q_f32(shift), vcvtq_f32_s32(t), vld1q_f32(scale)));  // to nearest, ties to even
    q = vminq_s32(vmaxq_s32(q, vdupq_n_s32(out.relu ? out.out_zero : 0)), vdupq_n_s32(255));
    std::uint8_t bytes[8];
    vst1_u8(bytes, vqmovn_u16(vcombine_u16(vqmovun_s32(q), vdup_n_u16(0))));
    for (int i = 0; i < n && i < 4; ++i) p[i] = bytes[i];
  }
};
#else
struct Ops {
  static constexpr int lanes = 16, max_np = 1, np = 1;
  static constexpr int rows_for(int) { return 2; }
  struct Acc {
    std::int32_t v[16];
  };
  using A = const std::uint8_t*;
  using B = const std::int8_t*;
  LANMSFF_INT8_INLINE static B load_b(const std::int8_t* p) { return p; }
  LANMSFF_INT8_INLINE static A broadcast_a(const std::uint8_t* p) { return p; }
  LANMSFF_INT8_INLINE static Acc dot(Acc acc, A a, B b) {
    const int a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (int c = 0; c < 16; ++c) acc.v[c] += a0 * b[4 * c] + a1 * b[4 * c + 1] + a2 * b[4 * c + 2] + a3 * b[4 * c + 3];
    return acc;
  }
  LANMSFF_INT8_INLINE static Acc zero() { return Acc{}; }
  LANMSFF_INT8_INLINE static void store(std::int32_t* p, const Acc& v, int n) {
    for (int i = 0; i < n && i < 16; ++i) p[i] = v.v[i];
  }
  LANMSFF_INT8_INLINE static void store(float* p, const Acc& v, const std::int32_t* sums, const Int8Output& out, int n) {
    for (int i = 0; i < n && i < 16; ++i) {
      const float y = float(v.v[i] - out.a_zero * sums[i]) * out.scale[i] + (out.shift ? out.shift[i] : 0.0f);
      p[i] = out.relu ? std::max(y, 0.0f) : y;
    }
  }
  LANMSFF_INT8_INLINE static void quantize(const float* x, float inverse, int zero, std::uint8_t* q, int n) {
    for (int i = 0; i < n && i < 16; ++i) {
      const float v = std::nearbyint(std::clamp(x[i] * inverse, -512.0f, 512.0f)) + float(zero);
      q[i] = std::uint8_t(v >= 255.0f ? 255.0f : v >= 0.0f ? v : 0.0f);  // NaN fails both comparisons: 0
    }
  }
  LANMSFF_INT8_INLINE static void store(std::uint8_t* p, const Acc& v, const std::int32_t* sums, const Int8Output& out, int n) {
    for (int i = 0; i < n && i < 16; ++i) {
      const float y = std::nearbyint(float(v.v[i] - out.a_zero * sums[i]) * out.scale[i] + (out.shift ? out.shift[i] : 0.0f));
      p[i] = std::uint8_t(std::clamp(y, float(out.relu ? out.out_zero : 0), 255.0f));
    }
  }
};
#endif

#if LANMSFF_INT8_OPS == 3 || LANMSFF_INT8_OPS == 4
#define LANMSFF_INT8_HALF 1
using Half = Ops::Half;
#else
#define LANMSFF_INT8_HALF 0
struct Half {};  // never used: a half panel is fewer vectors here
#endif

}  // namespace lanmsff::kernels::LANMSFF_INT8_NS
