// Learning-rate schedules, epoch-based: StepLR and CosineAnnealing (PyTorch's closed forms) and
// ReduceLROnPlateau (PyTorch's or Keras' bookkeeping). The trainer sets the optimizer's learning
// rate to learning_rate() before epoch 0 and to on_epoch_end(epoch, metric) after each epoch.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <string_view>

#include "lanmsff/train/train_state.hpp"

namespace lanmsff {

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  // Prefix of the state names: "step_lr", "cosine_annealing", "reduce_lr_on_plateau".
  virtual std::string_view kind() const = 0;
  // The learning rate of the coming epoch (epoch 0's before any on_epoch_end).
  virtual double learning_rate() const = 0;
  // Called after epoch `epoch` (0-based) with the monitored metric (validation loss; schedules
  // that do not monitor ignore it). Returns the learning rate of epoch `epoch + 1`.
  virtual double on_epoch_end(int epoch, double metric) = 0;
  // Progress for resuming; the configuration (base rate, factors) is the constructor's.
  virtual NamedScalars state() const = 0;
  virtual void load_state(const NamedScalars& state) = 0;

 protected:
  static void check_epoch(int epoch, std::string_view who) {
    if (epoch < 0) throw std::invalid_argument(std::string(who) + ": epoch " + std::to_string(epoch) + " is negative");
  }
  static double checked_rate(double lr, std::string_view who, const char* what) {
    if (!std::isfinite(lr) || lr < 0)
      throw std::invalid_argument(std::string(who) + ": " + what + " " + std::to_string(lr) + " must be finite and >= 0");
    return lr;
  }
};

namespace detail {
// Schedules whose rate is a function of the epoch index only: the state is the last finished epoch.
class ClosedFormSchedule : public LearningRateSchedule {
 public:
  double learning_rate() const final { return rate_at(last_epoch_ + 1); }
  double on_epoch_end(int epoch, double) final {
    check_epoch(epoch, kind());
    last_epoch_ = epoch;
    return learning_rate();
  }
  NamedScalars state() const final { return {{std::string(kind()) + ".last_epoch", double(last_epoch_)}}; }
  void load_state(const NamedScalars& state) final {
    const std::string name = std::string(kind()) + ".last_epoch";
    const ScalarReader reader(state, std::string(kind()) + ": load_state", {name});
    const long long last = reader.count_or_minus_one(name);
    if (last > std::numeric_limits<int>::max())
      throw std::invalid_argument(std::string(kind()) + ": load_state: entry '" + name + "' is out of range");
    last_epoch_ = static_cast<int>(last);
  }

 protected:
  virtual double rate_at(int epoch) const = 0;

 private:
  int last_epoch_ = -1;  // no epoch finished yet
};
}  // namespace detail

// PyTorch's StepLR: epoch e trains at base_lr * gamma^floor(e / step_size). MA-Net: 0.01, 15, 0.1.
class StepLR final : public detail::ClosedFormSchedule {
 public:
  StepLR(double base_lr, int step_size, double gamma = 0.1)
      : base_lr_(checked_rate(base_lr, "StepLR", "base learning rate")), step_size_(step_size), gamma_(gamma) {
    if (step_size < 1) throw std::invalid_argument("StepLR: step_size " + std::to_string(step_size) + " must be >= 1");
    if (!(gamma > 0) || !std::isfinite(gamma)) throw std::invalid_argument("StepLR: gamma must be finite and > 0");
  }
  std::string_view kind() const override { return "step_lr"; }

 protected:
  double rate_at(int epoch) const override { return base_lr_ * std::pow(gamma_, epoch / step_size_); }

 private:
  double base_lr_;
  int step_size_;
  double gamma_;
};

