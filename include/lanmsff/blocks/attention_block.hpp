// MA-Net's attention block (local branch): a ResNet BasicBlock whose second BN output passes
// through CBAM before the residual add: ReLU(CBAM(BN(Conv(ReLU(BN(Conv(x)))))) + shortcut(x)).
#pragma once

#include "lanmsff/blocks/basic_block.hpp"
#include "lanmsff/blocks/cbam.hpp"

namespace lanmsff::blocks {

template <int Filters, int Stride = 1>
struct AttentionBlock {
  static_assert(Filters > 0 && Stride > 0, "AttentionBlock: Filters and Stride must be positive");
  using body = Sequential<Named<"conv1", TorchConv2D<Filters, 3, Stride>>, Named<"bn1", TorchBatchNorm<>>,
                          Named<"relu1", ReLU>, Named<"conv2", TorchConv2D<Filters, 3>>, Named<"bn2", TorchBatchNorm<>>,
                          Named<"cbam", CBAM<16>>>;

  template <Shape In, class T>
  struct layer : ResidualUnit<body, Filters, Stride>::template layer<In, T> {
    static constexpr std::string_view kind = "AttentionBlock";
  };
};

}  // namespace lanmsff::blocks
