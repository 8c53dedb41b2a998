// Part of lanmsff::models (CMakeLists.txt): the MA-Net networks compiled once, for programs built with
// LANMSFF_EXTERN_MODELS (compose/network.hpp). The list: LANMSFF_FOR_EACH_COMPILED_MANET in
// models/manet.hpp.
#include "lanmsff/models/manet.hpp"

namespace lanmsff {
#define LANMSFF_DEFINE_MANET_(C) template class LANMSFF_COMPILED_MANET(C);
LANMSFF_FOR_EACH_COMPILED_MANET(LANMSFF_DEFINE_MANET_)
#undef LANMSFF_DEFINE_MANET_
}  // namespace lanmsff
