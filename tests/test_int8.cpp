// The int8 kernels (kernels/int8.hpp) on the active path (ctest runs this test once per path
// the CPU has; on AVX-512 and AVX2 both with and without VNNI where the CPU has it): exact int32 sums against a scalar reference for
// tails in every direction (rows past the register block, columns past a panel, K not a multiple of 4),
// the extreme bytes (255 x -128 would saturate vpmaddubsw's 16-bit sums), strided rows, and the float
// mapping with the input's zero point, scales, shifts and ReLU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/int8.hpp"

using namespace lanmsff;
using namespace lanmsff::kernels;

namespace {

struct Case {
  int M, N, K;
};

// A (M x K, rows lda = K + 3 apart, the last row exactly K bytes long) and B (K x N): random bytes, or
// every A byte 255 and every B byte -128.
struct Operands {
  std::ptrdiff_t lda;
  std::vector<std::uint8_t> a;
  std::vector<std::int8_t> b;
};

Operands operands(const Case& s, bool extreme, std::uint64_t seed) {
  Operands o{s.K + 3, {}, {}};
  o.a.assign(std::size_t(s.M - 1) * std::size_t(o.lda) + std::size_t(s.K), 7);
  o.b.resize(std::size_t(s.K) * std::size_t(s.N));
  Rng rng(seed);
  for (auto& v : o.a) v = extreme ? 255 : std::uint8_t(rng.below(256));
  for (auto& v : o.b) v = extreme ? std::int8_t(-128) : std::int8_t(int(rng.below(256)) - 128);
  return o;
}

// n values drawn uniformly from [lo, hi), in order.
std::vector<float> uniform(std::size_t n, Rng& rng, double lo, double hi) {
  std::vector<float> v(n);
  for (auto& x : v) x = float(rng.uniform(lo, hi));
  return v;
}

// The sum of B's column n (what the zero point multiplies).
std::int64_t column_sum(const Case& s, const Operands& o, int n) {
  std::int64_t sum = 0;
  for (int k = 0; k < s.K; ++k) sum += o.b[std::size_t(k * s.N + n)];
  return sum;
}

std::int64_t reference(const Case& s, const Operands& o, int m, int n) {
  std::int64_t sum = 0;
  for (int k = 0; k < s.K; ++k) sum += std::int64_t(o.a[std::size_t(m * o.lda + k)]) * o.b[std::size_t(k * s.N + n)];
  return sum;
}

const Case cases[] = {{1, 1, 1},   {7, 16, 4},  {5, 17, 3},   {13, 66, 594}, {25, 130, 37},
                      {6, 64, 8},  {100, 36, 331}, {3, 80, 9}, {49, 512, 64}, {12, 48, 2},
                      {7, 96, 13}, {250, 20, 10}, {37, 112, 6},
                      // half a last panel (at most 8 columns) and its bounds: 8 and 9 columns, in a second pass
                      {11, 24, 19}, {8, 41, 23},  {9, 104, 12}, {14, 8, 30}};

void check_int32(bool extreme) {
  for (const Case& s : cases) {
    CAPTURE(s.M);
    CAPTURE(s.N);
    CAPTURE(s.K);
    CAPTURE(extreme);
    const Operands o = operands(s, extreme, std::uint64_t(s.M * 1000 + s.N * 10 + s.K));
    const PackedInt8 b = pack_int8(s.K, s.N, o.b.data(), s.N);
    const std::ptrdiff_t ldc = s.N + 5;  // the columns past N must stay untouched
    std::vector<std::int32_t> c(std::size_t(s.M) * std::size_t(ldc), -7);
    int8_gemm(s.M, s.N, s.K, o.a.data(), o.lda, b, c.data(), ldc);
    int wrong = 0, untouched = 0;
    for (int m = 0; m < s.M; ++m) {
      for (int n = 0; n < s.N; ++n) wrong += c[std::size_t(m * ldc + n)] != reference(s, o, m, n);
      for (std::ptrdiff_t n = s.N; n < ldc; ++n) untouched += c[std::size_t(m * ldc + n)] == -7;
    }
    CHECK(wrong == 0);
    CHECK(untouched == s.M * 5);
  }
}

}  // namespace

