// The per-channel int8 kernels of one path of kernels/int8.hpp: the depthwise convolution, max pooling,
// the products and reductions of uint8 maps, quantize and dequantize, along the channels on this path's vectors. Part of kernels/int8_body.hpp, which
// includes it at its end, in the same pass (the same target region, LANMSFF_INT8_OPS and
// LANMSFF_INT8_NS, and its Ops); no include guard, and it includes nothing.
#if !defined(LANMSFF_INT8_BODY)
#error "lanmsff: kernels/int8_channel_body.hpp is part of kernels/int8.hpp; include that instead"
#endif

namespace lanmsff::kernels::LANMSFF_INT8_NS {

// The int32 sums a[0 .. channels) through out (without column sums), to float or uint8.
template <class C>
LANMSFF_INT8_INLINE void map_channels(const std::int32_t* a, int channels, const Int8Output& out, C* y) {
  const float* scale = out.scale;
  const float* shift = out.shift;
  const bool relu = out.relu;
  if constexpr (std::is_same_v<C, float>) {
    LANMSFF_INT8_SIMD
    for (int c = 0; c < channels; ++c) {
      const float v = float(a[c]) * scale[c] + (shift ? shift[c] : 0.0f);
      y[c] = relu ? std::max(v, 0.0f) : v;
    }
  } else {
    const float low = relu ? float(out.out_zero) : 0.0f;
    LANMSFF_INT8_SIMD
    for (int c = 0; c < channels; ++c)
      y[c] = std::uint8_t(std::clamp(std::nearbyint(float(a[c]) * scale[c] + (shift ? shift[c] : 0.0f)), low, 255.0f));
  }
}

// Depthwise convolution (in_c == out_c, one k x k filter per channel): y(pixel, c) = the sum over the
// window's taps inside the input of (q - zero) * w(tap, c), mapped by out (out.a_zero is not used: the
// zero point is taken off each input, and taps in the padding add nothing).
#if LANMSFF_INT8_OPS == 4 || LANMSFF_INT8_OPS == 5
// 3x3 at stride 1, dilation D, with VNNI (AVX-512 VNNI: 16 channels a vector; AVX-VNNI: 8): each
// channel's 32-bit lane holds the three taps of one kernel column in its low three bytes (the fourth
// zero), so that one vpdpbusd adds a whole kernel column's products, three per output pixel instead of
// nine 16-bit ones. Per input column of eight output pixels' windows, the quads (its three rows' bytes)
// are gathered once and serve the up to three windows that include it. Rows and columns in the padding
// read the zero point, which the store takes off with the weights' sums, as the products' column sums do.
namespace by_columns {
constexpr int L = Ops::lanes;
#if LANMSFF_INT8_OPS == 4
using V = __m512i;
// n (<= L) bytes at p, each in a 32-bit lane.
LANMSFF_INT8_INLINE V widened(const std::uint8_t* p, int n, bool) { return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(Ops::mask(n), p)); }
// a | b << 8 | c << 16
LANMSFF_INT8_INLINE V quad(V a, V b, V c) {
  return _mm512_ternarylogic_epi32(a, _mm512_slli_epi32(b, 8), _mm512_slli_epi32(c, 16), 0xFE);
}
LANMSFF_INT8_INLINE V dot(V acc, V x, V w) { return _mm512_dpbusd_epi32(acc, x, w); }
LANMSFF_INT8_INLINE V load(const std::int32_t* p) { return _mm512_load_si512(p); }
LANMSFF_INT8_INLINE V set1(int v) { return _mm512_set1_epi32(v); }
#else
using V = __m256i;
// A short last block (n < 8) reads no byte past it (the input's last pixel may end the buffer): the
// eight bytes that end with it, shifted down, where the pixel has channels before the block (b > 0).
LANMSFF_INT8_INLINE V widened(const std::uint8_t* p, int n, bool after_first) {
  std::uint64_t bytes = 0;
  if (n == L) {
    std::memcpy(&bytes, p, L);
  } else if (after_first) {
    std::memcpy(&bytes, p + n - L, L);
    bytes >>= 8 * (L - n);
  } else {
    std::memcpy(&bytes, p, std::size_t(n));
  }
  return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(std::int64_t(bytes)));
}
LANMSFF_INT8_INLINE V quad(V a, V b, V c) {
  return _mm256_or_si256(a, _mm256_or_si256(_mm256_slli_epi32(b, 8), _mm256_slli_epi32(c, 16)));
}
LANMSFF_INT8_INLINE V dot(V acc, V x, V w) { return _mm256_dpbusd_avx_epi32(acc, x, w); }
LANMSFF_INT8_INLINE V load(const std::int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
LANMSFF_INT8_INLINE V set1(int v) { return _mm256_set1_epi32(v); }
#endif

// quads: [block][kx][L lanes], sums: the channels' weight sums (depthwise_by_columns() lays both out).
template <int D, class C>
void run(const ConvGeometry& g, int batch, const std::uint8_t* in, int zero, const std::int32_t* quads, const std::int32_t* sums,
         C* y, const Int8Output& out) {
  constexpr int P = 8, columns = P + 2 * D;
  const int channels = g.in_c, blocks = (channels + L - 1) / L;
  const std::ptrdiff_t row_bytes = std::ptrdiff_t(g.in_w) * channels;
  const std::vector<std::uint8_t> zero_row(static_cast<std::size_t>(row_bytes), std::uint8_t(zero));
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
    const std::ptrdiff_t sample = row / g.out_h;
    const int oy = int(row % g.out_h);
    const std::uint8_t* image = in + sample * std::ptrdiff_t(g.in_h) * row_bytes;
    const std::uint8_t* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = oy - g.pad_top + ky * D;
      rows[ky] = iy >= 0 && iy < g.in_h ? image + iy * row_bytes : zero_row.data();
    }
    C* dst = y + row * std::ptrdiff_t(g.out_w) * channels;
    const V padding = set1(zero * 0x010101);  // a column in the padding: three zero points
    for (int b = 0; b < blocks; ++b) {
      const int n = std::min(L, channels - L * b);
      const V w0 = load(quads + (std::size_t(b) * 3 + 0) * L), w1 = load(quads + (std::size_t(b) * 3 + 1) * L),
              w2 = load(quads + (std::size_t(b) * 3 + 2) * L);
      const ColumnMap map = prepare_column(
          sums + L * b, Int8Output{out.scale + L * b, out.shift ? out.shift + L * b : nullptr, zero, out.relu, out.out_zero}, n);
      const std::uint8_t* r0 = rows[0] + L * b;
      const std::uint8_t* r1 = rows[1] + L * b;
      const std::uint8_t* r2 = rows[2] + L * b;
      for (int ox0 = 0; ox0 < g.out_w; ox0 += P) {
        const int ix0 = ox0 - g.pad_left;
        V q[columns];
#pragma GCC unroll 12
        for (int j = 0; j < columns; ++j) {
          const int ix = ix0 + j;
          const std::ptrdiff_t at = std::ptrdiff_t(ix) * channels;
          q[j] = ix < 0 || ix >= g.in_w ? padding
                                        : quad(widened(r0 + at, n, b > 0), widened(r1 + at, n, b > 0), widened(r2 + at, n, b > 0));
        }
        const int count = std::min(P, g.out_w - ox0);
#pragma GCC unroll 8
        for (int i = 0; i < P; ++i) {
          if (i >= count) break;
          const V acc = dot(dot(dot(set1(0), q[i], w0), q[i + D], w1), q[i + 2 * D], w2);
          store_column(dst + std::ptrdiff_t(ox0 + i) * channels + L * b, acc, map);
        }
      }
    }
  });
}
}  // namespace by_columns

