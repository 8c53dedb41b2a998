// Adam and AdamW with bias correction, as PyTorch's torch.optim.Adam / AdamW (amsgrad off), plus
// Keras' placement of epsilon as an option. The LANMSFF recipe (a Keras model) is
// AdamOptions::keras(): lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7 applied the Keras way.
#pragma once

#include <cmath>
#include <limits>
#include <utility>

#include "lanmsff/train/optimizer.hpp"

namespace lanmsff {

// Where epsilon enters the denominator. With m, v the moment estimates after t steps,
// bc1 = 1 - beta1^t, bc2 = 1 - beta2^t:
//   pytorch: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)       = lr * m_hat / (sqrt(v_hat) + eps)
//   keras:   p -= lr * sqrt(bc2) / bc1 * m / (sqrt(v) + eps)       = lr * m_hat / (sqrt(v_hat) + eps / sqrt(bc2))
// Keras (tf.keras and Keras 3, keras/src/optimizers/adam.py) folds the bias correction into the
// step size, so its epsilon is the paper's "epsilon hat": early in training the effective epsilon
// is eps / sqrt(bc2), about 31.6 x eps at step 1. The two agree once sqrt(v_hat) >> eps.
enum class AdamEpsilon { pytorch, keras };

struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;  // PyTorch's default; Keras' is 1e-7
  AdamEpsilon epsilon_mode = AdamEpsilon::pytorch;
  double weight_decay = 0;   // Adam: coupled L2 (added to the gradient), as torch.optim.Adam
  DecayFilter decay_filter = {};  // which parameters decay; empty = all

  // Keras' Adam defaults, the optimizer of the LANMSFF reference training recipe.
  static AdamOptions keras(double learning_rate = 1e-3) {
    return {.learning_rate = learning_rate, .beta1 = 0.9, .beta2 = 0.999, .epsilon = 1e-7,
            .epsilon_mode = AdamEpsilon::keras, .weight_decay = 0, .decay_filter = {}};
  }
};

// AdamW's options differ from Adam's only in the default decay (PyTorch's AdamW: 1e-2) and in
// what the decay means: decoupled, p -= lr * weight_decay * p before the Adam step.
struct AdamWOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  AdamEpsilon epsilon_mode = AdamEpsilon::pytorch;
  double weight_decay = 1e-2;
  DecayFilter decay_filter = {};
};

namespace detail {

// The shared update. One step, per parameter p with gradient g:
//   Adam:  d = g + weight_decay * p          AdamW: p *= 1 - lr * weight_decay;  d = g
//   m = beta1 * m + (1 - beta1) * d;   v = beta2 * v + (1 - beta2) * d^2
//   p -= (update of AdamEpsilon above)
template <class T, bool Decoupled>
class AdamUpdate : public Optimizer<T> {
 public:
  const AdamOptions& options() const { return options_; }

 protected:
  template <class Model>
  AdamUpdate(Model& model, AdamOptions options, const std::string& who)
      : Optimizer<T>(model, options.learning_rate, options.decay_filter, who), options_(std::move(options)) {
    const double inf = std::numeric_limits<double>::infinity();
    check_hyperparameter(options_.beta1, 0, 1, false, who, "beta1");
    check_hyperparameter(options_.beta2, 0, 1, false, who, "beta2");
    check_hyperparameter(options_.epsilon, 0, inf, false, who, "epsilon");
    check_hyperparameter(options_.weight_decay, 0, inf, false, who, "weight_decay");
    first_moment_ = this->add_buffer("m");
    second_moment_ = this->add_buffer("v");
  }

 private:
  void apply_update() override {
    const double lr = this->learning_rate(), t = double(this->steps());
    const double bc1 = 1 - std::pow(options_.beta1, t), bc2 = 1 - std::pow(options_.beta2, t);
    const T b1 = T(options_.beta1), b2 = T(options_.beta2), eps = T(options_.epsilon);
    const bool keras = options_.epsilon_mode == AdamEpsilon::keras;
    const T step_size = T(keras ? lr * std::sqrt(bc2) / bc1 : lr / bc1), sqrt_bc2 = T(std::sqrt(bc2));
    for (std::size_t i = 0; i < this->slots_.size(); ++i) {
      const auto& slot = this->slots_[i];
      auto p = this->value(slot);
      const auto g = this->gradient(slot);
      auto m = this->buffer(first_moment_, i), v = this->buffer(second_moment_, i);
      const double decay = slot.decay ? options_.weight_decay : 0.0;
      if constexpr (Decoupled) {
        if (decay != 0) p *= T(1 - lr * decay);
        m = b1 * m + (T(1) - b1) * g;
        v = b2 * v + (T(1) - b2) * g.square();
      } else {
        m = b1 * m + (T(1) - b1) * (g + T(decay) * p);
        v = b2 * v + (T(1) - b2) * (g + T(decay) * p).square();
      }
      if (keras) p -= step_size * m / (v.sqrt() + eps);
      else p -= step_size * m / (v.sqrt() / sqrt_bc2 + eps);
    }
  }

  AdamOptions options_;
  std::size_t first_moment_ = 0, second_moment_ = 0;
};

}  // namespace detail

template <class T = float>
class Adam final : public detail::AdamUpdate<T, false> {
 public:
  template <class Model>
  explicit Adam(Model& model, AdamOptions options = {}) : detail::AdamUpdate<T, false>(model, std::move(options), "Adam") {}
  std::string_view kind() const override { return "adam"; }
};

template <class T = float>
class AdamW final : public detail::AdamUpdate<T, true> {
 public:
  template <class Model>
  explicit AdamW(Model& model, AdamWOptions options = {})
      : detail::AdamUpdate<T, true>(model, as_adam(std::move(options)), "AdamW") {}
  std::string_view kind() const override { return "adamw"; }

 private:
  static AdamOptions as_adam(AdamWOptions o) {
    return {.learning_rate = o.learning_rate, .beta1 = o.beta1, .beta2 = o.beta2, .epsilon = o.epsilon,
            .epsilon_mode = o.epsilon_mode, .weight_decay = o.weight_decay, .decay_filter = std::move(o.decay_filter)};
  }
};

template <class Model>
Adam(Model&, AdamOptions = {}) -> Adam<typename Model::scalar>;
template <class Model>
AdamW(Model&, AdamWOptions = {}) -> AdamW<typename Model::scalar>;

}  // namespace lanmsff
