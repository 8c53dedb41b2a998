// Every memory plan a layer takes part in, against the same layers run out of place.
//
// Sequential plans its buffers and fusions at compile time from the memory rules that layers/layer.hpp
// derives from each layer's signatures: a layer whose backward does not take its output lets an
// in-place layer after it overwrite that output; a layer with forward_in_place and a backward without
// its input overwrites its input; one that keeps a ReLU's mask may overwrite a ReLU's output; a layer
// that accepts an epilogue runs the BatchNorm (and 2x2 MaxPool) and ReLU after it in its own inference
// forward; a BatchNorm runs with the ReLU after it as one layer. A layer whose code does not keep the
// promise of its signature (it reads a buffer it kept a pointer to) corrupts results without any error,
// so each layer of the library (leaves, composites, blocks) runs here in every plan its rules let
// Sequential make, and the result is compared with the same layers with an Identity placed where it
// blocks that plan (Identity declares the full backward, and no in-place forward): outputs, input
// gradients and parameter gradients, in training and in inference
// (the fusions into a convolution happen in inference only). Every parameter, BatchNorm's scale, shift
// and moving statistics included, is random, so that a fused epilogue that dropped a term would show.
// Two layers that break the promise of their signatures show that the comparison catches it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "gradcheck.hpp"
#include "lanmsff/lanmsff.hpp"
#include "lanmsff/models/lanmsff.hpp"
#include "prelu.hpp"

using namespace lanmsff;
using lanmsff::testing::fill_uniform;

namespace {

// The k-th layer that draws random numbers gets the same seed in both chains (seed_layers would seed
// by path, and the Identity shifts the paths).
template <class L>
void seed_in_order(L& chain) {
  std::uint64_t k = 0;
  visit_layers(chain, "", [&](const std::string&, auto& layer, int) {
    if constexpr (requires { layer.set_seed(std::uint64_t{}); }) layer.set_seed(1000 + k++);
  });
}

template <class L>
std::vector<Parameter<double>*> parameters_of(L& layer) {
  std::vector<Parameter<double>*> list;
  visit_parameters(layer, "", [&](const std::string&, Parameter<double>& p) { list.push_back(&p); });
  return list;
}

// The largest difference between the chains, relative to 1 + |value of the kept chain|: outputs, the
// input gradient and every parameter gradient (moving statistics included, through the parameters'
// values after a training forward).
template <class Planned, class Kept, Shape In>
double plan_difference(const Context& ctx) {
  typename Planned::template layer<In, double> planned;
  typename Kept::template layer<In, double> kept;
  // Random values everywhere (variances positive), not the initialisers' ones and zeros.
  Rng rng(7);
  visit_parameters(planned, "", [&](const std::string& path, Parameter<double>& p) {
    const bool variance = path.ends_with("moving_variance");
    for (double& v : p.value) v = variance ? 0.5 + rng.uniform() : 2 * rng.uniform() - 1;
  });
  const auto from = parameters_of(planned), to = parameters_of(kept);
  REQUIRE(from.size() == to.size());
  for (std::size_t i = 0; i < from.size(); ++i) to[i]->value = from[i]->value;
  seed_in_order(planned);
  seed_in_order(kept);

  Tensor<double> x(3, In), y1, y2, gy, gx1, gx2;
  fill_uniform(x, 21);
  run_forward(planned, x, y1, ctx);
  run_forward(kept, x, y2, ctx);
  REQUIRE(y1.shape() == y2.shape());
  REQUIRE(y1.n() == y2.n());
  gy.resize(y1.n(), y1.shape());
  fill_uniform(gy, 22);
  zero_gradients(planned);
  zero_gradients(kept);
  run_backward(planned, x, y1, gy, &gx1);
  run_backward(kept, x, y2, gy, &gx2);
  REQUIRE(gx1.size() == gx2.size());

  double worst = 0;
  const auto compare = [&](const double* a, const double* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / (1 + std::abs(b[i])));
  };
  compare(y1.data(), y2.data(), y1.size());
  compare(gx1.data(), gx2.data(), gx1.size());
  for (std::size_t i = 0; i < from.size(); ++i) {
    compare(from[i]->value.data(), to[i]->value.data(), from[i]->size());
    compare(from[i]->grad.data(), to[i]->grad.data(), from[i]->grad.size());
  }
  return worst;
}

