// Trainer and evaluate(): learning a small synthetic problem, determinism for a seed, callbacks,
// early stopping, the class-count check, and a two-head loss (MA-Net's) through the same loop.
#include <doctest/doctest.h>

#include "lanmsff/lanmsff.hpp"
#include "lanmsff/train/adam.hpp"
#include "lanmsff/train/trainer.hpp"
#include "lanmsff/train/two_head_loss.hpp"

using namespace lanmsff;

namespace {

// Three classes of 8x8 gray images: bright top half, bright left half, bright centre; plus noise.
io::Dataset synthetic(std::size_t per_class, std::uint64_t seed) {
  io::Dataset data(Shape{8, 8, 1}, {"top", "left", "centre"});
  Rng rng(seed);
  std::vector<std::uint8_t> pixels(64);
  for (std::size_t i = 0; i < per_class; ++i)
    for (int label = 0; label < 3; ++label) {
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) {
          const bool on = label == 0 ? y < 4 : label == 1 ? x < 4 : (y >= 2 && y < 6 && x >= 2 && x < 6);
          pixels[std::size_t(y * 8 + x)] = std::uint8_t((on ? 150 : 40) + rng.below(80));
        }
      data.add(pixels, label);
    }
  return data;
}

using Net = Network<Sequential<Conv2D<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Flatten, Dense<3>>, Shape{8, 8, 1}>;
using TwoHeadNet = Network<Sequential<Conv2D<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Flatten, Dense<6>>, Shape{8, 8, 1}>;

std::vector<float> parameters_of(Net& net) {
  std::vector<float> all;
  net.for_each_parameter([&](const std::string&, Parameter<float>& p) { all.insert(all.end(), p.value.begin(), p.value.end()); });
  return all;
}

std::vector<float> train(std::uint64_t seed, int epochs, std::vector<EpochEnd>* history = nullptr) {
  const io::Dataset train_set = synthetic(20, 1), val_set = synthetic(10, 2);
  Net net(seed);
  Adam<float> adam(net, AdamOptions::keras(1e-2));
  Trainer<Net> trainer(net, adam, {.epochs = epochs, .batch_size = 10, .seed = seed, .bn_reestimate_batches = 3});
  auto result = trainer.fit(train_set, &val_set);
  if (history) *history = result;
  return parameters_of(net);
}

}  // namespace

TEST_CASE("Trainer learns a small problem and evaluates in inference mode") {
  std::vector<EpochEnd> history;
  train(3, 6, &history);
  REQUIRE(history.size() == 6);
  CHECK(history.back().train_loss < history.front().train_loss);
  REQUIRE(history.back().val_accuracy);
  CHECK(*history.back().val_accuracy >= 0.9);
  CHECK(history.back().learning_rate == doctest::Approx(1e-2));
}

TEST_CASE("Trainer is deterministic for a seed") {
  CHECK(train(5, 2) == train(5, 2));
  CHECK(train(5, 2) != train(6, 2));
}

TEST_CASE("Trainer callbacks and early stopping") {
  const io::Dataset data = synthetic(10, 1);  // 30 samples: 3 batches of 10
  Net net(1);
  Adam<float> adam(net, AdamOptions::keras(1e-2));
  Trainer<Net> trainer(net, adam, {.epochs = 50, .batch_size = 10, .seed = 1});
  EarlyStopping<float> early({.patience = 2, .min_delta = 10.0});  // nothing improves by 10: stops early
  trainer.early_stopping = &early;
  int batches = 0, epochs = 0;
  trainer.on_batch_end = [&](const BatchEnd& b) {
    ++batches;
    CHECK(b.batches == 3);
    CHECK(b.batch >= 1);
  };
  trainer.on_epoch_end = [&](const EpochEnd&) { ++epochs; };
  const auto history = trainer.fit(data);
  CHECK(history.size() == 3);  // epoch 0 sets the best; two more epochs without improvement
  CHECK(history.back().stop);
  CHECK(epochs == 3);
  CHECK(batches == 9);
  CHECK(trainer.step() == 9);
}

TEST_CASE("Trainer and evaluate refuse a data set with another class count") {
  io::Dataset two(Shape{8, 8, 1}, {"a", "b"});
  two.add(std::vector<std::uint8_t>(64, 1), 0);
  Net net(1);
  Adam<float> adam(net);
  Trainer<Net> trainer(net, adam, {.epochs = 1});
  CHECK_THROWS_WITH_AS(trainer.fit(two), doctest::Contains("has 2 classes, the model 3"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(evaluate(net, two), doctest::Contains("has 2 classes, the model 3"), std::invalid_argument);
}

TEST_CASE("Trainer with a two-head loss (MA-Net's beta * CE1 + (1 - beta) * CE2)") {
  static_assert(Trainer<TwoHeadNet, TwoHeadLoss<float>>::classes == 3);
  const io::Dataset train_set = synthetic(20, 1), val_set = synthetic(10, 2);
  TwoHeadNet net(4);
  Adam<float> adam(net, AdamOptions::keras(1e-2));
  Trainer<TwoHeadNet, TwoHeadLoss<float>> trainer(net, adam, {.epochs = 6, .batch_size = 10, .seed = 4});
  const auto history = trainer.fit(train_set, &val_set);
  REQUIRE(history.back().val_accuracy);
  CHECK(*history.back().val_accuracy >= 0.9);
  const Evaluation eval = evaluate(net, val_set, 16, TwoHeadLoss<float>{});
  CHECK(eval.confusion.classes() == 3);
  CHECK(eval.confusion.total() == val_set.size());
  CHECK(eval.accuracy() == doctest::Approx(*history.back().val_accuracy));
}