TEST_CASE("int8_gemm: the path follows the float kernels' choice") {
  const Int8Kernel k = int8_kernel();
  MESSAGE("int8 kernel: " << int8_kernel_name(k));
  switch (active_isa()) {
    case Isa::avx512: CHECK((k == (cpu_has_avx512_vnni() ? Int8Kernel::avx512_vnni : Int8Kernel::avx512))); break;
    case Isa::avx2: CHECK((k == (cpu_has_avx_vnni() ? Int8Kernel::avx2_vnni : Int8Kernel::avx2))); break;
    case Isa::neon: CHECK(k == Int8Kernel::neon); break;
    case Isa::baseline: CHECK(k == Int8Kernel::baseline); break;
  }
  set_int8_vnni(false);
  CHECK(int8_kernel() != Int8Kernel::avx512_vnni);
  CHECK(int8_kernel() != Int8Kernel::avx2_vnni);
  set_int8_vnni(true);
}

TEST_CASE("pack_int8: panels of 16 columns, k in quads, zero padding, column sums") {
  const int K = 5, N = 18;
  std::vector<std::int8_t> b(K * N);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) b[std::size_t(k * N + n)] = std::int8_t(k * 20 + n - 50);
  const PackedInt8 p = pack_int8(K, N, b.data(), N);
  REQUIRE(p.depth == 8);
  REQUIRE(p.panels() == 2);
  REQUIRE(p.data.size() == 2u * 8u * 16u);
  CHECK(p.data[(0 * 8 + 4) * 16 + 4 * 3 + 0] == b[4 * N + 3]);    // B(4, 3)
  CHECK(p.data[(1 * 8 + 0) * 16 + 4 * 1 + 2] == b[2 * N + 17]);   // B(2, 17)
  CHECK(p.data[(0 * 8 + 4) * 16 + 4 * 3 + 1] == 0);               // B(5, 3): past K
  CHECK(p.data[(1 * 8 + 0) * 16 + 4 * 2 + 0] == 0);               // B(0, 18): past N
  int sum = 0;
  for (int k = 0; k < K; ++k) sum += b[std::size_t(k * N + 17)];
  CHECK(p.column_sums[17] == sum);
  CHECK(p.column_sums[18] == 0);
  CHECK_THROWS_WITH_AS(pack_int8(0, 3, b.data(), 3), "pack_int8: K and N must be positive, not 0 and 3", std::invalid_argument);
}

TEST_CASE("int8_gemm: exact int32 sums, every tail, strided rows") {
  for (bool vnni : {true, false}) {
    CAPTURE(vnni);
    set_int8_vnni(vnni);
    check_int32(false);
    check_int32(true);  // 255 x -128 everywhere: 16-bit pair sums would saturate
    set_int8_vnni(true);
  }
}

TEST_CASE("int8_gemm: the float mapping (zero point, per-column scale and shift, ReLU)") {
  const Case s{19, 40, 75};
  const Operands o = operands(s, false, 11);
  const PackedInt8 b = pack_int8(s.K, s.N, o.b.data(), s.N);
  Rng rng(5);
  const std::vector<float> scale = uniform(std::size_t(s.N), rng, 1e-5, 1e-3), shift = uniform(std::size_t(s.N), rng, -2, 2);
  for (bool vnni : {true, false})
    for (bool relu : {false, true})
      for (int zero : {0, 128, 255}) {
        CAPTURE(vnni);
        CAPTURE(relu);
        CAPTURE(zero);
        set_int8_vnni(vnni);
        const std::ptrdiff_t ldy = s.N + 2;
        std::vector<float> y(std::size_t(s.M) * std::size_t(ldy), 42.0f);
        int8_gemm(s.M, s.N, s.K, o.a.data(), o.lda, b, y.data(), ldy, Int8Output{scale.data(), shift.data(), zero, relu});
        double worst = 0;
        int negative = 0, untouched = 0;
        for (int m = 0; m < s.M; ++m) {
          for (int n = 0; n < s.N; ++n) {
            double want = double(reference(s, o, m, n) - zero * column_sum(s, o, n)) * scale[n] + shift[n];
            if (relu) want = std::max(want, 0.0);
            const double got = y[std::size_t(m * ldy + n)];
            worst = std::max(worst, std::abs(got - want) / (1 + std::abs(want)));
            negative += got < 0;
          }
          untouched += y[std::size_t(m * ldy + s.N)] == 42.0f && y[std::size_t(m * ldy + s.N + 1)] == 42.0f;
        }
        CHECK(worst < 1e-6);
        CHECK(untouched == s.M);
        if (relu) CHECK(negative == 0);
        else CHECK(negative > 0);  // the test's values do reach both signs
        set_int8_vnni(true);
      }
  // Without shifts: zeros.
  std::vector<float> y(std::size_t(s.M) * s.N);
  int8_gemm(s.M, s.N, s.K, o.a.data(), o.lda, b, y.data(), s.N, Int8Output{scale.data(), nullptr, 0, false});
  CHECK(y[0] == doctest::Approx(double(reference(s, o, 0, 0)) * scale[0]).epsilon(1e-6));
}

