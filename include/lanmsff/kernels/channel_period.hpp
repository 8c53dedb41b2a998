// Per-channel arithmetic on NHWC data on whole SIMD vectors whatever the channel count.
//
// Flattened, an NHWC tensor is periodic in the channel: value i belongs to channel i % C. A run of
// `rows` = lanes / gcd(C, lanes) pixels holds a whole number of vectors (its `size` = lcm(C, lanes)
// values, lanes = 64 bytes' worth: 16 floats), so per-channel parameters expanded once into a
// period-long pattern apply to the data period by period with full vectors and no per-pixel tail.
// Row by row, LANMSFF's 66 channels would leave a 2-value tail (scalar code) in every pixel.
#pragma once

#include <cstddef>
#include <numeric>

#include <Eigen/Core>

#include "lanmsff/core/parallel.hpp"

namespace lanmsff::kernels {

template <class T>
struct ChannelPeriod {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using Map = Eigen::Map<Array>;
  using ConstMap = Eigen::Map<const Array>;
  static constexpr int lanes = int(64 / sizeof(T));

  int channels, rows;  // channels per pixel; pixels per period
  std::ptrdiff_t size; // values per period: rows * channels, a multiple of lanes

  explicit ChannelPeriod(int C) : channels(C), rows(lanes / std::gcd(C, lanes)), size(std::ptrdiff_t(rows) * C) {}

  // Whole periods in `pixels` pixels (the last pixels % rows pixels are left over).
  std::ptrdiff_t periods(std::ptrdiff_t pixels) const { return pixels / rows; }

  // pattern (size values) = the C per-channel values repeated `rows` times. pattern is resized.
  void expand(const T* values, Array& pattern) const {
    pattern.resize(size);
    for (int r = 0; r < rows; ++r) pattern.segment(std::ptrdiff_t(r) * channels, channels) = ConstMap(values, channels);
  }
  Array expand(const Array& values) const {
    Array pattern;
    expand(values.data(), pattern);
    return pattern;
  }
  // values[c] = the sum of the pattern's `rows` entries for channel c (the adjoint of expand).
  template <class Derived>
  Array fold(const Eigen::ArrayBase<Derived>& pattern) const {
    Array values = pattern.head(channels);
    for (int r = 1; r < rows; ++r) values += pattern.segment(std::ptrdiff_t(r) * channels, channels);
    return values;
  }
  // The values of period p of `data`.
  ConstMap at(const T* data, std::ptrdiff_t p) const { return ConstMap(data + p * size, size); }
  Map at(T* data, std::ptrdiff_t p) const { return Map(data + p * size, size); }
};

// lanes (size values) += the `pixels` pixels at `data`, period by period, and tail (C values) += the
// pixels past the last whole period; fold(lanes) + tail is then their per-channel sum. (A period may
// start at any pixel: lane j always holds channel j % C.)
template <class T>
void add_pixels(const ChannelPeriod<T>& period, const T* data, std::ptrdiff_t pixels,
                typename ChannelPeriod<T>::Array& lanes, typename ChannelPeriod<T>::Array& tail) {
  const std::ptrdiff_t periods = period.periods(pixels);
  for (std::ptrdiff_t p = 0; p < periods; ++p) lanes += period.at(data, p);
  for (std::ptrdiff_t i = periods * period.rows; i < pixels; ++i)
    tail += typename ChannelPeriod<T>::ConstMap(data + i * period.channels, period.channels);
}

// Over `pixels` pixels spread over the threads: on_period(p) for every whole period p, then on_pixel(i)
// for each pixel past the last whole period (i counts pixels from the start).
template <class T, class OnPeriod, class OnPixel>
void parallel_periods(const ChannelPeriod<T>& period, std::ptrdiff_t pixels, OnPeriod&& on_period, OnPixel&& on_pixel) {
  const std::ptrdiff_t periods = period.periods(pixels), first_left = periods * period.rows;
  parallel_for(0, periods + (pixels - first_left), [&](std::ptrdiff_t i) {
    if (i < periods) on_period(i);
    else on_pixel(first_left + (i - periods));
  });
}

}  // namespace lanmsff::kernels
