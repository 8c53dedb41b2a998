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

TEST_CASE("the in-place plan follows the layers' memory rules") {
  using L = Chain::layer<in_shape, double>;
  constexpr std::array<bool, 7> expected{false, false, true, false, true, true, true};
  static_assert(L::plan::in_place == expected);
  static_assert(Kept::layer<in_shape, double>::plan::in_place == std::array<bool, 11>{});
  // Only a layer that keeps the ReLU's mask may overwrite a ReLU's output.
  static_assert(Sequential<Conv2D<2, 1>, ReLU, ReLU>::layer<in_shape, double>::plan::in_place ==
                std::array<bool, 3>{false, true, false});
  // A chain's first layer never overwrites the caller's input.
  static_assert(!Sequential<ReLU, Conv2D<2, 1>>::layer<in_shape, double>::plan::in_place[0]);
  // A chain whose last layer runs in place reads its output in backward, so the layer after it
  // (in an enclosing chain) must not overwrite it.
  static_assert(backward_reads_output<Sequential<Conv2D<2, 1>, ReLU>::layer<in_shape, double>>);
  static_assert(!backward_reads_output<Sequential<Conv2D<2, 1>, BatchNorm<>>::layer<in_shape, double>>);
}

namespace {
// Layers that declare nothing but their signatures (layers/layer.hpp): the rules follow from them.
template <int Form>
struct Forms {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In, output_shape = In;
    static constexpr std::string_view kind = "Forms";
    void forward(const Tensor<T>&, Tensor<T>&, const Context&) requires(Form != 2 && Form != 3 && Form != 6) {}
    void forward_in_place(const Tensor<T>&, Tensor<T>&, const Context&)
      requires(Form == 2 || Form == 3 || Form == 5 || Form == 6)
    {}
    void backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, Tensor<T>*) requires(Form == 0 || Form == 4) {}
    void backward(const Tensor<T>&, const Tensor<T>&, Tensor<T>*) requires(Form == 1 || Form == 4 || Form == 6) {}
    void backward_from_output(const Tensor<T>&, const Tensor<T>&, Tensor<T>*) requires(Form == 2) {}
    void backward(const Tensor<T>&, Tensor<T>*) requires(Form == 3 || Form == 5) {}
  };
};
template <int Form>
using FormLayer = Forms<Form>::template layer<in_shape, double>;
}  // namespace

TEST_CASE("the memory rules follow the layers' signatures") {
  // 0: forward, backward(input, output, ...): the safe rules.
  static_assert(Layer<FormLayer<0>> && backward_reads_output<FormLayer<0>> && !runs_in_place<FormLayer<0>>);
  // 1: backward(input, grad_output, grad_input): its output may be overwritten.
  static_assert(Layer<FormLayer<1>> && !backward_reads_output<FormLayer<1>> && !runs_in_place<FormLayer<1>>);
  // 2: forward_in_place, backward_from_output: in place, and its output is read.
  static_assert(Layer<FormLayer<2>> && backward_reads_output<FormLayer<2>> && runs_in_place<FormLayer<2>>);
  // 3: forward_in_place, backward(grad_output, grad_input): in place, its output free.
  static_assert(Layer<FormLayer<3>> && !backward_reads_output<FormLayer<3>> && runs_in_place<FormLayer<3>>);
  // Two backward forms, or two forward forms: not a layer.
  static_assert(!Layer<FormLayer<4>>);
  static_assert(!Layer<FormLayer<5>>);
  // 6: forward_in_place with a backward that takes the input (in place, overwritten): not a layer.
  static_assert(!Layer<FormLayer<6>>);
  // The library's layers.
  static_assert(runs_in_place<ReLU::layer<in_shape, double>> && backward_reads_output<ReLU::layer<in_shape, double>>);
  static_assert(runs_in_place<Dropout<>::layer<in_shape, double>> && keeps_relu_mask<Dropout<>::layer<in_shape, double>>);
  static_assert(!keeps_relu_mask<ReLU::layer<in_shape, double>>);
  static_assert(!runs_in_place<Conv2D<2, 3>::layer<in_shape, double>> &&
                !backward_reads_output<Conv2D<2, 3>::layer<in_shape, double>>);
  static_assert(backward_reads_output<Softmax::layer<in_shape, double>>);
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
  run_forward(chain, x, y1, ctx);
  run_forward(kept, x, y2, ctx);
  REQUIRE(y1.size() == y2.size());
  gy.resize(y1.n(), y1.shape());
  fill_uniform(gy, 12);
  run_backward(chain, x, y1, gy, &gx1);
  run_backward(kept, x, y2, gy, &gx2);
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
