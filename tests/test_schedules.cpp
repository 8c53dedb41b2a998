// Learning-rate schedules against torch.optim.lr_scheduler (PyTorch 1.13) and Keras' callback
// code, and EarlyStopping's stopping epoch and best-weight restore.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "lanmsff/lanmsff.hpp"
#include "lanmsff/train/early_stopping.hpp"
#include "lanmsff/train/schedule.hpp"

using namespace lanmsff;

namespace {

// Feeds `metrics` epoch by epoch; returns the learning rate of the epoch after each one.
std::vector<double> rates_after_each_epoch(LearningRateSchedule& schedule, const std::vector<double>& metrics) {
  std::vector<double> rates;
  for (std::size_t e = 0; e < metrics.size(); ++e) rates.push_back(schedule.on_epoch_end(int(e), metrics[e]));
  return rates;
}

void check_rates(const std::vector<double>& got, const std::vector<double>& expected) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t e = 0; e < got.size(); ++e) {
    CAPTURE(e);
    CHECK(got[e] == doctest::Approx(expected[e]).epsilon(1e-12));
  }
}

// The learning rate torch.optim.lr_scheduler leaves after each scheduler.step(), from
//   p = torch.zeros(1, requires_grad=True); opt = torch.optim.SGD([p], lr=0.1); s = make(opt)
//   for e in range(n): opt.step(); s.step(*([metrics[e]] if metrics else [])); print(opt.param_groups[0]["lr"])
const std::vector<double> kPlateauLosses = {1.0,  0.9,  0.95, 0.89995, 0.91, 0.8995, 0.92, 0.85, 0.86, 0.87,
                                            0.88, 0.89, 0.9,  0.91,    0.92, 0.93,   0.94, 0.95, 0.96, 0.97};

}  // namespace

TEST_CASE("StepLR matches torch.optim.lr_scheduler.StepLR") {
  StepLR schedule(0.1, 3, 0.5);  // StepLR(opt, step_size=3, gamma=0.5)
  CHECK(schedule.learning_rate() == 0.1);
  check_rates(rates_after_each_epoch(schedule, std::vector<double>(8, 0.0)),
              {0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025});
  // MA-Net: 0.01, x0.1 every 15 epochs: epochs 0-14 at 0.01, 15-29 at 0.001.
  StepLR manet(0.01, 15);
  CHECK(manet.on_epoch_end(13, 0) == doctest::Approx(0.01));
  CHECK(manet.on_epoch_end(14, 0) == doctest::Approx(0.001));
  CHECK(manet.on_epoch_end(29, 0) == doctest::Approx(0.0001));
}

TEST_CASE("CosineAnnealing matches torch.optim.lr_scheduler.CosineAnnealingLR") {
  CosineAnnealing schedule(0.1, 5, 0.01);  // CosineAnnealingLR(opt, T_max=5, eta_min=0.01)
  CHECK(schedule.learning_rate() == 0.1);
  check_rates(rates_after_each_epoch(schedule, std::vector<double>(7, 0.0)),
              {0.09140576474687263, 0.06890576474687263, 0.04109423525312736, 0.018594235253127367, 0.01,
               0.018594235253127367, 0.04109423525312739});
}

TEST_CASE("CosineAnnealing with warm-up") {
  // Two warm-up epochs at 0.05 and 0.1, then a cosine over the remaining 4: epoch e >= 2 at
  // 0.1 * (1 + cos(pi * (e - 2) / 4)) / 2 = 0.1, 0.0853553, 0.05, 0.0146447, 0.
  CosineAnnealing schedule(0.1, 6, 0.0, 2);
  CHECK(schedule.learning_rate() == doctest::Approx(0.05));
  const double s = std::sqrt(0.5);
  check_rates(rates_after_each_epoch(schedule, std::vector<double>(5, 0.0)),
              {0.1, 0.1, 0.1 * (1 + s) / 2, 0.05, 0.1 * (1 - s) / 2});
  CHECK(schedule.on_epoch_end(5, 0) == doctest::Approx(0.0).epsilon(1e-15));
  CHECK_THROWS_AS(CosineAnnealing(0.1, 2, 0.0, 2), std::invalid_argument);
}

TEST_CASE("ReduceLROnPlateau, PyTorch convention, matches torch.optim.lr_scheduler.ReduceLROnPlateau") {
  // ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.02), threshold 1e-4 relative.
  // By hand: epochs 2, 3 (0.89995 is not below 0.9 * (1 - 1e-4) = 0.89991) and 4 are bad: the third
  // bad epoch exceeds patience 2, so the rate halves after epoch 4. Epoch 5 improves (cooldown
  // clears the count anyway); 8, 9, 10 are bad: 0.025 after epoch 10; epoch 11 is the cooldown;
  // 12, 13, 14 bad: 0.0125 clipped to min_lr 0.02; later reductions change nothing.
  ReduceLROnPlateau schedule(0.1, {.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.02});
  check_rates(rates_after_each_epoch(schedule, kPlateauLosses),
              {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02, 0.02,
               0.02, 0.02, 0.02, 0.02});
  CHECK(schedule.best() == 0.85);
}

