// One path of kernels/int8.hpp, which includes this file once per path, inside that path's target
// region, with LANMSFF_INT8_OPS (4 AVX-512 VNNI, 3 AVX-512BW, 5 AVX-VNNI, 2 AVX2, 1 NEON, 0 baseline) and
// LANMSFF_INT8_NS (the namespace) defined. No include guard, and it includes nothing (a header first
// included inside a target region would be compiled for that ISA only).
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
#error "lanmsff: kernels/int8_body.hpp is part of kernels/int8.hpp; include that instead"
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

// A tile column's output mapping, made ready once for the stores of its rows: on AVX-512 the zero
// point's term, scale, shift and bound in registers (Ops::Map), elsewhere the arguments as they are.
#if LANMSFF_INT8_OPS == 3 || LANMSFF_INT8_OPS == 4
using ColumnMap = Ops::Map;
LANMSFF_INT8_INLINE ColumnMap prepare_column(const std::int32_t* sums, const Int8Output& out, int n) {
  return Ops::prepare(sums, out, n);
}
template <class C>
LANMSFF_INT8_INLINE void store_column(C* p, const Ops::Acc& v, const ColumnMap& k) {
  Ops::store(p, v, k);
}
#else
struct ColumnMap {
  const std::int32_t* sums;
  Int8Output out;
  int n;
};
LANMSFF_INT8_INLINE ColumnMap prepare_column(const std::int32_t* sums, const Int8Output& out, int n) { return {sums, out, n}; }
template <class C>
LANMSFF_INT8_INLINE void store_column(C* p, const Ops::Acc& v, const ColumnMap& k) {
  Ops::store(p, v, k.sums, k.out, k.n);
}
#endif

constexpr int vectors_per_panel = PackedInt8::panel_width / Ops::lanes;
constexpr int max_rows = Ops::rows_for(1);  // the most rows of any blocking

// A tile's register blocking: MR rows by NP panels, which are NV vectors of Ops::lanes columns and, with
// NH = 1 (AVX-512), a last half panel of 8 columns in one Ops::Half.
template <int NP, int NV, int NH>
struct Blocking {
  static constexpr int np = NP, nv = NV, nh = NH, mr = Ops::rows_for(NP);
};

template <class K>
struct Accumulators {
  typename Ops::Acc full[K::mr][K::nv > 0 ? K::nv : 1];
  Half half[K::mr][K::nh > 0 ? K::nh : 1];
};

// acc += one k-quad of the tile's panels (at b) times each row's four bytes (at x[r]).
template <class K>
LANMSFF_INT8_INLINE void multiply_quad(Accumulators<K>& acc, const std::int8_t* b, std::ptrdiff_t panel_stride,
                                       const std::uint8_t* const (&x)[K::mr]) {
  constexpr int V = vectors_per_panel;
  typename Ops::B w[K::nv > 0 ? K::nv : 1];
#pragma GCC unroll 24
  for (int j = 0; j < K::nv; ++j) w[j] = Ops::load_b(b + (j / V) * panel_stride + (j % V) * Ops::lanes * 4);
#if LANMSFF_INT8_HALF
  [[maybe_unused]] typename Ops::HalfB h{};
  if constexpr (K::nh > 0) h = Ops::load_half(b + K::nv * panel_stride);  // one vector a panel: the next panel
#endif
#pragma GCC unroll 12
  for (int r = 0; r < K::mr; ++r) {
    const typename Ops::A a = Ops::broadcast_a(x[r]);
#pragma GCC unroll 24
    for (int j = 0; j < K::nv; ++j) acc.full[r][j] = Ops::dot(acc.full[r][j], a, w[j]);
#if LANMSFF_INT8_HALF
    if constexpr (K::nh > 0) acc.half[r][0] = Ops::dot_half(acc.half[r][0], a, h);
#endif
  }
}