// Runs the depthwise convolution by kernel columns where it applies (3x3, stride 1, dilation 1 or 2);
// false where it does not.
template <class C>
bool depthwise_by_columns(const ConvGeometry& g, int batch, const std::uint8_t* in, int zero, const std::int8_t* w, C* y,
                          const Int8Output& out) {
  if (g.stride != 1 || g.k_h != 3 || g.k_w != 3 || (g.dilation != 1 && g.dilation != 2)) return false;
  constexpr int L = by_columns::L;
  const int channels = g.in_c, blocks = (channels + L - 1) / L;
  AlignedVector<std::int32_t> quads(std::size_t(blocks) * 3 * L, 0);  // [block][kx][L channels]
  std::vector<std::int32_t> sums(std::size_t(blocks) * L, 0);
  for (int c = 0; c < channels; ++c)
    for (int kx = 0; kx < 3; ++kx) {
      std::int32_t& lane = quads[(std::size_t(c / L) * 3 + std::size_t(kx)) * L + std::size_t(c % L)];
      for (int ky = 0; ky < 3; ++ky) {
        const std::int8_t v = w[std::ptrdiff_t(ky * 3 + kx) * channels + c];
        lane |= std::int32_t(std::uint8_t(v)) << (8 * ky);
        sums[std::size_t(c)] += v;
      }
    }
  if (g.dilation == 1) by_columns::run<1>(g, batch, in, zero, quads.data(), sums.data(), y, out);
  else by_columns::run<2>(g, batch, in, zero, quads.data(), sums.data(), y, out);
  return true;
}
#endif

