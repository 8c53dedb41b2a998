// The numbers of int8 quantisation: an activation's uint8 parameters (scale, zero point) from the values
// it took on calibration batches, and a layer's weights as int8 with one scale per output channel.
//
// Activations (asymmetric uint8, one scale per tensor): a HistogramObserver sees every calibration batch
// and then gives the range to quantise, by one of three methods:
// - minmax: the whole range seen. Nothing is clipped; one outlier stretches the step for every value.
// - percentile(p): the range between the (1 - p) and p quantiles (both ends; a ReLU output's low end is
//   0). Clips the rare extremes.
// - mse (the default): the range whose expected squared quantisation error over the histogram is
//   smallest: the trade between clipping the tails and the step size (each end scanned over every bin).
// Weights (symmetric int8, one scale per output channel): scale = max |w| / 127, values in -127..127, so
// that -128 never occurs and a weight and its negation quantise alike.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace lanmsff::quant {

// value = (q - zero) * scale, q in 0..255.
struct QuantParams {
  float scale = 1;
  int zero = 0;

  float dequantize(int q) const { return float(q - zero) * scale; }
  int quantize(float x) const {
    const float q = std::nearbyint(x / scale) + float(zero);
    return int(q >= 255.0f ? 255.0f : q >= 0.0f ? q : 0.0f);
  }
};

