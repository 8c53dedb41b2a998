// BatchNorm statistics re-estimation ("precise BN"), and run-time overrides of every BatchNorm's
// momentum and every Dropout's rate in a model.
//
// Why re-estimate: with Keras' momentum 0.99 a moving statistic averages roughly the last 100
// batches, each computed with the weights of its own step. In a short run the weights move faster
// than the averages follow, so the moving statistics describe an older network than the one being
// evaluated; a model trained a few hundred steps can then answer a single class in inference mode
// while its training-mode outputs are fine. Recomputing every BatchNorm's moving mean and variance
// as the exact average of the batch statistics over N training batches, with the final weights,
// removes that lag.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lanmsff/compose/visit.hpp"
#include "lanmsff/core/context.hpp"
#include "lanmsff/core/tensor.hpp"

namespace lanmsff {

// A BatchNorm layer (batch_norm.hpp) and a dropout-like layer: anything with a run-time `rate`
// that perturbs activations in training mode.
template <class L>
concept BatchNormLike = requires(L& layer) {
  { layer.accumulate_statistics } -> std::convertible_to<bool>;
  { layer.momentum } -> std::convertible_to<double>;
  layer.reset_accumulation();
};
template <class L>
concept DropoutLike = requires(L& layer) {
  { layer.rate } -> std::convertible_to<double>;
};

namespace detail {
// f(path, layer, depth) over a Network (through its layer tree) or over a layer tree itself.
template <class Model, class F>
void for_each_layer_of(Model& model, F&& f) {
  if constexpr (requires { model.root(); }) visit_layers(model.root(), "", f);
  else visit_layers(model, "", f);
}
}  // namespace detail

// Sets every BatchNorm's momentum (Keras convention: moving = momentum * moving + (1 - momentum) *
// batch). Returns the number of BatchNorm layers changed.
template <class Model>
std::size_t set_bn_momentum(Model& model, double momentum) {
  if (!(momentum >= 0 && momentum <= 1))
    throw std::invalid_argument("set_bn_momentum: momentum " + std::to_string(momentum) + " must be in [0, 1]");
  std::size_t changed = 0;
  detail::for_each_layer_of(model, [&](const std::string&, auto& layer, int) {
    if constexpr (BatchNormLike<std::remove_cvref_t<decltype(layer)>>) layer.momentum = momentum, ++changed;
  });
  return changed;
}

// Sets every Dropout's rate (0 disables them). Returns the number of layers changed.
template <class Model>
std::size_t set_dropout_rate(Model& model, double rate) {
  if (!(rate >= 0 && rate < 1))
    throw std::invalid_argument("set_dropout_rate: rate " + std::to_string(rate) + " must be in [0, 1)");
  std::size_t changed = 0;
  detail::for_each_layer_of(model, [&](const std::string&, auto& layer, int) {
    if constexpr (DropoutLike<std::remove_cvref_t<decltype(layer)>>) layer.rate = rate, ++changed;
  });
  return changed;
}

// Sets every BatchNorm's ghost batch size (layers/batch_norm.hpp: in training, each run of `samples`
// samples is normalised with its own statistics; 0 = the whole batch). Returns the layers changed.
template <class Model>
std::size_t set_bn_ghost_batch(Model& model, int samples) {
  if (samples < 0) throw std::invalid_argument("set_bn_ghost_batch: " + std::to_string(samples) + " samples must be >= 0");
  std::size_t changed = 0;
  detail::for_each_layer_of(model, [&](const std::string&, auto& layer, int) {
    if constexpr (requires { layer.ghost_batch; }) layer.ghost_batch = samples, ++changed;
  });
  return changed;
}

// Synchronised BatchNorm: every BatchNorm sums its batch statistics over the replicas with `sum` (which
// replaces per-channel sums of this replica with the sums over all; an empty function turns it off).
// Returns the layers changed.
template <class Model>
std::size_t set_bn_cross_replica_sum(Model& model, const std::function<void(std::span<double>)>& sum) {
  std::size_t changed = 0;
  detail::for_each_layer_of(model, [&](const std::string&, auto& layer, int) {
    if constexpr (requires { layer.cross_replica_sum; }) layer.cross_replica_sum = sum, ++changed;
  });
  return changed;
}

struct BatchNormReestimation {
  std::size_t batches = 0;  // forward passes run
  std::size_t layers = 0;   // BatchNorm layers re-estimated
};

// Re-estimates every BatchNorm's moving statistics over up to `max_batches` batches from
// `next_batch`, a callable bool(Tensor<T>& batch) that fills `batch` with the next training batch
// (augmented as in training, or not: the caller's choice) and returns false when there is none.
//
// Each BatchNorm's moving mean and variance become the plain average over the batches of the batch
// means and batch variances (biased, or unbiased for PyTorch-convention layers) it sees in training
// mode with the current weights; every batch weighs the same whatever its size. Dropout rates are
// 0 during the passes, since dropout would change the statistics the layers after it see, and are
// restored afterwards. Parameters and gradients are not touched. If next_batch or a forward pass
// throws, the model is left exactly as it was (moving statistics, rates, flags) and the exception
// propagates. A model without BatchNorm layers is left alone and reports 0 batches.
template <class Model, class NextBatch>
BatchNormReestimation reestimate_batch_norm(Model& model, NextBatch&& next_batch, std::size_t max_batches) {
  using T = typename Model::scalar;
  if (max_batches == 0) throw std::invalid_argument("reestimate_batch_norm: max_batches must be >= 1");

  std::vector<std::function<void()>> undo;  // restores rates and flags, in any case
  std::vector<std::pair<AlignedVector<T>*, AlignedVector<T>>> saved_statistics;  // restored on failure
  BatchNormReestimation result;
  detail::for_each_layer_of(model, [&](const std::string&, auto& layer, int) {
    using L = std::remove_cvref_t<decltype(layer)>;
    if constexpr (BatchNormLike<L>) {
      undo.push_back([&layer, flag = bool(layer.accumulate_statistics)] { layer.accumulate_statistics = flag; });
      layer.for_each_parameter([&](auto, Parameter<T>& p) {
        if (!p.trainable) saved_statistics.emplace_back(&p.value, p.value);
      });
      ++result.layers;
    } else if constexpr (DropoutLike<L>) {
      undo.push_back([&layer, rate = layer.rate] { layer.rate = rate; });
    }
  });
  if (result.layers == 0) return result;

  struct Restore {
    std::vector<std::function<void()>>& undo;
    ~Restore() {
      for (auto& f : undo) f();
    }
  } restore{undo};

  try {
    detail::for_each_layer_of(model, [&](const std::string&, auto& layer, int) {
      using L = std::remove_cvref_t<decltype(layer)>;
      if constexpr (BatchNormLike<L>) layer.accumulate_statistics = true, layer.reset_accumulation();
      else if constexpr (DropoutLike<L>) layer.rate = 0;
    });
    Tensor<T> batch, output;
    for (; result.batches < max_batches; ++result.batches) {
      if (!next_batch(batch)) break;
      const Context ctx = Context::train(result.batches);
      if constexpr (requires { model.forward(batch, ctx); }) model.forward(batch, ctx);
      else run_forward(model, batch, output, ctx);
    }
    if (result.batches == 0) throw std::invalid_argument("reestimate_batch_norm: next_batch gave no batch");
  } catch (...) {
    for (auto& [values, saved] : saved_statistics) *values = saved;
    throw;
  }
  return result;
}

}  // namespace lanmsff
