// ResNet's BasicBlock (PyTorch convention, as MA-Net uses it): Conv3x3(stride) BN ReLU Conv3x3 BN,
// plus a shortcut, then ReLU. The shortcut is the identity, or a projection Conv1x1(stride) + BN
// (named downsample.0 / downsample.1 as torchvision) when the block changes the shape.
// ResidualUnit is the shared "body + shortcut, ReLU" frame of MA-Net's three block kinds.
#pragma once

#include <type_traits>

#include "lanmsff/compose/merges.hpp"
#include "lanmsff/compose/parallel.hpp"
#include "lanmsff/compose/sequential.hpp"
#include "lanmsff/layers/activations.hpp"
#include "lanmsff/layers/batch_norm.hpp"
#include "lanmsff/layers/conv2d.hpp"

namespace lanmsff::blocks {

// The projection shortcut: Conv1x1(stride, no bias) + BN.
template <int Filters, int Stride>
using Projection = Sequential<Named<"0", TorchConv2D<Filters, 1, Stride, 0>>, Named<"1", TorchBatchNorm<>>>;

// ReLU(Body(x) + shortcut(x)), where the shortcut projects when Stride != 1 or the channel count
// changes (torchvision's rule), else passes x through. Body must map In to H/Stride x W/Stride x
// Filters. Transparent names keep the body's children at the block's level: "conv1", "downsample.0".
template <class Body, int Filters, int Stride>
struct ResidualUnit {
  template <Shape In>
  using shortcut = std::conditional_t<Stride != 1 || In.c != Filters, Named<"downsample", Projection<Filters, Stride>>,
                                      Named<"identity", Identity>>;
  template <Shape In, class T>
  using layer = typename Sequential<Flat<Residual<Flat<Body>, shortcut<In>>>,
                                    Named<"relu", ReLU>>::template layer<In, T>;
};

template <int Filters, int Stride = 1>
struct BasicBlock {
  static_assert(Filters > 0 && Stride > 0, "BasicBlock: Filters and Stride must be positive");
  using body = Sequential<Named<"conv1", TorchConv2D<Filters, 3, Stride>>, Named<"bn1", TorchBatchNorm<>>,
                          Named<"relu1", ReLU>, Named<"conv2", TorchConv2D<Filters, 3>>, Named<"bn2", TorchBatchNorm<>>>;

  template <Shape In, class T>
  struct layer : ResidualUnit<body, Filters, Stride>::template layer<In, T> {
    static constexpr std::string_view kind = "BasicBlock";
  };
};

}  // namespace lanmsff::blocks
