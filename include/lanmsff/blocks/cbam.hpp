// CBAM (Woo et al. 2018, as MA-Net uses it, reduction 16): x' = x * Mc(x), out = x' * Ms(x').
// Mc = sigmoid(MLP(avgpool x) + MLP(maxpool x)), one MLP (Linear C->C/r, ReLU, Linear C/r->C, with
// biases) shared by both pooled vectors; Ms = sigmoid(BN(Conv7x7 pad 3, no bias)([max_c x, mean_c x])).
// Parameter paths follow the authors' state_dict: ChannelGate.mlp.{1,3}, SpatialGate.spatial.{conv,bn}.
#pragma once

#include "lanmsff/blocks/mass_att.hpp"
#include "lanmsff/compose/merges.hpp"
#include "lanmsff/compose/parallel.hpp"
#include "lanmsff/compose/sequential.hpp"
#include "lanmsff/layers/activations.hpp"
#include "lanmsff/layers/batch_norm.hpp"
#include "lanmsff/layers/channel_reduce.hpp"
#include "lanmsff/layers/conv2d.hpp"
#include "lanmsff/layers/dense.hpp"
#include "lanmsff/layers/pooling.hpp"
#include "lanmsff/layers/sum_over_height.hpp"

namespace lanmsff::blocks {

template <int Reduction = 16>
struct CBAM {
  static_assert(Reduction > 0, "CBAM: the reduction ratio must be positive");

  // The MLP's weights are shared by running it once on the two pooled vectors stacked along the
  // height (2x1xC; Dense applies at every position), then summing the two rows. PyTorch's Linear
  // initialisation (uniform in +-1/sqrt(fan_in), weight and bias).
  template <int C>
  using channel_gate =
      Sequential<Named<"pool", Parallel<Concat<Axis::height>, GlobalAvgPool, GlobalMaxPool>>,
                 Named<"mlp", Sequential<Named<"1", Dense<C / Reduction, true, Init::uniform_fan_in>>, Named<"2", ReLU>,
                                         Named<"3", Dense<C, true, Init::uniform_fan_in>>>>,
                 Named<"sum", SumOverHeight>, Named<"sigmoid", Sigmoid>>;

  // Channel max first, then channel mean (the authors' ChannelPool order); the only BN of MA-Net
  // with PyTorch momentum 0.01.
  using spatial_gate =
      Sequential<Named<"compress", Parallel<Concat<>, ChannelMax, ChannelMean>>,
                 Named<"spatial", Sequential<Named<"conv", TorchConv2D<1, 7, 1, 3>>, Named<"bn", TorchBatchNorm<0.01>>>>,
                 Named<"sigmoid", Sigmoid>>;

  template <Shape In, class T>
  struct layer : Sequential<Named<"ChannelGate", Attend<Flat<channel_gate<In.c>>>>,
                            Named<"SpatialGate", Attend<Flat<spatial_gate>>>>::template layer<In, T> {
    static_assert(In.c >= Reduction, "CBAM: fewer channels than the reduction ratio");
    static constexpr std::string_view kind = "CBAM";
  };
};

}  // namespace lanmsff::blocks
