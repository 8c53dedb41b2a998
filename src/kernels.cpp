// lanmsff::kernels (CMakeLists.txt): the kernels compiled once, for programs built with
// LANMSFF_EXTERN_KERNELS (include/lanmsff/kernels/entry.hpp).
#include "lanmsff/kernels/instantiate.hpp"
