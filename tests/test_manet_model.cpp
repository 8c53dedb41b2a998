// MA-Net as a whole: the parameter count PyTorch reports for the authors' model (50,547,214 with
// 7 classes), the state_dict names, the output layout, a 224x224 forward pass, a training step
// on a small input, and the two-head loss and prediction.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "lanmsff/models/manet.hpp"
#include "lanmsff/train/two_head_loss.hpp"

using namespace lanmsff;
using models::MANet;

namespace {
template <class Net>
std::set<std::string> parameter_names(Net& net, bool trainable) {
  std::set<std::string> names;
  net.for_each_parameter([&](const std::string& name, Parameter<typename Net::scalar>& p) {
    if (p.trainable == trainable) names.insert(name);
  });
  return names;
}
}  // namespace

TEST_CASE("MA-Net with 7 classes: parameter count, names and output shape") {
  static_assert(MANet<7>::output_shape == Shape{1, 1, 14});
  static_assert(MANet<7>::input_shape == Shape{224, 224, 3});
  auto net = std::make_unique<MANet<7>>(1);
  const ParameterCount count = net->parameter_count();
  // sum(p.numel() for p in model.parameters()) of the authors' model (model/manet.py) with
  // num_classes=7; the 21,712 BN channels' running mean and variance are the state.
  CHECK(count.trainable == 50'547'214);
  CHECK(count.state == 2 * 21'712);

  // 692 state_dict entries = 588 tensors here + 104 BNs' num_batches_tracked (not kept).
  const auto trainable = parameter_names(*net, true), state = parameter_names(*net, false);
  CHECK(trainable.size() + state.size() == 692 - 104);
  for (const char* name :
       {"conv1.kernel", "bn1.gamma", "layer1.0.conv1.kernel", "layer1.1.bn2.beta", "layer2.0.downsample.0.kernel",
        "layer2.0.downsample.1.gamma", "layer3_1_p1.0.cbam.ChannelGate.mlp.1.kernel",
        "layer3_1_p2.0.downsample.0.kernel", "layer4_1_p4.1.cbam.ChannelGate.mlp.3.bias",
        "layer4_1_p3.1.cbam.SpatialGate.spatial.conv.kernel", "layer3_2.0.conv1.kernel", "layer3_2.0.conv1_2_1.kernel",
        "layer3_2.1.bn2_2_4.gamma", "layer4_2.0.downsample.1.beta", "fc_1.kernel", "fc_1.bias", "fc_2.kernel", "fc_2.bias"})
    CHECK_MESSAGE(trainable.count(name) == 1, name);
  CHECK(state.count("layer4_1_p2.0.cbam.SpatialGate.spatial.bn.moving_mean") == 1);
  // Projections exactly where torchvision's rule puts them: layer4_1's first block projects
  // (256 -> 512 channels at stride 1), its second block and layer1's blocks do not.
  CHECK(trainable.count("layer4_1_p1.0.downsample.0.kernel") == 1);
  CHECK(trainable.count("layer4_1_p1.1.downsample.0.kernel") == 0);
  CHECK(trainable.count("layer1.0.downsample.0.kernel") == 0);
}

TEST_CASE("MA-Net forward at 224x224: finite logits for both heads") {
  auto net = std::make_unique<MANet<7>>(2);
  Tensor<float> x(1, Shape{224, 224, 3});
  Rng rng(5);
  for (auto& v : x) v = float(rng.uniform(-1, 1));
  const Tensor<float>& y = net->forward(x);
  REQUIRE(y.n() == 1);
  REQUIRE(y.shape() == Shape{1, 1, 14});
  bool finite = true, heads_differ = false;
  for (int k = 0; k < 7; ++k) {
    finite = finite && std::isfinite(y[std::size_t(k)]) && std::isfinite(y[std::size_t(7 + k)]);
    heads_differ = heads_differ || y[std::size_t(k)] != y[std::size_t(7 + k)];
  }
  CHECK(finite);
  CHECK(heads_differ);  // two independent heads on two branches
}

TEST_CASE("MA-Net training step on a 64x64 input: every trainable parameter gets a gradient") {
  // 64x64: an 8x8 trunk map, four 4x4 patches; the same layer types as at 224 otherwise.
  using Small = MANet<3, 64>;
  static_assert(Small::output_shape == Shape{1, 1, 6});
  auto net = std::make_unique<Small>(3);
  Tensor<float> x(2, Small::input_shape), grad;
  Rng rng(9);
  for (auto& v : x) v = float(rng.uniform(-1, 1));
  const std::vector<int> labels{0, 2};
  TwoHeadLoss<float> loss;
  net->zero_grad();
  const double value = loss(net->forward(x, Context::train(1)), labels, &grad);
  CHECK(std::isfinite(value));
  CHECK(value > 0);
  net->backward(grad);
  std::size_t without_gradient = 0;
  std::string first;
  net->for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    if (!p.trainable) return;
    double sum = 0;
    for (float g : p.grad) sum += std::abs(double(g));
    if (!(sum > 0) || !std::isfinite(sum)) {
      if (without_gradient++ == 0) first = name;
    }
  });
  CHECK_MESSAGE(without_gradient == 0, without_gradient << " parameters without a finite gradient, e.g. " << first);
}

