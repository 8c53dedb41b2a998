// The namespace of the baseline path: simd::Portable lanes for every element type.
#pragma once

#include "lanmsff/kernels/simd/portable.hpp"

namespace lanmsff::kernels::isa_baseline {
template <class T>
using Lanes = simd::Portable<T>;
}  // namespace lanmsff::kernels::isa_baseline
