// The whole MA-Net against an independent PyTorch implementation (tools/manet_torch.py; fixtures
// tests/golden/manet/ made by tools/make_golden_manet.py in float64): MANet<3, 64> in double, one training step
// on a batch of 2 (logits, the two-head loss, the gradients of parameters spread over every kind of block, the
// moving statistics of a few BatchNorms) and inference logits; and the published model, MANet<7, 224>, in
// inference on one image (both heads and the combined prediction) in float and in double.
//
// The 50.5 M weights are not in the fixtures: both sides compute them from the same integer-hash formula
// (formula_model below; the generator's docstring has the definition), bit-identical in float64.
// Relative error of a tensor: max_i |actual_i - expected_i| / max_i |expected_i|. The reference is float64, so
// in double the bound is tight (1e-9; observed ~1e-14); the fixtures' results are stored as F64. The float
// bound is float_bound's comment.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
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

// The full model in float: float32 rounds every layer's output (relative 6e-8) along a path up to about 30
// convolutions deep, and accumulates up to 4,608 products (3x3x512) per output; PyTorch's float64 does neither.
// The residual sums grow fc_2's logits to ~1e3 (fc_1's stay ~20), so errors are judged per head, against its
// largest logit. Observed: 4.9e-7 to 7.8e-7 (1 or 2 threads, -O2 or -O3 -march=native). The bound leaves room
// for other GEMM blockings and summation orders (cache sizes, thread counts, vector widths); one of the 36,864
// weights of a 3x3x64x64 kernel off by a tenth of the kernel's scale (0.01) already gives 1.5e-5, a wrong patch
// order 8e-2.
constexpr double float_bound = 5e-6;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// offset + scale * r for every element of a tensor, by the kind of tensor (its leaf name).
template <class T>
std::pair<double, double> formula_offset_scale(const std::string& name, const Parameter<T>& p) {
  const std::string leaf = name.substr(name.rfind('.') + 1);
  if (leaf == "kernel") return {0.0, std::sqrt(6.0 / double(p.size() / std::size_t(p.shape.back())))};
  if (leaf == "bias" || leaf == "beta" || leaf == "moving_mean") return {0.0, 0.1};
  if (leaf == "gamma") return {1.0, 0.2};
  if (leaf == "moving_variance") return {1.0, 0.5};
  FAIL("no formula for parameter " << name);
  return {};
}

// Every parameter and moving statistic from the formula: element i of the t-th tensor (in for_each_parameter
// order, which is tests/data/manet/names.txt's) is offset + scale * r, r uniform in [-1, 1) from a hash of
// (t, i). Mirrors make_golden_manet.py; computed in double, then rounded to the model's scalar.
template <class Net>
std::unique_ptr<Net> formula_model() {
  using T = typename Net::scalar;
  auto net = std::make_unique<Net>();
  std::uint64_t t = 0;
  net->for_each_parameter([&](const std::string& name, Parameter<T>& p) {
    const auto [offset, scale] = formula_offset_scale(name, p);
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double r = 2.0 * (double(splitmix64((t << 32) + i) >> 11) * 0x1p-53) - 1.0;
      p.value[i] = T(offset + scale * r);
    }
    ++t;
  });
  REQUIRE(t == 588);  // every entry of tests/data/manet/names.txt
  net->zero_grad();
  return net;
}

template <class A>
double relative_error(const A* actual, const std::vector<double>& expected) {
  double worst = 0, scale = std::numeric_limits<double>::min();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double d = std::abs(double(actual[i]) - expected[i]);
    worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
    scale = std::max(scale, std::abs(expected[i]));
  }
  return worst / scale;
}

}  // namespace

TEST_CASE("MA-Net golden: a training step matches PyTorch (logits, two-head loss, gradients, moving statistics)") {
  const auto net = formula_model<Model>();
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
  const auto net = formula_model<Model>();
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

namespace {

// MANet<7, 224, T> on the fixture's image: fc_1, fc_2 and combine_heads' prediction against PyTorch's. Returns
// the largest of the three relative errors.
template <class T>
double full_size_inference(double tolerance) {
  using Full = models::MANet<7, 224, T>;
  const GoldenFile golden("manet/inference_224");
  REQUIRE(!golden.context().training());
  const int batch = golden.check_shape("image", Full::input_shape);
  REQUIRE(batch == 1);
  const std::vector<double> pixels = golden.values<double>("image");  // stored as U8
  Tensor<T> input(batch, Full::input_shape);
  for (std::size_t i = 0; i < pixels.size(); ++i) input.data()[i] = T(pixels[i] / 255.0);
  const auto [lowest, highest] = std::minmax_element(pixels.begin(), pixels.end());
  REQUIRE((*lowest == 0 && *highest == 255));  // a full-range 8-bit image, not an empty fixture

  const auto net = formula_model<Full>();
  const Tensor<T>& logits = net->forward(input);  // inference: the formula's moving statistics
  REQUIRE(logits.sample_size() == 14);
  Tensor<T> prediction;
  combine_heads(logits, prediction, beta);  // the paper's 0.6, as the generator's

  double worst = 0;
  const auto compare = [&](const std::string& key, const T* actual) {
    golden.check_shape(key, Shape{1, 1, 7});
    const std::vector<double> expected = golden.expected(key);
    const double error = relative_error(actual, expected);
    CHECK_MESSAGE(error <= tolerance, "MANet<7, 224> (" << std::string(testing::scalar_name<T>) << ") " << key
                                                       << ": relative error " << error << ", allowed " << tolerance);
    worst = std::max(worst, error);
    return expected;
  };
  compare("fc_1", logits.data());
  compare("fc_2", logits.data() + 7);
  const std::vector<double> expected = compare("prediction", prediction.data());
  CHECK(std::max_element(prediction.data(), prediction.data() + 7) - prediction.data() ==
        std::max_element(expected.begin(), expected.end()) - expected.begin());
  golden.expect_all_used({"image", "fc_1", "fc_2", "prediction"});
  return worst;
}

}  // namespace

TEST_CASE("MA-Net golden: the full model (224x224x3, 7 classes) in float matches PyTorch in inference") {
  const double error = full_size_inference<float>(float_bound);
  MESSAGE("MANet<7, 224> float inference vs PyTorch float64: largest relative error " << error);
}

TEST_CASE("MA-Net golden: the full model (224x224x3, 7 classes) in double matches PyTorch in inference") {
  const double error = full_size_inference<double>(bound);
  MESSAGE("MANet<7, 224> double inference vs PyTorch float64: largest relative error " << error);
}
