// Deterministic randomness. Every random stream is derived from (seed, name or counter)
// with SplitMix64, so results do not depend on the thread count or on the standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>

namespace lanmsff {

constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr std::uint64_t hash_combine(std::uint64_t a, std::uint64_t b) { return splitmix64(a ^ splitmix64(b)); }

constexpr std::uint64_t hash_name(std::string_view s) {
  std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001B3ull;
  return h;
}

// Uniform in [0, 1) from the top 24 bits (exactly representable as float).
constexpr float unit_float(std::uint64_t bits) { return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f); }
constexpr double unit_double(std::uint64_t bits) { return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0); }

// A small, fast generator (SplitMix64 stream). Same sequence on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : state_(seed) {}
  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return unit_double(next()); }                          // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }  // [lo, hi)
  // Uniform integer in [0, n) without modulo bias worth caring about for n << 2^64.
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : static_cast<std::uint64_t>(uniform() * double(n)) % n; }
  double normal() {  // Box-Muller
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  bool bernoulli(double p) { return uniform() < p; }

 private:
  std::uint64_t state_;
};

// Shuffles [first, last) in place (Fisher-Yates, from the back), drawing from `rng`: the one
// shuffle of the library, so a seed gives the same order everywhere.
template <class RandomIt>
void shuffle(RandomIt first, RandomIt last, Rng& rng) {
  for (auto i = static_cast<std::uint64_t>(last - first); i > 1; --i) std::swap(first[i - 1], first[rng.below(i)]);
}

}  // namespace lanmsff
