// The matrix product behind the convolutions (kernels/gemm.hpp) and the convolution kernels built on
// it, in float, against a double-precision reference, on the active instruction set (ctest runs this
// test once per path the CPU has, LANMSFF_ISA=...): the register-blocked micro-kernel's row and column
// tails, depth blocking, strided operands and accumulation.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/conv.hpp"

using namespace lanmsff;
using namespace lanmsff::kernels;

namespace {
std::vector<float> random_values(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  for (auto& x : v) x = float(rng.uniform(-1, 1));
  return v;
}

// C (+)= A * B with A and B stored transposed or not, B packed or (in_place) read where it is, as
// rows ldb = N + 5 apart; checks every element against double sums.
void check_gemm(int M, int K, int N, bool a_transposed, bool b_transposed, bool accumulate, bool in_place = false) {
  CAPTURE(M);
  CAPTURE(K);
  CAPTURE(N);
  CAPTURE(a_transposed);
  CAPTURE(b_transposed);
  CAPTURE(accumulate);
  CAPTURE(in_place);
  const std::ptrdiff_t ldb = in_place ? N + 5 : N;
  // In place, B is exactly as long as its last row's N values: a read past them would be out of bounds
  // (the sanitiser-free check is that the values past N in each row, NaN here, never reach C).
  auto b = random_values(std::size_t(K - 1) * ldb + N, 2);
  if (in_place)
    for (int k = 0; k + 1 < K; ++k)
      for (std::ptrdiff_t j = N; j < ldb; ++j) b[std::size_t(k * ldb + j)] = std::nanf("");
  const auto a = random_values(std::size_t(M) * K, 1);
  const std::ptrdiff_t ldc = N + 3;  // C inside a wider matrix: the columns past N must stay untouched
  auto c = random_values(std::size_t(M) * ldc, 3);
  const auto c0 = c;
  const Strided<float> A = a_transposed ? Strided<float>{a.data(), 1, M} : Strided<float>{a.data(), K, 1};
  const Strided<float> B = in_place       ? Strided<float>{b.data(), ldb, 1}
                           : b_transposed ? Strided<float>{b.data(), 1, K}
                                          : Strided<float>{b.data(), N, 1};
  matmul<float>(M, N, K, A, B, c.data(), ldc, accumulate, in_place);
  double worst = 0;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < ldc; ++j) {
      const std::size_t at = std::size_t(i) * ldc + j;
      if (j >= N) {
        REQUIRE(c[at] == c0[at]);
        continue;
      }
      double sum = accumulate ? double(c0[at]) : 0.0;
      for (int k = 0; k < K; ++k) sum += double(A(i, k)) * double(B(k, j));
      worst = std::max(worst, std::abs(sum - double(c[at])));
    }
  CHECK(worst <= 1e-6 * (K + 1) + 1e-6);
}
}  // namespace

TEST_CASE("gemm matches double sums across tails, depth blocks, strides and accumulation") {
  // Column counts past a multiple of the vector width W by 1..W/2 take the dot-product path when A's
  // rows are contiguous and K >= 32 (with W = 16: 66, 36, 72, 594 = 37 x 16 + 2, ...), by more or with
  // a shallower K the masked panels.
  const int shapes[][3] = {{1, 1, 1},     {7, 13, 5},    {12, 16, 32},  {13, 300, 33}, {25, 600, 66},
                           {24, 257, 16}, {11, 512, 17}, {5, 3, 48},    {37, 40, 100}, {30, 594, 36},
                           {50, 20, 72},  {9, 17, 7},    {26, 31, 594}, {14, 70, 78},  {19, 33, 35},
                           {6, 8, 21},    {50, 40, 72},  {9, 48, 7},    {26, 64, 594}, {5, 9, 66}};
  for (const auto& s : shapes)
    for (int variant = 0; variant < 8; ++variant)
      check_gemm(s[0], s[1], s[2], variant & 1, variant & 2, variant & 4);
}

TEST_CASE("gemm with B read in place (PackedB::view) matches double sums") {
  const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {12, 16, 32}, {13, 300, 33}, {25, 600, 66}, {66, 96, 66},
                           {72, 96, 36}, {11, 512, 17}, {37, 40, 100}, {9, 17, 7}, {84, 257, 42}};
  for (const auto& s : shapes)
    for (int variant = 0; variant < 4; ++variant) check_gemm(s[0], s[1], s[2], variant & 1, false, variant & 2, true);
}

