// SeparableConv2D as Keras defines it: a depthwise k x k convolution (multiplier 1, no bias)
// followed by a pointwise 1x1 convolution with bias. A composition of the two layers; parameter
// names `depthwise.kernel`, `pointwise.kernel`, `pointwise.bias`.
#pragma once

#include "lanmsff/compose/sequential.hpp"
#include "lanmsff/layers/conv2d.hpp"
#include "lanmsff/layers/depthwise_conv2d.hpp"

namespace lanmsff {

template <int Filters, int Kernel, int Stride = 1, int Dilation = 1, Padding Pad = same, bool Bias = true>
struct SeparableConv2D {
  using body = Sequential<Named<"depthwise", DepthwiseConv2D<Kernel, Stride, Dilation, Pad, false>>,
                          Named<"pointwise", Conv2D<Filters, 1, 1, 1, valid, Bias>>>;
  template <Shape In, class T>
  struct layer : body::template layer<In, T> {
    static constexpr std::string_view kind = "SeparableConv2D";
  };
};

}  // namespace lanmsff