TEST_CASE("int8_gemm: a uint8 output, requantised (rounded to nearest even, clamped, ReLU at its zero point)") {
  const Case s{23, 70, 50};
  const Operands o = operands(s, false, 13);
  const PackedInt8 b = pack_int8(s.K, s.N, o.b.data(), s.N);
  Rng rng(6);
  const std::vector<float> scale = uniform(std::size_t(s.N), rng, 1e-5, 1e-4), shift = uniform(std::size_t(s.N), rng, -1, 1);
  const float out_scale = 0.01f;
  for (bool vnni : {true, false})
    for (bool relu : {false, true})
      for (int out_zero : {0, 100}) {
        CAPTURE(vnni);
        CAPTURE(relu);
        CAPTURE(out_zero);
        set_int8_vnni(vnni);
        const Requantization rq = requantize(s.N, scale.data(), shift.data(), out_scale, out_zero);
        const std::ptrdiff_t ldy = s.N + 1;
        std::vector<std::uint8_t> y(std::size_t(s.M) * std::size_t(ldy), 77);
        int8_gemm(s.M, s.N, s.K, o.a.data(), o.lda, b, y.data(), ldy, rq.output(128, relu));
        int off_by_one = 0, wrong = 0, clamped_low = 0, clamped_high = 0, untouched = 0;
        for (int m = 0; m < s.M; ++m) {
          for (int n = 0; n < s.N; ++n) {
            const double real = double(reference(s, o, m, n) - 128 * column_sum(s, o, n)) * scale[n] + shift[n];
            const double low = relu ? out_zero : 0;
            const double want = std::clamp(std::nearbyint(real / out_scale + out_zero), low, 255.0);
            const int got = y[std::size_t(m * ldy + n)];
            off_by_one += std::abs(got - want) == 1;  // a float rounding at a .5 boundary
            wrong += std::abs(got - want) > 1;
            clamped_low += want == low;
            clamped_high += want == 255;
          }
          untouched += y[std::size_t(m * ldy + s.N)] == 77;
        }
        CHECK(wrong == 0);
        CHECK(off_by_one <= s.M * s.N / 100);
        CHECK(clamped_low > 0);  // the values reach both ends
        CHECK(clamped_high > 0);
        CHECK(untouched == s.M);
        set_int8_vnni(true);
      }
  CHECK_THROWS_WITH_AS(requantize(1, scale.data(), nullptr, 0.0f, 0),
                       "requantize: the output scale must be positive and its zero point within 0..255", std::invalid_argument);
}

TEST_CASE("int8_gemm: operands that do not match the packed B are refused") {
  std::vector<std::int8_t> w(12, 1);
  const PackedInt8 b = pack_int8(4, 3, w.data(), 3);
  std::vector<std::uint8_t> a(8, 1);
  std::vector<std::int32_t> c(6);
  CHECK_THROWS_WITH_AS(int8_gemm(2, 3, 5, a.data(), 5, b, c.data(), 3),
                       "int8_gemm: A is 2 x 5 and C has 3 columns, but B was packed as 4 x 3", std::invalid_argument);
  CHECK_THROWS_WITH_AS(int8_gemm(2, 3, 4, a.data(), 3, b, c.data(), 3), "int8_gemm: a row stride is shorter than its row",
                       std::invalid_argument);
  std::vector<float> y(6);
  CHECK_THROWS_WITH_AS(int8_gemm(2, 3, 4, a.data(), 4, b, y.data(), 3, Int8Output{}),
                       "int8_gemm: the output needs its scales", std::invalid_argument);
  int8_gemm(0, 3, 4, a.data(), 4, b, c.data(), 3);  // no rows: nothing to do
}

