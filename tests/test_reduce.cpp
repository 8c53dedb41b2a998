// Per-channel reductions over NHWC pixels (kernels/reduce.hpp): BatchNorm's one-read mean and
// variance against two passes in double, on data whose mean dwarfs its spread (where E[x^2] - E[x]^2
// in float would lose every digit), across block, period and thread-share boundaries (channel counts
// whose periods span 1, 8 and 16 pixels, and pixels left over past the last whole period);
// BatchNorm's other passes; and reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/batch_norm.hpp"
#include "lanmsff/kernels/reduce.hpp"

using namespace lanmsff;

TEST_CASE("channel_mean_variance matches two passes in double") {
  // 66 channels: periods of 8 pixels, blocks of 7 periods (16 KB); 5: 16 pixels; 16: 1 pixel.
  for (const int C : {66, 5, 16})
  for (const std::ptrdiff_t rows : {1, 2, 7, 8, 9, 61, 62, 63, 125, 1000, 4099}) {
    CAPTURE(C);
    CAPTURE(rows);
    std::vector<float> x(std::size_t(rows) * C);
    Rng rng{std::uint64_t(rows)};
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(1000.0 + (i % C) + rng.uniform(-1, 1) * (1 + i % 3));
    std::vector<float> mean(C), variance(C);
    kernels::channel_mean_variance<float>(rows, C, x.data(), mean.data(), variance.data());
    for (int c = 0; c < C; ++c) {
      double m = 0, v = 0;
      for (std::ptrdiff_t r = 0; r < rows; ++r) m += x[std::size_t(r) * C + c];
      m /= double(rows);
      for (std::ptrdiff_t r = 0; r < rows; ++r) v += std::pow(x[std::size_t(r) * C + c] - m, 2);
      v /= double(rows);
      CHECK(mean[c] == doctest::Approx(m).epsilon(1e-6));
      CHECK(double(variance[c]) == doctest::Approx(v).epsilon(2e-3).scale(1e-6));
    }
  }
}

TEST_CASE("channel_mean_variance is reproducible for a thread count and close across counts") {
  const int C = 20;
  const std::ptrdiff_t rows = 3001;
  std::vector<float> x(std::size_t(rows) * C);
  Rng rng(7);
  for (auto& v : x) v = float(rng.uniform(-3, 5));
  std::vector<float> m1(C), v1(C), m2(C), v2(C), m3(C), v3(C);
  kernels::channel_mean_variance<float>(rows, C, x.data(), m1.data(), v1.data());
  kernels::channel_mean_variance<float>(rows, C, x.data(), m2.data(), v2.data());
  CHECK(m1 == m2);
  CHECK(v1 == v2);
  const int threads = max_threads();
  set_num_threads(1);
  kernels::channel_mean_variance<float>(rows, C, x.data(), m3.data(), v3.data());
  set_num_threads(threads);
  for (int c = 0; c < C; ++c) {
    CHECK(m3[c] == doctest::Approx(m1[c]).epsilon(1e-5));
    CHECK(v3[c] == doctest::Approx(v1[c]).epsilon(1e-5));
  }
}

