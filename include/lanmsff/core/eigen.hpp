// Eigen, included the way every lanmsff header includes it: after the x86 intrinsics headers, read
// once here with GCC 12's spurious uninitialised-value reports silenced.
//
// GCC 12's AVX-512 intrinsics start some results from `__m512 __Y = __Y;` (_mm512_undefined_ps),
// which -Wall reports (-Wuninitialized, -Wmaybe-uninitialized) wherever such an intrinsic is inlined:
// in our AVX-512 kernels, and in Eigen's own packet code when a program is compiled with
// -march=native. GCC classifies the report by the state of the diagnostics where the header's lines
// were read, so reading <immintrin.h> first, here, inside a push/ignore/pop, keeps every later use
// quiet without silencing those warnings in any other code. GCC 13 no longer reports them.
// (A program that includes Eigen before lanmsff reads the header first itself.)
#pragma once

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#elif defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <Eigen/Core>