namespace {

// int8_conv against the same sums formed directly: (q - zero) * w over the window, the padding counting
// as the zero point (a float 0 quantises to it), mapped to float.
// extra: the input holds that many channels more, before and after the convolution's (it reads a
// channel range, as a Split's half does).
void check_conv(Shape in_shape, int out_c, int k, int stride, int dilation, Padding padding, int batch, int zero,
                int extra = 0) {
  const ConvGeometry g = make_conv_geometry(in_shape, out_c, k, stride, dilation, padding);
  const int first = extra / 2, held = in_shape.c + extra;
  CAPTURE(in_shape.h);
  CAPTURE(in_shape.c);
  CAPTURE(out_c);
  CAPTURE(k);
  CAPTURE(stride);
  CAPTURE(dilation);
  CAPTURE(batch);
  CAPTURE(zero);
  CAPTURE(extra);
  CAPTURE(int8_conv_layout(g).by_rows);
  Rng rng(std::uint64_t(in_shape.c * 100 + k * 10 + stride));
  QuantizedBatch in;
  in.resize(batch, {in_shape.h, in_shape.w, held});
  in.scale = 0.02f, in.zero = zero;
  for (std::size_t i = 0; i < in.size(); ++i) in.values()[i] = std::uint8_t(rng.below(256));
  std::vector<std::int8_t> w(std::size_t(k) * k * in_shape.c * out_c);
  for (auto& v : w) v = std::int8_t(int(rng.below(255)) - 127);
  const std::vector<float> scale = uniform(std::size_t(out_c), rng, 1e-4, 1e-3), shift = uniform(std::size_t(out_c), rng, -1, 1);
  const PackedInt8 packed = pack_int8_conv(g, w.data());
  std::vector<float> y(std::size_t(batch) * g.output_shape().size(), 1e9f);
  int8_conv(g, in, packed, y.data(), Int8Output{scale.data(), shift.data(), 0, false}, first);
  std::vector<std::uint8_t> y8(y.size(), 0);  // and requantised to uint8 (scale 1.5, zero point 100)
  const Requantization requantized = requantize(out_c, scale.data(), shift.data(), 1.5f, 100);
  int8_conv(g, in, packed, y8.data(), requantized.output(0, false), first);
  double worst = 0;
  int wrong_u8 = 0, inside_u8 = 0;
  for (int s = 0; s < batch; ++s)
    for (int oy = 0; oy < g.out_h; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox)
        for (int n = 0; n < out_c; ++n) {
          std::int64_t sum = 0;
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = oy * stride - g.pad_top + ky * dilation, ix = ox * stride - g.pad_left + kx * dilation;
              const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
              for (int c = 0; c < g.in_c; ++c) {
                const int q = inside ? in.values()[((std::size_t(s) * g.in_h + iy) * g.in_w + ix) * held + first + c] : zero;
                sum += std::int64_t(q - zero) * w[((std::size_t(ky) * k + kx) * g.in_c + c) * out_c + n];
              }
            }
          const double want = double(sum) * scale[n] + shift[n];
          const std::size_t at = ((std::size_t(s) * g.out_h + oy) * g.out_w + ox) * out_c + n;
          worst = std::max(worst, std::abs(y[at] - want) / (1 + std::abs(want)));
          const double want_u8 = std::clamp(std::nearbyint(want / 1.5 + 100), 0.0, 255.0);
          inside_u8 += want_u8 > 0 && want_u8 < 255;
          wrong_u8 += std::abs(y8[at] - want_u8) > 1;
        }
  CHECK(worst < 1e-6);
  CHECK(wrong_u8 == 0);
  CHECK(inside_u8 >= int(y.size()) / 2);  // most values are not clamped
}

}  // namespace

TEST_CASE("int8_conv: windows read in place, the padding as the zero point") {
  for (bool vnni : {true, false}) {
    CAPTURE(vnni);
    set_int8_vnni(vnni);
    check_conv({16, 16, 66}, 66, 3, 1, 1, same, 2, 37);      // LANMSFF's 66 channels: a partial quad per pixel
    check_conv({12, 12, 1}, 20, 3, 1, 1, same, 3, 0);        // one input channel: read by kernel rows
    check_conv({11, 13, 2}, 70, 3, 2, 1, same, 2, 200);      // two channels by rows, stride 2, 5 panels
    check_conv({9, 10, 1}, 18, 5, 1, 1, valid, 2, 3);        // by rows, no padding
    check_conv({12, 12, 1}, 20, 3, 1, 1, same, 2, 61, 2);    // by rows from a channel range: runs copied
    check_conv({10, 10, 8}, 24, 3, 1, 1, same, 2, 19, 4);    // by taps from a channel range
    check_conv({9, 11, 36}, 36, 3, 1, 2, same, 1, 255);      // dilated
    check_conv({15, 15, 8}, 17, 3, 2, 1, same, 2, 128);      // stride 2, odd sizes
    check_conv({14, 14, 3}, 16, 7, 2, 1, pad(3), 1, 5);      // MA-Net's stem shape, scaled down
    check_conv({8, 8, 72}, 72, 1, 1, 1, valid, 4, 90);       // pointwise
    check_conv({4, 4, 5}, 3, 5, 1, 1, valid, 2, 10);         // 0 x 0 output: nothing to do
    set_int8_vnni(true);
  }
}