// The uint8 parameters that cover [lo, hi], widened to contain 0 so that 0 (the padding, a ReLU's floor)
// is exactly representable, as ONNX Runtime and PyTorch require. An empty or one-point range gets a
// small one around it.
inline QuantParams affine_uint8(float lo, float hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
    throw std::invalid_argument("affine_uint8: not a finite range: [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  lo = std::min(lo, 0.0f), hi = std::max(hi, 0.0f);
  if (hi - lo < 1e-8f) hi = lo + 1e-8f;
  QuantParams p;
  p.scale = (hi - lo) / 255.0f;
  p.zero = int(std::clamp(std::nearbyint(-lo / p.scale), 0.0f, 255.0f));
  return p;
}

enum class Calibration { minmax, percentile, mse };

// A histogram of the values an activation took, over a range that doubles (merging pairs of bins) as new
// values fall outside it, so that one pass over the calibration batches suffices.
class HistogramObserver {
 public:
  static constexpr int bins = 2048;

  void observe(const float* x, std::size_t n) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (std::size_t i = 0; i < n; ++i)
      if (std::isfinite(x[i])) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    if (lo > hi) return;  // nothing finite
    if (count_ == 0) {
      const float span = std::max(hi - lo, std::max(std::abs(hi), 1.0f) * 1e-6f);
      origin_ = lo, width_ = span / float(bins) * 1.0001f;
      histogram_.assign(bins, 0);
      min_ = lo, max_ = hi;
    }
    while (lo < origin_) grow(true);
    while (hi >= origin_ + width_ * float(bins)) grow(false);
    min_ = std::min(min_, lo), max_ = std::max(max_, hi);
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(x[i])) continue;
      const int b = std::clamp(int((x[i] - origin_) / width_), 0, bins - 1);
      ++histogram_[std::size_t(b)];
    }
    count_ += n;
  }

  std::uint64_t count() const { return count_; }
  float min() const { return min_; }
  float max() const { return max_; }
  const std::vector<std::uint64_t>& histogram() const { return histogram_; }
  float bin_low(int b) const { return origin_ + width_ * float(b); }

  QuantParams params(Calibration method = Calibration::mse, double percentile = 0.9999) const {
    if (count_ == 0) throw std::logic_error("HistogramObserver: no values observed (calibrate on at least one batch)");
    switch (method) {
      case Calibration::minmax: return affine_uint8(min_, max_);
      case Calibration::percentile: return by_percentile(percentile);
      case Calibration::mse: break;
    }
    return by_mse();
  }

 private:
  // Doubles the range to the left (downwards) or the right, merging pairs of bins.
  void grow(bool downwards) {
    std::vector<std::uint64_t> merged(bins, 0);
    const int offset = downwards ? bins / 2 : 0;
    for (int b = 0; b < bins; ++b) merged[std::size_t(offset + b / 2)] += histogram_[std::size_t(b)];
    if (downwards) origin_ -= width_ * float(bins);
    width_ *= 2;
    histogram_ = std::move(merged);
  }

  QuantParams by_percentile(double p) const {
    if (!(p > 0.5 && p <= 1)) throw std::invalid_argument("HistogramObserver: the percentile must be in (0.5, 1], not " + std::to_string(p));
    const double low_mass = (1 - p) * double(count_), high_mass = p * double(count_);
    double seen = 0;
    int first = 0, last = bins - 1;
    for (int b = 0; b < bins; ++b) {
      if (seen <= low_mass) first = b;
      seen += double(histogram_[std::size_t(b)]);
      if (seen >= high_mass) {
        last = b;
        break;
      }
    }
    return affine_uint8(std::max(min_, bin_low(first)), std::min(max_, bin_low(last + 1)));
  }

  // The expected squared error of quantising the histogram's values to 256 levels over
  // [bin_low(first), bin_low(last + 1)): step^2 / 12 for each value inside (rounding to the nearest level),
  // the squared distance to the nearer end for each value clipped (at its bin's centre).
  double error(int first, int last) const {
    const double lo = bin_low(first), hi = bin_low(last + 1), step = (hi - lo) / 255.0;
    double sum = 0;
    for (int b = 0; b < bins; ++b) {
      const double h = double(histogram_[std::size_t(b)]);
      if (h == 0) continue;
      const double centre = double(bin_low(b)) + 0.5 * width_;
      const double clipped = b < first ? lo - centre : b > last ? centre - hi : 0.0;
      sum += h * (b < first || b > last ? clipped * clipped : step * step / 12.0);
    }
    return sum;
  }

  // Each end in turn, scanned over every bin with the other fixed, twice (the error is smooth in each).
  QuantParams by_mse() const {
    int first = 0, last = bins - 1;
    while (first < bins - 1 && histogram_[std::size_t(first)] == 0) ++first;
    while (last > first && histogram_[std::size_t(last)] == 0) --last;
    const int data_first = first, data_last = last;
    for (int round = 0; round < 2; ++round) {
      double best = error(first, last);
      for (int e = first; e < data_last; ++e)
        if (const double err = error(first, e); err < best) best = err, last = e;
      for (int b = data_first + 1; b <= last; ++b)
        if (const double err = error(b, last); err < best) best = err, first = b;
    }
    return affine_uint8(std::max(min_, bin_low(first)), std::min(max_, bin_low(last + 1)));
  }

  std::vector<std::uint64_t> histogram_;
  float origin_ = 0, width_ = 1, min_ = 0, max_ = 0;
  std::uint64_t count_ = 0;
};

// A weight tensor as int8 with one scale per output channel (the last axis: HWIO kernels, Dense's
// inputs x outputs): w = values * scales[channel].
struct ChannelWeights {
  std::vector<std::int8_t> values;
  std::vector<float> scales;
};

inline ChannelWeights quantize_per_channel(const float* w, std::size_t rows, int channels) {
  if (channels < 1) throw std::invalid_argument("quantize_per_channel: no channels");
  ChannelWeights q{std::vector<std::int8_t>(rows * std::size_t(channels)), std::vector<float>(std::size_t(channels))};
  for (int c = 0; c < channels; ++c) {
    float largest = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const float v = w[r * std::size_t(channels) + std::size_t(c)];
      if (!std::isfinite(v))
        throw std::invalid_argument("quantize_per_channel: output channel " + std::to_string(c) + " has a weight that is not finite");
      largest = std::max(largest, std::abs(v));
    }
    const float scale = largest > 0 ? largest / 127.0f : 1.0f;
    q.scales[std::size_t(c)] = scale;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t i = r * std::size_t(channels) + std::size_t(c);
      q.values[i] = std::int8_t(std::clamp(std::nearbyint(w[i] / scale), -127.0f, 127.0f));
    }
  }
  return q;
}

}  // namespace lanmsff::quant
