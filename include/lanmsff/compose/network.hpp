// Network<Spec, InputShape, T>: owns the layer tree built from a spec, its output buffer, and
// the entry points a user calls: forward, backward, parameters, initialisation, summary.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "lanmsff/compose/summary.hpp"
#include "lanmsff/compose/visit.hpp"

namespace lanmsff {

template <class Spec, Shape In, class T = float>
class Network {
 public:
  using scalar = T;
  using root_type = typename Spec::template layer<In, T>;
  static_assert(Layer<root_type>, "Network: the spec does not produce a layer that meets the layer contract");
  static constexpr Shape input_shape = In;
  static constexpr Shape output_shape = root_type::output_shape;

  explicit Network(std::uint64_t seed = 0) { initialize(seed); }

  // Fresh parameters (He/Glorot-uniform, zero biases, BN gamma 1 beta 0) and dropout seeds from `seed`.
  void initialize(std::uint64_t seed) {
    initialize_parameters(root_, seed);
    seed_layers(root_, seed);
  }

  // Runs the network. The input must stay alive and unchanged until backward() has run.
  const Tensor<T>& forward(const Tensor<T>& input, const Context& ctx = Context::inference()) {
    expect_shape(input, In, "Network input");
    if (input.n() < 1) throw std::invalid_argument("Network: empty batch");
    run_forward(root_, input, output_, ctx);
    input_ = &input;
    return output_;
  }

  // Back-propagates dLoss/dOutput through the last forward pass, adding into parameter gradients.
  void backward(const Tensor<T>& grad_output, Tensor<T>* grad_input = nullptr) {
    if (!input_) throw std::logic_error("Network::backward called before forward");
    if (grad_output.n() != output_.n() || grad_output.shape() != output_shape)
      throw std::invalid_argument("Network::backward: gradient of shape " + shape_string(grad_output.n(), grad_output.shape()) +
                                  " for an output of shape " + shape_string(output_.n(), output_shape));
    run_backward(root_, *input_, output_, grad_output, grad_input);
  }

  const Tensor<T>& output() const { return output_; }
  root_type& root() { return root_; }

  // f(const std::string& name, Parameter<T>&) for every parameter and moving statistic.
  template <class F>
  void for_each_parameter(F&& f) { visit_parameters(root_, "", f); }
  // f(const std::string& path, auto& layer, int depth) for every layer, parents first.
  template <class F>
  void for_each_layer(F&& f) { visit_layers(root_, "", f); }

  ParameterCount parameter_count() { return count_parameters(root_); }
  void zero_grad() { zero_gradients(root_); }
  std::string summary(const std::string& title = "") { return summarize(root_, title); }

 private:
  root_type root_;
  Tensor<T> output_;
  const Tensor<T>* input_ = nullptr;
};

}  // namespace lanmsff