template <class K>
LANMSFF_INT8_INLINE void zero_tile(Accumulators<K>& acc) {
#pragma GCC unroll 12
  for (int r = 0; r < K::mr; ++r) {
#pragma GCC unroll 24
    for (int j = 0; j < K::nv; ++j) acc.full[r][j] = Ops::zero();
#if LANMSFF_INT8_HALF
    if constexpr (K::nh > 0) acc.half[r][0] = Ops::zero_half();
#endif
  }
}

// Stores one vector column of a tile: rows v[0 .. rows) of up to `lanes` columns from `col` (of `cols`,
// from 16 p0), as int32 or through `out` (C float or uint8).
template <int MR, class C>
LANMSFF_INT8_INLINE void store_vectors(const typename Ops::Acc (&v)[MR], int rows, int col, int lanes, const PackedInt8& b, int p0,
                                       int cols, C* c, std::ptrdiff_t ldc, const Int8Output* out) {
  const int n = std::min(lanes, cols - col);
  if (n <= 0) return;
  if constexpr (std::is_same_v<C, std::int32_t>) {
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
      if (r < rows) Ops::store(c + std::ptrdiff_t(r) * ldc + col, v[r], n);
  } else {
    const std::ptrdiff_t first = std::ptrdiff_t(p0) * PackedInt8::panel_width + col;
    const Int8Output column{out->scale + first, out->shift ? out->shift + first : nullptr, out->a_zero, out->relu, out->out_zero};
    const ColumnMap map = prepare_column(b.column_sums.data() + first, column, n);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
      if (r < rows) store_column(c + std::ptrdiff_t(r) * ldc + col, v[r], map);
  }
}

// Stores a tile's `rows` x `cols` sums (columns from 16 p0). Fully unrolled, with the tails as
// conditions: an index known only at run time would keep acc in memory.
template <class K, class C>
LANMSFF_INT8_INLINE void store_tile(const Accumulators<K>& acc, int rows, const PackedInt8& b, int p0, int cols, C* c,
                                    std::ptrdiff_t ldc, const Int8Output* out) {
#pragma GCC unroll 24
  for (int j = 0; j < K::nv; ++j) {
    typename Ops::Acc v[K::mr];
#pragma GCC unroll 12
    for (int r = 0; r < K::mr; ++r) v[r] = acc.full[r][j];
    store_vectors<K::mr>(v, rows, j * Ops::lanes, Ops::lanes, b, p0, cols, c, ldc, out);
  }
#if LANMSFF_INT8_HALF
  if constexpr (K::nh > 0) {
    typename Ops::Acc v[K::mr];
#pragma GCC unroll 12
    for (int r = 0; r < K::mr; ++r) v[r] = Ops::widen(acc.half[r][0]);
    store_vectors<K::mr>(v, rows, K::nv * Ops::lanes, PackedInt8::panel_width / 2, b, p0, cols, c, ldc, out);
  }
#endif
}

// One GEMM tile: `rows` (<= K::mr) rows of A from `a`, K's panels from panel p0, `cols` valid columns from 16 p0.
template <class Kb, class C>
void tile(int rows, int K, const std::uint8_t* a, std::ptrdiff_t lda, const PackedInt8& b, int p0, int cols, C* c,
          std::ptrdiff_t ldc, const Int8Output* out) {
  constexpr int MR = Kb::mr;
  Accumulators<Kb> acc;
  zero_tile<Kb>(acc);
  const std::uint8_t* row[MR];
  for (int r = 0; r < MR; ++r) row[r] = a + std::ptrdiff_t(std::min(r, rows - 1)) * lda;  // a short tile repeats its last row
  const std::int8_t* w = b.panel(p0);
  const std::ptrdiff_t panel_stride = std::ptrdiff_t(b.depth) * PackedInt8::panel_width;
  for (int q = 0; q < K / 4; ++q, w += 4 * PackedInt8::panel_width) {
    multiply_quad<Kb>(acc, w, panel_stride, row);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) row[r] += 4;
  }
  if (const int rest = K % 4) {  // the last bytes of each row, copied out (B's rows past K are zero)
    std::uint8_t last[MR][4] = {};
    const std::uint8_t* x[MR];
    for (int r = 0; r < MR; ++r) {
      std::memcpy(last[r], row[r], std::size_t(rest));
      x[r] = last[r];
    }
    multiply_quad<Kb>(acc, w, panel_stride, x);
  }
  store_tile<Kb>(acc, rows, b, p0, cols, c, ldc, out);
}