#if LANMSFF_INT8_OPS == 3 || LANMSFF_INT8_OPS == 4
// acc + x * w per 32-bit lane, for x and w in the low 16 bits of their lanes (the high ones zero): as
// 16-bit pairs, x_lo w_lo + 0 * 0. One vpdpwssd with VNNI; vpmaddwd and an add without (vpmulld, the
// plain 32-bit multiply, takes two micro-operations and ten cycles on Intel's cores).
LANMSFF_INT8_INLINE __m512i multiply_add(__m512i acc, __m512i x, __m512i w) {
#if LANMSFF_INT8_OPS == 4
  return _mm512_dpwssd_epi32(acc, x, w);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(x, w));
#endif
}

// 3x3 at stride 1, dilation D (LANMSFF's depthwise convolutions): eight output pixels of a row at a time.
// Per kernel row, the 8 + 2D input pixels the eight windows read are widened once, with the zero point
// taken off (so taps in the padding are simply left out), and each serves up to three of the eight sums:
// a third of the widening loads of one window at a time. wide: the weights as depthwise() lays them out.
template <int D, class C>
void depthwise_3x3(const ConvGeometry& g, int batch, const std::uint8_t* in, int zero, const std::int32_t* wide, C* y,
                   const Int8Output& out) {
  constexpr int P = 8, columns = P + 2 * D;
  const int channels = g.in_c, blocks = (channels + 15) / 16;
  const std::vector<std::int32_t> no_sums(std::size_t(blocks) * 16, 0);  // the zero point is off already
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
    const std::ptrdiff_t sample = row / g.out_h;
    const int oy = int(row % g.out_h);
    const std::uint8_t* image = in + sample * std::ptrdiff_t(g.in_h) * g.in_w * channels;
    C* dst = y + row * std::ptrdiff_t(g.out_w) * channels;
    const __m512i z = _mm512_set1_epi32(zero);
    for (int b = 0; b < blocks; ++b) {
      const int n = std::min(16, channels - 16 * b);
      const __mmask16 m = Ops::mask(n);
      const std::int32_t* wb = wide + std::size_t(b) * 9 * 16;
      const Int8Output block_out{out.scale + 16 * b, out.shift ? out.shift + 16 * b : nullptr, 0, out.relu, out.out_zero};
      for (int ox0 = 0; ox0 < g.out_w; ox0 += P) {
        __m512i acc[P];
#pragma GCC unroll 8
        for (int i = 0; i < P; ++i) acc[i] = _mm512_setzero_si512();
        for (int ky = 0; ky < 3; ++ky) {
          const int iy = oy - g.pad_top + ky * D;
          if (iy < 0 || iy >= g.in_h) continue;
          const std::uint8_t* src = image + std::ptrdiff_t(iy) * g.in_w * channels + 16 * b;
          const int ix0 = ox0 - g.pad_left;
          __m512i x[columns];
#pragma GCC unroll 12
          for (int j = 0; j < columns; ++j) {
            const int ix = ix0 + j;
            x[j] = ix >= 0 && ix < g.in_w
                       ? _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src + std::ptrdiff_t(ix) * channels)), z)
                       : _mm512_setzero_si512();
          }
#pragma GCC unroll 3
          for (int kx = 0; kx < 3; ++kx) {
            const __m512i w = _mm512_load_si512(wb + 16 * (ky * 3 + kx));
#pragma GCC unroll 8
            for (int i = 0; i < P; ++i) acc[i] = multiply_add(acc[i], x[i + kx * D], w);
          }
        }
        const int count = std::min(P, g.out_w - ox0);
        for (int i = 0; i < count; ++i)
          Ops::store(dst + std::ptrdiff_t(ox0 + i) * channels + 16 * b, acc[i], no_sums.data() + 16 * b, block_out, n);
      }
    }
  });
}