TEST_CASE("ReduceLROnPlateau, Keras convention, matches keras.callbacks.ReduceLROnPlateau") {
  // Keras' on_epoch_end transcribed in Python (min mode, min_delta 1e-4 absolute, patience 2,
  // cooldown 1, factor 0.5, min_lr 0.02) gives the expected list. By hand: epochs 2 and 3 are bad
  // (0.89995 is not below 0.9 - 1e-4): the second reaches patience 2, so the rate halves one epoch
  // earlier than PyTorch's. A cooldown of 1 is spent in the next epoch before counting, so epoch 4
  // already counts as bad; 8 and 9 are bad: 0.025 after epoch 9; 10 bad, 11 bad: 0.02 (min_lr).
  auto options = ReduceLROnPlateauOptions::keras(0.5, 2);
  options.cooldown = 1, options.min_lr = 0.02;
  ReduceLROnPlateau schedule(0.1, options);
  check_rates(rates_after_each_epoch(schedule, kPlateauLosses),
              {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02, 0.02,
               0.02, 0.02, 0.02, 0.02});
}

TEST_CASE("ReduceLROnPlateau in max mode and the LANMSFF recipe") {
  ReduceLROnPlateau accuracy(1e-3, {.factor = 0.1, .patience = 1, .mode = MonitorMode::max});
  CHECK(accuracy.on_epoch_end(0, 0.5) == 1e-3);
  CHECK(accuracy.on_epoch_end(1, 0.6) == 1e-3);
  CHECK(accuracy.on_epoch_end(2, 0.6) == 1e-3);  // first bad epoch: patience 1 not exceeded
  CHECK(accuracy.on_epoch_end(3, 0.55) == doctest::Approx(1e-4));

  // keras(0.1, 9): nine epochs without improvement after the best, and the tenth trains at 1e-4.
  ReduceLROnPlateau recipe(1e-3, ReduceLROnPlateauOptions::keras(0.1, 9));
  recipe.on_epoch_end(0, 1.0);
  for (int e = 1; e <= 8; ++e) CHECK(recipe.on_epoch_end(e, 1.0) == 1e-3);
  CHECK(recipe.on_epoch_end(9, 1.0) == doctest::Approx(1e-4));
}

TEST_CASE("schedule state round trip") {
  auto options = ReduceLROnPlateauOptions{.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.02};
  ReduceLROnPlateau straight(0.1, options), resumed(0.1, options);
  const auto first = std::vector<double>(kPlateauLosses.begin(), kPlateauLosses.begin() + 9);
  rates_after_each_epoch(straight, first);
  resumed.load_state(straight.state());
  for (std::size_t e = 9; e < kPlateauLosses.size(); ++e)
    CHECK(resumed.on_epoch_end(int(e), kPlateauLosses[e]) == straight.on_epoch_end(int(e), kPlateauLosses[e]));

  StepLR step(0.1, 3, 0.5), step_resumed(0.1, 3, 0.5);
  step.on_epoch_end(5, 0);  // epoch 6 trains at 0.1 * 0.5^2
  step_resumed.load_state(step.state());
  CHECK(step_resumed.learning_rate() == 0.025);

  auto bad = straight.state();
  bad.pop_back();
  CHECK_THROWS_WITH_AS(resumed.load_state(bad),
                       "reduce_lr_on_plateau.load_state: missing entry 'reduce_lr_on_plateau.last_epoch'",
                       std::invalid_argument);
  bad = straight.state();
  bad[2].second = 1.5;  // bad_epochs
  CHECK_THROWS_AS(resumed.load_state(bad), std::invalid_argument);
  CHECK_THROWS_AS(step_resumed.load_state(straight.state()), std::invalid_argument);  // another schedule's
  CHECK(step_resumed.learning_rate() == 0.025);
}

TEST_CASE("schedule options are validated") {
  CHECK_THROWS_AS(StepLR(0.1, 0), std::invalid_argument);
  CHECK_THROWS_AS(StepLR(-0.1, 3), std::invalid_argument);
  CHECK_THROWS_AS(ReduceLROnPlateau(0.1, {.factor = 1.0}), std::invalid_argument);
  CHECK_THROWS_AS(ReduceLROnPlateau(0.1, {.patience = -1}), std::invalid_argument);
  StepLR schedule(0.1, 3);
  CHECK_THROWS_AS(schedule.on_epoch_end(-1, 0), std::invalid_argument);
}