// One convolution tile: the rows are output pixels, and row r's patch is `taps` segments of `quads`
// k-quads, segment t at source[t * K::mr + r] (an input pixel's channels, or the zero-point row in the
// padding); or, given `offsets` (every row's window inside the input), at source[r] + offsets[t].
template <class K, class C>
void conv_tile(int rows, int taps, int quads, const std::uint8_t* const* source, const std::ptrdiff_t* offsets,
               const PackedInt8& b, int p0, int cols, C* c, std::ptrdiff_t ldc, const Int8Output* out) {
  constexpr int MR = K::mr;
  Accumulators<K> acc;
  zero_tile<K>(acc);
  const std::int8_t* w = b.panel(p0);
  const std::ptrdiff_t panel_stride = std::ptrdiff_t(b.depth) * PackedInt8::panel_width;
  for (int t = 0; t < taps; ++t) {
    const std::uint8_t* x[MR];
    if (offsets) {
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) x[r] = source[r] + offsets[t];
    } else {
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) x[r] = source[t * MR + r];
    }
    for (int q = 0; q < quads; ++q, w += 4 * PackedInt8::panel_width) {
      multiply_quad<K>(acc, w, panel_stride, x);
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) x[r] += 4;
    }
  }
  store_tile<K>(acc, rows, b, p0, cols, c, ldc, out);
}

// f(std::integral_constant<int, np>) for a run-time 1 <= np <= NP.
template <int NP, class F>
LANMSFF_INT8_INLINE void with_width(int np, F&& f) {
  if constexpr (NP > 1)
    if (np < NP) return with_width<NP - 1>(np, f);
  f(std::integral_constant<int, NP>{});
}

// Calls f(first panel, Blocking<...>{}) for the passes over the panels of B (n columns): all of them at
// once when they fit the register blocking, else np at a time; a pass whose last panel has at most 8
// columns takes it as half a panel.
template <class F>
void for_each_panel_group(int n, F&& f) {
  const int panels = (n + PackedInt8::panel_width - 1) / PackedInt8::panel_width;
  const int step = panels <= Ops::max_np ? panels : Ops::np;
  for (int p = 0; p < panels; p += step) {
    const int np = std::min(step, panels - p), last = n - (p + np - 1) * PackedInt8::panel_width;
    with_width<Ops::max_np>(np, [&](auto width) {
      constexpr int NP = decltype(width)::value, V = vectors_per_panel;
      if (last <= PackedInt8::panel_width / 2) {
        if constexpr (LANMSFF_INT8_HALF) return f(p, Blocking<NP, NP - 1, 1>{});
        else if constexpr (V >= 2) return f(p, Blocking<NP, NP * V - V / 2, 0>{});
      }
      f(p, Blocking<NP, NP * V, 0>{});
    });
  }
}

// Rows per work item: a multiple of every blocking's rows (the tiles of each pass then line up), about
// an eighth of a thread's share.
inline std::ptrdiff_t rows_per_item(std::ptrdiff_t M) {
  constexpr std::ptrdiff_t unit = 120;  // lcm(12, 8, 6, 5, 4, 2)
  return std::clamp<std::ptrdiff_t>(M / (8 * std::ptrdiff_t(max_threads())) / unit, 1, 2) * unit;
}

