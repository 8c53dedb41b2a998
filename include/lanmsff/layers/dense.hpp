// Dense (fully connected) over the channel axis at every position, as Keras' Dense on an NHWC
// tensor: on a 1x1xC input (after global pooling) it is the classic fully connected layer.
// Kernel (in, out) as Keras stores it; Glorot-uniform, zero bias.
#pragma once

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <int Units, bool Bias = true, Init KernelInit = Init::glorot_uniform>
struct Dense {
  static_assert(Units > 0, "Dense: Units must be positive");
  template <Shape In, class T>
  class layer {
   public:
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{In.h, In.w, Units};
    static constexpr std::string_view kind = "Dense";

    layer() {
      kernel_.define({In.c, Units}, KernelInit, In.c, Units);
      if constexpr (Bias) bias_.define({Units}, KernelInit == Init::uniform_fan_in ? Init::uniform_fan_in : Init::zeros, In.c, Units);
    }

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "Dense");
      output.resize(input.n(), output_shape);
      auto y = output.matrix();
      y.noalias() = input.matrix() * weights();
      if constexpr (Bias) y.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias_.data(), Units);
    }

    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      MatrixMap<T>(kernel_.grad_data(), In.c, Units).noalias() += input.matrix().transpose() * grad_output.matrix();
      if constexpr (Bias)
        Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias_.grad_data(), Units) += grad_output.matrix().colwise().sum();
      if (grad_input) {
        grad_input->resize(input.n(), In);
        grad_input->matrix().noalias() = grad_output.matrix() * weights().transpose();
      }
    }

    template <class F>
    void for_each_parameter(F&& f) {
      f("kernel", kernel_);
      if constexpr (Bias) f("bias", bias_);
    }

    // ONNX: a 1x1 Conv (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.dense(path, input, In, Units, kernel_.data(), Bias ? bias_.data() : nullptr);
    }

   private:
    ConstMatrixMap<T> weights() const { return ConstMatrixMap<T>(kernel_.data(), In.c, Units); }
    Parameter<T> kernel_, bias_;
  };
};

// Flatten: H x W x C -> 1 x 1 x (H*W*C) in NHWC order (Keras' Flatten on channels-last data).
struct Flatten {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{1, 1, In.h * In.w * In.c};
    static constexpr std::string_view kind = "Flatten";
    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "Flatten");
      output.resize(input.n(), output_shape);
      output.array() = input.array();
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      grad_input->array() = grad_output.array();
    }
    // In NHWC order, as an (H W C, 1, 1) map (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.flatten_nhwc(path, input, In);
    }
  };
};

}  // namespace lanmsff
