// A layer written from docs/layer-contract.md alone (tests/prelu.hpp): known values, its gradients
// against finite differences, alone and inside a composition, and what its signatures make of it.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "prelu.hpp"

using namespace lanmsff;
using lanmsff::testing::check_spec;

TEST_CASE("PReLU: known values, and the slopes' gradient") {
  constexpr Shape in{1, 2, 2};
  PReLU::layer<in, double> prelu;
  static_assert(Layer<decltype(prelu)>);
  CHECK(count_parameters(prelu).trainable == 2);
  Parameter<double>* alpha = nullptr;
  visit_parameters(prelu, "", [&](const std::string& path, Parameter<double>& p) {
    CHECK(path == "alpha");
    alpha = &p;
  });
  REQUIRE(alpha);
  alpha->value = {0.5, -2.0};
  // Two pixels of two channels: (3, -1), (-4, 0).
  Tensor<double> x(1, in), y, gy(1, in), gx;
  x[0] = 3, x[1] = -1, x[2] = -4, x[3] = 0;
  run_forward(prelu, x, y, Context::train(1));
  CHECK(y[0] == 3);
  CHECK(y[1] == 2);   // -2 * -1
  CHECK(y[2] == -2);  // 0.5 * -4
  CHECK(y[3] == 0);
  gy[0] = 1, gy[1] = 10, gy[2] = 100, gy[3] = 1000;
  alpha->zero_grad();
  run_backward(prelu, x, y, gy, &gx);
  CHECK(gx[0] == 1);
  CHECK(gx[1] == -20);    // alpha[1] * 10
  CHECK(gx[2] == 50);     // alpha[0] * 100
  CHECK(gx[3] == -2000);  // x = 0 takes the negative side (as Keras and PyTorch)
  CHECK(alpha->grad[0] == -400);  // 100 * -4
  CHECK(alpha->grad[1] == -10);   // 10 * -1 + 1000 * 0
}

TEST_CASE("PReLU gradients") {
  check_spec<PReLU, Shape{4, 5, 3}>();
  check_spec<PReLU, Shape{3, 2, 7}>({.batch = 3});
  // Inside a composition: after a convolution, with a residual connection around it.
  check_spec<Residual<Sequential<Conv2D<4, 3>, PReLU>>, Shape{5, 5, 4}>();
}

TEST_CASE("PReLU's memory rules come from its signatures") {
  using L = PReLU::layer<Shape{3, 3, 2}, float>;
  static_assert(!backward_reads_output<L>);  // its backward takes the input only
  static_assert(!runs_in_place<L>);          // it writes forward, not forward_in_place
  // So a ReLU after it runs in place on its output, and it never runs on a convolution's.
  static_assert(Sequential<Conv2D<2, 1>, PReLU, ReLU>::layer<Shape{3, 3, 2}, float>::plan::in_place ==
                std::array<bool, 3>{false, false, true});
}