// Rounding only: a BatchNorm run with its ReLU as one layer, or a convolution with its BatchNorm as an
// epilogue, computes the same terms in another order.
constexpr double tolerance = 1e-11;

// Every plan that Spec's memory rules and fusion traits on input In let Sequential make; returns how many were compared (in
// training and in inference). A layer in none is only ever run out of place.
template <class Spec, Shape In>
int check_plans() {
  using L = typename Spec::template layer<In, double>;
  using Pre = Conv2D<In.c, 1>;  // a layer before it whose output it may overwrite (it does not read it)
  INFO(L::kind, " on ", to_string(In));
  int plans = 0;
  for (const Context& ctx : {Context::train(3), Context::inference()}) {
    const char* mode = ctx.training() ? "training" : "inference";
    INFO(mode);
    const bool inference = !ctx.training();
    if constexpr (!backward_reads_output<L>) {  // an in-place Sigmoid after it overwrites its output
      INFO("its output overwritten");
      CHECK(plan_difference<Sequential<Spec, Sigmoid>, Sequential<Spec, Identity, Sigmoid>, In>(ctx) <= tolerance);
      ++plans;
    }
    if constexpr (runs_in_place<L>) {  // it overwrites its input
      INFO("in place");
      CHECK(plan_difference<Sequential<Pre, Spec>, Sequential<Pre, Identity, Spec>, In>(ctx) <= tolerance);
      ++plans;
      if constexpr (keeps_relu_mask<L>) {  // even a ReLU's output
        INFO("in place after a ReLU");
        CHECK(plan_difference<Sequential<Pre, ReLU, Spec>, Sequential<Pre, ReLU, Identity, Spec>, In>(ctx) <= tolerance);
        ++plans;
      }
    }
    if constexpr (accepts_epilogue<L>) {  // BatchNorm and ReLU in its forward (training runs every layer)
      if (inference) {
        INFO("BatchNorm and ReLU as its epilogue");
        CHECK(plan_difference<Sequential<Spec, BatchNorm<>, ReLU>, Sequential<Spec, Identity, BatchNorm<>, ReLU>, In>(ctx) <=
              tolerance);
        ++plans;
        if constexpr (accepts_pool_epilogue<L>) {
          INFO("BatchNorm, 2x2 MaxPool and ReLU as its epilogue");
          CHECK(plan_difference<Sequential<Spec, BatchNorm<>, MaxPool<2>, ReLU>,
                                Sequential<Spec, Identity, BatchNorm<>, MaxPool<2>, ReLU>, In>(ctx) <= tolerance);
          ++plans;
        }
      }
    }
    if constexpr (is_batch_norm<L>) {
      {  // with the ReLU after it as one layer (forward_relu, backward_relu), in training too
        INFO("one layer with the ReLU after it");
        CHECK(plan_difference<Sequential<Spec, ReLU>, Sequential<Spec, Identity, ReLU>, In>(ctx) <= tolerance);
        ++plans;
      }
      if (inference) {  // a convolution's epilogue
        INFO("the epilogue of a convolution");
        CHECK(plan_difference<Sequential<Conv2D<In.c, 3>, Spec, ReLU>, Sequential<Conv2D<In.c, 3>, Identity, Spec, ReLU>,
                              In>(ctx) <= tolerance);
        ++plans;
      }
    }
    if constexpr (is_max_pool_2x2<L>) {  // absorbed, with the ReLU after it, by a convolution and its BatchNorm
      if (inference) {
        INFO("absorbed by a convolution");
        CHECK(plan_difference<Sequential<Conv2D<In.c, 3>, BatchNorm<>, Spec, ReLU>,
                              Sequential<Conv2D<In.c, 3>, BatchNorm<>, Identity, Spec, ReLU>, In>(ctx) <= tolerance);
        ++plans;
      }
    }
  }
  return plans;
}

// Its backward takes the input form (so the output may be overwritten), but reads the output through
// a pointer kept in forward: a Sigmoid's gradient from y (1 - y).
struct SigmoidReadingOutput {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In, output_shape = In;
    static constexpr std::string_view kind = "SigmoidReadingOutput";
    void forward(const Tensor<T>& x, Tensor<T>& y, const Context& ctx) {
      sigmoid_.forward_in_place(x, y, ctx);
      output_ = &y;
    }
    void backward(const Tensor<T>& x, const Tensor<T>& gy, Tensor<T>* gx) {
      if (!gx) return;
      gx->resize(x.n(), In);
      for (std::size_t i = 0; i < x.size(); ++i) (*gx)[i] = gy[i] * (*output_)[i] * (1 - (*output_)[i]);
    }
    typename Sigmoid::template layer<In, T> sigmoid_;
    const Tensor<T>* output_ = nullptr;
  };
};

