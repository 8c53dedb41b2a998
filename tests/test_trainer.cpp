// Trainer and evaluate(): learning a small synthetic problem, determinism for a seed, callbacks,
// early stopping, the class-count check, and a two-head loss (MA-Net's) through the same loop.
#include <doctest/doctest.h>

#include "lanmsff/lanmsff.hpp"
#include "lanmsff/io/augment.hpp"
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

TEST_CASE("Trainer continues from a mid-epoch position exactly (weights, optimizer, metrics)") {
  const io::Dataset train_set = synthetic(20, 1), val_set = synthetic(10, 2);  // 60 samples: 6 batches of 10
  const auto make_trainer = [](Net& net, Adam<float>& adam) {
    Trainer<Net> trainer(net, adam, {.epochs = 3, .batch_size = 10, .seed = 4, .bn_reestimate_batches = 2});
    trainer.augment = io::compose(io::RandomHorizontalFlip{}, io::RandomCrop{8, 8, 1});  // per-step streams
    return trainer;
  };
  Net straight_net(4);
  Adam<float> straight_adam(straight_net, AdamOptions::keras(1e-2));
  auto straight = make_trainer(straight_net, straight_adam);
  const auto straight_history = straight.fit(train_set, &val_set);

  // Interrupted after step k (6 and 12 end an epoch before its validation), then continued by a fresh
  // model, optimizer and trainer from what a checkpoint holds.
  for (std::uint64_t k : {1, 4, 6, 11, 12, 17}) {
    CAPTURE(k);
    struct Interrupted {};
    Net net(4);
    Adam<float> adam(net, AdamOptions::keras(1e-2));
    auto first = make_trainer(net, adam);
    std::vector<float> weights;
    NamedTensors<float> optimizer_state;
    TrainPosition position;
    first.on_batch_end = [&](const BatchEnd&) {
      if (first.step() != k) return;
      weights = parameters_of(net), optimizer_state = adam.state(), position = first.position();
      throw Interrupted{};
    };
    std::vector<EpochEnd> history;
    first.on_epoch_end = [&](const EpochEnd& e) { history.push_back(e); };
    CHECK_THROWS_AS(first.fit(train_set, &val_set), Interrupted);
    CHECK(position.epoch == int((k - 1) / 6));
    CHECK(position.batch == (k - 1) % 6 + 1);
    CHECK(position.samples == doctest::Approx(10.0 * double(position.batch)));

    Net resumed_net(99);  // other initial weights: all of them must come from the checkpoint
    std::size_t offset = 0;
    resumed_net.for_each_parameter([&](const std::string&, Parameter<float>& p) {
      std::copy_n(weights.begin() + std::ptrdiff_t(offset), p.size(), p.value.begin());
      offset += p.size();
    });
    Adam<float> resumed_adam(resumed_net, AdamOptions::keras(1e-2));
    resumed_adam.load_state(optimizer_state);
    auto resumed = make_trainer(resumed_net, resumed_adam);
    resumed.set_step(k);
    history.resize(std::size_t(position.epoch));
    for (const auto& e : resumed.fit(train_set, &val_set, position)) history.push_back(e);
    CHECK(parameters_of(resumed_net) == parameters_of(straight_net));
    REQUIRE(history.size() == straight_history.size());
    for (std::size_t e = 0; e < history.size(); ++e) {
      CHECK(history[e].train_loss == straight_history[e].train_loss);
      CHECK(history[e].train_accuracy == straight_history[e].train_accuracy);
      CHECK(history[e].val_loss == straight_history[e].val_loss);
    }
  }

  Net net(4);
  Adam<float> adam(net);
  auto trainer = make_trainer(net, adam);
  CHECK_THROWS_WITH_AS(trainer.fit(train_set, &val_set, TrainPosition{.epoch = 1, .batch = 7}),
                       doctest::Contains("after batch 7 of epoch 2: it has 6 batches"), std::invalid_argument);
}

TEST_CASE("Trainer stops with a clear error when the loss diverges") {
  const io::Dataset data = synthetic(10, 1);
  Net net(1);
  Adam<float> adam(net, AdamOptions::keras(3e38));  // steps near FLT_MAX: the logits overflow on the next batch
  Trainer<Net> trainer(net, adam, {.epochs = 3, .batch_size = 10, .seed = 1});
  std::string message;
  try {
    trainer.fit(data);
  } catch (const std::runtime_error& error) {
    message = error.what();
  }
  const std::string prefix = "Trainer: the loss is ";
  const std::size_t end = message.find(" at epoch");
  const std::string loss =
      message.starts_with(prefix) && end != std::string::npos ? message.substr(prefix.size(), end - prefix.size()) : "";
  const bool nan_or_inf = loss == "nan" || loss == "-nan" || loss == "inf" || loss == "-inf";
  CHECK_MESSAGE(message.starts_with("Trainer: the loss is "), message);
  CHECK_MESSAGE(nan_or_inf, message);
  CHECK_MESSAGE(message.find(" at epoch ") != std::string::npos, message);
  CHECK_MESSAGE(message.ends_with(" (learning rate too high?)"), message);
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