TEST_CASE("quantize: round half to even, clamp to 0..255, NaN to 0") {
  const float x[] = {0.0f, 0.25f, 0.75f, -0.25f, 1000.0f, -100.0f, 1.0f, std::nanf("")};
  std::uint8_t q[8];
  quantize(x, 8, 0.5f, 10, q);
  CHECK(q[0] == 10);
  CHECK(q[1] == 10);   // 0.5 rounds to 0
  CHECK(q[2] == 12);   // 1.5 rounds to 2
  CHECK(q[3] == 10);   // -0.5 rounds to -0
  CHECK(q[4] == 255);
  CHECK(q[5] == 0);
  CHECK(q[6] == 12);
  CHECK(q[7] == 0);
  // Every lane and tail of the vector paths, against the definition, with infinities and .5 boundaries.
  std::vector<float> many(101);
  Rng rng(3);
  for (auto& v : many) v = float(rng.uniform(-3, 3));
  many[5] = INFINITY, many[17] = -INFINITY, many[40] = std::nanf(""), many[63] = 1e30f, many[64] = 0.125f, many[99] = -0.375f;
  std::vector<std::uint8_t> got(many.size());
  quantize(many.data(), many.size(), 0.25f, 7, got.data());
  int wrong = 0;
  for (std::size_t i = 0; i < many.size(); ++i) {
    const float v = std::isnan(many[i]) ? -1.0f : std::clamp(std::nearbyint(many[i] / 0.25f) + 7.0f, 0.0f, 255.0f);
    wrong += got[i] != std::uint8_t(std::max(v, 0.0f));
  }
  CHECK(wrong == 0);
  CHECK(got[5] == 255);
  CHECK(got[17] == 0);
  CHECK(got[64] == 7);  // 0.5 to even
  CHECK(got[99] == 5);  // -1.5 to even
  CHECK_THROWS_WITH_AS(quantize(x, 1, 0.0f, 0, q),
                       "quantize: the scale must be positive and the zero point within 0..255, not 0.000000 and 0",
                       std::invalid_argument);
}

TEST_CASE("int8_conv: inputs and kernels of the wrong shape are refused") {
  const ConvGeometry g = make_conv_geometry({8, 8, 6}, 4, 3, 1, 1, same);
  std::vector<std::int8_t> w(3 * 3 * 6 * 4, 1);
  const PackedInt8 packed = pack_int8_conv(g, w.data());
  CHECK(packed.k == 9 * 8);  // by taps: 2 quads per tap
  CHECK(pack_int8_conv(make_conv_geometry({8, 8, 1}, 4, 3, 1, 1, same), w.data()).k == 3 * 4);  // by rows: a quad per row
  QuantizedBatch in;
  in.resize(1, {8, 8, 5});
  std::vector<float> y(8 * 8 * 4), scale(4, 1.0f);
  CHECK_THROWS_WITH_AS(int8_conv(g, in, packed, y.data(), Int8Output{scale.data()}),
                       "int8_conv: the input is 8x8x5, the convolution takes 8x8x6", std::invalid_argument);
  in.resize(1, {8, 8, 6});
  const PackedInt8 gemm_packed = pack_int8(9 * 6, 4, w.data(), 4);
  CHECK_THROWS_WITH_AS(int8_conv(g, in, gemm_packed, y.data(), Int8Output{scale.data()}),
                       "int8_conv: the packed kernel is 54 x 4, this convolution needs 72 x 4 (pack it with pack_int8_conv)",
                       std::invalid_argument);
  const ConvGeometry huge = make_conv_geometry({16, 16, 1}, 1, 9, 1, 1, same);
  CHECK_THROWS_WITH_AS(pack_int8_conv(huge, w.data()), "pack_int8_conv: a 9x9 kernel has more than 64 taps", std::invalid_argument);
}

