// Optimizer<T>: the interface of every optimizer (SGD in sgd.hpp, Adam and AdamW in adam.hpp).
// An optimizer collects a model's trainable parameters once, through the parameter visitor, and
// owns per-parameter buffers (momenta) that it can hand out and take back for resuming training.
#pragma once

#include "lanmsff/core/eigen.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lanmsff/compose/visit.hpp"
#include "lanmsff/train/train_state.hpp"

namespace lanmsff {

// Says whether weight decay applies to the parameter of that dotted name. Empty = decay every
// parameter, PyTorch's default (one parameter group).
using DecayFilter = std::function<bool(const std::string& name)>;

// The usual exclusion: no decay for biases and BatchNorm's gamma and beta (names ending in
// ".bias", ".gamma", ".beta"), whose decay only fights the normalisation.
inline DecayFilter exclude_bias_and_batch_norm() {
  return [](const std::string& name) {
    const auto dot = name.rfind('.');
    const std::string_view leaf = dot == std::string::npos ? std::string_view(name) : std::string_view(name).substr(dot + 1);
    return leaf != "bias" && leaf != "gamma" && leaf != "beta";
  };
}

template <class T = float>
class Optimizer {
 public:
  using scalar = T;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Applies one update from the gradients accumulated since the last zero_grad().
  void step() {
    ++steps_;
    apply_update();
  }
  void zero_grad() {
    for (auto& slot : slots_) slot.parameter->zero_grad();
  }

  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double lr) { learning_rate_ = checked_learning_rate(lr, std::string(kind())); }
  std::uint64_t steps() const { return steps_; }

  // The trainable parameters, in visitor order, with whether weight decay applies to each.
  std::size_t parameter_count() const { return slots_.size(); }
  const std::string& parameter_name(std::size_t i) const { return slots_.at(i).name; }
  bool decays(std::size_t i) const { return slots_.at(i).decay; }

  // Prefix of this optimizer's state names: "sgd", "adam", "adamw".
  virtual std::string_view kind() const = 0;

  // Everything a resumed run needs besides the parameters and the learning rate (which belongs to
  // the schedule): "<kind>.step" (one value) and "<kind>.<buffer>.<parameter name>" per buffer and
  // parameter, e.g. "adam.m.block1.conv1.kernel".
  NamedTensors<T> state() const {
    const std::string prefix(kind());
    // The step count travels as a T: refuse to save one that T cannot hold exactly.
    if (double(steps_) > std::ldexp(1.0, std::numeric_limits<T>::digits))
      throw std::overflow_error(prefix + ": step count " + std::to_string(steps_) + " is not exact in the state's scalar type");
    NamedTensors<T> out;
    out.emplace_back(prefix + ".step", std::vector<T>{T(steps_)});
    for (const auto& buffer : buffers_)
      for (std::size_t i = 0; i < slots_.size(); ++i)
        out.emplace_back(prefix + "." + buffer.name + "." + slots_[i].name,
                         std::vector<T>(buffer.values[i].begin(), buffer.values[i].end()));
    return out;
  }