// C = A * B (C int32) or its mapping `out` (C float or uint8): runs of rows in parallel, each over every
// column, one group of panels at a time (the group's B, depth x 16 x np bytes, stays in cache).
template <class C>
void gemm(int M, const std::uint8_t* a, std::ptrdiff_t lda, const PackedInt8& b, C* c, std::ptrdiff_t ldc,
          const Int8Output* out) {
  if (M <= 0) return;
  const int K = b.k, N = b.n;
  const std::ptrdiff_t per_item = rows_per_item(M);
  parallel_for(0, (M + per_item - 1) / per_item, [&](std::ptrdiff_t item) {
    const std::ptrdiff_t m0 = item * per_item, m1 = std::min<std::ptrdiff_t>(M, m0 + per_item);
    for_each_panel_group(N, [&](int p, auto blocking) {
      using Kb = decltype(blocking);
      const int col = p * PackedInt8::panel_width;
      for (std::ptrdiff_t m = m0; m < m1; m += Kb::mr)
        tile<Kb>(int(std::min<std::ptrdiff_t>(Kb::mr, m1 - m)), K, a + m * lda, lda, b, p, N - col, c + m * ldc + col, ldc, out);
    });
  });
}

// The convolution of an NHWC uint8 batch `in` (geometry g, `batch` samples; a pixel's g.in_c channels
// `in_stride` bytes apart from the next pixel's) with B packed by pack_int8_conv in `layout`: each tile
// gathers its rows' run addresses, then multiplies them as a GEMM tile; no patch matrix is written. A run
// is read in place (an input pixel's channels, or by rows a kernel row's pixels when they are adjacent
// and inside the input), is `zero_row` (wholly in the padding), or, by rows at the left and right
// edges, is copied with the zero point where the window leaves the input. Output pixels are ldc apart.
template <class C>
void conv(const ConvGeometry& g, const Int8ConvLayout& layout, int batch, const std::uint8_t* in, std::ptrdiff_t in_stride,
          const std::uint8_t* zero_row, const PackedInt8& b, C* c, std::ptrdiff_t ldc, const Int8Output* out) {
  const std::ptrdiff_t pixels = std::ptrdiff_t(g.out_h) * g.out_w, M = pixels * batch;
  if (M <= 0) return;
  const int taps = g.k_h * g.k_w, segments = layout.segments, run = layout.quads * 4, N = b.n;
  const std::ptrdiff_t per_item = rows_per_item(M);
  // Each tap's offset from the window's first pixel, for windows wholly inside the input.
  std::ptrdiff_t tap_offset[int8_max_taps];
  for (int ky = 0; ky < g.k_h; ++ky)
    for (int kx = 0; kx < g.k_w; ++kx)
      tap_offset[ky * g.k_w + kx] = (std::ptrdiff_t(ky) * g.in_w + kx) * g.dilation * in_stride;
  const int span_h = (g.k_h - 1) * g.dilation, span_w = (g.k_w - 1) * g.dilation;
  const bool adjacent = in_stride == g.in_c;  // a row's pixels follow one another (not a Split's half)
  // Each run's offset from the window's first pixel where the window is inside the input (and, by rows,
  // a row's pixels are adjacent): a tap's, or a kernel row's. Run 0's is 0.
  std::ptrdiff_t run_offset[int8_max_taps];
  for (int s = 0; s < segments; ++s) run_offset[s] = layout.by_rows ? std::ptrdiff_t(s) * g.in_w * in_stride : tap_offset[s];
  // source[s * MR + r]: where row r's run s reads; or, where every row's window is inside (the answer is
  // true), only source[r], row r's first pixel, and its runs at run_offset. The first row's pixel is
  // found by division, the others by stepping along the output (a division per row cost as much as a
  // 36-channel tile's products). copies: by rows, the runs put together here (MR x k_h runs).
  const auto gather = [&](std::ptrdiff_t m0, int MR, int rows, const std::uint8_t** source, std::uint8_t* copies) {
    std::ptrdiff_t sample = m0 / pixels;
    int oy = int(m0 % pixels / g.out_w), ox = int(m0 % pixels % g.out_w);
    bool all_inside = true;
    for (int r = 0; r < rows; ++r) {
      const std::uint8_t* image = in + sample * std::ptrdiff_t(g.in_h) * g.in_w * in_stride;
      const int iy0 = oy * g.stride - g.pad_top, ix0 = ox * g.stride - g.pad_left;
      const bool inside_x = ix0 >= 0 && ix0 + span_w < g.in_w;
      const bool inside = inside_x && iy0 >= 0 && iy0 + span_h < g.in_h && (adjacent || !layout.by_rows);
      if (all_inside && inside) {
        source[r] = image + (std::ptrdiff_t(iy0) * g.in_w + ix0) * in_stride;
      } else {
        if (all_inside) {  // the rows so far, run by run
          all_inside = false;
          for (int q = 0; q < r; ++q)
            for (int t = 1; t < segments; ++t) source[t * MR + q] = source[q] + run_offset[t];
        }
        if (layout.by_rows) {
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = iy0 + ky;
            if (iy < 0 || iy >= g.in_h) {
              source[ky * MR + r] = zero_row;
              continue;
            }
            const std::uint8_t* row = image + std::ptrdiff_t(iy) * g.in_w * in_stride;
            if (inside_x && adjacent) {
              source[ky * MR + r] = row + std::ptrdiff_t(ix0) * in_stride;
            } else {
              std::uint8_t* copy = copies + (std::ptrdiff_t(r) * g.k_h + ky) * run;
              std::memcpy(copy, zero_row, std::size_t(run));
              for (int kx = 0; kx < g.k_w; ++kx)
                if (ix0 + kx >= 0 && ix0 + kx < g.in_w)
                  std::memcpy(copy + kx * g.in_c, row + std::ptrdiff_t(ix0 + kx) * in_stride, std::size_t(g.in_c));
              source[ky * MR + r] = copy;
            }
          }
        } else if (iy0 >= 0 && inside_x && iy0 + span_h < g.in_h) {
          const std::uint8_t* first = image + (std::ptrdiff_t(iy0) * g.in_w + ix0) * in_stride;
          for (int t = 0; t < taps; ++t) source[t * MR + r] = first + tap_offset[t];
        } else {
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = iy0 + ky * g.dilation;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ix0 + kx * g.dilation;
              const bool in_input = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
              source[(ky * g.k_w + kx) * MR + r] = in_input ? image + (std::ptrdiff_t(iy) * g.in_w + ix) * in_stride : zero_row;
            }
          }
        }
      }
      if (++ox == g.out_w) {
        ox = 0;
        if (++oy == g.out_h) oy = 0, ++sample;
      }
    }
    for (int r = rows; r < MR; ++r)  // a short tile repeats its last row
      for (int s = 0; s < (all_inside ? 1 : segments); ++s) source[s * MR + r] = source[s * MR + rows - 1];
    return all_inside;
  };
  parallel_for(0, (M + per_item - 1) / per_item, [&](std::ptrdiff_t item) {
    const std::uint8_t* source[int8_max_taps * max_rows];
    thread_local std::vector<std::uint8_t> copies;
    if (layout.by_rows) copies.resize(std::size_t(max_rows) * g.k_h * run);
    const std::ptrdiff_t m0 = item * per_item, m1 = std::min(M, m0 + per_item);
    for_each_panel_group(N, [&](int p, auto blocking) {
      using K = decltype(blocking);
      const int col = p * PackedInt8::panel_width;
      for (std::ptrdiff_t m = m0; m < m1; m += K::mr) {
        const int rows = int(std::min<std::ptrdiff_t>(K::mr, m1 - m));
        const bool inside = gather(m, K::mr, rows, source, copies.data());
        conv_tile<K>(rows, segments, layout.quads, source, inside ? run_offset : nullptr, b, p, N - col, c + m * ldc + col, ldc,
                     out);
      }
    });
  });
}

}  // namespace lanmsff::kernels::LANMSFF_INT8_NS

// The per-channel kernels (depthwise convolution, pooling, quantize, dequantize), in the same pass.
#include "lanmsff/kernels/int8_channel_body.hpp"

#undef LANMSFF_INT8_HALF
#undef LANMSFF_INT8_OPS
#undef LANMSFF_INT8_NS
