// Softmax over the channel axis at every position (numerically stable). For training use
// train/loss.hpp's SoftmaxCrossEntropy on the logits instead: it fuses softmax and loss.
#pragma once

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

namespace kernels {
template <class T>
void softmax_rows(const T* x, T* y, std::ptrdiff_t rows, int width) {
  parallel_for(0, rows, [&](std::ptrdiff_t r) {
    Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> in(x + r * width, width);
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> out(y + r * width, width);
    out = (in - in.maxCoeff()).exp();
    out /= out.sum();
  });
}
}  // namespace kernels

struct Softmax {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = In;
    static constexpr std::string_view kind = "Softmax";
    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "Softmax");
      output.resize(input.n(), In);
      kernels::softmax_rows(input.data(), output.data(), std::ptrdiff_t(input.n()) * In.h * In.w, In.c);
    }
    // dx = y * (dy - sum(dy * y))
    void backward(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      parallel_for(0, std::ptrdiff_t(input.n()) * In.h * In.w, [&](std::ptrdiff_t r) {
        Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> y(output.data() + r * In.c, In.c), g(grad_output.data() + r * In.c, In.c);
        Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(grad_input->data() + r * In.c, In.c) = y * (g - (g * y).sum());
      });
    }
  };
};

}  // namespace lanmsff