// AVX-512 (with VNNI, 3x3 at stride 1 goes by kernel columns, above): a row of output pixels at a time;
// per block of 16 channels, the k x k weights (16-bit, in 32-bit lanes) stay in registers while the
// block runs along the row, each tap one widening load and one multiply-add (exact in int32). Taps in
// the padding read a row of zero points, and the zero point comes off once at the end as zero * (the
// sum of the channel's weights), as the product's column sums do.
template <class C>
void depthwise(const ConvGeometry& g, int batch, const std::uint8_t* in, int zero, const std::int8_t* w, C* y,
               const Int8Output& out) {
#if LANMSFF_INT8_OPS == 4
  if (depthwise_by_columns(g, batch, in, zero, w, y, out)) return;
#endif
  const int channels = g.in_c, taps = g.k_h * g.k_w, blocks = (channels + 15) / 16;
  AlignedVector<std::int32_t> wide(std::size_t(blocks) * taps * 16, 0);  // [block][tap][16 channels]
  std::vector<std::int32_t> sums(std::size_t(blocks) * 16, 0);
  for (int t = 0; t < taps; ++t)
    for (int c = 0; c < channels; ++c) {
      const std::int8_t v = w[std::ptrdiff_t(t) * channels + c];
      // The weight in the low 16 bits of its lane, the high ones zero: see multiply_add.
      wide[(std::size_t(c / 16) * taps + std::size_t(t)) * 16 + std::size_t(c % 16)] = std::int32_t(std::uint16_t(v));
      sums[std::size_t(c)] += v;
    }
  if (g.stride == 1 && g.k_h == 3 && g.k_w == 3 && (g.dilation == 1 || g.dilation == 2)) {
    if (g.dilation == 1) depthwise_3x3<1>(g, batch, in, zero, wide.data(), y, out);
    else depthwise_3x3<2>(g, batch, in, zero, wide.data(), y, out);
    return;
  }
  const std::vector<std::uint8_t> zero_row(std::size_t(blocks) * 16, std::uint8_t(zero));
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
    const std::ptrdiff_t sample = row / g.out_h;
    const int oy = int(row % g.out_h);
    const std::uint8_t* image = in + sample * std::ptrdiff_t(g.in_h) * g.in_w * channels;
    thread_local std::vector<const std::uint8_t*> source;  // [pixel][tap]
    source.resize(std::size_t(g.out_w) * taps);
    for (int ox = 0; ox < g.out_w; ++ox)
      for (int ky = 0; ky < g.k_h; ++ky) {
        const int iy = oy * g.stride - g.pad_top + ky * g.dilation;
        for (int kx = 0; kx < g.k_w; ++kx) {
          const int ix = ox * g.stride - g.pad_left + kx * g.dilation;
          const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
          source[std::size_t(ox) * taps + std::size_t(ky * g.k_w + kx)] =
              inside ? image + (std::ptrdiff_t(iy) * g.in_w + ix) * channels : zero_row.data();
        }
      }
    C* dst = y + row * std::ptrdiff_t(g.out_w) * channels;
    for (int b = 0; b < blocks; ++b) {
      const int n = std::min(16, channels - 16 * b);
      const __mmask16 m = Ops::mask(n);  // the last block's loads stop at the pixel's last channel
      const std::int32_t* wb = wide.data() + std::size_t(b) * taps * 16;
      const Int8Output block_out{out.scale + 16 * b, out.shift ? out.shift + 16 * b : nullptr, zero, out.relu, out.out_zero};
      // Four pixels at a time: four independent sums keep the multiplier busy.
      int ox = 0;
      for (; ox + 4 <= g.out_w; ox += 4) {
        const std::uint8_t* const* src = source.data() + std::size_t(ox) * taps;
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
        for (int t = 0; t < taps; ++t) {
          const __m512i wt = _mm512_load_si512(wb + 16 * t);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i)
            acc[i] = multiply_add(acc[i], _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src[i * taps + t] + 16 * b)), wt);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i)
          Ops::store(dst + std::ptrdiff_t(ox + i) * channels + 16 * b, acc[i], sums.data() + 16 * b, block_out, n);
      }
      for (; ox < g.out_w; ++ox) {
        const std::uint8_t* const* src = source.data() + std::size_t(ox) * taps;
        __m512i acc = _mm512_setzero_si512();
        for (int t = 0; t < taps; ++t)
          acc = multiply_add(acc, _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src[t] + 16 * b)), _mm512_load_si512(wb + 16 * t));
        Ops::store(dst + std::ptrdiff_t(ox) * channels + 16 * b, acc, sums.data() + 16 * b, block_out, n);
      }
    }
  });
}
#else
// Along the channels, tap by tap, on this path's vectors (through the compiler); with AVX-VNNI, 3x3 at
// stride 1 by kernel columns.
template <class C>
void depthwise(const ConvGeometry& g, int batch, const std::uint8_t* in, int zero, const std::int8_t* w, C* y,
               const Int8Output& out) {
#if LANMSFF_INT8_OPS == 5
  if (depthwise_by_columns(g, batch, in, zero, w, y, out)) return;
#endif
  const int channels = g.in_c;
  parallel_for(0, std::ptrdiff_t(batch) * g.out_h, [&](std::ptrdiff_t row) {
    const std::ptrdiff_t sample = row / g.out_h;
    const int oy = int(row % g.out_h);
    const std::uint8_t* image = in + sample * std::ptrdiff_t(g.in_h) * g.in_w * channels;
    thread_local std::vector<std::int32_t> acc;
    acc.resize(static_cast<std::size_t>(channels));
    for (int ox = 0; ox < g.out_w; ++ox) {
      std::fill(acc.begin(), acc.end(), 0);
      std::int32_t* a = acc.data();
      for_each_valid_tap(g, oy, ox, [&](int tap, std::size_t offset) {
        const std::uint8_t* q = image + offset;
        const std::int8_t* f = w + std::ptrdiff_t(tap) * channels;
        LANMSFF_INT8_SIMD
        for (int c = 0; c < channels; ++c) a[c] += (std::int32_t(q[c]) - zero) * std::int32_t(f[c]);
      });
      map_channels(a, channels, out, y + ((sample * g.out_h + oy) * std::ptrdiff_t(g.out_w) + ox) * channels);
    }
  });
}
#endif

