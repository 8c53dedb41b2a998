// Conv2DTranspose: the adjoint of a strided convolution. 'same' gives in*stride outputs — for
// k=3, s=2 the full (2n+1) transposed output cropped to its first 2n rows/columns, as TensorFlow
// does; 'valid' gives (in-1)*stride + k. Kernel (kh, kw, out, in) as Keras stores it, which is
// exactly the HWIO kernel of the forward convolution this layer is the transpose of, so the
// kernels of conv.hpp are reused with the roles of input and output swapped.
#pragma once

#include "lanmsff/kernels/conv.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <int Filters, int Kernel, int Stride = 1, Padding Pad = same, bool Bias = true>
struct Conv2DTranspose {
  static_assert(Pad.kind != Padding::symmetric, "Conv2DTranspose: use 'same' or 'valid' padding");

  template <Shape In, class T>
  class layer {
    static constexpr int out_size(int n) { return Pad.kind == Padding::same ? n * Stride : (n - 1) * Stride + Kernel; }

   public:
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{out_size(In.h), out_size(In.w), Filters};
    // The forward convolution whose transpose this layer is: output_shape -> In.
    static constexpr ConvGeometry geometry = make_conv_geometry(output_shape, In.c, Kernel, Stride, 1, Pad);
    static_assert(geometry.out_h == In.h && geometry.out_w == In.w, "Conv2DTranspose: inconsistent geometry");
    static constexpr std::string_view kind = "Conv2DTranspose";

    layer() {
      kernel_.define({Kernel, Kernel, Filters, In.c}, Init::he_uniform, double(Kernel) * Kernel * Filters,
                     double(Kernel) * Kernel * In.c);
      if constexpr (Bias) bias_.define({Filters}, Init::zeros);
    }

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "Conv2DTranspose");
      output.resize(input.n(), output_shape);
      kernels::conv2d_backward_data(geometry, input.n(), input.data(), kernel_.data(), output.data());
      if constexpr (Bias)
        output.matrix().rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias_.data(), Filters);
    }

    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      kernels::conv2d_backward_weights(geometry, input.n(), grad_output.data(), input.data(), kernel_.grad_data(),
                                       static_cast<T*>(nullptr));
      if constexpr (Bias)
        Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias_.grad_data(), Filters) +=
            grad_output.matrix().colwise().sum();
      if (grad_input) {
        grad_input->resize(input.n(), In);
        kernels::conv2d_forward(geometry, input.n(), grad_output.data(), kernel_.data(), static_cast<const T*>(nullptr),
                                grad_input->data());
      }
    }

    template <class F>
    void for_each_parameter(F&& f) {
      f("kernel", kernel_);
      if constexpr (Bias) f("bias", bias_);
    }

    // ONNX ConvTranspose, then the crop of 'same' as a Slice (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.conv_transpose(path, input, geometry, kernel_.data(), Bias ? bias_.data() : nullptr);
    }

   private:
    Parameter<T> kernel_, bias_;
  };
};

}  // namespace lanmsff
