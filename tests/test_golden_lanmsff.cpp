// The whole LANMSFF model (8 classes, 64x64x1) against an independent PyTorch implementation with Keras
// semantics (tools/lanmsff_torch.py; fixtures tests/golden/lanmsff/ made by tools/make_golden_lanmsff.py in
// float64 from float32 weights and inputs, stored as F32): parameter names and count, one training step on a
// batch of 4 (logits, loss, every parameter gradient, the BatchNorm moving statistics) and inference logits.
//
// Relative error of a tensor, one number per tensor, robust to elements that are 0 or cancel:
//     max_i |actual_i - expected_i| / max(max_i |expected_i|, scale_floor, tiny)
// scale_floor is 0 except for the conv biases that feed a training-mode BatchNorm: their exact gradient is 0
// (BN removes any per-channel shift), so they are judged on the scale of their own layer's kernel gradient.
//
// Bounds. float: 1e-4 on logits, loss and moving statistics. Gradients are checked tightly in double (1e-5;
// the F32 storage of the reference allows ~1e-7): in float32 a few ReLU inputs lie within float32's rounding
// error of 0 (|x| ~ 1e-6 after 20 layers), their mask flips, and every gradient upstream of the flip moves by up
// to ~1e-2 — in any float32 implementation (PyTorch's own float32 run of this fixture is off by 4e-2). Float
// gradients therefore get a bound that tolerates a few flips (1e-1) and still catches a wrong formula.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "golden.hpp"
#include "lanmsff/io/checkpoint.hpp"
#include "lanmsff/models/lanmsff.hpp"
#include "lanmsff/train/loss.hpp"

using namespace lanmsff;
using lanmsff::testing::GoldenFile;

namespace {

template <class T>
using Model = models::LANMSFF<8, 64, 1, T>;

struct Bounds {
  double forward;   // logits, loss, moving statistics
  double gradient;  // every parameter gradient
};
template <class T>
constexpr Bounds bounds = std::is_same_v<T, double> ? Bounds{1e-5, 1e-5} : Bounds{1e-4, 1e-1};

constexpr double keras_momentum = 0.99;
constexpr std::size_t trainable_count = 356'451, state_count = 2'112;

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

double max_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - b[i]);
    worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
  }
  return worst;
}

template <class A>
std::vector<double> as_double(const A* values, std::size_t size) {
  return std::vector<double>(values, values + size);
}

// The relative error defined at the top of this file; NaN in `actual` gives infinity.
double relative_error(const std::vector<double>& actual, const std::vector<double>& expected, double scale_floor = 0) {
  return max_abs_difference(actual, expected) /
         std::max({max_abs(expected), scale_floor, std::numeric_limits<double>::min()});
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

// The fixture's weights, with every Dropout disabled (masks cannot be shared across frameworks).
template <class T>
void load_fixture_weights(Model<T>& net) {
  io::load_checkpoint(net, GoldenFile::path("lanmsff/weights"));
  int dropouts = 0;
  net.for_each_layer([&](const std::string&, auto& layer, int) {
    if constexpr (requires { layer.rate; }) layer.rate = 0, ++dropouts;
  });
  REQUIRE(dropouts == 4);  // one per block
  net.zero_grad();
}

template <class T>
std::map<std::string, std::vector<double>> moving_statistics(Model<T>& net) {
  std::map<std::string, std::vector<double>> values;
  net.for_each_parameter([&](const std::string& name, Parameter<T>& p) {
    if (!p.trainable) values[name] = as_double(p.data(), p.size());
  });
  return values;
}

// One training step of Model<T> on the fixture, every result checked against its bound.
template <class T>
void check_training_step() {
  constexpr Bounds bound = bounds<T>;
  Model<T> net;
  load_fixture_weights(net);
  const auto before = moving_statistics(net);
  const GoldenFile golden("lanmsff/training");
  REQUIRE(golden.context().training());

  const Tensor<T> input = golden.tensor<T>("input", Model<T>::input_shape);
  REQUIRE(input.n() == 4);
  const std::vector<int> labels = golden.values<int>("labels");
  const Tensor<T>& logits = net.forward(input, golden.context());
  golden.check_shape("logits", Model<T>::output_shape);
  const double logits_error = relative_error(as_double(logits.data(), logits.size()), golden.expected("logits"));
  CHECK_MESSAGE(logits_error <= bound.forward, "logits: relative error " << logits_error);
  CHECK(max_abs(golden.expected("logits")) > 1);  // the fixture is not degenerate

  Tensor<T> grad_logits;
  const double loss = SoftmaxCrossEntropy<T>{}(logits, labels, &grad_logits);
  const double loss_error = relative_error({loss}, golden.expected("loss"));
  CHECK_MESSAGE(loss_error <= bound.forward, "loss " << loss << ": relative error " << loss_error);
  net.backward(grad_logits);

  std::map<std::string, double> scale_floor;
  const std::vector<std::string> vanishing = split_list(golden.file().metadata().at("zero_gradients"));
  CHECK(vanishing.size() == 20);  // the bias of every convolution that feeds one of the 20 BatchNorms
  for (const std::string& bias : vanishing) {
    REQUIRE(bias.ends_with(".bias"));
    scale_floor[bias] = max_abs(golden.expected("grad." + bias.substr(0, bias.size() - 4) + "kernel"));
  }

  std::string worst_gradient;
  double worst_gradient_error = 0;
  std::size_t gradients = 0, statistics = 0;
  net.for_each_parameter([&](const std::string& name, Parameter<T>& p) {
    if (p.trainable) {
      const auto floor = scale_floor.find(name);
      const double error = relative_error(as_double(p.grad_data(), p.size()), golden.expected("grad." + name),
                                          floor == scale_floor.end() ? 0.0 : floor->second);
      CHECK_MESSAGE(error <= bound.gradient, "gradient of " << name << ": relative error " << error);
      if (error >= worst_gradient_error) worst_gradient_error = error, worst_gradient = name;
      gradients += p.size();
      return;
    }
    statistics += p.size();
    const std::vector<double> after = as_double(p.data(), p.size()), expected_after = golden.expected(name + ".after");
    const double error = relative_error(after, expected_after);
    CHECK_MESSAGE(error <= bound.forward, name << " after the step: relative error " << error);
    // The batch statistic the update implies, b = (after - m * before) / (1 - m), shows the statistic itself
    // (biased or unbiased variance, say), not 1% of it. Both `after`s are float32, so b is known only to
    // about 2 ulp(after) / (1 - m); that resolution is added to the allowance.
    const std::vector<double>& old = before.at(name);
    std::vector<double> batch(p.size()), expected_batch(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
      batch[i] = (after[i] - keras_momentum * old[i]) / (1 - keras_momentum);
      expected_batch[i] = (expected_after[i] - keras_momentum * old[i]) / (1 - keras_momentum);
    }
    const double resolution =
        2 * std::numeric_limits<float>::epsilon() * max_abs(expected_after) / (1 - keras_momentum);
    const double batch_difference = max_abs_difference(batch, expected_batch);
    CHECK_MESSAGE(batch_difference <= bound.forward * max_abs(expected_batch) + resolution,
                  name << ": the step's batch statistic differs by " << batch_difference << " (largest value "
                       << max_abs(expected_batch) << ", float32 resolution " << resolution << ")");
  });
  CHECK(gradients == trainable_count);
  CHECK(statistics == state_count);
  MESSAGE("LANMSFF training step (" << std::string(lanmsff::testing::scalar_name<T>) << ") vs PyTorch: logits "
                                    << logits_error << ", loss " << loss_error << ", worst gradient " << worst_gradient
                                    << " " << worst_gradient_error);
}

}  // namespace

