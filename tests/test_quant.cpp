// The numbers of int8 quantisation (quant/calibration.hpp): uint8 parameters of a range, the histogram
// observer's growth and its three calibration methods on known distributions, and per-channel weights.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/quant/calibration.hpp"

using namespace lanmsff;
using namespace lanmsff::quant;

TEST_CASE("affine_uint8: the range, widened to hold 0 exactly") {
  const QuantParams p = affine_uint8(-1.0f, 1.0f);
  CHECK(p.scale == doctest::Approx(2.0 / 255));
  CHECK(p.zero == 127);  // 1 / (2 / 255) = 127.49999 in float
  CHECK(p.quantize(0.0f) == 127);
  CHECK(p.quantize(5.0f) == 255);
  CHECK(p.quantize(-5.0f) == 0);
  CHECK(p.dequantize(p.quantize(0.3f)) == doctest::Approx(0.3).epsilon(0.02));
  const QuantParams relu = affine_uint8(0.5f, 6.0f);  // a ReLU output that never reached 0: 0 added
  CHECK(relu.zero == 0);
  CHECK(relu.scale == doctest::Approx(6.0 / 255));
  const QuantParams negative = affine_uint8(-4.0f, -1.0f);
  CHECK(negative.zero == 255);
  const QuantParams point = affine_uint8(0.0f, 0.0f);  // a dead channel: still a valid scale
  CHECK(point.scale > 0);
  CHECK_THROWS_WITH_AS(affine_uint8(1.0f, -1.0f), "affine_uint8: not a finite range: [1.000000, -1.000000]", std::invalid_argument);
  CHECK_THROWS_AS(affine_uint8(0.0f, INFINITY), std::invalid_argument);
}

TEST_CASE("HistogramObserver: the range grows by merging bins; counts, minimum and maximum stay exact") {
  HistogramObserver h;
  std::vector<float> a(1000), b(1000);
  Rng rng(1);
  for (auto& v : a) v = float(rng.uniform(0, 1));
  for (auto& v : b) v = float(rng.uniform(-3, 5));
  b[7] = NAN;  // not counted
  h.observe(a.data(), a.size());
  h.observe(b.data(), b.size());
  const auto& bins = h.histogram();
  CHECK(std::accumulate(bins.begin(), bins.end(), std::uint64_t(0)) == 1999);
  b[7] = 0;
  CHECK(h.min() == *std::min_element(b.begin(), b.end()));
  CHECK(h.max() == *std::max_element(b.begin(), b.end()));
  CHECK(h.min() <= -2.9f);
  CHECK(h.max() >= 4.9f);
  CHECK(h.bin_low(0) <= h.min());
  CHECK(h.bin_low(HistogramObserver::bins) > h.max());
  // The values of a landed in the bins over [0, 1).
  std::uint64_t in_unit = 0;
  for (int i = 0; i < HistogramObserver::bins; ++i)
    if (h.bin_low(i) >= 0 && h.bin_low(i + 1) <= 1.0f) in_unit += bins[std::size_t(i)];
  CHECK(in_unit >= 1000);
  CHECK(in_unit < 1000 + 200);  // b's values there: about 1/8 of 1000, give or take the edge bins
  HistogramObserver empty;
  CHECK_THROWS_WITH_AS(empty.params(), "HistogramObserver: no values observed (calibrate on at least one batch)", std::logic_error);
}

TEST_CASE("HistogramObserver: minmax, percentile and mse on a distribution with an outlier") {
  // 100,000 ReLU-like values in [0, 1) and one at 100.
  std::vector<float> x(100000);
  Rng rng(2);
  for (auto& v : x) v = float(std::max(0.0, rng.normal() * 0.3 + 0.2));
  x[500] = 100.0f;
  HistogramObserver h;
  h.observe(x.data(), x.size());
  const QuantParams all = h.params(Calibration::minmax);
  CHECK(all.zero == 0);
  CHECK(all.scale == doctest::Approx(100.0 / 255));  // the outlier sets the step: most values quantise to 0..4
  const QuantParams p = h.params(Calibration::percentile, 0.999);
  CHECK(p.zero == 0);
  CHECK(p.scale * 255 > 0.9);  // the 99.9th percentile of 0.2 + 0.3 N is about 1.13
  CHECK(p.scale * 255 < 1.4);
  const QuantParams m = h.params(Calibration::mse);  // one value at 100 weighs (100 - range)^2: mse keeps most of it
  CHECK(m.zero == 0);
  // The mean squared error of the values under each: mse's is the smallest of the three.
  const auto error = [&](const QuantParams& q) {
    double sum = 0;
    for (float v : x) sum += std::pow(double(v) - q.dequantize(q.quantize(v)), 2);
    return sum;
  };
  CHECK(error(m) < error(all));
  CHECK(error(m) <= error(p) * 1.05);
  CHECK_THROWS_AS(h.params(Calibration::percentile, 0.3), std::invalid_argument);

  // Exponential tails (100,000 values of Exp(1), the largest about 11.5): mse clips the last few.
  std::vector<float> e(100000);
  for (auto& v : e) v = float(-std::log(1 - rng.uniform()));
  HistogramObserver he;
  he.observe(e.data(), e.size());
  const QuantParams me = he.params(Calibration::mse);
  CHECK(me.scale * 255 < 0.9 * he.max());
  CHECK(me.scale * 255 > 5);
}

TEST_CASE("quantize_per_channel: symmetric int8 per output channel, within half a step") {
  const int rows = 5, channels = 3;
  const std::vector<float> w = {0.5f, -2.0f, 0.0f,  //
                                -0.25f, 1.0f, 0.0f, //
                                0.127f, 0.5f, 0.0f, //
                                0.0f, -0.01f, 0.0f, //
                                -0.5f, 2.0f, 0.0f};
  const ChannelWeights q = quantize_per_channel(w.data(), rows, channels);
  CHECK(q.scales[0] == doctest::Approx(0.5 / 127));
  CHECK(q.scales[1] == doctest::Approx(2.0 / 127));
  CHECK(q.scales[2] == 1.0f);  // an all-zero channel
  CHECK(q.values[0] == 127);
  CHECK(q.values[1] == -127);
  CHECK(q.values[3 * 4] == -127);
  CHECK(q.values[3 * 4 + 1] == 127);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) {
      const std::size_t i = std::size_t(r * channels + c);
      CHECK(std::abs(q.values[i] * q.scales[std::size_t(c)] - w[i]) <= q.scales[std::size_t(c)] / 2 + 1e-7);
    }
  std::vector<float> bad = w;
  bad[4] = NAN;
  CHECK_THROWS_WITH_AS(quantize_per_channel(bad.data(), rows, channels),
                       "quantize_per_channel: output channel 1 has a weight that is not finite", std::invalid_argument);
}