// Runs in place (forward_in_place, the output-only backward), but its backward reads the input
// through a pointer kept in forward (y = x^2, dx = 2 x dy): in place, that input is gone.
struct SquareInPlace {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In, output_shape = In;
    static constexpr std::string_view kind = "SquareInPlace";
    void forward_in_place(const Tensor<T>& x, Tensor<T>& y, const Context&) {
      input_ = &x;
      y.resize(x.n(), In);
      for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * x[i];
    }
    void backward_from_output(const Tensor<T>& y, const Tensor<T>& gy, Tensor<T>* gx) {
      if (!gx) return;
      gx->resize(y.n(), In);
      for (std::size_t i = 0; i < y.size(); ++i) (*gx)[i] = 2 * (*input_)[i] * gy[i];
    }
    const Tensor<T>* input_ = nullptr;
  };
};

using Stage = Sequential<Conv2D<3, 3>, BatchNorm<>>;

}  // namespace

TEST_CASE("a layer that breaks its signature's promise changes the results (the comparison can fail)") {
  constexpr Shape in{4, 5, 3};
  CHECK(plan_difference<Sequential<SigmoidReadingOutput, Sigmoid>, Sequential<SigmoidReadingOutput, Identity, Sigmoid>, in>(
            Context::train(1)) > 1e-3);
  CHECK(plan_difference<Sequential<Conv2D<3, 1>, SquareInPlace>, Sequential<Conv2D<3, 1>, Identity, SquareInPlace>, in>(
            Context::train(1)) > 1e-3);
  // The same layers keeping their promise agree.
  CHECK(plan_difference<Sequential<Sigmoid, Sigmoid>, Sequential<Sigmoid, Identity, Sigmoid>, in>(Context::train(1)) <=
        tolerance);
}

// The counts are the plans compared for each layer, training and inference: a convolution's output may be
// overwritten (2: training and inference), and it takes BatchNorm (and MaxPool) and ReLU as its epilogue in
// inference (2); a count that changes means a layer's signatures (or fusion traits) changed, and with them
// how Sequential runs it.
TEST_CASE("convolutions in every memory plan") {
  CHECK(check_plans<Conv2D<5, 3>, Shape{7, 6, 3}>() == 4);
  CHECK(check_plans<Conv2D<4, 3, 2>, Shape{9, 7, 5}>() == 4);
  CHECK(check_plans<Conv2D<6, 3, 1, 2>, Shape{8, 9, 3}>() == 4);
  CHECK(check_plans<TorchConv2D<4, 7, 2>, Shape{11, 12, 3}>() == 4);
  CHECK(check_plans<Conv2D<7, 1>, Shape{6, 4, 9}>() == 4);
  CHECK(check_plans<DepthwiseConv2D<3>, Shape{6, 7, 5}>() == 2);
  CHECK(check_plans<SeparableConv2D<6, 3>, Shape{7, 7, 5}>() == 3);
  CHECK(check_plans<Conv2DTranspose<4, 3, 2>, Shape{4, 5, 3}>() == 2);
  CHECK(check_plans<Dense<5>, Shape{1, 1, 9}>() == 2);
  CHECK(check_plans<Dense<3>, Shape{2, 1, 6}>() == 2);
}

