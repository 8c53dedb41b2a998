// DepthwiseConv2D (depth multiplier 1): each channel convolved with its own k x k filter.
// Kernel (kh, kw, C) — Keras stores (kh, kw, C, 1); the same numbers. Arithmetic in
// kernels/depthwise.hpp. He-uniform with Keras' fan-in for a (k, k, C, 1) kernel: k*k*C.
#pragma once

#include "lanmsff/kernels/depthwise.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <int Kernel, int Stride = 1, int Dilation = 1, Padding Pad = same, bool Bias = false>
struct DepthwiseConv2D {
  template <Shape In, class T>
  class layer {
   public:
    using scalar = T;
    static constexpr ConvGeometry geometry = make_conv_geometry(In, In.c, Kernel, Stride, Dilation, Pad);
    static_assert(geometry.out_h > 0 && geometry.out_w > 0, "DepthwiseConv2D: the kernel does not fit the input");
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = geometry.output_shape();
    static constexpr std::string_view kind = "DepthwiseConv2D";

    layer() {
      kernel_.define({Kernel, Kernel, In.c}, Init::he_uniform, double(Kernel) * Kernel * In.c,
                     double(Kernel) * Kernel);
      if constexpr (Bias) bias_.define({In.c}, Init::zeros);
    }

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "DepthwiseConv2D");
      output.resize(input.n(), output_shape);
      kernels::depthwise_forward(geometry, input.n(), input.data(), kernel_.data(), Bias ? bias_.data() : nullptr,
                                 output.data());
    }

    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      kernels::depthwise_backward_weights(geometry, input.n(), input.data(), grad_output.data(), kernel_.grad_data(),
                                          Bias ? bias_.grad_data() : nullptr);
      if (grad_input) {
        grad_input->resize(input.n(), In);
        kernels::depthwise_backward_data(geometry, input.n(), grad_output.data(), kernel_.data(),
                                         grad_input->data());
      }
    }

    template <class F>
    void for_each_parameter(F&& f) {
      f("kernel", kernel_);
      if constexpr (Bias) f("bias", bias_);
    }

    // ONNX Conv with one group per channel (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.conv(path, input, geometry, kernel_.data(), Bias ? bias_.data() : nullptr, /*depthwise=*/true);
    }

    Parameter<T>& kernel() { return kernel_; }

   private:
    Parameter<T> kernel_, bias_;
  };
};

}  // namespace lanmsff
