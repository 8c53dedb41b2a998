// Part of lanmsff::models (CMakeLists.txt): the LANMSFF networks compiled once, for programs built with
// LANMSFF_EXTERN_MODELS (compose/network.hpp). The list: LANMSFF_FOR_EACH_COMPILED_LANMSFF in
// models/lanmsff.hpp.
#include "lanmsff/models/lanmsff.hpp"

namespace lanmsff {
#define LANMSFF_DEFINE_LANMSFF_(C, Ch) template class LANMSFF_COMPILED_LANMSFF(C, Ch);
LANMSFF_FOR_EACH_COMPILED_LANMSFF(LANMSFF_DEFINE_LANMSFF_)
#undef LANMSFF_DEFINE_LANMSFF_
}  // namespace lanmsff
