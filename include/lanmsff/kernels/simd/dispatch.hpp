// Run-time dispatch of the kernels: each kernel header compiles its algorithm once per instruction
// set (foreach_isa.hpp) into a namespace of its own, isa_avx512, isa_avx2, isa_neon or isa_baseline
// under lanmsff::kernels, and its public entry points call the one for active_isa() (core/isa.hpp).
// float takes the widest path; double (the gradient checks) always runs the baseline's code.
#pragma once

#include <type_traits>

#include "lanmsff/core/isa.hpp"
#include "lanmsff/kernels/entry.hpp"
#include "lanmsff/kernels/simd/portable.hpp"

#if LANMSFF_X86_DISPATCH
#define LANMSFF_DISPATCH_CASES(call)                    \
  case ::lanmsff::Isa::avx512: return isa_avx512::call; \
  case ::lanmsff::Isa::avx2: return isa_avx2::call;
#elif LANMSFF_NEON
#define LANMSFF_DISPATCH_CASES(call) \
  case ::lanmsff::Isa::neon: return isa_neon::call;
#else
#define LANMSFF_DISPATCH_CASES(call)
#endif

// In a function of lanmsff::kernels whose element type is T: return isa_<active>::call, where call
// names the per-ISA function and its arguments, e.g. LANMSFF_DISPATCH(T, conv2d_forward<T>(g, ...)).
// (The call is qualified, so argument-dependent lookup cannot pick the dispatcher itself.)
#define LANMSFF_DISPATCH(T, call)                            \
  do {                                                       \
    if constexpr (std::is_same_v<T, float>) {                \
      switch (::lanmsff::active_isa()) {                     \
        LANMSFF_DISPATCH_CASES(call)                         \
        default: break;                                      \
      }                                                      \
    }                                                        \
    return isa_baseline::call;                               \
  } while (false)