// PyTorch's CosineAnnealingLR (closed form): epoch e trains at
//   eta_min + (base_lr - eta_min) * (1 + cos(pi * e / t_max)) / 2,
// which reaches eta_min at e = t_max and, as in PyTorch, rises again after it (so train t_max
// epochs, or t_max + 1 to include the eta_min epoch). With warmup_epochs W > 0, epochs 0..W-1
// ramp linearly, base_lr * (e + 1) / W, and the cosine runs over the remaining t_max - W epochs
// (e replaced by e - W, t_max by t_max - W).
class CosineAnnealing final : public detail::ClosedFormSchedule {
 public:
  CosineAnnealing(double base_lr, int t_max, double eta_min = 0, int warmup_epochs = 0)
      : base_lr_(checked_rate(base_lr, "CosineAnnealing", "base learning rate")),
        eta_min_(checked_rate(eta_min, "CosineAnnealing", "eta_min")), t_max_(t_max), warmup_(warmup_epochs) {
    if (warmup_epochs < 0) throw std::invalid_argument("CosineAnnealing: warmup_epochs must be >= 0");
    if (t_max <= warmup_epochs)
      throw std::invalid_argument("CosineAnnealing: t_max " + std::to_string(t_max) + " must exceed warmup_epochs " +
                                  std::to_string(warmup_epochs));
  }
  std::string_view kind() const override { return "cosine_annealing"; }

 protected:
  double rate_at(int epoch) const override {
    if (epoch < warmup_) return base_lr_ * (epoch + 1) / warmup_;
    const double phase = std::numbers::pi * (epoch - warmup_) / (t_max_ - warmup_);
    return eta_min_ + (base_lr_ - eta_min_) * (1 + std::cos(phase)) / 2;
  }

 private:
  double base_lr_, eta_min_;
  int t_max_, warmup_;
};

enum class ThresholdMode { relative, absolute };
// The two frameworks count a plateau differently (patience p, cooldown c):
//   pytorch: reduces after p + 1 epochs without improvement; the c epochs after a reduction do not
//            count as bad (torch.optim.lr_scheduler.ReduceLROnPlateau);
//   keras:   reduces after p epochs without improvement; a cooldown of c suspends counting for
//            c - 1 epochs, because the counter is decremented before it is tested
//            (keras.callbacks.ReduceLROnPlateau). Keras compares min_lr in float32; this does not.
enum class PlateauConvention { pytorch, keras };

struct ReduceLROnPlateauOptions {
  double factor = 0.1;
  int patience = 10;
  MonitorMode mode = MonitorMode::min;
  double threshold = 1e-4;  // improvement needed: relative, best * (1 -/+ threshold), or absolute
  ThresholdMode threshold_mode = ThresholdMode::relative;
  int cooldown = 0;
  double min_lr = 0;
  PlateauConvention convention = PlateauConvention::pytorch;

  // keras.callbacks.ReduceLROnPlateau(factor, patience): absolute min_delta 1e-4. The LANMSFF
  // recipe is keras(0.1, 9) on the validation loss.
  static ReduceLROnPlateauOptions keras(double factor = 0.1, int patience = 10) {
    return {.factor = factor, .patience = patience, .mode = MonitorMode::min, .threshold = 1e-4,
            .threshold_mode = ThresholdMode::absolute, .cooldown = 0, .min_lr = 0,
            .convention = PlateauConvention::keras};
  }
};

class ReduceLROnPlateau final : public LearningRateSchedule {
 public:
  explicit ReduceLROnPlateau(double initial_lr, ReduceLROnPlateauOptions options = {})
      : options_(options), lr_(checked_rate(initial_lr, "ReduceLROnPlateau", "initial learning rate")) {
    if (!(options.factor > 0 && options.factor < 1))
      throw std::invalid_argument("ReduceLROnPlateau: factor " + std::to_string(options.factor) + " must be in (0, 1)");
    if (options.patience < 0 || options.cooldown < 0)
      throw std::invalid_argument("ReduceLROnPlateau: patience and cooldown must be >= 0");
    if (!(options.threshold >= 0) || !std::isfinite(options.threshold))
      throw std::invalid_argument("ReduceLROnPlateau: threshold must be finite and >= 0");
    checked_rate(options.min_lr, "ReduceLROnPlateau", "min_lr");
    best_ = worst();
  }

