// Elementwise activations: ReLU and Sigmoid. Their backward passes only need the output, so they
// can overwrite their input (Sequential runs them in place where the layer before allows it).
#pragma once

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/layer.hpp"
#include "lanmsff/kernels/relu_gradient.hpp"

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
  static constexpr bool in_place = true;  // forward is elementwise; backward reads only the output

  void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
    expect_shape(input, In, Derived::kind.data());
    output.resize(input.n(), In);
    parallel_chunks(input.size(), [&](std::size_t b, std::size_t n) {
      Span<T> y(output.data() + b, n);
      Derived::apply(ConstSpan<T>(input.data() + b, n), y);
    });
  }
  void backward(const Tensor<T>&, const Tensor<T>& output, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
    if (!grad_input) return;
    grad_input->resize(output.n(), In);
    parallel_chunks(output.size(), [&](std::size_t b, std::size_t n) {
      Span<T> dx(grad_input->data() + b, n);
      Derived::gradient(ConstSpan<T>(output.data() + b, n), ConstSpan<T>(grad_output.data() + b, n), dx);
    });
  }
};
}  // namespace detail

// max(x, 0). The gradient at exactly 0 is 0 (as TensorFlow and PyTorch).
struct ReLU {
  template <Shape In, class T>
  struct layer : detail::ElementwiseLayer<layer<In, T>, In, T> {
    static constexpr std::string_view kind = "ReLU";
    template <class X, class Y>
    static void apply(const X& x, Y& y) { y = x.max(T(0)); }
    template <class Y, class G, class D>
    static void gradient(const Y& y, const G& g, D& dx) { dx = kernels::relu_gradient(y, g); }
  };
};

// 1 / (1 + exp(-x)), computed without overflow for large |x|.
struct Sigmoid {
  template <Shape In, class T>
  struct layer : detail::ElementwiseLayer<layer<In, T>, In, T> {
    static constexpr std::string_view kind = "Sigmoid";
    template <class X, class Y>
    static void apply(const X& x, Y& y) {
      const auto e = (-x.abs()).exp();  // in (0, 1]
      y = (x >= T(0)).select(T(1) / (T(1) + e), e / (T(1) + e));
    }
    template <class Y, class G, class D>
    static void gradient(const Y& y, const G& g, D& dx) { dx = g * y * (T(1) - y); }
  };
};

}  // namespace lanmsff
