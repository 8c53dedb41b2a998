// A learnable tensor (or a BatchNorm moving statistic) with its logical shape, gradient and
// initialiser. Layers own Parameters and expose them through for_each_parameter; optimizers,
// checkpoints, parameter counts and gradient checks are all written once against that visitor.
#pragma once

#include <cmath>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/core/tensor.hpp"

namespace lanmsff {

enum class Init { zeros, ones, he_uniform, glorot_uniform, he_normal, uniform_fan_in };

template <class T>
struct Parameter {
  std::vector<int> shape;  // logical shape, documented per layer (e.g. conv kernel: kh, kw, in, out)
  AlignedVector<T> value;
  AlignedVector<T> grad;  // empty for state (BN moving statistics)
  bool trainable = true;
  Init init = Init::zeros;
  double fan_in = 1, fan_out = 1;

  void define(std::vector<int> dims, Init how, double in = 1, double out = 1, bool is_trainable = true) {
    shape = std::move(dims);
    std::size_t n = 1;
    for (int d : shape) n *= static_cast<std::size_t>(d);
    value.assign(n, T(0));
    trainable = is_trainable;
    grad.assign(trainable ? n : 0, T(0));
    init = how, fan_in = in, fan_out = out;
  }
  std::size_t size() const { return value.size(); }
  T* data() { return value.data(); }
  const T* data() const { return value.data(); }
  T* grad_data() { return grad.data(); }
  void zero_grad() { std::fill(grad.begin(), grad.end(), T(0)); }

  // Initialise from a generator: Keras' definitions of He- and Glorot-uniform.
  void initialize(Rng& rng) {
    double limit = 0;
    switch (init) {
      case Init::zeros: std::fill(value.begin(), value.end(), T(0)); return;
      case Init::ones: std::fill(value.begin(), value.end(), T(1)); return;
      case Init::he_uniform: limit = std::sqrt(6.0 / fan_in); break;
      case Init::glorot_uniform: limit = std::sqrt(6.0 / (fan_in + fan_out)); break;
      case Init::uniform_fan_in: limit = 1.0 / std::sqrt(fan_in); break;  // PyTorch's default for biases
      case Init::he_normal: {
        const double std = std::sqrt(2.0 / fan_in);
        for (auto& v : value) v = static_cast<T>(std * rng.normal());
        return;
      }
    }
    for (auto& v : value) v = static_cast<T>(rng.uniform(-limit, limit));
  }
};

inline std::string shape_string(const std::vector<int>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// Joins dotted parameter paths: join("block1", "conv1") == "block1.conv1".
inline std::string join_name(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (name.empty()) return prefix;
  return prefix + "." + name;
}

}  // namespace lanmsff
