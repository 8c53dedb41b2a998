// Network<Spec, InputShape, T>: owns the layer tree built from a spec, its output buffer, and
// the entry points a user calls: forward, backward, parameters, initialisation, summary.
//
// Networks compiled once per program (an option, like the kernels: kernels/entry.hpp). The members
// that run the layers are defined out of the class, not inline, so that an explicit instantiation
// `template class Network<...>;` in one source file compiles the network's own code (every layer's
// forward and backward at its shapes: most of what a file that trains a model compiles beyond the
// kernels) and `extern template class Network<...>;` elsewhere leaves it out there. The shipped models
// declare their common instances that way where LANMSFF_EXTERN_MODELS is defined
// (LANMSFF_FOR_EACH_COMPILED_LANMSFF in models/lanmsff.hpp, ..._MANET in models/manet.hpp); the CMake
// library lanmsff::models (src/models_*.cpp) compiles them, with the kernels. Compile those files with
// the same compiler and flags as the rest of the program. A network of your own can do the same.
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

  explicit Network(std::uint64_t seed = 0);

  // Fresh parameters (He/Glorot-uniform, zero biases, BN gamma 1 beta 0) and dropout seeds from `seed`.
  void initialize(std::uint64_t seed);

  // Runs the network. The input must stay alive and unchanged until backward() has run.
  const Tensor<T>& forward(const Tensor<T>& input, const Context& ctx = Context::inference());

  // Back-propagates dLoss/dOutput through the last forward pass, adding into parameter gradients.
  void backward(const Tensor<T>& grad_output, Tensor<T>* grad_input = nullptr);

  const Tensor<T>& output() const { return output_; }
  root_type& root() { return root_; }

  // f(const std::string& name, Parameter<T>&) for every parameter and moving statistic.
  template <class F>
  void for_each_parameter(F&& f) { visit_parameters(root_, "", f); }
  // f(const std::string& path, auto& layer, int depth) for every layer, parents first.
  template <class F>
  void for_each_layer(F&& f) { visit_layers(root_, "", f); }

  ParameterCount parameter_count();
  void zero_grad();
  std::string summary(const std::string& title = "");

 private:
  root_type root_;
  Tensor<T> output_;
  const Tensor<T>* input_ = nullptr;
};

// The members that run the layers, out of the class (see the top of the file).
template <class Spec, Shape In, class T>
Network<Spec, In, T>::Network(std::uint64_t seed) {
  initialize(seed);
}

template <class Spec, Shape In, class T>
void Network<Spec, In, T>::initialize(std::uint64_t seed) {
  initialize_parameters(root_, seed);
  seed_layers(root_, seed);
}

template <class Spec, Shape In, class T>
const Tensor<T>& Network<Spec, In, T>::forward(const Tensor<T>& input, const Context& ctx) {
  expect_shape(input, In, "Network input");
  if (input.n() < 1) throw std::invalid_argument("Network: empty batch");
  run_forward(root_, input, output_, ctx);
  input_ = &input;
  return output_;
}

template <class Spec, Shape In, class T>
void Network<Spec, In, T>::backward(const Tensor<T>& grad_output, Tensor<T>* grad_input) {
  if (!input_) throw std::logic_error("Network::backward called before forward");
  if (grad_output.n() != output_.n() || grad_output.shape() != output_shape)
    throw std::invalid_argument("Network::backward: gradient of shape " + shape_string(grad_output.n(), grad_output.shape()) +
                                " for an output of shape " + shape_string(output_.n(), output_shape));
  run_backward(root_, *input_, output_, grad_output, grad_input);
}

template <class Spec, Shape In, class T>
ParameterCount Network<Spec, In, T>::parameter_count() {
  return count_parameters(root_);
}

template <class Spec, Shape In, class T>
void Network<Spec, In, T>::zero_grad() {
  zero_gradients(root_);
}

template <class Spec, Shape In, class T>
std::string Network<Spec, In, T>::summary(const std::string& title) {
  return summarize(root_, title);
}

}  // namespace lanmsff
