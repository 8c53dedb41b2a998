// EarlyStopping with Keras' semantics (keras.callbacks.EarlyStopping): stop once the monitored
// metric has not improved by more than min_delta for `patience` epochs, optionally keeping a copy
// of the best epoch's parameters (all of them, BatchNorm moving statistics included) to restore.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "lanmsff/compose/visit.hpp"
#include "lanmsff/train/train_state.hpp"

namespace lanmsff {

struct EarlyStoppingOptions {
  int patience = 0;
  double min_delta = 0;  // absolute; its sign is ignored, as in Keras
  MonitorMode mode = MonitorMode::min;
  bool restore_best_weights = false;
  int start_from_epoch = 0;  // epochs before this one are not monitored (Keras' warm-up)
};

// Per epoch (0-based), as Keras: wait += 1; an improvement (metric - min_delta > best in max mode,
// metric + min_delta < best in min mode) records best, best epoch, best weights and resets wait;
// otherwise training stops once wait >= patience (never at epoch 0). With patience 14 on the
// validation loss (the LANMSFF recipe) the run stops at the 14th epoch without improvement.
// A NaN metric is never an improvement.
template <class T = float>
class EarlyStopping {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {}) : options_(options) {
    if (options.patience < 0) throw std::invalid_argument("EarlyStopping: patience must be >= 0");
    if (!std::isfinite(options.min_delta)) throw std::invalid_argument("EarlyStopping: min_delta must be finite");
    if (options.start_from_epoch < 0) throw std::invalid_argument("EarlyStopping: start_from_epoch must be >= 0");
    options_.min_delta = std::abs(options.min_delta);
    reset();
  }

  // Forgets everything, as Keras' on_train_begin.
  void reset() {
    best_ = options_.mode == MonitorMode::min ? std::numeric_limits<double>::infinity()
                                              : -std::numeric_limits<double>::infinity();
    wait_ = 0, best_epoch_ = -1, stopped_epoch_ = -1;
    best_weights_.clear();
  }

  // Call after each epoch; returns true when training should stop. `model` is a Network or any
  // layer tree; with restore_best_weights its parameters are copied when they are the best so far.
  template <class Model>
  bool on_epoch_end(int epoch, double metric, Model& model) {
    if (epoch < 0) throw std::invalid_argument("EarlyStopping: epoch " + std::to_string(epoch) + " is negative");
    if (epoch < options_.start_from_epoch) return false;
    // Keras: if no epoch ever improves, the first monitored epoch's weights are the best.
    if (options_.restore_best_weights && best_weights_.empty()) snapshot(model), best_epoch_ = epoch;
    ++wait_;
    if (is_improvement(metric)) {
      best_ = metric, best_epoch_ = epoch, wait_ = 0;
      if (options_.restore_best_weights) snapshot(model);
      return false;
    }
    if (wait_ >= options_.patience && epoch > 0) {
      stopped_epoch_ = epoch;
      return true;
    }
    return false;
  }

  // Keras 3's on_train_end: with restore_best_weights, put the best weights back (whether or not
  // training stopped early). Does nothing otherwise.
  template <class Model>
  void on_train_end(Model& model) {
    if (options_.restore_best_weights && !best_weights_.empty()) restore_best_weights(model);
  }

  // Copies the best epoch's parameters into `model`. Throws std::logic_error when none were kept and
  // std::invalid_argument when the model's parameters do not match them (names, sizes).
  template <class Model>
  void restore_best_weights(Model& model) const {
    const std::string who = "EarlyStopping::restore_best_weights";
    if (best_weights_.empty())
      throw std::logic_error(who + ": no weights kept (restore_best_weights off, or no epoch monitored yet)");
    const auto index = detail::index_by_name(best_weights_, who);
    std::size_t matched = 0;
    visit_parameters(model, "", [&](const std::string& name, Parameter<T>& p) {
      const auto it = index.find(name);
      if (it == index.end()) throw std::invalid_argument(who + ": no kept values for parameter '" + name + "'");
      if (best_weights_[it->second].second.size() != p.size())
        throw std::invalid_argument(who + ": kept values of '" + name + "' have " +
                                    std::to_string(best_weights_[it->second].second.size()) + " entries, the parameter " +
                                    std::to_string(p.size()));
      ++matched;
    });
    if (matched != best_weights_.size())
      throw std::invalid_argument(who + ": " + std::to_string(best_weights_.size() - matched) +
                                  " kept tensors match no parameter of the model");
    visit_parameters(model, "", [&](const std::string& name, Parameter<T>& p) {
      const auto& values = best_weights_[index.at(name)].second;
      std::copy(values.begin(), values.end(), p.value.begin());
    });
  }

