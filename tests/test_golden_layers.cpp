// Every layer, merge and the loss against PyTorch: inputs and parameters come from a golden fixture
// (tests/golden/layers/, made by tools/make_golden_layers.py in float64); each case runs in double and
// in float and compares the output, the input and parameter gradients and BatchNorm's moving statistics.
#include <doctest/doctest.h>

#include <array>
#include <set>
#include <string>
#include <utility>

#include "golden.hpp"
#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;
using lanmsff::testing::expect_match;
using lanmsff::testing::GoldenFile;
using lanmsff::testing::golden_tolerance;
using lanmsff::testing::Report;
using lanmsff::testing::scalar_name;

namespace {

// Runs Spec's layer for input shape In in scalar T on fixture `name`: parameters from the fixture,
// forward in the fixture's mode, backward of sum(output * grad_output); returns every comparison.
template <class Spec, Shape In, class T>
Report run_layer(const std::string& name) {
  const GoldenFile golden("layers/" + name);
  Report report(name, scalar_name<T>);
  const double tolerance = golden_tolerance<T>;
  using Layer = typename Spec::template layer<In, T>;
  Layer layer;
  std::set<std::string> used{"input", "output", "grad_output", "grad_input"};
  visit_parameters(layer, "", [&](const std::string& param, Parameter<T>& p) {
    golden.load(param, p);
    p.zero_grad();
    used.insert(param);
    used.insert(p.trainable ? "grad." + param : param + ".after");
  });
  golden.expect_all_used(used);

  const Tensor<T> input = golden.tensor<T>("input", In);
  Tensor<T> output, grad_input;
  run_forward(layer, input, output, golden.context());
  REQUIRE(output.n() == input.n());
  REQUIRE(output.shape() == Layer::output_shape);
  golden.check_shape("output", Layer::output_shape);
  report.compare("output", output.data(), output.size(), golden.expected("output"), tolerance);
  // Moving statistics: updated as the fixture says in training, untouched when it has no ".after".
  visit_parameters(layer, "", [&](const std::string& param, Parameter<T>& p) {
    if (p.trainable) return;
    const std::string key = golden.contains(param + ".after") ? param + ".after" : param;
    report.compare(key, p.data(), p.size(), golden.expected(key), tolerance);
  });

  const Tensor<T> grad_output = golden.tensor<T>("grad_output", Layer::output_shape);
  run_backward(layer, input, output, grad_output, &grad_input);
  report.compare("grad_input", grad_input.data(), grad_input.size(), golden.expected("grad_input"), tolerance);
  visit_parameters(layer, "", [&](const std::string& param, Parameter<T>& p) {
    if (p.trainable)
      report.compare("grad." + param, p.grad_data(), p.size(), golden.expected("grad." + param), tolerance);
  });
  return report;
}

template <class Spec, Shape In>
void check_layer(const std::string& name) {
  expect_match(run_layer<Spec, In, double>(name));
  expect_match(run_layer<Spec, In, float>(name));
}

// A merge of the fixture's inputs input.0, input.1, ... (one per shape in In...).
template <class Merge, class T, Shape... In>
Report run_merge(const std::string& name) {
  const GoldenFile golden("layers/" + name);
  Report report(name, scalar_name<T>);
  const double tolerance = golden_tolerance<T>;
  constexpr std::size_t count = sizeof...(In);
  constexpr std::array<Shape, count> shapes{In...};
  using MergeType = typename Merge::template merge<T, In...>;
  MergeType merge;
  std::set<std::string> used{"output", "grad_output"};
  std::array<Tensor<T>, count> inputs, grads;
  MergeInputs<T, count> input_pointers;
  MergeGrads<T, count> grad_pointers;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string index = std::to_string(i);
    inputs[i] = golden.tensor<T>("input." + index, shapes[i]);
    input_pointers[i] = &inputs[i], grad_pointers[i] = &grads[i];
    used.insert("input." + index), used.insert("grad_input." + index);
  }
  golden.expect_all_used(used);

  Tensor<T> output;
  merge.forward(input_pointers, output);
  REQUIRE(output.shape() == MergeType::output_shape);
  golden.check_shape("output", MergeType::output_shape);
  report.compare("output", output.data(), output.size(), golden.expected("output"), tolerance);
  const Tensor<T> grad_output = golden.tensor<T>("grad_output", MergeType::output_shape);
  merge.backward(input_pointers, output, grad_output, grad_pointers);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string key = "grad_input." + std::to_string(i);
    report.compare(key, grads[i].data(), grads[i].size(), golden.expected(key), tolerance);
  }
  return report;
}

