// Kernels compiled once per program instead of once per source file (an option; header-only is the
// default). Every kernel entry point (conv2d_forward, matmul, int8_conv, ...) is a function template
// whose float instantiation holds the code of every instruction-set path. In a header-only build each
// source file that runs a network compiles all of it again (about 20 s of a 47 s file with GCC -O2).
//
//   - Define LANMSFF_EXTERN_KERNELS (-DLANMSFF_EXTERN_KERNELS) when compiling your files: the kernel
//     entry points are then only declared there (`extern template`), for float and double (the int8
//     ones for float and uint8 outputs).
//   - Compile them once, in one source file of the program that includes
//     <lanmsff/kernels/instantiate.hpp> before any other header (CMake: link lanmsff::kernels, which
//     does both). That file must be compiled with the same compiler and flags as the others.
//
// Files built either way may be linked together. Each kernel header names its entry points with
// LANMSFF_KERNEL_ENTRY right after defining them; an entry point without that line is compiled where
// it is used, as in a header-only build.
#pragma once

#if defined(LANMSFF_KERNELS_IMPLEMENTATION)  // instantiate.hpp: the explicit instantiations
#define LANMSFF_KERNEL_INSTANCE(name, T) template decltype(name<T>) name<T>
#elif defined(LANMSFF_EXTERN_KERNELS)  // declared only: instantiated by the file above
#define LANMSFF_KERNEL_INSTANCE(name, T) extern template decltype(name<T>) name<T>
#else  // header-only: instantiated where used
#define LANMSFF_KERNEL_INSTANCE(name, T) static_assert(true)
#endif

// After a float-and-double kernel entry point `template <class T> void name(...)`, in its namespace.
#define LANMSFF_KERNEL_ENTRY(name)          \
  LANMSFF_KERNEL_INSTANCE(name, float);     \
  LANMSFF_KERNEL_INSTANCE(name, double)

// After an int8 entry point `template <class Y> void name(...)` whose output Y is float or uint8.
#define LANMSFF_INT8_KERNEL_ENTRY(name)     \
  LANMSFF_KERNEL_INSTANCE(name, float);     \
  LANMSFF_KERNEL_INSTANCE(name, std::uint8_t)
