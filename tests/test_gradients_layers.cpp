// Finite-difference gradient checks for every layer, over strides, dilations, odd sizes,
// batches > 1 and channel counts that are not multiples of 8.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;
using lanmsff::testing::check_spec;
using lanmsff::testing::GradCheckOptions;

TEST_CASE("Conv2D gradients") {
  SUBCASE("3x3 same, stride 1") { check_spec<Conv2D<5, 3>, Shape{7, 6, 3}>(); }
  SUBCASE("3x3 same, stride 2, odd size") { check_spec<Conv2D<4, 3, 2>, Shape{9, 7, 5}>(); }
  SUBCASE("3x3 same, dilation 2") { check_spec<Conv2D<6, 3, 1, 2>, Shape{8, 9, 3}>(); }
  SUBCASE("valid, no bias, batch 3") { check_spec<Conv2D<3, 3, 1, 1, valid, false>, Shape{6, 5, 2}>({.batch = 3}); }
  SUBCASE("7x7 stride 2 pad 3 (MA-Net stem)") { check_spec<TorchConv2D<4, 7, 2>, Shape{11, 12, 3}>(); }
  SUBCASE("1x1 pointwise") { check_spec<Conv2D<7, 1>, Shape{5, 4, 9}>(); }
  SUBCASE("1x1 stride 2 (projection shortcut)") { check_spec<TorchConv2D<6, 1, 2, 0>, Shape{7, 6, 5}>(); }
  SUBCASE("even kernel same") { check_spec<Conv2D<3, 4, 2>, Shape{9, 8, 2}>(); }
}

TEST_CASE("DepthwiseConv2D gradients") {
  SUBCASE("stride 1") { check_spec<DepthwiseConv2D<3>, Shape{6, 7, 5}>(); }
  SUBCASE("stride 2, bias") { check_spec<DepthwiseConv2D<3, 2, 1, same, true>, Shape{9, 8, 11}>(); }
  SUBCASE("dilation 2") { check_spec<DepthwiseConv2D<3, 1, 2>, Shape{8, 8, 3}>({.batch = 3}); }
  // Channel counts above one register block (8 doubles) exercise the blocked loop and its tail.
  SUBCASE("19 channels, dilation 2") { check_spec<DepthwiseConv2D<3, 1, 2, same, true>, Shape{7, 6, 19}>(); }
  SUBCASE("16 channels, stride 2 and dilation 2, valid") {
    check_spec<DepthwiseConv2D<3, 2, 2, valid>, Shape{9, 10, 16}>();
  }
  SUBCASE("5x5, stride 3, 9 channels") { check_spec<DepthwiseConv2D<5, 3>, Shape{10, 8, 9}>(); }
}

TEST_CASE("SeparableConv2D gradients") {
  check_spec<SeparableConv2D<6, 3>, Shape{7, 7, 5}>();
  check_spec<SeparableConv2D<4, 3, 1, 2>, Shape{9, 8, 3}>();
}

TEST_CASE("Conv2DTranspose gradients") {
  SUBCASE("k3 s2 same") { check_spec<Conv2DTranspose<4, 3, 2>, Shape{4, 5, 3}>(); }
  SUBCASE("k3 s2 same, one output channel") { check_spec<Conv2DTranspose<1, 3, 2>, Shape{3, 3, 4}>(); }
  SUBCASE("k3 s2 valid") { check_spec<Conv2DTranspose<2, 3, 2, valid>, Shape{3, 4, 2}>(); }
}

TEST_CASE("BatchNorm gradients") {
  SUBCASE("training") { check_spec<BatchNorm<>, Shape{4, 5, 7}>({.batch = 3}); }
  SUBCASE("inference") { check_spec<BatchNorm<>, Shape{4, 3, 5}>({.ctx = Context::inference()}); }
  SUBCASE("PyTorch convention") { check_spec<TorchBatchNorm<>, Shape{3, 3, 6}>(); }
}

TEST_CASE("activation gradients") {
  check_spec<ReLU, Shape{5, 4, 3}>();
  check_spec<Sigmoid, Shape{3, 4, 5}>({.input_lo = -6, .input_hi = 6});
  check_spec<Softmax, Shape{2, 3, 7}>();
}