  bool improved_last_epoch() const { return wait_ == 0 && best_epoch_ >= 0; }
  double best() const { return best_; }
  int best_epoch() const { return best_epoch_; }        // -1 before the first monitored epoch
  int stopped_epoch() const { return stopped_epoch_; }  // -1 while training goes on
  int wait() const { return wait_; }
  const EarlyStoppingOptions& options() const { return options_; }

  // The kept weights by parameter name, for a resume checkpoint; set_best_weights puts them back
  // (restore_best_weights checks them against the model).
  const NamedTensors<T>& best_weights() const { return best_weights_; }
  void set_best_weights(NamedTensors<T> weights) {
    detail::index_by_name(weights, "EarlyStopping::set_best_weights");
    best_weights_ = std::move(weights);
  }

  NamedScalars state() const {
    return {{"early_stopping.best", best_},
            {"early_stopping.wait", double(wait_)},
            {"early_stopping.best_epoch", double(best_epoch_)},
            {"early_stopping.stopped_epoch", double(stopped_epoch_)}};
  }
  void load_state(const NamedScalars& state) {
    const ScalarReader reader(state, "early_stopping: load_state",
                              {"early_stopping.best", "early_stopping.wait", "early_stopping.best_epoch",
                               "early_stopping.stopped_epoch"});
    const double best = reader.get("early_stopping.best");
    if (std::isnan(best)) throw std::invalid_argument("early_stopping: load_state: entry 'early_stopping.best' is NaN");
    const long long wait = reader.count("early_stopping.wait");
    const long long best_epoch = reader.count_or_minus_one("early_stopping.best_epoch");
    const long long stopped = reader.count_or_minus_one("early_stopping.stopped_epoch");
    constexpr long long int_max = std::numeric_limits<int>::max();
    if (wait > int_max || best_epoch > int_max || stopped > int_max)
      throw std::invalid_argument("early_stopping: load_state: counters out of range");
    best_ = best, wait_ = int(wait), best_epoch_ = int(best_epoch), stopped_epoch_ = int(stopped);
  }

 private:
  bool is_improvement(double metric) const {
    if (options_.mode == MonitorMode::min) return metric + options_.min_delta < best_;
    return metric - options_.min_delta > best_;
  }

  // Copies every parameter and moving statistic. The buffers are reused when they already hold the
  // model's parameters in visitor order (every epoch after the first); otherwise, e.g. after
  // set_best_weights with another order, they are rebuilt.
  template <class Model>
  void snapshot(Model& model) {
    std::size_t i = 0;
    bool same_layout = true;
    visit_parameters(model, "", [&](const std::string& name, Parameter<T>& p) {
      same_layout = same_layout && i < best_weights_.size() && best_weights_[i].first == name &&
                    best_weights_[i].second.size() == p.size();
      ++i;
    });
    if (!same_layout || i != best_weights_.size()) {
      best_weights_.clear();
      visit_parameters(model, "", [&](const std::string& name, Parameter<T>& p) {
        best_weights_.emplace_back(name, std::vector<T>(p.size()));
      });
    }
    i = 0;
    visit_parameters(model, "", [&](const std::string&, Parameter<T>& p) {
      std::copy(p.value.begin(), p.value.end(), best_weights_[i++].second.begin());
    });
  }

  EarlyStoppingOptions options_;
  double best_ = 0;
  int wait_ = 0, best_epoch_ = -1, stopped_epoch_ = -1;
  NamedTensors<T> best_weights_;
};

}  // namespace lanmsff
