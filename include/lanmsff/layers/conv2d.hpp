// Conv2D: dense 2-D convolution with stride, dilation, TensorFlow 'same' / 'valid' padding or
// explicit symmetric padding, optional bias. Kernel (kh, kw, in, out) as Keras stores it;
// He-uniform initialisation, zero bias. Arithmetic in kernels/conv.hpp.
#pragma once

#include "lanmsff/kernels/conv.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <int Filters, int Kernel, int Stride = 1, int Dilation = 1, Padding Pad = same, bool Bias = true>
struct Conv2D {
  static_assert(Filters > 0 && Kernel > 0 && Stride > 0 && Dilation > 0, "Conv2D: sizes must be positive");

  template <Shape In, class T>
  class layer {
   public:
    using scalar = T;
    static constexpr ConvGeometry geometry = make_conv_geometry(In, Filters, Kernel, Stride, Dilation, Pad);
    static_assert(geometry.out_h > 0 && geometry.out_w > 0, "Conv2D: the kernel does not fit the input");
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = geometry.output_shape();
    static constexpr std::string_view kind = "Conv2D";
    static constexpr bool accepts_epilogue = true;       // has forward_fused (see layer.hpp)
    static constexpr bool accepts_pool_epilogue = true;  // and pools in it (ChannelAffine::max_pool)
    static constexpr Shape pooled_shape{output_shape.h / 2, output_shape.w / 2, output_shape.c};

    layer() {
      const double fan_in = double(Kernel) * Kernel * In.c, fan_out = double(Kernel) * Kernel * Filters;
      kernel_.define({Kernel, Kernel, In.c, Filters}, Init::he_uniform, fan_in, fan_out);
      if constexpr (Bias) bias_.define({Filters}, Init::zeros);
    }

    // In inference the kernel comes again unchanged at the next call: its derived forms are kept.
    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      expect_shape(input, In, "Conv2D");
      output.resize(input.n(), output_shape);
      kernels::conv2d_forward(geometry, input.n(), input.data(), kernel_.data(), Bias ? bias_.data() : nullptr,
                              output.data(), nullptr, ctx.training() ? WeightUse::once : WeightUse::repeated);
    }

    // Inference forward with `post` (a following BatchNorm, maybe with its ReLU, maybe with a 2x2 max
    // pool: then `output` is the pooled map) applied to each output tile as it is computed; what
    // Sequential calls instead of forward when it fuses them.
    void forward_fused(const Tensor<T>& input, Tensor<T>& output, const kernels::ChannelAffine<T>& post) {
      expect_shape(input, In, "Conv2D");
      output.resize(input.n(), post.max_pool ? pooled_shape : output_shape);
      kernels::conv2d_forward(geometry, input.n(), input.data(), kernel_.data(), Bias ? bias_.data() : nullptr,
                              output.data(), &post, WeightUse::repeated);
    }

    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      kernels::conv2d_backward_weights(geometry, input.n(), input.data(), grad_output.data(), kernel_.grad_data(),
                                       Bias ? bias_.grad_data() : nullptr);
      if (grad_input) {
        grad_input->resize(input.n(), In);
        kernels::conv2d_backward_data(geometry, input.n(), grad_output.data(), kernel_.data(), grad_input->data());
      }
    }

    template <class F>
    void for_each_parameter(F&& f) {
      f("kernel", kernel_);
      if constexpr (Bias) f("bias", bias_);
    }

    // ONNX Conv (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.conv(path, input, geometry, kernel_.data(), Bias ? bias_.data() : nullptr);
    }

    Parameter<T>& kernel() { return kernel_; }
    Parameter<T>& bias() { return bias_; }

   private:
    Parameter<T> kernel_, bias_;
  };
};

// PyTorch-style convolution: explicit symmetric padding, no bias (MA-Net's convention).
template <int Filters, int Kernel, int Stride = 1, int Padding_ = Kernel / 2, bool Bias = false>
using TorchConv2D = Conv2D<Filters, Kernel, Stride, 1, pad(Padding_), Bias>;

}  // namespace lanmsff