// Max pooling of uint8 maps, `size` x `size` windows at stride `size` (the input's last rows and columns
// past a whole window dropped). Quantisation is monotonic, so this is the float pooling's result exactly.
inline void max_pool(int batch, Shape in_shape, int size, const std::uint8_t* in, std::uint8_t* out) {
  const int out_h = in_shape.h / size, out_w = in_shape.w / size, channels = in_shape.c;
  parallel_for(0, std::ptrdiff_t(batch) * out_h, [&](std::ptrdiff_t row) {
    const std::ptrdiff_t sample = row / out_h;
    const int oy = int(row % out_h);
    const std::ptrdiff_t in_row = std::ptrdiff_t(in_shape.w) * channels;
    for (int ox = 0; ox < out_w; ++ox) {
      std::uint8_t* __restrict o = out + (row * out_w + ox) * channels;
      const std::uint8_t* first = in + ((sample * in_shape.h + std::ptrdiff_t(oy) * size) * in_shape.w + std::ptrdiff_t(ox) * size) * channels;
      if (size == 2) {  // LANMSFF's: the window's four pixels in one pass
        const std::uint8_t* __restrict a = first;
        const std::uint8_t* __restrict b = first + channels;
        const std::uint8_t* __restrict c = first + in_row;
        const std::uint8_t* __restrict d = first + in_row + channels;
        LANMSFF_INT8_SIMD
        for (int k = 0; k < channels; ++k) o[k] = std::max(std::max(a[k], b[k]), std::max(c[k], d[k]));
        continue;
      }
      std::memcpy(o, first, std::size_t(channels));
      for (int dy = 0; dy < size; ++dy)
        for (int dx = 0; dx < size; ++dx) {
          const std::uint8_t* p = first + std::ptrdiff_t(dy) * in_row + std::ptrdiff_t(dx) * channels;
          LANMSFF_INT8_SIMD
          for (int c = 0; c < channels; ++c) o[c] = std::max(o[c], p[c]);
        }
    }
  });
}

