// The whole MA-Net (MANet<3, 64>, double) against an independent PyTorch implementation (tools/manet_torch.py;
// fixtures tests/golden/manet/ made by tools/make_golden_manet.py in float64): one training step on a batch of 2
// (logits, the two-head loss, the gradients of parameters spread over every kind of block, the moving statistics
// of a few BatchNorms) and inference logits.
//
// The 50.5 M weights are not in the fixture: both sides compute them from the same integer-hash formula
// (formula_weight below; the generator's docstring has the definition), bit-identical in float64.
// Relative error of a tensor: max_i |actual_i - expected_i| / max_i |expected_i|. The reference is float64 and
// the C++ model runs in double, so the bound is tight (1e-9); the fixture's results are stored as F64.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "golden.hpp"
#include "lanmsff/models/manet.hpp"
#include "lanmsff/train/two_head_loss.hpp"

using namespace lanmsff;
using lanmsff::testing::GoldenFile;

namespace {

using Model = models::MANet<3, 64, double>;
constexpr double bound = 1e-9;
constexpr double beta = 0.6;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Element i of the t-th parameter tensor (in for_each_parameter order, which is tests/data/manet/names.txt's):
// r uniform in [-1, 1) from a hash of (t, i), scaled by the tensor's kind. Mirrors make_golden_manet.py.
double formula_weight(std::uint64_t t, std::uint64_t i, const std::string& name, const Parameter<double>& p) {
  const double r = 2.0 * (double(splitmix64((t << 32) + i) >> 11) * 0x1p-53) - 1.0;
  const std::string leaf = name.substr(name.rfind('.') + 1);
  if (leaf == "kernel") return std::sqrt(6.0 / double(p.size() / p.shape.back())) * r;
  if (leaf == "bias" || leaf == "beta" || leaf == "moving_mean") return 0.1 * r;
  if (leaf == "gamma") return 1.0 + 0.2 * r;
  if (leaf == "moving_variance") return 1.0 + 0.5 * r;
  FAIL("no formula for parameter " << name);
  return 0;
}

std::unique_ptr<Model> formula_model() {
  auto net = std::make_unique<Model>();
  std::uint64_t t = 0;
  net->for_each_parameter([&](const std::string& name, Parameter<double>& p) {
    for (std::size_t i = 0; i < p.size(); ++i) p.value[i] = formula_weight(t, i, name, p);
    ++t;
  });
  REQUIRE(t == 588);  // every entry of tests/data/manet/names.txt
  net->zero_grad();
  return net;
}

double relative_error(const double* actual, const std::vector<double>& expected) {
  double worst = 0, scale = std::numeric_limits<double>::min();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double d = std::abs(actual[i] - expected[i]);
    worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
    scale = std::max(scale, std::abs(expected[i]));
  }
  return worst / scale;
}

}  // namespace

TEST_CASE("MA-Net golden: a training step matches PyTorch (logits, two-head loss, gradients, moving statistics)") {
  const auto net = formula_model();
  const GoldenFile golden("manet/training");
  REQUIRE(golden.context().training());
  const Tensor<double> input = golden.tensor<double>("input", Model::input_shape);
  REQUIRE(input.n() == 2);
  const std::vector<int> labels = golden.values<int>("labels");
  std::set<std::string> used{"input", "labels", "logits", "loss"};

  const Tensor<double>& logits = net->forward(input, golden.context());
  golden.check_shape("logits", Model::output_shape);
  const std::vector<double> expected_logits = golden.expected("logits");
  const double logits_error = relative_error(logits.data(), expected_logits);
  CHECK_MESSAGE(logits_error <= bound, "logits: relative error " << logits_error);

  Tensor<double> grad_logits;
  TwoHeadLoss<double> two_head_loss;
  two_head_loss.beta = beta;
  const double loss = two_head_loss(logits, labels, &grad_logits);
  const double loss_error = relative_error(&loss, golden.expected("loss"));
  CHECK_MESSAGE(loss_error <= bound, "loss " << loss << ": relative error " << loss_error);
  net->backward(grad_logits);

  int gradients = 0, statistics = 0;
  net->for_each_parameter([&](const std::string& name, Parameter<double>& p) {
    const std::string key = p.trainable ? "grad." + name : name + ".after";
    if (!golden.contains(key)) return;
    used.insert(key);
    const std::vector<double> expected = golden.expected(key);
    REQUIRE(expected.size() == p.size());
    const double error = relative_error(p.trainable ? p.grad_data() : p.data(), expected);
    CHECK_MESSAGE(error <= bound, key << ": relative error " << error);
    CHECK(std::abs(*std::max_element(expected.begin(), expected.end(),
                                     [](double a, double b) { return std::abs(a) < std::abs(b); })) > 1e-3);
    ++(p.trainable ? gradients : statistics);
  });
  CHECK(gradients == 11);
  CHECK(statistics == 10);  // 5 BatchNorms, mean and variance
  golden.expect_all_used(used);
  MESSAGE("MA-Net training step vs PyTorch: logits " << logits_error << ", loss " << loss_error);
}

TEST_CASE("MA-Net golden: inference matches PyTorch") {
  const auto net = formula_model();
  const GoldenFile golden("manet/inference");
  REQUIRE(!golden.context().training());
  const Tensor<double> input = golden.tensor<double>("input", Model::input_shape);
  golden.check_shape("logits", Model::output_shape);
  const Tensor<double>& logits = net->forward(input, golden.context());
  const double error = relative_error(logits.data(), golden.expected("logits"));
  CHECK_MESSAGE(error <= bound, "inference logits: relative error " << error);
  golden.expect_all_used({"input", "logits"});
  MESSAGE("MA-Net inference vs PyTorch: logits " << error);
}
