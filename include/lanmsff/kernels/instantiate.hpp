// Compiles the kernels' entry points (float, double; int8 with float and uint8 outputs) in this source
// file, for the program's other files built with LANMSFF_EXTERN_KERNELS (kernels/entry.hpp says why).
// Include it in exactly one source file, before any other lanmsff header, and compile that file with the
// same compiler and flags as the rest of the program:
//
//   // kernels.cpp
//   #include <lanmsff/kernels/instantiate.hpp>
//
// CMake projects link lanmsff::kernels instead, which is this file compiled as a static library.
#pragma once

#if defined(LANMSFF_KERNEL_INSTANCE)
#error "lanmsff/kernels/instantiate.hpp must be included before any other lanmsff header"
#endif
#define LANMSFF_KERNELS_IMPLEMENTATION 1

#include "lanmsff/kernels/batch_norm.hpp"
#include "lanmsff/kernels/conv.hpp"
#include "lanmsff/kernels/copy.hpp"
#include "lanmsff/kernels/depthwise.hpp"
#include "lanmsff/kernels/elementwise.hpp"
#include "lanmsff/kernels/gemm.hpp"
#include "lanmsff/kernels/int8.hpp"
#include "lanmsff/kernels/pooling.hpp"
#include "lanmsff/kernels/reduce.hpp"
#include "lanmsff/kernels/separable.hpp"