// BatchNorm's passes (kernels/batch_norm.hpp) on the active instruction set, in float, against
// double sums: the per-channel sums of its backward pass (with and without the ReLU mask), its input
// gradient (training and inference) and the affine map (with and without the ReLU), over channel
// counts whose periods span 1 to 16 pixels and pixel counts with and without left-over pixels.
TEST_CASE("BatchNorm kernels match double sums, periods and left-over pixels alike") {
  for (const int C : {66, 5, 16, 1, 36})
    for (const std::ptrdiff_t pixels : {1, 7, 8, 17, 16 * 9 + 5, 1001}) {
      CAPTURE(C);
      CAPTURE(pixels);
      const std::size_t n = std::size_t(pixels) * C;
      std::vector<float> x(n), dy(n), y(n), mean(C), scale(C), shift(C), mean_dy(C), k(C);
      Rng rng{std::uint64_t(pixels * 131 + C)};
      for (auto& v : x) v = float(rng.uniform(-2, 3));
      for (auto& v : dy) v = float(rng.uniform(-1, 1));
      for (auto& v : y) v = float(rng.uniform(-1, 1));  // the ReLU mask: about half positive
      for (int c = 0; c < C; ++c) {
        mean[c] = float(rng.uniform(-1, 1)), scale[c] = float(rng.uniform(0.5, 2)), shift[c] = float(rng.uniform(-1, 1));
        mean_dy[c] = float(rng.uniform(-0.1, 0.1)), k[c] = float(rng.uniform(-0.3, 0.3));
      }
      for (const bool relu : {false, true}) {
        CAPTURE(relu);
        const kernels::BatchNormBackward<float> pass{pixels, C, x.data(), dy.data(), relu ? y.data() : nullptr,
                                                     mean.data(), relu};
        std::vector<float> sum_dy(C, -7.0f), sum_xmu(C, -7.0f);
        kernels::batch_norm_backward_sums(pass, sum_dy.data(), sum_xmu.data());
        const auto g = [&](std::size_t e) { return relu && !(y[e] > 0) ? 0.0 : double(dy[e]); };
        for (int c = 0; c < C; ++c) {
          double s = 0, sx = 0, mag = 0;
          for (std::ptrdiff_t i = 0; i < pixels; ++i) {
            const std::size_t e = std::size_t(i) * C + c;
            s += g(e), sx += g(e) * (double(x[e]) - mean[c]), mag += std::abs(double(x[e])) + 1;
          }
          CHECK(std::abs(sum_dy[c] - s) <= 1e-6 * mag);
          CHECK(std::abs(sum_xmu[c] - sx) <= 1e-6 * mag * 4);
        }
        for (const bool training : {false, true}) {
          CAPTURE(training);
          std::vector<float> dx(n, -7.0f);
          kernels::batch_norm_backward_input(pass, scale.data(), mean_dy.data(), k.data(), training, dx.data());
          for (std::size_t e = 0; e < n; ++e) {
            const int c = int(e % C);
            const double want = training ? scale[c] * (g(e) - mean_dy[c] - (double(x[e]) - mean[c]) * k[c]) : scale[c] * g(e);
            REQUIRE(std::abs(dx[e] - want) <= 1e-5 * (1 + std::abs(want)));
          }
        }
        std::vector<float> out(n, -7.0f);
        kernels::channel_affine(pixels, C, x.data(), out.data(), scale.data(), shift.data(), relu);
        for (std::size_t e = 0; e < n; ++e) {
          const int c = int(e % C);
          double want = double(x[e]) * scale[c] + shift[c];
          if (relu) want = std::max(want, 0.0);
          REQUIRE(std::abs(out[e] - want) <= 1e-6 * (1 + std::abs(want)));
        }
      }
    }
}

TEST_CASE("ChannelPeriod: whole vectors per period; expand and fold are adjoint") {
  // On every instruction set's lanes (width W): rows = W / gcd(C, W) pixels, a whole number of vectors.
  const auto check = [](auto period, int W) {
    CAPTURE(period.channels);
    CHECK(period.rows == W / std::gcd(period.channels, W));
    CHECK(period.size % W == 0);
    std::vector<double> values(std::size_t(period.channels)), pattern(std::size_t(period.size)),
        folded(std::size_t(period.channels), 0.0);
    for (int c = 0; c < period.channels; ++c) values[std::size_t(c)] = c + 1;
    period.expand(values.data(), pattern.data());
    for (std::ptrdiff_t i = 0; i < period.size; ++i) CHECK(pattern[std::size_t(i)] == values[std::size_t(i % period.channels)]);
    period.fold_add(pattern.data(), folded.data());
    for (int c = 0; c < period.channels; ++c) CHECK(folded[std::size_t(c)] == period.rows * values[std::size_t(c)]);
  };
  for (const int C : {66, 36, 64, 1, 6}) {
    check(kernels::isa_baseline::ChannelPeriod<double>(C), kernels::isa_baseline::Lanes<double>::width);
#if LANMSFF_X86_DISPATCH
    // float periods of the AVX-512 and AVX2 lanes (only their sizes: nothing runs on those lanes here)
    CHECK(kernels::isa_avx512::ChannelPeriod<float>(C).rows == 16 / std::gcd(C, 16));
    CHECK(kernels::isa_avx2::ChannelPeriod<float>(C).rows == 8 / std::gcd(C, 8));
#endif
  }
  CHECK(kernels::isa_baseline::ChannelPeriod<float>(66).size % kernels::isa_baseline::Lanes<float>::width == 0);
}
