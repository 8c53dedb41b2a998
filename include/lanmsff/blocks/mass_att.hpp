// MassAtt (LANMSFF's attention): returns an attention map A with the input's shape, the
// broadcast product of a channel map (GAP -> Dense(C/ratio, ReLU) -> Dense(C, sigmoid): 1x1xC)
// and a spatial map (channel mean -> Conv3x3/2 (2, ReLU) -> Conv3x3/2 (4, ReLU) ->
// ConvT3x3/2 (4, ReLU) -> ConvT3x3/2 (1, sigmoid): HxWx1). Use Attend<MassAtt<>> for x * A(x).
#pragma once

#include "lanmsff/compose/merges.hpp"
#include "lanmsff/compose/parallel.hpp"
#include "lanmsff/compose/sequential.hpp"
#include "lanmsff/layers/activations.hpp"
#include "lanmsff/layers/channel_reduce.hpp"
#include "lanmsff/layers/conv2d.hpp"
#include "lanmsff/layers/conv2d_transpose.hpp"
#include "lanmsff/layers/dense.hpp"
#include "lanmsff/layers/pooling.hpp"

namespace lanmsff::blocks {

template <int Ratio = 4>
struct MassAtt {
  template <int C>
  using channel_map = Sequential<Named<"pool", GlobalAvgPool>, Named<"dense1", Dense<C / Ratio>>, Named<"relu", ReLU>,
                                 Named<"dense2", Dense<C>>, Named<"sigmoid", Sigmoid>>;
  using spatial_map =
      Sequential<Named<"mean", ChannelMean>, Named<"conv1", Conv2D<2, 3, 2>>, Named<"relu1", ReLU>,
                 Named<"conv2", Conv2D<4, 3, 2>>, Named<"relu2", ReLU>, Named<"deconv1", Conv2DTranspose<4, 3, 2>>,
                 Named<"relu3", ReLU>, Named<"deconv2", Conv2DTranspose<1, 3, 2>>, Named<"sigmoid", Sigmoid>>;

  template <Shape In, class T>
  struct layer
      : Parallel<Multiply, Named<"channel", channel_map<In.c>>, Named<"spatial", spatial_map>>::template layer<In, T> {
    static_assert(In.h % 4 == 0 && In.w % 4 == 0,
                  "MassAtt: height and width must be divisible by 4 (two stride-2 convolutions, two x2 upsamplings)");
    static_assert(In.c >= Ratio, "MassAtt: fewer channels than the reduction ratio");
    static constexpr std::string_view kind = "MassAtt";
  };
};

// Attend<Attention>: x * Attention(x), the attention map broadcast over x.
template <class Attention>
using Attend = Parallel<Multiply, Identity, Attention>;

}  // namespace lanmsff::blocks