namespace {
using TinyNet = Network<Sequential<Dense<2>, BatchNorm<>>, Shape{1, 1, 3}>;

// Sets every parameter and moving statistic of `net` to `value`.
void fill_all(TinyNet& net, float value) {
  net.for_each_parameter([&](const std::string&, Parameter<float>& p) { std::fill(p.value.begin(), p.value.end(), value); });
}
}  // namespace

TEST_CASE("EarlyStopping stops at Keras' epoch and restores the best weights, moving statistics included") {
  // patience 3, min_delta 0.01, min mode. By hand: epochs 0, 1 improve (0.8 + 0.01 < 1); 2 and 3
  // do not (0.795 + 0.01 is not below 0.8); 4 improves (best 0.75, epoch 4); 5, 6 (0.745 + 0.01 >=
  // 0.75), 7 do not: wait reaches 3 at epoch 7, which stops.
  const std::vector<double> losses = {1.0, 0.8, 0.85, 0.795, 0.75, 0.76, 0.745, 0.9, 0.5};
  TinyNet net(3);
  EarlyStopping stopper({.patience = 3, .min_delta = 0.01, .restore_best_weights = true});
  int stopped_at = -1;
  for (int epoch = 0; epoch < int(losses.size()); ++epoch) {
    fill_all(net, float(epoch));  // "training" leaves every value at the epoch number
    if (stopper.on_epoch_end(epoch, losses[epoch], net)) {
      stopped_at = epoch;
      break;
    }
  }
  CHECK(stopped_at == 7);
  CHECK(stopper.stopped_epoch() == 7);
  CHECK(stopper.best_epoch() == 4);
  CHECK(stopper.best() == 0.75);
  REQUIRE(stopper.best_weights().size() == 6);  // kernel, bias, gamma, beta, moving mean, moving variance
  CHECK(stopper.best_weights()[5].first == "1.moving_variance");

  stopper.on_train_end(net);
  net.for_each_parameter([](const std::string& name, Parameter<float>& p) {
    for (float v : p.value) CHECK_MESSAGE(v == 4.f, name);
  });
}

TEST_CASE("EarlyStopping edge cases follow Keras") {
  TinyNet net(1);
  SUBCASE("a constant loss with patience 3 stops at epoch 3 (Keras' docstring: 4 epochs run)") {
    EarlyStopping stopper({.patience = 3});
    CHECK_FALSE(stopper.on_epoch_end(0, 1.0, net));
    CHECK_FALSE(stopper.on_epoch_end(1, 1.0, net));
    CHECK_FALSE(stopper.on_epoch_end(2, 1.0, net));
    CHECK(stopper.on_epoch_end(3, 1.0, net));
    CHECK_THROWS_AS(stopper.restore_best_weights(net), std::logic_error);  // nothing kept
  }
  SUBCASE("max mode with min_delta") {
    EarlyStopping stopper({.patience = 1, .min_delta = 0.05, .mode = MonitorMode::max});
    CHECK_FALSE(stopper.on_epoch_end(0, 0.5, net));
    CHECK_FALSE(stopper.on_epoch_end(1, 0.56, net));  // 0.56 - 0.05 > 0.5
    CHECK(stopper.on_epoch_end(2, 0.6, net));         // 0.6 - 0.05 is not above 0.56
    CHECK(stopper.best_epoch() == 1);
  }
  SUBCASE("NaN never improves; the first epoch's weights are kept") {
    EarlyStopping stopper({.patience = 2, .restore_best_weights = true});
    fill_all(net, 1.f);
    CHECK_FALSE(stopper.on_epoch_end(0, std::nan(""), net));
    fill_all(net, 2.f);
    CHECK(stopper.on_epoch_end(1, std::nan(""), net));
    stopper.restore_best_weights(net);
    net.for_each_parameter([](const std::string&, Parameter<float>& p) { CHECK(p.value[0] == 1.f); });
  }
  SUBCASE("state round trip and mismatched weights") {
    EarlyStopping stopper({.patience = 5, .restore_best_weights = true});
    stopper.on_epoch_end(0, 1.0, net);
    stopper.on_epoch_end(1, 2.0, net);
    EarlyStopping<float> resumed({.patience = 5, .restore_best_weights = true});
    resumed.load_state(stopper.state());
    resumed.set_best_weights(stopper.best_weights());
    CHECK(resumed.wait() == 1);
    CHECK(resumed.best() == 1.0);
    CHECK(resumed.best_epoch() == 0);
    auto weights = stopper.best_weights();
    weights[0].second.pop_back();
    resumed.set_best_weights(weights);
    CHECK_THROWS_WITH_AS(resumed.restore_best_weights(net),
                         "EarlyStopping::restore_best_weights: kept values of '0.kernel' have 5 entries, the parameter 6",
                         std::invalid_argument);
  }
}