TEST_CASE("TwoHeadLoss and combine_heads by hand") {
  // K = 2, one sample, label 1. Head 1 = (0, ln 3): softmax (1/4, 3/4). Head 2 = (0, 0): (1/2, 1/2).
  Tensor<double> logits(1, 1, 1, 4), grad, scores;
  logits[0] = 0, logits[1] = std::log(3.0), logits[2] = 0, logits[3] = 0;
  const std::vector<int> label{1};
  TwoHeadLoss<double> loss;  // beta 0.6
  const double value = loss(logits, label, &grad, &scores);
  CHECK(value == doctest::Approx(0.6 * -std::log(0.75) + 0.4 * std::log(2.0)).epsilon(1e-12));
  REQUIRE(grad.sample_size() == 4);
  CHECK(grad[0] == doctest::Approx(0.6 * 0.25));
  CHECK(grad[1] == doctest::Approx(0.6 * -0.25));
  CHECK(grad[2] == doctest::Approx(0.4 * 0.5));
  CHECK(grad[3] == doctest::Approx(0.4 * -0.5));
  REQUIRE(scores.sample_size() == 2);
  CHECK(scores[0] == doctest::Approx(0.0));
  CHECK(scores[1] == doctest::Approx(0.6 * std::log(3.0)));

  // beta = 1 is head 1 alone.
  TwoHeadLoss<double> first_only;
  first_only.beta = 1.0;
  CHECK(first_only(logits, label) == doctest::Approx(-std::log(0.75)).epsilon(1e-12));
}

TEST_CASE("TwoHeadLoss rejects what is not two heads") {
  Tensor<float> odd(1, 1, 1, 3), scores;
  const std::vector<int> label{0};
  CHECK_THROWS_AS(TwoHeadLoss<float>{}(odd, label), std::invalid_argument);
  CHECK_THROWS_AS(combine_heads(odd, scores), std::invalid_argument);
  Tensor<float> even(1, 1, 1, 4);
  even.set_zero();
  CHECK_THROWS_AS(combine_heads(even, scores, 1.5), std::invalid_argument);
  TwoHeadLoss<float> negative;
  negative.beta = -0.1;
  CHECK_THROWS_AS(negative(even, label), std::invalid_argument);
  CHECK_THROWS_AS(TwoHeadLoss<float>{}(even, std::vector<int>{2}), std::out_of_range);  // label >= K
}

// tests/data/manet/names.txt is what tools/convert_manet.py checks a converted state_dict against;
// it must list exactly the model's parameters, in order, with their shapes.
TEST_CASE("tests/data/manet/names.txt matches MANet<7>'s parameters") {
  std::ifstream file("data/manet/names.txt");  // the tests run from tests/
  REQUIRE(file);
  std::vector<std::string> listed;
  for (std::string line; std::getline(file, line);)
    if (!line.empty() && line[0] != '#') listed.push_back(line);
  auto net = std::make_unique<MANet<7>>(1);
  std::vector<std::string> actual;
  net->for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    std::string shape;
    for (int d : p.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    actual.push_back(name + " " + shape);
  });
  CHECK(listed.size() == 588);
  CHECK(listed == actual);
}