template <class Merge, Shape... In>
void check_merge(const std::string& name) {
  expect_match(run_merge<Merge, double, In...>(name));
  expect_match(run_merge<Merge, float, In...>(name));
}

// SoftmaxCrossEntropy with the fixture's labels, class weights and label smoothing.
template <class T>
Report run_loss(const std::string& name) {
  const GoldenFile golden("layers/" + name);
  Report report(name, scalar_name<T>);
  SoftmaxCrossEntropy<T> loss;
  std::set<std::string> used{"input", "labels", "loss", "grad_input"};
  if (golden.contains("class_weights")) {
    loss.class_weights = golden.values<double>("class_weights");
    used.insert("class_weights");
  }
  if (golden.contains("label_smoothing")) {
    loss.label_smoothing = golden.expected("label_smoothing").at(0);
    used.insert("label_smoothing");
  }
  golden.expect_all_used(used);

  const auto& shape = golden.entry("input").shape;
  REQUIRE(shape.size() == 4);
  const Tensor<T> logits = golden.tensor<T>("input", Shape{int(shape[1]), int(shape[2]), int(shape[3])});
  const std::vector<int> labels = golden.values<int>("labels");
  Tensor<T> grad;
  const double value = loss(logits, labels, &grad);
  report.compare("loss", &value, 1, golden.expected("loss"), golden_tolerance<T>);
  report.compare("grad_input", grad.data(), grad.size(), golden.expected("grad_input"), golden_tolerance<T>);
  return report;
}

void check_loss(const std::string& name) {
  expect_match(run_loss<double>(name));
  expect_match(run_loss<float>(name));
}

}  // namespace

TEST_CASE("Conv2D matches PyTorch") {
  check_layer<Conv2D<4, 3>, Shape{6, 5, 3}>("conv2d_same_s1");
  check_layer<Conv2D<4, 3, 2>, Shape{7, 6, 3}>("conv2d_same_s2");
  check_layer<Conv2D<3, 3, 1, 2>, Shape{6, 7, 2}>("conv2d_same_dilation2");
  check_layer<Conv2D<3, 4>, Shape{5, 6, 2}>("conv2d_same_even_kernel");
  check_layer<Conv2D<3, 4, 2>, Shape{7, 8, 2}>("conv2d_same_even_kernel_s2");
  check_layer<Conv2D<3, 3, 1, 1, valid>, Shape{6, 5, 2}>("conv2d_valid");
  check_layer<Conv2D<2, 3, 2, 1, valid>, Shape{7, 6, 2}>("conv2d_valid_s2");
  check_layer<TorchConv2D<3, 7, 2>, Shape{9, 8, 2}>("conv2d_stem_7x7_s2_pad3");
  check_layer<TorchConv2D<4, 1, 2, 0>, Shape{5, 6, 3}>("conv2d_1x1_s2");
}

TEST_CASE("DepthwiseConv2D and SeparableConv2D match PyTorch") {
  check_layer<DepthwiseConv2D<3>, Shape{6, 5, 4}>("depthwise_s1");
  check_layer<DepthwiseConv2D<3, 2>, Shape{7, 6, 4}>("depthwise_s2");
  check_layer<DepthwiseConv2D<3, 1, 2>, Shape{6, 6, 3}>("depthwise_dilation2");
  check_layer<SeparableConv2D<5, 3>, Shape{6, 5, 4}>("separable");
  check_layer<SeparableConv2D<4, 3, 1, 2>, Shape{7, 6, 3}>("separable_dilation2");
}

TEST_CASE("Conv2DTranspose matches PyTorch") {
  check_layer<Conv2DTranspose<3, 3, 2>, Shape{3, 4, 2}>("conv2d_transpose_same");
  check_layer<Conv2DTranspose<1, 3, 2>, Shape{3, 3, 4}>("conv2d_transpose_same_1filter");
  check_layer<Conv2DTranspose<2, 3, 2, valid>, Shape{3, 4, 2}>("conv2d_transpose_valid");
}

