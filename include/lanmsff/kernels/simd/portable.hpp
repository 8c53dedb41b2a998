// The lanes abstraction that every kernel is written against, and its portable model: one Eigen
// packet of T, whatever the compiler targets (SSE2 on plain x86-64, NEON on aarch64, wider with
// -m flags). Kernels are written once over a lanes type L and compiled once per instruction set
// (foreach_isa.hpp); the other models are Avx512, Avx2 and Neon (lanes_*.hpp).
//
// A lanes type L provides:
//   Scalar, Vec               the element type, one vector of `width` of them
//   width, registers          elements per vector; vector registers (the blocking uses it)
//   Mask, mask(n)             the first n lanes (0 <= n <= width) of a partial vector
//   zero(), set1(x), broadcast(const Scalar*)
//   load(p), store(p, v)      unaligned; load(p, mask) reads only the masked lanes (zero elsewhere),
//                             store(p, v, mask) writes only them
//   add, sub, mul, fma(a, b, c) = a * b + c (fused where the ISA has it), max(a, b) = a > b ? a : b
//   positive_or_zero(y, g)    y > 0 ? g : 0 per lane (a ReLU's gradient mask; NaN y gives 0)
//   select_equal(a, b, t, f)  a == b ? t : f per lane
//   reduce_add(v)             the sum of v's lanes
//   lane_sums(v[width])       the vector whose element q is the sum of v[q]'s lanes
//   keep_in_register(v)       an optimisation barrier: keeps a loaded vector in a register
#pragma once

#include <algorithm>

#include "lanmsff/core/eigen.hpp"

#include "lanmsff/core/isa.hpp"

// Every lanes operation is forced inline: it then compiles into the kernel's own instructions, and
// a call from a function that lacks the ISA's target attributes is a compile error ("inlining
// failed ... target specific option mismatch") rather than a slow call across an ABI boundary.
#if defined(__GNUC__) || defined(__clang__)
#define LANMSFF_LANES_INLINE __attribute__((always_inline)) inline
#else
#define LANMSFF_LANES_INLINE inline
#endif

namespace lanmsff::kernels::simd {

template <class T>
struct Portable {
  using Scalar = T;
  using Vec = typename Eigen::internal::packet_traits<T>::type;
  using Mask = int;  // the number of leading lanes
  static constexpr int width = Eigen::internal::unpacket_traits<Vec>::size;
#if defined(__AVX512F__) || defined(__aarch64__)
  static constexpr int registers = 32;
#else
  static constexpr int registers = 16;
#endif
  static constexpr Isa isa = Isa::baseline;

  LANMSFF_LANES_INLINE static Vec zero() { return Eigen::internal::pset1<Vec>(T(0)); }
  LANMSFF_LANES_INLINE static Vec set1(T v) { return Eigen::internal::pset1<Vec>(v); }
  LANMSFF_LANES_INLINE static Vec broadcast(const T* p) { return Eigen::internal::pset1<Vec>(*p); }
  LANMSFF_LANES_INLINE static Vec load(const T* p) { return Eigen::internal::ploadu<Vec>(p); }
  LANMSFF_LANES_INLINE static void store(T* p, const Vec& v) { Eigen::internal::pstoreu(p, v); }
  LANMSFF_LANES_INLINE static Mask mask(int n) { return n; }
  LANMSFF_LANES_INLINE static Vec load(const T* p, Mask n) {
    if (n >= width) return load(p);
    T lanes[width] = {};
    std::copy_n(p, std::min(n, width), lanes);
    return Eigen::internal::ploadu<Vec>(lanes);
  }
  LANMSFF_LANES_INLINE static void store(T* p, const Vec& v, Mask n) {
    if (n >= width) return store(p, v);
    T lanes[width];
    Eigen::internal::pstoreu(lanes, v);
    std::copy_n(lanes, std::min(n, width), p);
  }

  LANMSFF_LANES_INLINE static Vec add(const Vec& a, const Vec& b) { return Eigen::internal::padd(a, b); }
  LANMSFF_LANES_INLINE static Vec sub(const Vec& a, const Vec& b) { return Eigen::internal::psub(a, b); }
  LANMSFF_LANES_INLINE static Vec mul(const Vec& a, const Vec& b) { return Eigen::internal::pmul(a, b); }
  LANMSFF_LANES_INLINE static Vec fma(const Vec& a, const Vec& b, const Vec& c) { return Eigen::internal::pmadd(a, b, c); }
  LANMSFF_LANES_INLINE static Vec max(const Vec& a, const Vec& b) { return Eigen::internal::pselect(Eigen::internal::pcmp_lt(b, a), a, b); }
  LANMSFF_LANES_INLINE static Vec positive_or_zero(const Vec& y, const Vec& g) {
    return Eigen::internal::pand(Eigen::internal::pcmp_lt(zero(), y), g);
  }
  LANMSFF_LANES_INLINE static Vec select_equal(const Vec& a, const Vec& b, const Vec& if_equal, const Vec& otherwise) {
    return Eigen::internal::pselect(Eigen::internal::pcmp_eq(a, b), if_equal, otherwise);
  }
  LANMSFF_LANES_INLINE static T reduce_add(const Vec& v) { return Eigen::internal::predux(v); }
  LANMSFF_LANES_INLINE static Vec lane_sums(const Vec (&v)[width]) {
    T sums[width];
    for (int q = 0; q < width; ++q) sums[q] = reduce_add(v[q]);
    return Eigen::internal::ploadu<Vec>(sums);
  }
  LANMSFF_LANES_INLINE static void keep_in_register(Vec&) {}
};

}  // namespace lanmsff::kernels::simd
