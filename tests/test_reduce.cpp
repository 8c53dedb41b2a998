// Per-channel reductions over NHWC pixels (kernels/reduce.hpp): BatchNorm's one-read mean and
// variance against two passes in double, on data whose mean dwarfs its spread (where E[x^2] - E[x]^2
// in float would lose every digit), across block, period and thread-share boundaries (channel counts
// whose periods span 1, 8 and 16 pixels, and pixels left over past the last whole period); the
// multi-term channel sums; and reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/random.hpp"
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

TEST_CASE("channel_sums adds every pixel's terms once, periods and left-over pixels alike") {
  for (const int C : {66, 5, 16, 1})
    for (const std::ptrdiff_t pixels : {0, 1, 7, 8, 17, 16 * 9 + 5, 1001}) {
      CAPTURE(C);
      CAPTURE(pixels);
      std::vector<double> x(std::size_t(pixels) * C);
      Rng rng{std::uint64_t(pixels * 131 + C)};
      for (auto& v : x) v = rng.uniform(-2, 3);
      const kernels::ChannelPeriod<double> period(C);
      using Array = Eigen::Array<double, Eigen::Dynamic, 1>;
      std::vector<double> sums(2 * std::size_t(C), -1.0);
      // term 0: x, term 1: x^2
      kernels::channel_sums<double>(
          period, pixels, 2, sums.data(),
          [&](std::ptrdiff_t p, Array& acc) {
            acc.head(period.size) += period.at(x.data(), p);
            acc.tail(period.size) += period.at(x.data(), p).square();
          },
          [&](std::ptrdiff_t i, Array& acc) {
            const kernels::ConstChannelArray<double> v(x.data() + i * C, C);
            acc.head(C) += v;
            acc.tail(C) += v.square();
          });
      for (int c = 0; c < C; ++c) {
        double s = 0, s2 = 0;
        for (std::ptrdiff_t i = 0; i < pixels; ++i) {
          const double v = x[std::size_t(i) * C + c];
          s += v;
          s2 += v * v;
        }
        CHECK(sums[std::size_t(c)] == doctest::Approx(s).epsilon(1e-12));
        CHECK(sums[std::size_t(C + c)] == doctest::Approx(s2).epsilon(1e-12));
      }
    }
}

TEST_CASE("ChannelPeriod: whole vectors per period; expand and fold are adjoint") {
  CHECK(kernels::ChannelPeriod<float>(66).rows == 8);
  CHECK(kernels::ChannelPeriod<float>(66).size == 528);
  CHECK(kernels::ChannelPeriod<float>(36).rows == 4);
  CHECK(kernels::ChannelPeriod<float>(64).rows == 1);
  CHECK(kernels::ChannelPeriod<float>(1).rows == 16);
  CHECK(kernels::ChannelPeriod<double>(66).rows == 4);
  const kernels::ChannelPeriod<double> period(6);  // 4 pixels of 6 channels: 24 values
  Eigen::ArrayXd values(6), pattern;
  values << 1, 2, 3, 4, 5, 6;
  period.expand(values.data(), pattern);
  REQUIRE(pattern.size() == 24);
  for (int i = 0; i < 24; ++i) CHECK(pattern[i] == values[i % 6]);
  const Eigen::ArrayXd folded = period.fold(pattern);
  for (int c = 0; c < 6; ++c) CHECK(folded[c] == 4 * values[c]);
}
