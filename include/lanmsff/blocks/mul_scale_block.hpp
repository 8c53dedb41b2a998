// MA-Net's multi-scale block (global branch): Conv3x3(stride) BN ReLU, then the C channels as four
// groups of C/4 run through two hierarchical chains of Conv3x3 + BN (Hierarchical, ReLU feedback):
// chain 1 over groups 1->4, chain 2 over groups 4->1, each concatenated in group order; the two
// chains are summed, the shortcut added, then ReLU. conv{chain}_2_{group} / bn{chain}_2_{group}
// as the authors' state_dict names them.
#pragma once

#include "lanmsff/blocks/basic_block.hpp"
#include "lanmsff/compose/hierarchical.hpp"

namespace lanmsff::blocks {

template <int Filters, int Stride = 1>
struct MulScaleBlock {
  static_assert(Filters > 0 && Stride > 0, "MulScaleBlock: Filters and Stride must be positive");
  static_assert(Filters % 4 == 0, "MulScaleBlock: Filters must be divisible by 4 (four channel groups)");
  static constexpr int width = Filters / 4;

  template <fixed_string Conv, fixed_string Norm>
  using stage = Flat<Sequential<Named<Conv, TorchConv2D<width, 3>>, Named<Norm, TorchBatchNorm<>>>>;
  using chain1 = Hierarchical<ChainOrder::ascending, Named<"relu1_", ReLU>, stage<"conv1_2_1", "bn1_2_1">,
                              stage<"conv1_2_2", "bn1_2_2">, stage<"conv1_2_3", "bn1_2_3">, stage<"conv1_2_4", "bn1_2_4">>;
  using chain2 = Hierarchical<ChainOrder::descending, Named<"relu2_", ReLU>, stage<"conv2_2_1", "bn2_2_1">,
                              stage<"conv2_2_2", "bn2_2_2">, stage<"conv2_2_3", "bn2_2_3">, stage<"conv2_2_4", "bn2_2_4">>;
  using body = Sequential<Named<"conv1", TorchConv2D<Filters, 3, Stride>>, Named<"bn1", TorchBatchNorm<>>,
                          Named<"relu1", ReLU>, Flat<Parallel<Add, Flat<chain1>, Flat<chain2>>>>;

  template <Shape In, class T>
  struct layer : ResidualUnit<body, Filters, Stride>::template layer<In, T> {
    static constexpr std::string_view kind = "MulScaleBlock";
  };
};

}  // namespace lanmsff::blocks
