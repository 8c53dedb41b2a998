// Threading: OpenMP when the build enables it (lanmsff::lanmsff links it when found), serial
// otherwise. Kernels split work into independent chunks with parallel_for.
#pragma once

#include <algorithm>
#include <cstddef>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lanmsff {

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_num_threads(int n) {
#if defined(_OPENMP)
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

inline int thread_index() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Calls f(i) for i in [begin, end), spread over the threads in chunks of about an eighth of a thread's
// share, handed out as threads become free: cores that run at different speeds (a shared or
// hybrid machine; a virtual CPU whose sibling is busy) then finish together instead of the fast ones
// waiting at the end of every call. Each f(i) must not depend on which thread runs it.
template <class F>
void parallel_for(std::ptrdiff_t begin, std::ptrdiff_t end, F&& f) {
  if (end - begin <= 1) {
    for (std::ptrdiff_t i = begin; i < end; ++i) f(i);
    return;
  }
#if defined(_OPENMP)
  const std::ptrdiff_t chunk = std::max<std::ptrdiff_t>(1, (end - begin) / (8 * std::ptrdiff_t(omp_get_max_threads())));
#pragma omp parallel for schedule(dynamic, chunk)
  for (std::ptrdiff_t i = begin; i < end; ++i) f(i);
#else
  for (std::ptrdiff_t i = begin; i < end; ++i) f(i);
#endif
}

// Calls f(begin, count) for contiguous chunks of 32,768 of the indices [0, size), in parallel: for
// elementwise work on a flat tensor.
template <class F>
void parallel_chunks(std::size_t size, F&& f) {
  constexpr std::size_t chunk = std::size_t(1) << 15;
  const std::ptrdiff_t chunks = std::ptrdiff_t((size + chunk - 1) / chunk);
  parallel_for(0, chunks, [&](std::ptrdiff_t i) {
    const std::size_t begin = std::size_t(i) * chunk;
    f(begin, std::min(chunk, size - begin));
  });
}

// Calls f(begin, count) for contiguous runs of the rows [0, rows) of `row_size` values each, in parallel,
// a run about 16,384 values: for per-pixel work on NHWC maps (a row is a pixel's channels), where
// parallel_chunks over the pixels would give a whole map of LANMSFF's to one thread.
template <class F>
void parallel_rows(std::size_t rows, std::size_t row_size, F&& f) {
  const std::size_t per = std::max<std::size_t>(1, (std::size_t(1) << 14) / std::max<std::size_t>(1, row_size));
  const std::ptrdiff_t runs = std::ptrdiff_t((rows + per - 1) / per);
  parallel_for(0, runs, [&](std::ptrdiff_t i) {
    const std::size_t begin = std::size_t(i) * per;
    f(begin, std::min(per, rows - begin));
  });
}

}  // namespace lanmsff

namespace lanmsff {

// Runs f(thread, threads) once on every thread of a parallel region (once, serially, without OpenMP).
template <class F>
void parallel_region(F&& f) {
#if defined(_OPENMP)
#pragma omp parallel
  f(omp_get_thread_num(), omp_get_num_threads());
#else
  f(0, 1);
#endif
}

// The contiguous share [begin, end) of `count` items that thread `t` of `threads` handles.
struct Range {
  std::ptrdiff_t begin, end;
};
inline Range static_share(std::ptrdiff_t count, int t, int threads) {
  const std::ptrdiff_t base = count / threads, extra = count % threads;
  const std::ptrdiff_t begin = t * base + (t < extra ? t : extra);
  return {begin, begin + base + (t < extra ? 1 : 0)};
}

}  // namespace lanmsff

namespace lanmsff {

// Inside a parallel_region: runs f() on each thread in turn, thread 0 first, so that a reduction of
// per-thread partial sums is deterministic for a given thread count.
template <class F>
void in_thread_order(int t, int threads, F&& f) {
  for (int i = 0; i < threads; ++i) {
#if defined(_OPENMP)
#pragma omp barrier
#endif
    if (i == t) f();
  }
#if defined(_OPENMP)
#pragma omp barrier
#endif
}

}  // namespace lanmsff