TEST_CASE("BatchNorm matches PyTorch (Keras and PyTorch conventions)") {
  check_layer<BatchNorm<>, Shape{4, 3, 5}>("batch_norm_training");
  check_layer<BatchNorm<>, Shape{4, 3, 5}>("batch_norm_inference");
  check_layer<TorchBatchNorm<>, Shape{3, 4, 6}>("torch_batch_norm_training");
  check_layer<TorchBatchNorm<0.01>, Shape{3, 3, 4}>("torch_batch_norm_momentum_001");
}

TEST_CASE("activations and pooling match PyTorch") {
  check_layer<ReLU, Shape{5, 4, 3}>("relu");
  check_layer<Sigmoid, Shape{3, 4, 5}>("sigmoid");
  check_layer<Softmax, Shape{2, 3, 6}>("softmax");
  check_layer<MaxPool<2>, Shape{6, 5, 3}>("max_pool_2x2");
  check_layer<MaxPool<3, 2, pad(1)>, Shape{7, 6, 3}>("max_pool_3x3_s2_pad1");
  check_layer<GlobalAvgPool, Shape{4, 3, 5}>("global_avg_pool");
  check_layer<GlobalMaxPool, Shape{4, 3, 5}>("global_max_pool");
  check_layer<Dropout<0.4>, Shape{3, 4, 5}>("dropout_inference");
}

TEST_CASE("Dense and Flatten match PyTorch") {
  check_layer<Dense<4>, Shape{1, 1, 6}>("dense_1x1");
  check_layer<Dense<3>, Shape{3, 2, 5}>("dense_every_position");
  check_layer<Flatten, Shape{3, 2, 5}>("flatten");
}

TEST_CASE("channel layers match PyTorch") {
  check_layer<ChannelShuffle<2>, Shape{3, 2, 8}>("channel_shuffle");
  check_layer<Split<1, 2>, Shape{3, 2, 6}>("split_1_of_2");
  check_layer<Split<1, 3>, Shape{2, 3, 9}>("split_1_of_3");
  check_layer<ChannelMean, Shape{4, 3, 5}>("channel_mean");
  check_layer<ChannelMax, Shape{4, 3, 5}>("channel_max");
  check_layer<Crop<1, 2, 3, 2>, Shape{5, 6, 3}>("crop");
}

TEST_CASE("merges match PyTorch") {
  check_merge<Concat<>, Shape{3, 2, 2}, Shape{3, 2, 3}, Shape{3, 2, 4}>("concat_channels");
  check_merge<Add, Shape{3, 4, 2}, Shape{3, 4, 2}, Shape{3, 4, 2}>("add");
  check_merge<Multiply, Shape{1, 1, 4}, Shape{3, 2, 1}, Shape{3, 2, 4}>("multiply_broadcast");
  check_merge<Multiply, Shape{1, 1, 4}, Shape{3, 2, 1}>("multiply_attention_map");
  check_merge<TileGrid<2, 2>, Shape{2, 3, 2}, Shape{2, 3, 2}, Shape{2, 3, 2}, Shape{2, 3, 2}>("tile_grid");
  check_merge<MaxMedian, Shape{3, 4, 2}, Shape{3, 4, 2}, Shape{3, 4, 2}>("max_median");  // with ties
}

TEST_CASE("SoftmaxCrossEntropy matches PyTorch") {
  check_loss("loss_plain");
  check_loss("loss_class_weights");
  check_loss("loss_label_smoothing");
  check_loss("loss_class_weights_label_smoothing");
}

// The comparison must be able to fail: symmetric padding 1 gives the same output shape as TF 'same'
// on a 7x6 input with stride 2, but pads the 6 columns on the left where 'same' pads on the right.
TEST_CASE("the golden comparison tells TF 'same' from symmetric padding") {
  const Report right = run_layer<Conv2D<4, 3, 2>, Shape{7, 6, 3}, double>("conv2d_same_s2");
  const Report wrong = run_layer<TorchConv2D<4, 3, 2, 1, true>, Shape{7, 6, 3}, double>("conv2d_same_s2");
  CHECK(right["output"].mismatches == 0);
  CHECK(wrong["output"].mismatches > 0);
  CHECK(wrong["grad_input"].mismatches > 0);
  CHECK(wrong["grad.kernel"].mismatches > 0);
}