TEST_CASE("LANMSFF golden: the fixture holds exactly the C++ model's parameters") {
  Model<float> net;
  const ParameterCount count = net.parameter_count();
  CHECK(count.trainable == trainable_count);
  CHECK(count.state == state_count);

  const io::Safetensors weights = io::Safetensors::load(GoldenFile::path("lanmsff/weights"));
  std::set<std::string> model_names;
  net.for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    model_names.insert(name);
    const io::TensorEntry* entry = weights.find(name);
    CHECK_MESSAGE(entry != nullptr, "the fixture lacks the model's parameter " << name);
    if (!entry) return;
    CHECK_MESSAGE(std::equal(entry->shape.begin(), entry->shape.end(), p.shape.begin(), p.shape.end()),
                  name << " is " << io::detail::shape_text(entry->shape) << " in the fixture, " << shape_string(p.shape)
                       << " in the model");
    CHECK(entry->dtype == "F32");
  });
  std::size_t trainable = 0, state = 0;
  for (const io::TensorEntry& entry : weights.entries()) {
    CHECK_MESSAGE(model_names.contains(entry.name), "the fixture's " << entry.name << " is not a model parameter");
    std::size_t size = 1;
    for (auto extent : entry.shape) size *= std::size_t(extent);
    const bool is_state = entry.name.ends_with(".moving_mean") || entry.name.ends_with(".moving_variance");
    (is_state ? state : trainable) += size;
  }
  CHECK(weights.entries().size() == model_names.size());
  CHECK(trainable == trainable_count);
  CHECK(state == state_count);

  // The training fixture has one gradient per trainable parameter and one ".after" per moving statistic.
  const GoldenFile training("lanmsff/training");
  std::set<std::string> used{"input", "labels", "logits", "loss"};
  net.for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    const std::string key = p.trainable ? "grad." + name : name + ".after";
    CHECK_MESSAGE(training.contains(key), "the training fixture lacks " << key);
    used.insert(key);
  });
  training.expect_all_used(used);
}

TEST_CASE("LANMSFF golden: a training step matches PyTorch (double: tight gradients)") {
  check_training_step<double>();
}

TEST_CASE("LANMSFF golden: a training step matches PyTorch (float)") { check_training_step<float>(); }

TEST_CASE("LANMSFF golden: inference matches PyTorch") {
  Model<float> net;
  load_fixture_weights(net);
  const GoldenFile golden("lanmsff/inference");
  REQUIRE(!golden.context().training());
  const Tensor<float> input = golden.tensor<float>("input", Model<float>::input_shape);
  golden.check_shape("logits", Model<float>::output_shape);
  const std::vector<double> expected = golden.expected("logits");

  // With the weights file's moving statistics the logits must differ: the comparison sees the statistics.
  const Tensor<float>& untuned = net.forward(input);
  CHECK(relative_error(as_double(untuned.data(), untuned.size()), expected) > 1e-2);

  std::set<std::string> used{"input", "logits"};
  net.for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    if (p.trainable) return;
    golden.load(name, p);
    used.insert(name);
  });
  golden.expect_all_used(used);
  const auto statistics = moving_statistics(net);

  const Tensor<float>& logits = net.forward(input, golden.context());
  const double error = relative_error(as_double(logits.data(), logits.size()), expected);
  CHECK_MESSAGE(error <= bounds<float>.forward, "inference logits: relative error " << error);
  CHECK(moving_statistics(net) == statistics);  // inference leaves the moving statistics alone
  MESSAGE("LANMSFF inference vs PyTorch: logits " << error);
}