TEST_CASE("int8_depthwise: per-channel windows, the zero point taken off, the padding adding nothing") {
  struct DwCase {
    Shape in;
    int k, stride, dilation, zero;
  };
  for (bool vnni : {true, false}) {  // AVX-512: a kernel column per vpdpbusd, or 16-bit products
    for (const DwCase& s : {DwCase{{16, 16, 66}, 3, 1, 1, 37}, DwCase{{9, 7, 5}, 3, 2, 1, 0}, DwCase{{12, 12, 33}, 3, 1, 2, 255},
                            DwCase{{6, 6, 16}, 5, 1, 1, 128}, DwCase{{10, 13, 20}, 3, 1, 1, 7}, DwCase{{5, 21, 17}, 3, 1, 2, 90}}) {
      CAPTURE(vnni);
      CAPTURE(s.in.c);
      CAPTURE(s.k);
      CAPTURE(s.stride);
      CAPTURE(s.dilation);
      set_int8_vnni(vnni);
      const ConvGeometry g = make_conv_geometry(s.in, s.in.c, s.k, s.stride, s.dilation, same);
      Rng rng(std::uint64_t(s.in.c + s.k));
      QuantizedBatch in;
      in.resize(2, s.in);
      in.zero = s.zero;
      for (std::size_t i = 0; i < in.size(); ++i) in.values()[i] = std::uint8_t(rng.below(256));
      std::vector<std::int8_t> w(std::size_t(s.k) * s.k * s.in.c);
      for (auto& v : w) v = std::int8_t(int(rng.below(255)) - 127);
      const std::vector<float> scale = uniform(std::size_t(s.in.c), rng, 1e-3, 1e-2),
                               shift = uniform(std::size_t(s.in.c), rng, -1, 1);
      std::vector<float> y(2 * g.output_shape().size());
      std::vector<std::uint8_t> y8(y.size());
      int8_depthwise(g, in, w.data(), y.data(), Int8Output{scale.data(), shift.data(), 0, false});
      const Requantization requantized = requantize(s.in.c, scale.data(), shift.data(), 2.0f, 50);
      int8_depthwise(g, in, w.data(), y8.data(), requantized.output(0, true));
      double worst = 0;
      int wrong_u8 = 0, inside_u8 = 0;
      for (int n = 0; n < 2; ++n)
        for (int oy = 0; oy < g.out_h; ++oy)
          for (int ox = 0; ox < g.out_w; ++ox)
            for (int c = 0; c < g.in_c; ++c) {
              std::int64_t sum = 0;
              for (int ky = 0; ky < s.k; ++ky)
                for (int kx = 0; kx < s.k; ++kx) {
                  const int iy = oy * s.stride - g.pad_top + ky * s.dilation, ix = ox * s.stride - g.pad_left + kx * s.dilation;
                  if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
                  sum += std::int64_t(in.values()[((std::size_t(n) * g.in_h + iy) * g.in_w + ix) * g.in_c + c] - s.zero) *
                         w[(std::size_t(ky) * s.k + kx) * g.in_c + c];
                }
              const double want = double(sum) * scale[c] + shift[c];
              const std::size_t at = ((std::size_t(n) * g.out_h + oy) * g.out_w + ox) * g.in_c + c;
              worst = std::max(worst, std::abs(y[at] - want) / (1 + std::abs(want)));
              const double want_u8 = std::clamp(std::nearbyint(want / 2.0 + 50), 50.0, 255.0);  // ReLU: at the zero point
              wrong_u8 += std::abs(y8[at] - want_u8) > 1;
              inside_u8 += want_u8 > 50 && want_u8 < 255;
            }
      CHECK(worst < 1e-6);
      CHECK(wrong_u8 == 0);
      CHECK(inside_u8 > int(y.size()) / 4);
    }
  }
  set_int8_vnni(true);
  const ConvGeometry wrong = make_conv_geometry({8, 8, 4}, 8, 3, 1, 1, same);
  QuantizedBatch in;
  in.resize(1, {8, 8, 4});
  std::vector<float> y(8 * 8 * 8), scale(8, 1.0f);
  std::vector<std::int8_t> w(9 * 8, 1);
  CHECK_THROWS_WITH_AS(int8_depthwise(wrong, in, w.data(), y.data(), Int8Output{scale.data()}),
                       "int8_depthwise: the input is 8x8x4, the convolution takes 8x8x4 with as many output channels",
                       std::invalid_argument);
}