// y(p, c) = (q(p, c) - zero) * m(sample, c) * f[p] over `batch` samples of `pixels` pixels of `channels`
// (m: batch x channels; f: one per pixel of the batch, or null for 1), to float, or to uint8 quantised as
// quantize() does (inverse, out_zero). A product by per-channel and per-pixel factors (MassAtt's).
template <class Y>
void scale_channels(const std::uint8_t* q, int batch, std::size_t pixels, int channels, int zero, const float* m, const float* f,
                    Y* y, float inverse, int out_zero) {
  constexpr int chunk = 64;
  parallel_rows(std::size_t(batch) * pixels, std::size_t(channels), [&](std::size_t begin, std::size_t n) {
    alignas(64) float v[chunk];
    const std::size_t sample = begin / pixels;
    std::size_t next = (sample + 1) * pixels;  // the first pixel of the next sample
    const float* mp = m + sample * std::size_t(channels);
    for (std::size_t p = begin; p < begin + n; ++p) {
      if (p == next) next += pixels, mp += channels;
      const float fp = f ? f[p] : 1.0f;
      const std::uint8_t* x = q + p * std::size_t(channels);
      for (int c0 = 0; c0 < channels; c0 += chunk) {
        const int k = std::min(chunk, channels - c0);
        Y* o = y + p * std::size_t(channels) + std::size_t(c0);
        float* out = v;
        if constexpr (std::is_same_v<Y, float>) out = o;
        LANMSFF_INT8_SIMD
        for (int c = 0; c < k; ++c) out[c] = float(int(x[c0 + c]) - zero) * (mp[c0 + c] * fp);
        if constexpr (std::is_same_v<Y, std::uint8_t>) {
          int c = 0;
          for (; c + Ops::lanes <= k; c += Ops::lanes) Ops::quantize(v + c, inverse, out_zero, o + c, Ops::lanes);
          if (c < k) Ops::quantize(v + c, inverse, out_zero, o + c, k - c);
        }
      }
    }
  });
}

// sums[p] = the sum of pixel p's `channels` values, for `pixels` pixels. Eight bytes at a time in a 64-bit
// word, as four 16-bit sums of byte pairs (a vectorised reduction over a few dozen channels spends more on
// folding its lanes than on adding); the 16-bit sums are folded every 128 words, before they could overflow.
inline void channel_sums(const std::uint8_t* q, std::size_t pixels, int channels, std::int32_t* sums) {
  constexpr std::uint64_t bytes = 0x00FF00FF00FF00FFull;
  parallel_rows(pixels, std::size_t(channels), [&](std::size_t begin, std::size_t n) {
    for (std::size_t p = begin; p < begin + n; ++p) {
      const std::uint8_t* x = q + p * std::size_t(channels);
      std::int32_t sum = 0;
      int c = 0;
      while (c + 8 <= channels) {
        std::uint64_t pairs = 0;
        for (int words = 0; words < 128 && c + 8 <= channels; ++words, c += 8) {
          std::uint64_t v;
          std::memcpy(&v, x + c, 8);
          pairs += (v & bytes) + ((v >> 8) & bytes);
        }
        pairs = (pairs & 0x0000FFFF0000FFFFull) + ((pairs >> 16) & 0x0000FFFF0000FFFFull);
        sum += std::int32_t((pairs & 0xFFFFFFFFull) + (pairs >> 32));
      }
      for (; c < channels; ++c) sum += x[c];
      sums[p] = sum;
    }
  });
}

// max + median of three values: their sum less the smallest.
LANMSFF_INT8_INLINE int max_plus_median(int a, int b, int c) { return a + b + c - std::min(a, std::min(b, c)); }

