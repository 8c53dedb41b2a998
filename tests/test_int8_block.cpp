// LANMSFF's block 1 (Conv BN ReLU, SeparableConv BN ReLU, Conv BN, MaxPool, ReLU) run in int8 from the
// library's float layers, against the float block: the weights quantised per channel, each BatchNorm and
// bias folded into the convolution before it (quant/convolution.hpp), activations in uint8 from one layer
// to the next with ranges calibrated (quant/calibration.hpp) on the float block's own activations. The
// int8 output must stay within a few quantisation steps of the float one; a fold left out fails.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lanmsff/lanmsff.hpp"
#include "lanmsff/models/lanmsff.hpp"
#include "lanmsff/quant/convolution.hpp"
#include "trained_looking.hpp"

using namespace lanmsff;
using namespace lanmsff::quant;
using kernels::QuantizedBatch;

namespace {

constexpr Shape input_shape{32, 32, 1};
using Block = models::lanmsff_parts::ConvBlock<66>::layer<input_shape, float>;

// Trained-looking parameters: He-uniform kernels, BatchNorm statistics and affine maps away from 1 and 0.
void randomize(Block& block, std::uint64_t seed) {
  initialize_parameters(block, seed);
  lanmsff::testing::make_trained_looking([&](auto f) { visit_parameters(block, "", f); }, seed);
}

QuantParams calibrated(const Tensor<float>& x, bool relu = false) {
  HistogramObserver h;
  if (relu) {
    std::vector<float> r(x.begin(), x.end());
    for (auto& v : r) v = std::max(v, 0.0f);
    h.observe(r.data(), r.size());
  } else {
    h.observe(x.data(), x.size());
  }
  return h.params(Calibration::mse);
}

struct Int8Block {
  QuantParams input, conv1, depthwise, pointwise, conv2;
  std::vector<Int8Convolution> convs;
};

// The float block run layer by layer (inference), its activations calibrated, and the int8 block built.
Int8Block prepare(Block& block, const Tensor<float>& x, bool fold_bn = true) {
  const Context ctx = Context::inference();
  Tensor<float> a1, a2, a3, a4, a5, a6, a7, a8, a9;
  auto& sep = block.get<3>();
  run_forward(block.get<0>(), x, a1, ctx);
  run_forward(block.get<1>(), a1, a2, ctx);
  run_forward(block.get<2>(), a2, a3, ctx);
  run_forward(sep.get<0>(), a3, a4, ctx);
  run_forward(sep.get<1>(), a4, a5, ctx);
  run_forward(block.get<4>(), a5, a6, ctx);
  run_forward(block.get<5>(), a6, a7, ctx);
  run_forward(block.get<6>(), a7, a8, ctx);
  run_forward(block.get<7>(), a8, a9, ctx);
  Int8Block q{calibrated(x), calibrated(a3), calibrated(a4), calibrated(a7), calibrated(a9, true), {}};
  const auto bn = [&](auto& layer) {
    if (!fold_bn) return Affine{};
    const auto affine = layer.inference_affine(false);
    return Affine{affine.scale, affine.shift};
  };
  auto& conv1 = block.get<0>();
  auto& conv2 = block.get<6>();
  q.convs.emplace_back(conv1.geometry, conv1.kernel().data(), conv1.bias().data(), q.input.scale, bn(block.get<1>()), true);
  q.convs.emplace_back(sep.get<0>().geometry, sep.get<0>().kernel().data(), nullptr, q.conv1.scale, Affine{}, false, true);
  q.convs.emplace_back(sep.get<1>().geometry, sep.get<1>().kernel().data(), sep.get<1>().bias().data(), q.depthwise.scale,
                       bn(block.get<4>()), true);
  // BN3 and the ReLU after the pooling: max pooling commutes with a ReLU, so the ReLU goes with conv2.
  q.convs.emplace_back(conv2.geometry, conv2.kernel().data(), conv2.bias().data(), q.pointwise.scale, bn(block.get<7>()), true);
  return q;
}

// x -> uint8 -> conv1 -> depthwise -> pointwise -> conv2 -> 2x2 max pool -> float.
Tensor<float> run(const Int8Block& q, const Tensor<float>& x) {
  QuantizedBatch a, b;
  quantize_batch(x.data(), x.n(), input_shape, q.input, a);
  q.convs[0].run(a, b, q.conv1);
  q.convs[1].run(b, a, q.depthwise);
  q.convs[2].run(a, b, q.pointwise);
  q.convs[3].run(b, a, q.conv2);
  kernels::int8_max_pool(a, 2, b);
  Tensor<float> y(b.n, b.shape);
  kernels::dequantize(b, y.data());
  return y;
}

}  // namespace

TEST_CASE("int8 LANMSFF block 1 against the float block") {
  auto block = std::make_unique<Block>();
  randomize(*block, 3);
  Tensor<float> x(8, input_shape);
  Rng rng(4);
  for (auto& v : x) v = float(rng.uniform(0, 1));  // an image's pixels
  Tensor<float> reference;
  run_forward(*block, x, reference, Context::inference());
  const Int8Block q = prepare(*block, x);
  const Tensor<float> y = run(q, x);
  REQUIRE(y.shape() == reference.shape());
  const float range = *std::max_element(reference.begin(), reference.end());
  double sum = 0, worst = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double e = std::abs(double(y[i]) - reference[i]);
    sum += e, worst = std::max(worst, e);
  }
  const double mean = sum / double(y.size());
  MESSAGE("output range " << range << ", output step " << q.conv2.scale << ", mean error " << mean << ", largest " << worst);
  CHECK(mean < 0.5 * q.conv2.scale);  // measured 0.21 steps of the output's quantisation
  CHECK(worst < 0.1 * range);         // measured 16 steps, 6 % of the range: four layers' rounding adds up

  // The same with the BatchNorms left out of the folds: far off.
  const Int8Block unfolded = prepare(*block, x, false);
  const Tensor<float> wrong = run(unfolded, x);
  double wrong_sum = 0;
  for (std::size_t i = 0; i < y.size(); ++i) wrong_sum += std::abs(double(wrong[i]) - reference[i]);
  CHECK(wrong_sum / double(y.size()) > 10 * mean);
}

TEST_CASE("Int8Convolution: an input of another scale is refused") {
  const ConvGeometry g = make_conv_geometry({4, 4, 3}, 2, 3, 1, 1, same);
  std::vector<float> w(3 * 3 * 3 * 2, 0.1f);
  const Int8Convolution conv(g, w.data(), nullptr, 0.5f, Affine{}, false);
  QuantizedBatch in;
  in.resize(1, {4, 4, 3});
  in.scale = 0.25f;
  std::vector<float> y(4 * 4 * 2);
  CHECK_THROWS_WITH_AS(conv.run(in, y.data()), "Int8Convolution: prepared for an input scale of 0.500000, given 0.250000",
                       std::invalid_argument);
}
