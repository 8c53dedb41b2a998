// Per-channel arithmetic on NHWC data on whole SIMD vectors whatever the channel count.
//
// Flattened, an NHWC tensor is periodic in the channel: value i belongs to channel i % C. A run of
// `rows` = width / gcd(C, width) pixels holds a whole number of vectors (its `size` = lcm(C, width)
// values, width = the lanes' vector width), so per-channel parameters expanded once into a
// period-long pattern apply to the data period by period with full vectors and no per-pixel tail.
// Row by row, LANMSFF's 66 channels would leave a 2-value tail (masked or scalar code) in every pixel.
#ifndef LANMSFF_KERNELS_CHANNEL_PERIOD_HPP
#define LANMSFF_KERNELS_CHANNEL_PERIOD_HPP

#include <algorithm>
#include <cstddef>
#include <numeric>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/simd/dispatch.hpp"

#define LANMSFF_ISA_BODY "lanmsff/kernels/channel_period.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

template <class T>
struct ChannelPeriod {
  using L = Lanes<T>;
  static constexpr int width = L::width;

  int channels, rows;   // channels per pixel; pixels per period
  std::ptrdiff_t size;  // values per period: rows * channels, a multiple of the vector width

  explicit ChannelPeriod(int C) : channels(C), rows(width / std::gcd(C, width)), size(std::ptrdiff_t(rows) * C) {}

  // Whole periods in `pixels` pixels (the last pixels % rows pixels are left over).
  std::ptrdiff_t periods(std::ptrdiff_t pixels) const { return pixels / rows; }
  std::ptrdiff_t vectors() const { return size / width; }

  // pattern (size values) = the C per-channel values repeated `rows` times.
  void expand(const T* values, T* pattern) const {
    for (int r = 0; r < rows; ++r) std::copy_n(values, channels, pattern + std::ptrdiff_t(r) * channels);
  }
  // values[c] += the sum of the pattern's `rows` entries for channel c (the adjoint of expand).
  void fold_add(const T* pattern, T* values) const {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < channels; ++c) values[c] += pattern[std::ptrdiff_t(r) * channels + c];
  }
};

// This thread's buffer `which` of at least n values (per-channel patterns and partial sums).
template <class T>
T* period_buffer(int which, std::size_t n) {
  thread_local AlignedVector<T> buffers[4];
  AlignedVector<T>& b = buffers[which];
  if (b.size() < n) b.resize(n);
  return b.data();
}

// Calls f(v, offset) for each vector of the C channels at one pixel: offset = 0, width, ...; v is
// the lanes mask to load and store with (full but for the last, partial, vector).
template <class T, class F>
inline void for_each_channel_vector(int C, F&& f) {
  using L = Lanes<T>;
  const auto full = L::mask(L::width);
  int c = 0;
  for (; c + L::width <= C; c += L::width) f(full, c);
  if (c < C) f(L::mask(C - c), c);
}

// lanes (period.size values) += the `pixels` pixels at `data`, period by period, and tail (C values)
// += the pixels past the last whole period; fold(lanes) + tail is then their per-channel sum. (A
// period may start at any pixel: lane j always holds channel j % C.)
template <class T>
void add_pixels(const ChannelPeriod<T>& period, const T* data, std::ptrdiff_t pixels, T* lanes, T* tail) {
  using L = Lanes<T>;
  const std::ptrdiff_t periods = period.periods(pixels), vectors = period.vectors();
  for (std::ptrdiff_t p = 0; p < periods; ++p) {
    const T* x = data + p * period.size;
    for (std::ptrdiff_t v = 0; v < vectors; ++v)
      L::store(lanes + v * L::width, L::add(L::load(lanes + v * L::width), L::load(x + v * L::width)));
  }
  const int C = period.channels;
  for (std::ptrdiff_t i = periods * period.rows; i < pixels; ++i)
    for_each_channel_vector<T>(C, [&](auto mask, int c) {
      L::store(tail + c, L::add(L::load(tail + c, mask), L::load(data + i * C + c, mask)), mask);
    });
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