TEST_CASE("int8_max_pool and dequantize: exact on uint8") {
  QuantizedBatch in;
  in.resize(3, {7, 9, 20});
  in.scale = 0.5f, in.zero = 3;
  Rng rng(9);
  for (std::size_t i = 0; i < in.size(); ++i) in.values()[i] = std::uint8_t(rng.below(256));
  QuantizedBatch out;
  for (const int size : {3, 2}) {  // LANMSFF's 2x2 has a pass of its own
    CAPTURE(size);
    int8_max_pool(in, size, out);
    const int out_h = 7 / size, out_w = 9 / size;
    REQUIRE(out.shape == Shape{out_h, out_w, 20});
    CHECK(out.scale == 0.5f);
    CHECK(out.zero == 3);
    int wrong = 0;
    for (int n = 0; n < 3; ++n)
      for (int y = 0; y < out_h; ++y)
        for (int x = 0; x < out_w; ++x)
          for (int c = 0; c < 20; ++c) {
            int best = 0;
            for (int dy = 0; dy < size; ++dy)
              for (int dx = 0; dx < size; ++dx)
                best = std::max<int>(best, in.values()[((std::size_t(n) * 7 + size * y + dy) * 9 + size * x + dx) * 20 + c]);
            wrong += out.values()[((std::size_t(n) * out_h + y) * out_w + x) * 20 + c] != best;
          }
    CHECK(wrong == 0);
  }
  std::vector<float> x(out.size());
  dequantize(out, x.data());
  CHECK(x[0] == (int(out.values()[0]) - 3) * 0.5f);
  CHECK(x[x.size() - 1] == (int(out.values()[x.size() - 1]) - 3) * 0.5f);
  CHECK_THROWS_WITH_AS(int8_max_pool(in, 8, out), "int8_max_pool: a 8x8 window on 7x9x20", std::invalid_argument);
}

TEST_CASE("the uint8 reductions and products: channel sums, pixel sums and maxima, PWFS's selection, scaling") {
  // Channel counts around the vector widths and the 8-byte words of channel_sums (and past 128 words).
  for (const int C : {1, 7, 8, 22, 66, 72, 1030}) {
    CAPTURE(C);
    QuantizedBatch in;
    in.resize(2, {3, 7, C});  // 21 pixels a sample: runs of pixels cross samples (C = 1030: 15 a run)
    in.scale = 0.25f, in.zero = 7;
    Rng rng{std::uint64_t(C)};
    for (std::size_t i = 0; i < in.size(); ++i) in.values()[i] = i % 5 == 0 ? 255 : std::uint8_t(rng.below(256));
    const std::size_t pixels = 2 * 21;
    std::vector<std::int32_t> sums(pixels);
    int8_channel_sums(in, sums.data());
    int wrong = 0;
    for (std::size_t p = 0; p < pixels; ++p) {
      std::int32_t expected = 0;
      for (int c = 0; c < C; ++c) expected += in.values()[p * std::size_t(C) + std::size_t(c)];
      wrong += sums[p] != expected;
    }
    CHECK(wrong == 0);
    for (const bool max : {false, true}) {
      std::vector<std::int32_t> acc(2 * std::size_t(C), -1);
      int8_pixel_reduce(in, max, acc.data());
      wrong = 0;
      for (int n = 0; n < 2; ++n)
        for (int c = 0; c < C; ++c) {
          std::int32_t expected = 0;
          for (int p = 0; p < 21; ++p) {
            const int v = in.values()[(std::size_t(n) * 21 + std::size_t(p)) * std::size_t(C) + std::size_t(c)];
            expected = max ? std::max(expected, v) : expected + v;
          }
          wrong += acc[std::size_t(n) * std::size_t(C) + std::size_t(c)] != expected;
        }
      CHECK(wrong == 0);
    }
    // Per-sample channel factors and per-pixel factors, to float and requantised.
    std::vector<float> m(2 * std::size_t(C)), f(pixels);
    for (auto& v : m) v = float(rng.uniform(-2, 2));
    for (auto& v : f) v = float(rng.uniform(0, 1));
    std::vector<float> y(in.size());
    std::vector<std::uint8_t> q(in.size());
    int8_scale_channels(in, m.data(), f.data(), y.data());
    int8_scale_channels(in, m.data(), f.data(), q.data(), 0.5f, 100);
    double worst = 0;
    wrong = 0;
    for (std::size_t p = 0; p < pixels; ++p)
      for (int c = 0; c < C; ++c) {
        const std::size_t i = p * std::size_t(C) + std::size_t(c);
        const double expected = (in.values()[i] - 7) * 0.25 * m[p / 21 * std::size_t(C) + std::size_t(c)] * f[p];
        worst = std::max(worst, std::abs(y[i] - expected));
        // The same float value, quantised (x 2 is exact): round half to even, clamped.
        wrong += q[i] != std::clamp(std::nearbyint(double(y[i]) * 2) + 100, 0.0, 255.0);
      }
    CHECK(worst < 1e-4);
    CHECK(wrong == 0);
    // PWFS: three channel ranges of one wider map, in place.
    if (C >= 3) {
      const int k = C / 3;
      const std::uint8_t* maps[3] = {in.values(), in.values() + k, in.values() + 2 * k};
      const std::size_t strides[3] = {std::size_t(C), std::size_t(C), std::size_t(C)};
      std::vector<float> selected(pixels * std::size_t(k));
      int8_select_max_median(maps, strides, pixels, k, 0.25f, 7, selected.data());
      worst = 0;
      for (std::size_t p = 0; p < pixels; ++p)
        for (int c = 0; c < k; ++c) {
          int v[3];
          for (int i = 0; i < 3; ++i) v[i] = maps[i][p * std::size_t(C) + std::size_t(c)];
          std::sort(v, v + 3);
          const double expected = ((v[2] - 7) * 0.25 + (v[1] - 7) * 0.25) / 2;
          worst = std::max(worst, std::abs(selected[p * std::size_t(k) + std::size_t(c)] - expected));
        }
      CHECK(worst == 0);
      // Averaged over each sample's 21 pixels (PWFS's pooled features), in integers.
      std::vector<float> mean(2 * std::size_t(k));
      int8_select_max_median_mean(maps, strides, 2, 21, k, 0.25f, 7, mean.data());
      worst = 0;
      for (int n = 0; n < 2; ++n)
        for (int c = 0; c < k; ++c) {
          double sum = 0;
          for (std::size_t p = std::size_t(n) * 21; p < std::size_t(n + 1) * 21; ++p) sum += selected[p * std::size_t(k) + std::size_t(c)];
          worst = std::max(worst, std::abs(mean[std::size_t(n) * std::size_t(k) + std::size_t(c)] - sum / 21) / (1 + std::abs(sum / 21)));
        }
      CHECK(worst < 1e-6);
    }
  }
  QuantizedBatch in;
  in.resize(1, {1, 1, 4});
  const float m[4] = {1, 1, 1, 1};
  std::uint8_t q[4];
  CHECK_THROWS_WITH_AS(int8_scale_channels(in, m, nullptr, q, 0.0f, 0),
                       "int8_scale_channels: the output scale must be positive and its zero point within 0..255", std::invalid_argument);
}