  // Restores state(). Checks every name and size before changing anything, so a state from another
  // optimizer or another model throws std::invalid_argument and leaves this one as it was.
  void load_state(const NamedTensors<T>& state) {
    const std::string prefix(kind()), who = prefix + " optimizer: load_state";
    const auto index = detail::index_by_name(state, who);
    std::unordered_map<std::string, std::size_t> expected;
    const auto require = [&](const std::string& name, std::size_t size) -> const std::vector<T>& {
      const auto it = index.find(name);
      if (it == index.end()) throw std::invalid_argument(who + ": missing entry '" + name + "'");
      const auto& values = state[it->second].second;
      if (values.size() != size)
        throw std::invalid_argument(who + ": entry '" + name + "' has " + std::to_string(values.size()) +
                                    " values, expected " + std::to_string(size));
      expected.emplace(name, expected.size());
      return values;
    };
    const T saved_step = require(prefix + ".step", 1)[0];
    if (!(saved_step >= 0) || saved_step != std::floor(saved_step))
      throw std::invalid_argument(who + ": entry '" + prefix + ".step' is not a non-negative integer");
    for (const auto& buffer : buffers_)
      for (const auto& slot : slots_) require(prefix + "." + buffer.name + "." + slot.name, slot.parameter->size());
    detail::reject_unknown_names(state, expected, who);

    steps_ = static_cast<std::uint64_t>(saved_step);
    for (auto& buffer : buffers_)
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        const auto& values = state[index.at(prefix + "." + buffer.name + "." + slots_[i].name)].second;
        std::copy(values.begin(), values.end(), buffer.values[i].begin());
      }
  }

 protected:
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using ArrayView = Eigen::Map<Array, Eigen::AlignedMax>;
  using ConstArrayView = Eigen::Map<const Array, Eigen::AlignedMax>;

  struct Slot {
    std::string name;
    Parameter<T>* parameter;
    bool decay;
  };

  // Collects the trainable parameters of `model` (a Network or any layer tree). The model must
  // outlive the optimizer and keep its parameters where they are (no move, no re-definition).
  template <class Model>
  Optimizer(Model& model, double learning_rate, const DecayFilter& decay_filter, const std::string& who)
      : learning_rate_(checked_learning_rate(learning_rate, who)) {
    visit_parameters(model, "", [&](const std::string& name, Parameter<T>& p) {
      if (!p.trainable) return;  // BatchNorm moving statistics and frozen parameters
      if (p.grad.size() != p.value.size())
        throw std::logic_error(who + ": parameter '" + name + "' has " + std::to_string(p.grad.size()) +
                               " gradient entries for " + std::to_string(p.value.size()) + " values");
      slots_.push_back({name, &p, decay_filter ? decay_filter(name) : true});
    });
    if (slots_.empty()) throw std::invalid_argument(who + ": the model has no trainable parameters");
  }

  // Declares a zero-initialised per-parameter buffer saved as "<kind>.<name>.<parameter>";
  // returns its index for buffer().
  std::size_t add_buffer(std::string name) {
    Buffer buffer{std::move(name), {}};
    for (const auto& slot : slots_) buffer.values.emplace_back(slot.parameter->size(), T(0));
    buffers_.push_back(std::move(buffer));
    return buffers_.size() - 1;
  }
  ArrayView buffer(std::size_t index, std::size_t slot) {
    auto& values = buffers_[index].values[slot];
    return ArrayView(values.data(), Eigen::Index(values.size()));
  }
  static ArrayView value(const Slot& slot) {
    return ArrayView(slot.parameter->value.data(), Eigen::Index(slot.parameter->value.size()));
  }
  static ConstArrayView gradient(const Slot& slot) {
    return ConstArrayView(slot.parameter->grad.data(), Eigen::Index(slot.parameter->grad.size()));
  }

  static double checked_learning_rate(double lr, const std::string& who) {
    if (!std::isfinite(lr) || lr < 0)
      throw std::invalid_argument(who + ": learning rate " + std::to_string(lr) + " must be finite and >= 0");
    return lr;
  }

  // Called by step() after the step counter has advanced (steps() is 1 on the first update).
  virtual void apply_update() = 0;

  std::vector<Slot> slots_;

 private:
  struct Buffer {
    std::string name;
    std::vector<AlignedVector<T>> values;  // one per slot
  };
  double learning_rate_;
  std::uint64_t steps_ = 0;
  std::vector<Buffer> buffers_;
};

// Rejects a hyper-parameter outside [lo, hi) or [lo, hi] with a message naming it.
inline void check_hyperparameter(double value, double lo, double hi, bool hi_inclusive, const std::string& who,
                                 const char* name) {
  if (!(value >= lo) || !(hi_inclusive ? value <= hi : value < hi))
    throw std::invalid_argument(who + ": " + name + " = " + std::to_string(value) + " must be in [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + (hi_inclusive ? "]" : ")"));
}

}  // namespace lanmsff
