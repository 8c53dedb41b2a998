// SeparableConv2D as Keras defines it: a depthwise k x k convolution (multiplier 1, no bias)
// followed by a pointwise 1x1 convolution with bias. A composition of the two layers; parameter
// names `depthwise.kernel`, `pointwise.kernel`, `pointwise.bias`.
//
// In inference, where the depthwise kernel has the fast path (3 x 3, stride 1), the two run as one
// kernel (kernels/separable.hpp) that never stores the depthwise output; a following BatchNorm (and
// ReLU) is fused into it as into a Conv2D. Training runs the two layers. A backward after a fused
// forward (gradients of a model in inference mode) first recomputes the depthwise output.
#pragma once

#include "lanmsff/compose/sequential.hpp"
#include "lanmsff/kernels/separable.hpp"
#include "lanmsff/layers/conv2d.hpp"
#include "lanmsff/layers/depthwise_conv2d.hpp"

namespace lanmsff {

template <int Filters, int Kernel, int Stride = 1, int Dilation = 1, Padding Pad = same, bool Bias = true>
struct SeparableConv2D {
  using body = Sequential<Named<"depthwise", DepthwiseConv2D<Kernel, Stride, Dilation, Pad, false>>,
                          Named<"pointwise", Conv2D<Filters, 1, 1, 1, valid, Bias>>>;
  template <Shape In, class T>
  struct layer : body::template layer<In, T> {
    using base = typename body::template layer<In, T>;
    static constexpr std::string_view kind = "SeparableConv2D";
    static constexpr ConvGeometry depthwise_geometry = std::tuple_element_t<0, typename base::layers_type>::geometry;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      if (ctx.training() || !kernels::separable_fusable(depthwise_geometry)) {
        fused_ = false;
        base::forward(input, output, ctx);
        return;
      }
      fused_forward(input, output, nullptr);
    }
    void forward_fused(const Tensor<T>& input, Tensor<T>& output, const kernels::ChannelAffine<T>& post) {
      if (!kernels::separable_fusable(depthwise_geometry)) {
        fused_ = false;
        base::forward_fused(input, output, post);
        return;
      }
      fused_forward(input, output, &post);
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (fused_) {  // the depthwise output was never stored: compute it (the pointwise output is not needed)
        Tensor<T> recomputed;
        base::forward(input, recomputed, Context::inference());
        fused_ = false;
      }
      base::backward(input, grad_output, grad_input);
    }

   private:
    void fused_forward(const Tensor<T>& input, Tensor<T>& output, const kernels::ChannelAffine<T>* post) {
      expect_shape(input, In, "SeparableConv2D");
      output.resize(input.n(), base::output_shape);
      auto& pointwise = this->template get<1>();
      kernels::separable_forward(depthwise_geometry, input.n(), input.data(), this->template get<0>().kernel().data(),
                                 static_cast<const T*>(nullptr), pointwise.kernel().data(), Filters,
                                 Bias ? pointwise.bias().data() : nullptr, output.data(), post);
      fused_ = true;
    }
    bool fused_ = false;  // the last forward ran the fused kernel
  };
};

}  // namespace lanmsff
