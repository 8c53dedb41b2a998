// Short copies inline. im2col, Split and the like copy a few hundred bytes at a time, for which a
// library call costs as much as the copy; GCC turns a plain copy loop back into a memmove call, so
// on AVX-512 builds float copies are written as vector moves with a masked tail.
#pragma once

#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace lanmsff::kernels {

// dst[0..n) = src[0..n); the ranges must not overlap.
template <class T>
inline void copy_values(T* __restrict dst, const T* __restrict src, int n) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
    if (i < n) {
      const __mmask16 mask = __mmask16((1u << (n - i)) - 1);
      _mm512_mask_storeu_ps(dst + i, mask, _mm512_maskz_loadu_ps(mask, src + i));
    }
    return;
  }
#endif
  for (int i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace lanmsff::kernels
