// Column reductions over NHWC rows (kernels/reduce.hpp): BatchNorm's one-read mean and variance
// against two passes in double, on data whose mean dwarfs its spread (where E[x^2] - E[x]^2 in float
// would lose every digit), across block and thread-share boundaries; and reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/reduce.hpp"

using namespace lanmsff;

TEST_CASE("channel_mean_variance matches two passes in double") {
  const int C = 66;  // blocks of 16 KB: 62 rows of 66 floats
  for (const std::ptrdiff_t rows : {1, 2, 61, 62, 63, 125, 1000, 4099}) {
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