TEST_CASE("pooling gradients") {
  check_spec<MaxPool<2>, Shape{8, 6, 5}>();
  check_spec<MaxPool<2>, Shape{7, 9, 3}>();  // odd: last row/column dropped ('valid')
  check_spec<MaxPool<3, 2, pad(1)>, Shape{9, 8, 4}>();
  check_spec<GlobalAvgPool, Shape{5, 3, 6}>();
  check_spec<GlobalMaxPool, Shape{4, 5, 7}>();
}

TEST_CASE("Dense and Flatten gradients") {
  check_spec<Dense<5>, Shape{1, 1, 9}>({.batch = 4});
  check_spec<Dense<3>, Shape{2, 1, 6}>();  // applied at every position
  check_spec<Dense<4, true, Init::uniform_fan_in>, Shape{1, 1, 7}>();
  check_spec<Flatten, Shape{3, 2, 5}>();
}

TEST_CASE("Dropout gradients (fixed step => fixed mask)") {
  check_spec<Dropout<0.4>, Shape{6, 5, 7}>();
  check_spec<Dropout<0.4>, Shape{6, 5, 7}>({.ctx = Context::inference()});
}

TEST_CASE("channel layer gradients") {
  check_spec<ChannelShuffle<2>, Shape{3, 4, 10}>();
  check_spec<ChannelShuffle<3>, Shape{3, 2, 9}>();
  check_spec<Split<1, 2>, Shape{4, 3, 6}>();
  check_spec<Split<2, 3>, Shape{3, 3, 9}>();
  check_spec<ChannelMean, Shape{4, 5, 7}>();
  check_spec<ChannelMax, Shape{4, 5, 7}>();
  check_spec<Crop<1, 2, 3, 2>, Shape{5, 6, 3}>();
}

TEST_CASE("merge gradients") {
  SUBCASE("Concat channels") { check_spec<Parallel<Concat<>, Conv2D<3, 3>, Conv2D<5, 1>>, Shape{5, 4, 3}>(); }
  SUBCASE("Concat height") { check_spec<Parallel<Concat<Axis::height>, GlobalAvgPool, GlobalMaxPool>, Shape{4, 4, 5}>(); }
  SUBCASE("Add with identity (residual)") { check_spec<Residual<Conv2D<4, 3>>, Shape{5, 5, 4}>(); }
  SUBCASE("Multiply broadcast 1x1xC * HxWx1") {
    check_spec<Parallel<Multiply, Sequential<GlobalAvgPool, Dense<6>>, ChannelMean>, Shape{5, 4, 6}>();
  }
  SUBCASE("Multiply x * A(x)") {
    check_spec<Parallel<Multiply, Identity, Sequential<Conv2D<5, 3>, Sigmoid>>, Shape{4, 4, 5}>();
  }
  SUBCASE("Multiply three same-shaped inputs") {
    check_spec<Parallel<Multiply, Identity, Sequential<Conv2D<5, 3>, Sigmoid>, Conv2D<5, 1>>, Shape{4, 3, 5}>();
  }
  SUBCASE("MaxMedian") {
    check_spec<Parallel<MaxMedian, Split<0, 3>, Split<1, 3>, Split<2, 3>>, Shape{4, 5, 9}>();
  }
  SUBCASE("TileGrid of crops") {
    check_spec<Parallel<TileGrid<2, 2>, Sequential<Crop<0, 0, 3, 3>, Conv2D<2, 3>>,
                        Sequential<Crop<0, 3, 3, 3>, Conv2D<2, 3>>, Sequential<Crop<3, 0, 3, 3>, Conv2D<2, 3>>,
                        Sequential<Crop<3, 3, 3, 3>, Conv2D<2, 3>>>,
               Shape{6, 6, 3}>();
  }
}

// The checker itself must be able to fail: a layer whose backward is off by a factor is caught.
namespace {
struct WrongGradient {
  template <Shape In, class T>
  struct layer : ReLU::layer<In, T> {
    void backward_from_output(const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>* gx) {
      ReLU::layer<In, T>::backward_from_output(y, gy, gx);
      gx->array() *= T(1.01);
    }
  };
};
}  // namespace

TEST_CASE("the gradient checker rejects a wrong backward pass" * doctest::should_fail()) {
  check_spec<WrongGradient, Shape{3, 3, 2}>();
}