namespace {
template <class T>
std::vector<T> as(const std::vector<float>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// The input gradient by its definition, in double: every output pixel's gradient times each tap's
// weights, added onto the input pixel that tap read. Independent of the kernels' two methods
// (a transposed convolution for stride 1, GEMM + col2im otherwise).
std::vector<double> naive_grad_input(const ConvGeometry& g, int batch, const std::vector<float>& gy,
                                     const std::vector<float>& w) {
  std::vector<double> gx(std::size_t(batch) * g.in_h * g.in_w * g.in_c, 0.0);
  for (int n = 0; n < batch; ++n)
    for (int oy = 0; oy < g.out_h; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox)
        for (int ky = 0; ky < g.k_h; ++ky)
          for (int kx = 0; kx < g.k_w; ++kx) {
            const int iy = oy * g.stride - g.pad_top + ky * g.dilation, ix = ox * g.stride - g.pad_left + kx * g.dilation;
            if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
            for (int ci = 0; ci < g.in_c; ++ci)
              for (int co = 0; co < g.out_c; ++co)
                gx[((std::size_t(n) * g.in_h + iy) * g.in_w + ix) * g.in_c + ci] +=
                    double(gy[((std::size_t(n) * g.out_h + oy) * g.out_w + ox) * g.out_c + co]) *
                    double(w[((std::size_t(ky) * g.k_w + kx) * g.in_c + ci) * g.out_c + co]);
          }
  return gx;
}

// The three convolution kernels in float against the same in double (and the input gradient
// against its definition).
void check_conv(Shape in, int out_c, int k, int stride, int dilation, Padding pad, int batch = 2) {
  const ConvGeometry g = make_conv_geometry(in, out_c, k, stride, dilation, pad);
  const std::string input = to_string(in);
  CAPTURE(input);
  CAPTURE(out_c);
  CAPTURE(k);
  CAPTURE(stride);
  CAPTURE(dilation);
  const std::size_t in_size = std::size_t(batch) * in.size(), out_size = std::size_t(batch) * g.out_h * g.out_w * out_c;
  const std::size_t w_size = std::size_t(g.patch_size()) * out_c;
  const auto x = random_values(in_size, 4), w = random_values(w_size, 5), bias = random_values(std::size_t(out_c), 6);
  const auto gy = random_values(out_size, 7);
  std::vector<float> y(out_size), gx(in_size), gw(w_size, 0.0f), gb(std::size_t(out_c), 0.0f);
  conv2d_forward(g, batch, x.data(), w.data(), bias.data(), y.data());
  conv2d_backward_data(g, batch, gy.data(), w.data(), gx.data());
  conv2d_backward_weights(g, batch, x.data(), gy.data(), gw.data(), gb.data());
  const auto xd = as<double>(x), wd = as<double>(w), bd = as<double>(bias), gyd = as<double>(gy);
  std::vector<double> yd(out_size), gxd(in_size), gwd(w_size, 0.0), gbd(std::size_t(out_c), 0.0);
  conv2d_forward(g, batch, xd.data(), wd.data(), bd.data(), yd.data());
  conv2d_backward_data(g, batch, gyd.data(), wd.data(), gxd.data());
  conv2d_backward_weights(g, batch, xd.data(), gyd.data(), gwd.data(), gbd.data());
  const auto worst = [](const std::vector<float>& f, const std::vector<double>& d) {
    double m = 0;
    for (std::size_t i = 0; i < f.size(); ++i) m = std::max(m, std::abs(double(f[i]) - d[i]));
    return m;
  };
  const double depth = g.patch_size() + 1, pixels = double(batch) * g.out_h * g.out_w;
  CHECK(worst(y, yd) <= 1e-6 * depth);
  CHECK(worst(gx, gxd) <= 1e-6 * depth);
  CHECK(worst(gx, naive_grad_input(g, batch, gy, w)) <= 1e-6 * depth);
  CHECK(worst(gw, gwd) <= 1e-6 * pixels);
  CHECK(worst(gb, gbd) <= 1e-6 * pixels);
}
}  // namespace

TEST_CASE("convolution kernels in float agree with double") {
  check_conv({9, 10, 66}, 66, 3, 1, 1, same);   // LANMSFF's widest: 66 = 32 + 32 + 2 output channels
  check_conv({8, 7, 33}, 36, 3, 1, 2, same);    // dilated
  check_conv({11, 9, 5}, 20, 3, 2, 1, same);    // strided, few channels
  check_conv({6, 6, 40}, 17, 1, 1, 1, valid);   // pointwise
  check_conv({10, 12, 3}, 8, 7, 2, 1, pad(3));  // MA-Net's stem shape
  check_conv({5, 5, 300}, 40, 3, 1, 1, same);   // depth 2,700: several depth blocks
  // Stride 1 input gradients as a transposed convolution: even kernel with TensorFlow's uneven
  // 'same' padding, valid, explicit padding within and beyond the kernel's reach (the latter by col2im).
  check_conv({6, 7, 4}, 5, 4, 1, 1, same);
  check_conv({6, 7, 4}, 5, 4, 1, 2, same);
  check_conv({7, 6, 5}, 3, 3, 1, 1, valid);
  check_conv({7, 6, 5}, 3, 3, 1, 1, pad(2));
  check_conv({7, 6, 5}, 3, 3, 1, 1, pad(3));
  // Small whole-sample tiles: several samples per GEMM (forward, input gradient) and runs of tiles
  // per weight-gradient GEMM.
  check_conv({7, 7, 40}, 24, 3, 1, 1, same, 7);
  check_conv({4, 4, 16}, 20, 1, 1, 1, valid, 9);
}