  std::string_view kind() const override { return "reduce_lr_on_plateau"; }
  double learning_rate() const override { return lr_; }
  const ReduceLROnPlateauOptions& options() const { return options_; }
  double best() const { return best_; }
  int bad_epochs() const { return bad_epochs_; }

  // A NaN metric never counts as an improvement.
  double on_epoch_end(int epoch, double metric) override {
    check_epoch(epoch, kind());
    last_epoch_ = epoch;
    if (options_.convention == PlateauConvention::pytorch) {
      if (is_better(metric)) best_ = metric, bad_epochs_ = 0;
      else ++bad_epochs_;
      if (cooldown_counter_ > 0) --cooldown_counter_, bad_epochs_ = 0;
      if (bad_epochs_ > options_.patience) {
        const double reduced = std::max(lr_ * options_.factor, options_.min_lr);
        if (lr_ - reduced > 1e-8) lr_ = reduced;  // PyTorch's eps: ignore negligible changes
        cooldown_counter_ = options_.cooldown, bad_epochs_ = 0;
      }
    } else {
      if (cooldown_counter_ > 0) --cooldown_counter_, bad_epochs_ = 0;
      if (is_better(metric)) {
        best_ = metric, bad_epochs_ = 0;
      } else if (cooldown_counter_ == 0 && ++bad_epochs_ >= options_.patience && lr_ > options_.min_lr) {
        lr_ = std::max(lr_ * options_.factor, options_.min_lr);
        cooldown_counter_ = options_.cooldown, bad_epochs_ = 0;
      }
    }
    return lr_;
  }

  NamedScalars state() const override {
    const std::string p = std::string(kind()) + ".";
    return {{p + "learning_rate", lr_}, {p + "best", best_}, {p + "bad_epochs", double(bad_epochs_)},
            {p + "cooldown_counter", double(cooldown_counter_)}, {p + "last_epoch", double(last_epoch_)}};
  }
  void load_state(const NamedScalars& state) override {
    const std::string p = std::string(kind()) + ".";
    const ScalarReader reader(state, p + "load_state",
                              {p + "learning_rate", p + "best", p + "bad_epochs", p + "cooldown_counter", p + "last_epoch"});
    const double lr = checked_rate(reader.finite(p + "learning_rate"), kind(), "saved learning rate");
    const double best = reader.get(p + "best");
    if (std::isnan(best)) throw std::invalid_argument(p + "load_state: entry '" + p + "best' is NaN");
    const long long bad = reader.count(p + "bad_epochs"), cooldown = reader.count(p + "cooldown_counter");
    const long long last = reader.count_or_minus_one(p + "last_epoch");
    if (bad > std::numeric_limits<int>::max() || cooldown > std::numeric_limits<int>::max() ||
        last > std::numeric_limits<int>::max())
      throw std::invalid_argument(p + "load_state: counters out of range");
    lr_ = lr, best_ = best, bad_epochs_ = int(bad), cooldown_counter_ = int(cooldown), last_epoch_ = int(last);
  }

 private:
  double worst() const {
    const double inf = std::numeric_limits<double>::infinity();
    return options_.mode == MonitorMode::min ? inf : -inf;
  }
  bool is_better(double metric) const {
    const bool relative = options_.threshold_mode == ThresholdMode::relative;
    const double t = options_.threshold;
    if (options_.mode == MonitorMode::min) return metric < (relative ? best_ * (1 - t) : best_ - t);
    return metric > (relative ? best_ * (1 + t) : best_ + t);
  }

  ReduceLROnPlateauOptions options_;
  double lr_;
  double best_;
  int bad_epochs_ = 0, cooldown_counter_ = 0, last_epoch_ = -1;
};

}  // namespace lanmsff
