// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, exactly as
// PyTorch's torch.optim.SGD with dampening 0 (MA-Net's recipe: lr 0.01, momentum 0.9, decay 1e-4).
#pragma once

#include <limits>
#include <utility>

#include "lanmsff/train/optimizer.hpp"

namespace lanmsff {

struct SGDOptions {
  double learning_rate = 0.01;
  double momentum = 0;
  bool nesterov = false;
  double weight_decay = 0;   // coupled L2: added to the gradient as weight_decay * parameter
  DecayFilter decay_filter = {};  // which parameters decay; empty = all (PyTorch's default)
};

// One step, per parameter p with gradient g (PyTorch semantics):
//   d = g + weight_decay * p
//   b = momentum * b + d                  (b starts at 0, so the first step gives b = d as PyTorch's clone)
//   p -= lr * (nesterov ? d + momentum * b : b)        (momentum 0: p -= lr * d)
// Keras' SGD keeps velocity = momentum * velocity - lr * g instead, which gives the same steps
// while the learning rate is constant and different ones right after the learning rate changes.
template <class T = float>
class SGD final : public Optimizer<T> {
 public:
  template <class Model>
  explicit SGD(Model& model, SGDOptions options = {})
      : Optimizer<T>(model, options.learning_rate, options.decay_filter, "SGD"), options_(std::move(options)) {
    const double inf = std::numeric_limits<double>::infinity();
    check_hyperparameter(options_.momentum, 0, 1, true, "SGD", "momentum");
    check_hyperparameter(options_.weight_decay, 0, inf, false, "SGD", "weight_decay");
    if (options_.nesterov && options_.momentum == 0)
      throw std::invalid_argument("SGD: Nesterov momentum requires momentum > 0");
    if (options_.momentum != 0) momentum_buffer_ = this->add_buffer("momentum_buffer");
  }

  std::string_view kind() const override { return "sgd"; }
  const SGDOptions& options() const { return options_; }

 private:
  void apply_update() override {
    const T lr = T(this->learning_rate()), momentum = T(options_.momentum);
    for (std::size_t i = 0; i < this->slots_.size(); ++i) {
      const auto& slot = this->slots_[i];
      auto p = this->value(slot);
      const auto g = this->gradient(slot);
      const T decay = slot.decay ? T(options_.weight_decay) : T(0);
      if (options_.momentum == 0) {
        p -= lr * (g + decay * p);
      } else {
        auto b = this->buffer(momentum_buffer_, i);
        b = momentum * b + (g + decay * p);
        if (options_.nesterov) p -= lr * ((g + decay * p) + momentum * b);
        else p -= lr * b;
      }
    }
  }

  SGDOptions options_;
  std::size_t momentum_buffer_ = 0;
};

template <class Model>
SGD(Model&, SGDOptions = {}) -> SGD<typename Model::scalar>;

}  // namespace lanmsff
