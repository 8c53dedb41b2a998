// TwoPath(F) (LANMSFF's multi-scale feature extraction): channel shuffle (2 groups), split into
// halves, then three stages of an "H" path (3x3) and an "L" path (3x3, dilation 2), F/2 filters
// each, concatenated: stage 1 sends one half to each path (Conv BN ReLU); stages 2 (SeparableConv
// BN ReLU) and 3 (Conv BN ReLU) send the whole concatenation to both paths.
#pragma once

#include "lanmsff/compose/merges.hpp"
#include "lanmsff/compose/parallel.hpp"
#include "lanmsff/compose/sequential.hpp"
#include "lanmsff/layers/activations.hpp"
#include "lanmsff/layers/batch_norm.hpp"
#include "lanmsff/layers/channel_gather.hpp"
#include "lanmsff/layers/conv2d.hpp"
#include "lanmsff/layers/separable_conv2d.hpp"

namespace lanmsff::blocks {

// Conv -> BatchNorm -> ReLU, named conv / bn / relu.
template <class Conv, class Norm = BatchNorm<>>
using ConvBnReLU = Sequential<Named<"conv", Conv>, Named<"bn", Norm>, Named<"relu", ReLU>>;

template <int Filters>
struct TwoPath {
  static_assert(Filters % 2 == 0, "TwoPath: the filter count must be even (F/2 per path)");
  static constexpr int half = Filters / 2;

  template <template <int, int, int, int, Padding, bool> class Conv>
  using stage = Parallel<Concat<>, Named<"h", ConvBnReLU<Conv<half, 3, 1, 1, same, true>>>,
                         Named<"l", ConvBnReLU<Conv<half, 3, 1, 2, same, true>>>>;
  using stage1 =
      Parallel<Concat<>, Named<"h", Sequential<Named<"split", Split<0, 2>>, Flat<ConvBnReLU<Conv2D<half, 3>>>>>,
               Named<"l", Sequential<Named<"split", Split<1, 2>>, Flat<ConvBnReLU<Conv2D<half, 3, 1, 2>>>>>>;
  using body = Sequential<Named<"shuffle", ChannelShuffle<2>>, Named<"stage1", stage1>,
                          Named<"stage2", stage<SeparableConv2D>>, Named<"stage3", stage<Conv2D>>>;

  template <Shape In, class T>
  struct layer : body::template layer<In, T> {
    static_assert(In.c % 2 == 0, "TwoPath: the input channel count must be even (it is split in halves)");
    static constexpr std::string_view kind = "TwoPath";
  };
};

}  // namespace lanmsff::blocks
