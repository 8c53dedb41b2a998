// Short copies inline. im2col, Concat, Split and the like copy a few hundred bytes at a time, for
// which a library call costs as much as the copy; GCC turns a plain copy loop back into a memmove
// call, so they are written as vector moves with a masked tail.
#ifndef LANMSFF_KERNELS_COPY_HPP
#define LANMSFF_KERNELS_COPY_HPP

#include <algorithm>
#include <cstddef>

#include "lanmsff/kernels/simd/dispatch.hpp"

#define LANMSFF_ISA_BODY "lanmsff/kernels/copy.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// rows runs of `count` values: run r from src + r * src_stride to dst + r * dst_stride (the runs
// must not overlap). A block of pixels' channels into or out of a wider tensor (Concat, Split).
template <class T>
void copy_rows(T* dst, std::ptrdiff_t dst_stride, const T* src, std::ptrdiff_t src_stride, std::ptrdiff_t rows,
               int count) {
  LANMSFF_DISPATCH(T, copy_rows<T>(dst, dst_stride, src, src_stride, rows, count));
}
LANMSFF_KERNEL_ENTRY(copy_rows);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

// dst[0..n) = src[0..n); the ranges must not overlap.
template <class T>
inline void copy_values(T* __restrict dst, const T* __restrict src, int n) {
  using L = Lanes<T>;
  int i = 0;
  for (; i + L::width <= n; i += L::width) L::store(dst + i, L::load(src + i));
  if (i < n) {
    const auto mask = L::mask(n - i);
    L::store(dst + i, L::load(src + i, mask), mask);
  }
}

// dst[0..n) += src[0..n) (partial sums added into a result).
template <class T>
inline void add_values(T* __restrict dst, const T* __restrict src, std::ptrdiff_t n) {
  using L = Lanes<T>;
  std::ptrdiff_t i = 0;
  for (; i + L::width <= n; i += L::width) L::store(dst + i, L::add(L::load(dst + i), L::load(src + i)));
  for (; i < n; ++i) dst[i] += src[i];
}

template <class T>
void copy_rows(T* dst, std::ptrdiff_t dst_stride, const T* src, std::ptrdiff_t src_stride, std::ptrdiff_t rows,
               int count) {
  for (std::ptrdiff_t r = 0; r < rows; ++r) copy_values(dst + r * dst_stride, src + r * src_stride, count);
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
