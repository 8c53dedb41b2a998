// Elementwise activations: ReLU and Sigmoid. Their backward passes only need the output, so they
// can overwrite their input (Sequential runs them in place where the layer before allows it).
#pragma once

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/kernels/elementwise.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

namespace detail {
template <class T>
using Span = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <class T>
using ConstSpan = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

template <class Derived, Shape In, class T>
struct ElementwiseLayer : NoParameters {
  using scalar = T;
  static constexpr Shape input_shape = In;
  static constexpr Shape output_shape = In;
  // Elementwise, so it may run in place; its backward takes only the output (layer.hpp).
  void forward_in_place(const Tensor<T>& input, Tensor<T>& output, const Context&) {
    expect_shape(input, In, Derived::kind.data());
    output.resize(input.n(), In);
    Derived::apply(input.size(), input.data(), output.data());
  }
  void backward_from_output(const Tensor<T>& output, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
    if (!grad_input) return;
    grad_input->resize(output.n(), In);
    Derived::gradient(output.size(), output.data(), grad_output.data(), grad_input->data());
  }
};
}  // namespace detail

// max(x, 0). The gradient at exactly 0 is 0 (as TensorFlow and PyTorch).
struct ReLU {
  template <Shape In, class T>
  struct layer : detail::ElementwiseLayer<layer<In, T>, In, T> {
    static constexpr std::string_view kind = "ReLU";
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.node("Relu", {input}, path);
    }
    static void apply(std::size_t n, const T* x, T* y) { kernels::relu_forward(n, x, y); }
    static void gradient(std::size_t n, const T* y, const T* dy, T* dx) { kernels::relu_backward(n, y, dy, dx); }
  };
};

// 1 / (1 + exp(-x)), computed without overflow for large |x|.
struct Sigmoid {
  template <Shape In, class T>
  struct layer : detail::ElementwiseLayer<layer<In, T>, In, T> {
    static constexpr std::string_view kind = "Sigmoid";
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.node("Sigmoid", {input}, path);
    }
    static void apply(std::size_t size, const T* input, T* output) {
      parallel_chunks(size, [&](std::size_t b, std::size_t n) {
        const detail::ConstSpan<T> x(input + b, std::ptrdiff_t(n));
        const auto e = (-x.abs()).exp();  // in (0, 1]
        detail::Span<T>(output + b, std::ptrdiff_t(n)) = (x >= T(0)).select(T(1) / (T(1) + e), e / (T(1) + e));
      });
    }
    static void gradient(std::size_t size, const T* y, const T* dy, T* dx) {
      parallel_chunks(size, [&](std::size_t b, std::size_t n) {
        const detail::ConstSpan<T> out(y + b, std::ptrdiff_t(n));
        detail::Span<T>(dx + b, std::ptrdiff_t(n)) = detail::ConstSpan<T>(dy + b, std::ptrdiff_t(n)) * out * (T(1) - out);
      });
    }
  };
};

}  // namespace lanmsff