TEST_CASE("int8_conv: a channel range of the input, written into a wider output (a Split half, a Concat in place)") {
  const Shape whole{10, 12, 72};
  const ConvGeometry g = make_conv_geometry({10, 12, 36}, 36, 3, 1, 2, same);
  Rng rng(21);
  QuantizedBatch in, half;
  in.resize(2, whole);
  half.resize(2, g.input_shape());
  in.zero = half.zero = 90;
  for (std::size_t i = 0; i < in.size(); ++i) in.values()[i] = std::uint8_t(rng.below(256));
  for (std::size_t p = 0; p < 2 * whole.pixels(); ++p)  // channels 36 .. 71, copied out
    std::memcpy(half.values() + p * 36, in.values() + p * 72 + 36, 36);
  std::vector<std::int8_t> w(9 * 36 * 36);
  for (auto& v : w) v = std::int8_t(int(rng.below(255)) - 127);
  const PackedInt8 packed = pack_int8_conv(g, w.data());
  std::vector<float> scale(36, 1e-3f), shift(36, 0.5f);
  const Requantization requantized = requantize(36, scale.data(), shift.data(), 0.5f, 20);
  const Int8Output out = requantized.output(0, true);
  std::vector<std::uint8_t> alone(2 * g.output_shape().size()), concat(2 * whole.pixels() * 72, 201);
  int8_conv(g, half, packed, alone.data(), out);
  int8_conv(g, in, packed, concat.data() + 36, out, 36, 72);
  int wrong = 0, untouched = 0;
  for (std::size_t p = 0; p < 2 * whole.pixels(); ++p)
    for (int c = 0; c < 36; ++c) {
      wrong += concat[p * 72 + 36 + std::size_t(c)] != alone[p * 36 + std::size_t(c)];
      untouched += concat[p * 72 + std::size_t(c)] == 201;
    }
  CHECK(wrong == 0);
  CHECK(untouched == int(2 * whole.pixels() * 36));  // the first 36 channels of each pixel are the other branch's
  CHECK_THROWS_WITH_AS(int8_conv(g, in, packed, concat.data(), out, 40, 72),
                       "int8_conv: the input is 10x12x72, the convolution takes 10x12x36 from channel 40", std::invalid_argument);
  CHECK_THROWS_WITH_AS(int8_conv(g, in, packed, concat.data(), out, 36, 30), "int8_conv: output pixels closer than its channels",
                       std::invalid_argument);
}