// PWFS's selection of three uint8 maps of one quantisation, `channels` each, for `pixels` pixels (map i's
// pixel p at in[i] + p * stride[i]): y = (max + median - 2 zero) * half (both commute with the
// quantisation's increasing map).
inline void select_max_median(const std::uint8_t* const* in, const std::size_t* stride, std::size_t pixels, int channels, int zero,
                              float half, float* y) {
  parallel_rows(pixels, std::size_t(channels), [&](std::size_t begin, std::size_t n) {
    const float h = half;
    const int zero2 = 2 * zero;
    for (std::size_t p = begin; p < begin + n; ++p) {
      const std::uint8_t* __restrict a = in[0] + p * stride[0];
      const std::uint8_t* __restrict b = in[1] + p * stride[1];
      const std::uint8_t* __restrict c = in[2] + p * stride[2];
      float* __restrict out = y + p * std::size_t(channels);
      LANMSFF_INT8_SIMD16
      for (int k = 0; k < channels; ++k) out[k] = float(max_plus_median(a[k], b[k], c[k]) - zero2) * h;
    }
  });
}

// The same selection averaged over each sample's `pixels` pixels (PWFS's pooled features) into y (batch x
// channels): summed in integers per channel, never written as a map.
inline void select_max_median_mean(const std::uint8_t* const* in, const std::size_t* stride, int batch, std::size_t pixels,
                                   int channels, int zero, float half, float* y) {
  parallel_for(0, batch, [&](std::ptrdiff_t n) {
    thread_local std::vector<std::int32_t> acc;
    acc.assign(std::size_t(channels), 0);
    std::int32_t* __restrict sum = acc.data();
    for (std::size_t p = std::size_t(n) * pixels; p < std::size_t(n + 1) * pixels; ++p) {
      const std::uint8_t* __restrict a = in[0] + p * stride[0];
      const std::uint8_t* __restrict b = in[1] + p * stride[1];
      const std::uint8_t* __restrict c = in[2] + p * stride[2];
      LANMSFF_INT8_SIMD16
      for (int k = 0; k < channels; ++k) sum[k] += max_plus_median(a[k], b[k], c[k]);
    }
    for (int k = 0; k < channels; ++k)
      y[std::size_t(n) * std::size_t(channels) + std::size_t(k)] =
          float(double(std::int64_t(sum[k]) - 2 * std::int64_t(zero) * std::int64_t(pixels)) * double(half) / double(pixels));
  });
}

// Per sample and channel, the sum (or, max, the largest) of its `pixels` values: acc (batch x channels).
inline void pixel_reduce(const std::uint8_t* q, int batch, std::size_t pixels, int channels, bool max, std::int32_t* acc) {
  parallel_for(0, batch, [&](std::ptrdiff_t b) {
    std::int32_t* a = acc + std::size_t(b) * std::size_t(channels);
    std::fill(a, a + channels, 0);
    const std::uint8_t* x = q + std::size_t(b) * pixels * std::size_t(channels);
    for (std::size_t p = 0; p < pixels; ++p, x += channels) {
      if (max) {
        LANMSFF_INT8_SIMD16
        for (int c = 0; c < channels; ++c) a[c] = std::max<std::int32_t>(a[c], x[c]);
      } else {
        LANMSFF_INT8_SIMD16
        for (int c = 0; c < channels; ++c) a[c] += x[c];
      }
    }
  });
}

// q = clamp(round(x * inverse) + zero, 0, 255), a vector of Ops::lanes values at a time.
inline void quantize(const float* x, std::size_t count, float inverse, int zero, std::uint8_t* q) {
  parallel_chunks(count, [&](std::size_t begin, std::size_t n) {
    std::size_t i = begin;
    for (; i + Ops::lanes <= begin + n; i += Ops::lanes) Ops::quantize(x + i, inverse, zero, q + i, Ops::lanes);
    if (i < begin + n) Ops::quantize(x + i, inverse, zero, q + i, int(begin + n - i));
  });
}

// x = (q - zero) * scale.
inline void dequantize(const std::uint8_t* q, std::size_t count, float scale, int zero, float* x) {
  parallel_chunks(count, [&](std::size_t begin, std::size_t n) {
    LANMSFF_INT8_SIMD
    for (std::size_t i = begin; i < begin + n; ++i) x[i] = float(int(q[i]) - zero) * scale;
  });
}

}  // namespace lanmsff::kernels::LANMSFF_INT8_NS