TEST_CASE("normalisation, activations, pooling and reshaping layers in every memory plan") {
  CHECK(check_plans<BatchNorm<>, Shape{4, 5, 7}>() == 5);
  CHECK(check_plans<TorchBatchNorm<>, Shape{3, 3, 6}>() == 5);
  CHECK(check_plans<ReLU, Shape{5, 4, 3}>() == 2);
  CHECK(check_plans<Sigmoid, Shape{3, 4, 5}>() == 2);
  CHECK(check_plans<Softmax, Shape{2, 3, 7}>() == 0);
  CHECK(check_plans<Dropout<0.4>, Shape{6, 5, 7}>() == 6);
  CHECK(check_plans<MaxPool<2>, Shape{8, 6, 5}>() == 3);
  CHECK(check_plans<MaxPool<2>, Shape{7, 9, 3}>() == 3);
  CHECK(check_plans<MaxPool<3, 2, pad(1)>, Shape{9, 8, 4}>() == 2);
  CHECK(check_plans<GlobalAvgPool, Shape{5, 3, 6}>() == 2);
  CHECK(check_plans<GlobalMaxPool, Shape{4, 5, 7}>() == 2);
  CHECK(check_plans<Flatten, Shape{3, 2, 5}>() == 2);
  CHECK(check_plans<ChannelShuffle<2>, Shape{3, 4, 10}>() == 2);
  CHECK(check_plans<Split<1, 2>, Shape{4, 3, 6}>() == 2);
  CHECK(check_plans<ChannelMean, Shape{4, 5, 7}>() == 2);
  CHECK(check_plans<ChannelMax, Shape{4, 5, 7}>() == 2);
  CHECK(check_plans<Crop<1, 2, 3, 2>, Shape{5, 6, 3}>() == 2);
  CHECK(check_plans<SumOverHeight, Shape{4, 3, 3}>() == 2);
  CHECK(check_plans<PReLU, Shape{4, 5, 3}>() == 2);  // a layer written from layer-contract.md (tests/prelu.hpp)
}

// Composites take the full backward (0: run out of place only, the safe default) unless they know
// better: a Sequential takes its last layer's form, a Hierarchical never reads its output (it keeps
// its stages' outputs). They are compared here like any layer.
TEST_CASE("composites in every memory plan") {
  CHECK(check_plans<Sequential<Conv2D<4, 3>, ReLU>, Shape{5, 5, 2}>() == 0);  // ends in place: reads its output
  CHECK(check_plans<Sequential<Conv2D<4, 3>, BatchNorm<>>, Shape{5, 5, 2}>() == 2);
  CHECK(check_plans<Parallel<Concat<>, Conv2D<3, 3>, Conv2D<5, 1>>, Shape{5, 4, 3}>() == 0);
  CHECK(check_plans<Parallel<Concat<Axis::height>, GlobalAvgPool, GlobalMaxPool>, Shape{4, 4, 5}>() == 0);
  CHECK(check_plans<Residual<Conv2D<4, 3>>, Shape{5, 5, 4}>() == 0);
  CHECK(check_plans<Parallel<Multiply, Identity, Sequential<Conv2D<5, 3>, Sigmoid>>, Shape{4, 4, 5}>() == 0);
  CHECK(check_plans<Parallel<MaxMedian, Split<0, 3>, Split<1, 3>, Split<2, 3>>, Shape{4, 5, 9}>() == 0);
  CHECK(check_plans<Hierarchical<ChainOrder::ascending, ReLU, Stage, Stage, Stage>, Shape{5, 4, 9}>() == 2);
  CHECK(check_plans<Hierarchical<ChainOrder::descending, Conv2D<2, 1>, Conv2D<2, 3>, Conv2D<2, 3>>, Shape{3, 4, 4}>() ==
        2);
}

TEST_CASE("the models' blocks in every memory plan") {
  CHECK(check_plans<blocks::TwoPath<10>, Shape{6, 5, 6}>() == 0);
  CHECK(check_plans<blocks::MassAtt<4>, Shape{8, 8, 12}>() == 0);
  CHECK(check_plans<blocks::Attend<blocks::MassAtt<4>>, Shape{8, 4, 8}>() == 0);
  CHECK(check_plans<blocks::PWFS, Shape{5, 4, 9}>() == 0);
  CHECK(check_plans<models::lanmsff_parts::ConvBlock<6>, Shape{8, 8, 3}>() == 0);
  CHECK(check_plans<models::lanmsff_parts::AttentionBlock<8>, Shape{8, 8, 6}>() == 0);
  CHECK(check_plans<models::lanmsff_parts::Fusion, Shape{5, 4, 9}>() == 2);
  CHECK(check_plans<blocks::BasicBlock<4>, Shape{5, 4, 4}>() == 0);
  CHECK(check_plans<blocks::BasicBlock<6, 2>, Shape{7, 5, 3}>() == 0);
  CHECK(check_plans<blocks::CBAM<4>, Shape{3, 5, 8}>() == 0);
  CHECK(check_plans<blocks::AttentionBlock<16, 2>, Shape{7, 6, 8}>() == 0);
  CHECK(check_plans<blocks::MulScaleBlock<8, 2>, Shape{7, 6, 4}>() == 0);
}
