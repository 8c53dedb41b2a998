// Sequential's in-place plan: which layers overwrite their input, and that a chain run in place
// computes exactly what the same layers compute with every activation kept.
#include <doctest/doctest.h>

#include <array>

#include "gradcheck.hpp"
#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;
using lanmsff::testing::check_spec;
using lanmsff::testing::fill_uniform;

namespace {
// conv -> BN -> ReLU -> pool -> ReLU -> Dropout -> Sigmoid: ReLU after BN and after MaxPool,
// Dropout after ReLU (ReLU's backward reads its output, but only where it is positive, which Dropout
// keeps wherever a gradient flows) and Sigmoid after Dropout run in place.
using Chain = Sequential<Conv2D<5, 3>, BatchNorm<>, ReLU, MaxPool<2>, ReLU, Dropout<0.3>, Sigmoid>;
// The same computation with an Identity before every activation, which blocks every in-place step.
using Kept = Sequential<Conv2D<5, 3>, BatchNorm<>, Identity, ReLU, MaxPool<2>, Identity, ReLU, Identity, Dropout<0.3>,
                        Identity, Sigmoid>;
constexpr Shape in_shape{6, 8, 3};
}  // namespace

TEST_CASE("the in-place plan follows the layers' traits") {
  using L = Chain::layer<in_shape, double>;
  constexpr std::array<bool, 7> expected{false, false, true, false, true, true, true};
  static_assert(L::in_place_layers == expected);
  static_assert(Kept::layer<in_shape, double>::in_place_layers == std::array<bool, 11>{});
  // Only a layer that keeps the ReLU's mask may overwrite a ReLU's output.
  static_assert(Sequential<Conv2D<2, 1>, ReLU, ReLU>::layer<in_shape, double>::in_place_layers ==
                std::array<bool, 3>{false, true, false});
  // A chain's first layer never overwrites the caller's input.
  static_assert(!Sequential<ReLU, Conv2D<2, 1>>::layer<in_shape, double>::in_place_layers[0]);
  // A chain whose last layer runs in place reads its output in backward, so the layer after it
  // (in an enclosing chain) must not overwrite it.
  static_assert(backward_reads_output<Sequential<Conv2D<2, 1>, ReLU>::layer<in_shape, double>>);
  static_assert(!backward_reads_output<Sequential<Conv2D<2, 1>, BatchNorm<>>::layer<in_shape, double>>);
}

TEST_CASE("a chain run in place equals the same chain with every activation kept") {
  Chain::layer<in_shape, double> chain;
  Kept::layer<in_shape, double> kept;
  initialize_parameters(chain, 3);
  std::vector<Parameter<double>*> from, to;
  visit_parameters(chain, "", [&](const std::string&, Parameter<double>& p) { from.push_back(&p); });
  visit_parameters(kept, "", [&](const std::string&, Parameter<double>& p) { to.push_back(&p); });
  REQUIRE(from.size() == to.size());
  for (std::size_t i = 0; i < from.size(); ++i) to[i]->value = from[i]->value;
  chain.get<5>().set_seed(5);  // the same dropout mask in both (it depends on seed, step and index)
  kept.get<8>().set_seed(5);

  Tensor<double> x(3, in_shape), gy;
  fill_uniform(x, 11);
  Tensor<double> y1, y2, gx1, gx2;
  const Context ctx = Context::train(4);
  chain.forward(x, y1, ctx);
  kept.forward(x, y2, ctx);
  REQUIRE(y1.size() == y2.size());
  gy.resize(y1.n(), y1.shape());
  fill_uniform(gy, 12);
  chain.backward(x, y1, gy, &gx1);
  kept.backward(x, y2, gy, &gx2);
  // Outputs bit for bit; gradients to rounding: the in-place chain also runs its BatchNorm and ReLU
  // as one layer (backward_relu masks the gradient inside BatchNorm's own expressions, which the
  // compiler may contract into different multiply-adds), which Kept's Identity prevents.
  for (std::size_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == y2[i]);
  for (std::size_t i = 0; i < gx1.size(); ++i) CHECK(gx1[i] == doctest::Approx(gx2[i]).epsilon(1e-13));
  for (std::size_t i = 0; i < from.size(); ++i)
    for (std::size_t k = 0; k < from[i]->grad.size(); ++k)
      CHECK(from[i]->grad[k] == doctest::Approx(to[i]->grad[k]).epsilon(1e-13));
}

TEST_CASE("in-place chains pass the gradient check") {
  check_spec<Chain, in_shape>({.batch = 3});
  check_spec<Chain, in_shape>({.ctx = Context::inference()});
  // Nested: the inner chain ends in place, the outer ReLU must then keep its own buffer.
  check_spec<Sequential<Sequential<Conv2D<4, 3>, ReLU>, ReLU, Conv2D<3, 1>, ReLU>, Shape{5, 5, 2}>();
}
