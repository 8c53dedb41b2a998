// Compiles the header named by LANMSFF_ISA_BODY once per instruction set, each time inside
// namespace lanmsff::kernels::LANMSFF_ISA_NS, with Lanes<T> (the lanes type of that ISA for float,
// simd::Portable<T> otherwise) and under the compiler's target attributes for that ISA:
//
//   x86-64 (GCC, Clang)  isa_avx512 (target avx2,fma,avx512f/bw/dq/vl), isa_avx2 (avx2,fma),
//                        isa_baseline (the compiler's own flags)
//   aarch64              isa_neon, isa_baseline
//   anything else        isa_baseline
//
// The target attributes come from `#pragma GCC target` (GCC) or `#pragma clang attribute` (Clang),
// which give every function defined in the region, lambdas and templates included, the ISA as if
// the file had been compiled with -mavx2 -mfma (or -mavx512...), without changing the flags of the
// program around it. That is why the body may use intrinsics that the program's own flags would not
// allow, and why a body must include nothing: everything it uses is included before this file. The
// kernels pick among the namespaces at run time (dispatch.hpp).
//
// No include guard: every kernel header includes it once (re-including its own file as the body).
#if !defined(LANMSFF_ISA_BODY)
#error "lanmsff: define LANMSFF_ISA_BODY (the header to compile once per instruction set) first"
#endif

// What the lanes headers use, included here, outside every target region: a header first included
// inside one would have its inline functions compiled for that ISA only.
#include "lanmsff/kernels/simd/dispatch.hpp"
// (dispatch.hpp reads <immintrin.h> on x86, through core/eigen.hpp, which explains why there.)
#if LANMSFF_NEON
#include <arm_neon.h>
#endif

#define LANMSFF_ISA_PASS 1

#if LANMSFF_X86_DISPATCH
// ---- AVX-512 ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")
#endif
#include "lanmsff/kernels/simd/lanes_avx512.hpp"
#define LANMSFF_ISA_NS isa_avx512
#include LANMSFF_ISA_BODY
#undef LANMSFF_ISA_NS
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
// ---- AVX2 + FMA ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#include "lanmsff/kernels/simd/lanes_avx2.hpp"
#define LANMSFF_ISA_NS isa_avx2
#include LANMSFF_ISA_BODY
#undef LANMSFF_ISA_NS
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // LANMSFF_X86_DISPATCH

#if LANMSFF_NEON
// ---- NEON (part of every AArch64 target: no attributes needed) ----
#include "lanmsff/kernels/simd/lanes_neon.hpp"
#define LANMSFF_ISA_NS isa_neon
#include LANMSFF_ISA_BODY
#undef LANMSFF_ISA_NS
#endif

// ---- baseline: the program's own flags ----
#include "lanmsff/kernels/simd/lanes_baseline.hpp"
#define LANMSFF_ISA_NS isa_baseline
#include LANMSFF_ISA_BODY
#undef LANMSFF_ISA_NS

#undef LANMSFF_ISA_PASS
#undef LANMSFF_ISA_BODY
