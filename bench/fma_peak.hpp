// The fused multiply-add peak of the instruction set in use (active_isa(): the widest the CPU has, or
// LANMSFF_ISA's), the yardstick for the GFLOP/s of bench_kernels: every thread runs independent chains
// of FMAs on that path's vectors (512-bit on avx512, 256-bit on avx2, 128-bit on neon; the baseline's
// Eigen packets, where FMA is a multiply and an add on plain x86-64), enough chains to hide their
// latency and few enough to stay in registers. Written once over the lanes type and compiled per
// instruction set like the library's kernels (kernels/simd/foreach_isa.hpp), so it runs in a program
// built with default flags too.
#ifndef LANMSFF_BENCH_FMA_PEAK_HPP
#define LANMSFF_BENCH_FMA_PEAK_HPP

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/kernels/simd/dispatch.hpp"

namespace lanmsff::kernels {
// What one run did (shared by every instruction set's code below, so defined before it).
struct FmaPeakRun {
  double flops = 0;   // floating-point operations done (2 per lane of each FMA), all threads
  float checksum = 0; // the chains' sum, so the work cannot be optimised away
};
}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "fma_peak.hpp"  // found through the bench directory on the include path
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// Runs `steps` rounds of FMAs on every chain of every thread.
inline FmaPeakRun fma_peak_run(long steps) { LANMSFF_DISPATCH(float, fma_peak_run(steps)); }

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

inline FmaPeakRun fma_peak_run(long steps) {
  using L = Lanes<float>;
  // Latency x throughput is 8 chains on current cores; keep 4 registers for the operands.
  constexpr int chains = L::registers - 4 < 24 ? L::registers - 4 : 24;
  FmaPeakRun run;
  parallel_region([&](int, int threads) {
    typename L::Vec acc[chains];
    for (int i = 0; i < chains; ++i) acc[i] = L::set1(1.0f + float(i) * 1e-6f);
    const typename L::Vec b = L::set1(0.999999f), c = L::set1(1e-7f);
    for (long k = 0; k < steps; ++k)
#pragma GCC unroll 28
      for (int i = 0; i < chains; ++i) acc[i] = L::fma(acc[i], b, c);
    float local = 0;
    for (int i = 0; i < chains; ++i) local += L::reduce_add(acc[i]);
#if defined(_OPENMP)
#pragma omp critical(lanmsff_fma_peak)
#endif
    {
      run.checksum += local;
      run.flops = 2.0 * L::width * chains * double(steps) * threads;
    }
  });
  return run;
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
