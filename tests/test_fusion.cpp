// Sequential's inference fusion of Conv -> BatchNorm (-> ReLU): which layers the plan fuses, that a
// fused inference forward equals the layers run one by one, and that training and gradients (in
// both modes) are those of the unfused chain.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "lanmsff/lanmsff.hpp"
#include "lanmsff/models/lanmsff.hpp"

using namespace lanmsff;
using lanmsff::testing::check_spec;

namespace {
// Parameters from `seed`, with non-trivial BatchNorm statistics and affine (gamma of both signs, so
// that the ReLU after a fused BatchNorm sees negative scales) and non-zero biases.
template <class L>
void randomize(L& layer, std::uint64_t seed) {
  initialize_parameters(layer, seed);
  Rng rng(seed + 100);
  visit_parameters(layer, "", [&](const std::string& name, Parameter<typename L::scalar>& p) {
    const auto ends_with = [&](std::string_view suffix) { return name.ends_with(suffix); };
    double lo = 0, hi = 0;
    if (ends_with("gamma")) lo = -1.5, hi = 1.5;
    else if (ends_with("beta") || ends_with("bias") || ends_with("moving_mean")) lo = -0.5, hi = 0.5;
    else if (ends_with("moving_variance")) lo = 0.2, hi = 2.0;
    else return;
    for (auto& v : p.value) v = typename L::scalar(rng.uniform(lo, hi));
  });
}

template <class T>
Tensor<T> random_input(int batch, Shape shape, std::uint64_t seed) {
  Tensor<T> x(batch, shape);
  Rng rng(seed);
  for (auto& v : x) v = T(rng.uniform(-1, 1));
  return x;
}

// Layer by layer, each into a tensor of its own: nothing fuses, nothing runs in place.
template <class Chain, class T, std::size_t... I>
Tensor<T> forward_one_by_one(Chain& chain, const Tensor<T>& x, const Context& ctx, std::index_sequence<I...>) {
  Tensor<T> a = x, b;
  ((run_forward(chain.template get<I>(), a, b, ctx), std::swap(a, b)), ...);
  return a;
}

template <class T>
void check_close(const Tensor<T>& fused, const Tensor<T>& reference, double tolerance) {
  REQUIRE(fused.n() == reference.n());
  REQUIRE(fused.shape() == reference.shape());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < fused.size(); ++i) {
    const double a = fused[i], b = reference[i];
    if (std::abs(a - b) > tolerance * std::max(1.0, std::abs(b)) && ++bad <= 5)
      FAIL_CHECK("element " << i << ": fused " << a << " vs unfused " << b);
  }
  CHECK(bad == 0);
}

// The inference forward of Spec's chain equals its layers run one by one.
template <class Spec, Shape In, class T>
void check_fused_forward(int batch, double tolerance) {
  using Chain = typename Spec::template layer<In, T>;
  Chain chain;
  randomize(chain, 5);
  const Tensor<T> x = random_input<T>(batch, In, 6);
  Tensor<T> y;
  run_forward(chain, x, y, Context::inference());
  const Tensor<T> reference =
      forward_one_by_one(chain, x, Context::inference(), std::make_index_sequence<std::tuple_size_v<typename Chain::layers_type>>{});
  check_close(y, reference, tolerance);
  // A second pass (buffers and BatchNorm maps reused) gives the same.
  Tensor<T> again;
  run_forward(chain, x, again, Context::inference());
  for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(again[i] == y[i]);
}

template <class Spec, Shape In>
void check_fused_forward_both(int batch) {
  check_fused_forward<Spec, In, float>(batch, 1e-5);
  check_fused_forward<Spec, In, double>(batch, 1e-12);
}

// From the chain's plan (compose/plan.hpp), per layer: how many layers after it its inference step
// absorbs into its own forward (a BatchNorm, a pool, a ReLU: the epilogue fusions), whether that
// step also pools, and whether it is a BatchNorm run with its ReLU as one layer in training.
// f(inference step, training step) for each layer of the chain's plan.
template <class Spec, Shape In, class F>
constexpr auto per_layer(F f) {
  using P = typename Spec::template layer<In, float>::plan;
  std::array<decltype(f(plan::Step{}, plan::Step{})), P::count> values{};
  for (std::size_t i = 0; i < P::count; ++i) values[i] = f(P::inference[i], P::training[i]);
  return values;
}
template <class Spec, Shape In>
constexpr auto absorbed = per_layer<Spec, In>([](plan::Step inference, plan::Step) -> std::size_t {
  const bool epilogue = inference.rule == plan::rule_index<plan::ConvBatchNorm> ||
                        inference.rule == plan::rule_index<plan::ConvBatchNormPool>;
  return epilogue ? inference.span - 1 : 0;
});
template <class Spec, Shape In>
constexpr auto pooled = per_layer<Spec, In>(
    [](plan::Step inference, plan::Step) { return inference.rule == plan::rule_index<plan::ConvBatchNormPool>; });
template <class Spec, Shape In>
constexpr auto with_relu = per_layer<Spec, In>(
    [](plan::Step, plan::Step training) { return training.rule == plan::rule_index<plan::BatchNormRelu>; });

using ConvBnRelu = Sequential<Conv2D<8, 3>, BatchNorm<>, ReLU>;
using ConvBnPool = Sequential<Conv2D<7, 3>, BatchNorm<>, MaxPool<2>>;
using SepConvBnRelu = Sequential<SeparableConv2D<6, 3>, BatchNorm<>, ReLU>;
using ConvBnPoolRelu = Sequential<Conv2D<7, 3>, BatchNorm<>, MaxPool<2>, ReLU>;
// BatchNorm then an in-place Dropout: only the BatchNorm is absorbed, the Dropout runs on its buffer.
using ConvBnDropoutRelu = Sequential<Conv2D<5, 3>, BatchNorm<>, Dropout<0.3>, ReLU>;
constexpr Shape small{7, 6, 5};
}  // namespace

TEST_CASE("the fusion plan: a layer that accepts an epilogue, a BatchNorm, and an in-place ReLU") {
  static_assert(absorbed<ConvBnRelu, small> == std::array<std::size_t, 3>{2, 0, 0});
  // Conv BN MaxPool<2>: the pool too (the convolution writes the pooled map); and a ReLU after it.
  static_assert(absorbed<ConvBnPool, small> == std::array<std::size_t, 3>{2, 0, 0});
  static_assert(pooled<ConvBnPool, small> == std::array<bool, 3>{true, false, false});
  static_assert(absorbed<ConvBnPoolRelu, small> == std::array<std::size_t, 4>{3, 0, 0, 0});
  // Not another pool (3x3 windows), not a SeparableConv2D (no pooled epilogue), not with a ReLU
  // between BatchNorm and pool (that ReLU is fused instead).
  static_assert(absorbed<Sequential<Conv2D<4, 3>, BatchNorm<>, MaxPool<3, 2>>, small> == std::array<std::size_t, 3>{1, 0, 0});
  static_assert(absorbed<Sequential<SeparableConv2D<4, 3>, BatchNorm<>, MaxPool<2>>, small> ==
                std::array<std::size_t, 3>{1, 0, 0});
  static_assert(absorbed<Sequential<Conv2D<4, 3>, BatchNorm<>, ReLU, MaxPool<2>>, small> ==
                std::array<std::size_t, 4>{2, 0, 0, 0});
  static_assert(absorbed<SepConvBnRelu, small> == std::array<std::size_t, 3>{2, 0, 0});
  static_assert(absorbed<ConvBnDropoutRelu, small> == std::array<std::size_t, 4>{1, 0, 0, 0});
  // Nothing to fuse: BatchNorm first, an Identity in between, a depthwise convolution (no epilogue).
  static_assert(absorbed<Sequential<BatchNorm<>, ReLU, Conv2D<3, 1>>, small> == std::array<std::size_t, 3>{});
  static_assert(absorbed<Sequential<Conv2D<3, 1>, Identity, BatchNorm<>>, small> == std::array<std::size_t, 3>{});
  static_assert(absorbed<Sequential<DepthwiseConv2D<3>, BatchNorm<>>, small> == std::array<std::size_t, 2>{});
  // A chain accepts an epilogue when its last layer does (SeparableConv2D: the pointwise convolution).
  static_assert(accepts_epilogue<SeparableConv2D<4, 3>::layer<small, float>>);
  static_assert(!accepts_epilogue<ConvBnRelu::layer<small, float>>);

  // The models: LANMSFF's ConvBlock fuses conv1-bn1-relu1, sepconv-bn2-relu2 and conv2-bn3-pool-relu;
  // its AttentionBlock fuses conv-bn-pool-relu; TwoPath's branches and MA-Net's BasicBlock Conv BN (ReLU).
  using models::lanmsff_parts::AttentionBlock;
  using models::lanmsff_parts::ConvBlock;
  static_assert(absorbed<ConvBlock<66>, (Shape{64, 64, 1})> ==
                std::array<std::size_t, 11>{2, 0, 0, 2, 0, 0, 3, 0, 0, 0, 0});
  static_assert(absorbed<AttentionBlock<72>, (Shape{32, 32, 66})>[2] == 3);
  static_assert(absorbed<blocks::ConvBnReLU<Conv2D<36, 3, 1, 2>>, (Shape{32, 32, 72})> == std::array<std::size_t, 3>{2, 0, 0});
  static_assert(absorbed<blocks::BasicBlock<8>::body, (Shape{8, 8, 8})> == std::array<std::size_t, 5>{2, 0, 0, 1, 0});
  // BatchNorm + in-place ReLU as one layer, in training too: bn1 and bn2, not bn3 (MaxPool follows).
  static_assert(with_relu<ConvBlock<66>, (Shape{64, 64, 1})> ==
                std::array<bool, 11>{false, true, false, false, true, false, false, false, false, false, false});
  static_assert(!with_relu<Sequential<BatchNorm<>, Identity, ReLU>, (Shape{4, 4, 3})>[0]);
}

TEST_CASE("a fused inference forward equals the layers run one by one") {
  SUBCASE("Conv BN ReLU") { check_fused_forward_both<ConvBnRelu, small>(3); }
  SUBCASE("Conv BN then MaxPool (no ReLU)") {
    check_fused_forward_both<ConvBnPool, (Shape{8, 6, 3})>(2);
    check_fused_forward_both<Sequential<TorchConv2D<5, 3>, TorchBatchNorm<>, MaxPool<2>>, (Shape{6, 6, 3})>(2);
  }
  SUBCASE("Conv BN MaxPool ReLU") {
    check_fused_forward_both<ConvBnPoolRelu, (Shape{8, 6, 3})>(2);
    // Odd output sizes (the last row and column dropped), stride 2, dilation 2, a pointwise convolution.
    check_fused_forward_both<ConvBnPoolRelu, (Shape{9, 7, 4})>(3);
    check_fused_forward_both<Sequential<Conv2D<6, 3, 2>, BatchNorm<>, MaxPool<2>, ReLU>, (Shape{11, 9, 3})>(2);
    check_fused_forward_both<Sequential<Conv2D<6, 3, 1, 2>, BatchNorm<>, MaxPool<2>>, (Shape{10, 9, 3})>(2);
    check_fused_forward_both<Sequential<Conv2D<9, 1>, BatchNorm<>, MaxPool<2>, ReLU>, (Shape{6, 8, 5})>(2);
    // Odd row tiles made even (256 / 9 = 28 rows), and several whole samples per GEMM (4 x 4 maps).
    check_fused_forward_both<ConvBnPoolRelu, (Shape{61, 9, 3})>(2);
    check_fused_forward_both<Sequential<Conv2D<6, 3, 1, 1, valid>, BatchNorm<>, MaxPool<2>>, (Shape{6, 6, 3})>(9);
  }
  SUBCASE("Conv BN MaxPool ReLU on Winograd") {
    // Winograd's 4x4 output tiles pool in place; with dilation 2 the im2col path pools instead.
    struct ForceWinograd {
      ForceWinograd() { set_conv_algorithm(ConvAlgorithm::winograd); }
      ~ForceWinograd() { set_conv_algorithm(ConvAlgorithm::automatic); }
    } force;
    check_fused_forward<ConvBnPoolRelu, (Shape{8, 6, 3}), float>(2, 1e-5);
    check_fused_forward<Sequential<Conv2D<20, 3>, BatchNorm<>, MaxPool<2>, ReLU>, (Shape{11, 13, 17}), float>(3, 1e-5);
    check_fused_forward<Sequential<Conv2D<20, 3>, BatchNorm<>, MaxPool<2>>, (Shape{16, 12, 9}), float>(2, 1e-5);
    check_fused_forward<Sequential<Conv2D<20, 3, 1, 2>, BatchNorm<>, MaxPool<2>>, (Shape{10, 11, 9}), float>(2, 1e-5);
  }
  SUBCASE("SeparableConv BN ReLU") { check_fused_forward_both<SepConvBnRelu, small>(2); }
  SUBCASE("Conv BN Dropout ReLU") { check_fused_forward_both<ConvBnDropoutRelu, small>(2); }
  SUBCASE("stride 2, odd channels") {
    check_fused_forward_both<Sequential<Conv2D<13, 3, 2>, BatchNorm<>, ReLU>, (Shape{9, 11, 3})>(3);
  }
  SUBCASE("dilation 2, no bias, PyTorch BatchNorm") {
    check_fused_forward_both<Sequential<Conv2D<7, 3, 1, 2, same, false>, TorchBatchNorm<>, ReLU>, (Shape{8, 9, 5})>(2);
  }
  SUBCASE("pointwise convolution") { check_fused_forward_both<Sequential<Conv2D<9, 1>, BatchNorm<>, ReLU>, small>(2); }
  SUBCASE("several row tiles per sample") {
    check_fused_forward_both<Sequential<Conv2D<6, 3>, BatchNorm<>, ReLU>, (Shape{40, 8, 3})>(2);
  }
  SUBCASE("several samples per GEMM") {
    check_fused_forward_both<Sequential<Conv2D<6, 3, 1, 1, valid>, BatchNorm<>, ReLU>, (Shape{4, 4, 3})>(9);
  }
  SUBCASE("LANMSFF's ConvBlock") { check_fused_forward_both<models::lanmsff_parts::ConvBlock<6>, (Shape{8, 8, 2})>(2); }
}

// SeparableConv2D's inference kernel (each band of depthwise rows, then the pointwise GEMM on it)
// equals its depthwise and pointwise layers run one after the other; `fused`: the depthwise output is
// then never stored.
template <class Spec, Shape In, class T>
void check_separable(int batch, double tolerance, bool fused) {
  typename Spec::template layer<In, T> sep;
  randomize(sep, 31);
  const Tensor<T> x = random_input<T>(batch, In, 32);
  Tensor<T> y, mid, reference;
  run_forward(sep, x, y, Context::inference());
  CHECK((sep.template activation<0>().size() == 0) == fused);
  run_forward(sep.template get<0>(), x, mid, Context::inference());
  run_forward(sep.template get<1>(), mid, reference, Context::inference());
  check_close(y, reference, tolerance);
}
template <class Spec, Shape In>
void check_separable_both(int batch, bool fused = true) {
  check_separable<Spec, In, float>(batch, 1e-5, fused);
  check_separable<Spec, In, double>(batch, 1e-12, fused);
}

TEST_CASE("SeparableConv2D's fused inference kernel equals its depthwise and pointwise layers") {
  check_separable_both<SeparableConv2D<6, 3>, (Shape{7, 7, 5})>(3);
  check_separable_both<SeparableConv2D<4, 3, 1, 2>, (Shape{9, 8, 3})>(2);  // dilation 2
  // Two bands per sample (256 / 9 = 28 rows), 17 channels, 20 filters (a panel and dot-product columns).
  check_separable_both<SeparableConv2D<20, 3>, (Shape{40, 9, 17})>(2);
  check_separable_both<SeparableConv2D<5, 3, 1, 1, valid, false>, (Shape{6, 7, 4})>(2);  // valid, no bias
  // LANMSFF's block-1 shape, one sample (16 bands).
  check_separable_both<SeparableConv2D<66, 3>, (Shape{64, 64, 66})>(1);
  // Without the depthwise fast path (stride 2, 5 x 5) the two layers run as they are.
  check_separable_both<SeparableConv2D<4, 3, 2>, (Shape{8, 8, 3})>(2, false);
  check_separable_both<SeparableConv2D<4, 5>, (Shape{8, 8, 3})>(2, false);
  // A training forward runs (and stores) both layers.
  SeparableConv2D<6, 3>::layer<small, double> sep;
  Tensor<double> y;
  run_forward(sep, random_input<double>(2, small, 3), y, Context::train());
  CHECK(sep.activation<0>().size() == std::size_t(2) * small.size());
}

TEST_CASE("a chain that ends in a convolution takes the BatchNorm after it (nested epilogue)") {
  // The inner chain fuses its own Conv-BN-ReLU and passes the outer BN-ReLU to its last convolution.
  using Inner = Sequential<Conv2D<4, 3>, BatchNorm<>, ReLU, Conv2D<5, 3>>;
  using Outer = Sequential<Inner, BatchNorm<>, ReLU>;
  static_assert(absorbed<Outer, small> == std::array<std::size_t, 3>{2, 0, 0});
  Outer::layer<small, double> chain;
  randomize(chain, 8);
  const Tensor<double> x = random_input<double>(2, small, 9);
  Tensor<double> y;
  run_forward(chain, x, y, Context::inference());
  // The reference: every layer of both chains on its own.
  auto& inner = chain.get<0>();
  Tensor<double> a, b, c, d, e, f, g;
  run_forward(inner.get<0>(), x, a, Context::inference());
  run_forward(inner.get<1>(), a, b, Context::inference());
  run_forward(inner.get<2>(), b, c, Context::inference());
  run_forward(inner.get<3>(), c, d, Context::inference());
  run_forward(chain.get<1>(), d, e, Context::inference());
  run_forward(chain.get<2>(), e, f, Context::inference());
  check_close(y, f, 1e-12);
}

TEST_CASE("fusion happens: the convolution's own output is never stored in inference") {
  // activation<0> is the convolution's buffer and activation<2> the BN-ReLU one (MaxPool follows).
  Sequential<Conv2D<4, 3>, BatchNorm<>, ReLU, MaxPool<2>>::layer<small, double> chain;
  randomize(chain, 3);
  const Tensor<double> x = random_input<double>(2, small, 4);
  Tensor<double> y;
  run_forward(chain, x, y, Context::inference());
  CHECK(chain.activation<0>().size() == 0);
  Tensor<double> conv, bn, relu;
  run_forward(chain.get<0>(), x, conv, Context::inference());
  run_forward(chain.get<1>(), conv, bn, Context::inference());
  run_forward(chain.get<2>(), bn, relu, Context::inference());
  check_close(chain.activation<2>(), relu, 1e-12);
  // A training forward runs every layer and stores it.
  run_forward(chain, x, y, Context::train());
  CHECK(chain.activation<0>().size() == conv.size());
}

TEST_CASE("training runs every layer: the same result as one by one, moving statistics included") {
  ConvBnRelu::layer<small, double> chain, reference;
  randomize(chain, 11);
  randomize(reference, 11);
  const Tensor<double> x = random_input<double>(3, small, 12);
  Tensor<double> y;
  for (int step = 0; step < 3; ++step) {
    run_forward(chain, x, y, Context::train(std::uint64_t(step)));
    const Tensor<double> expected =
        forward_one_by_one(reference, x, Context::train(std::uint64_t(step)), std::make_index_sequence<3>{});
    check_close(y, expected, 1e-12);
  }
  // The fused inference forward then uses the updated moving statistics.
  run_forward(chain, x, y, Context::inference());
  check_close(y, forward_one_by_one(reference, x, Context::inference(), std::make_index_sequence<3>{}), 1e-12);
}

TEST_CASE("gradients through fused chains, in training and in inference mode") {
  // In inference mode backward first computes the convolution outputs the fused forward skipped.
  check_spec<ConvBnRelu, small>({.batch = 3});
  check_spec<ConvBnRelu, small>({.ctx = Context::inference()});
  check_spec<ConvBnPool, (Shape{6, 6, 3})>({.ctx = Context::inference()});
  check_spec<SepConvBnRelu, small>({.ctx = Context::inference()});
  check_spec<ConvBnPoolRelu, (Shape{6, 6, 3})>({.ctx = Context::inference()});
  check_spec<Sequential<Conv2D<4, 3>, BatchNorm<>, MaxPool<2>, ReLU, Dropout<0.3>>, (Shape{5, 7, 3})>(
      {.ctx = Context::inference()});
  check_spec<SeparableConv2D<4, 3, 1, 2>, Shape{9, 8, 3}>({.ctx = Context::inference()});
  check_spec<ConvBnDropoutRelu, small>({.ctx = Context::inference()});
  check_spec<Sequential<Sequential<Conv2D<4, 3>, BatchNorm<>, ReLU, Conv2D<5, 3>>, BatchNorm<>, ReLU>, small>(
      {.ctx = Context::inference()});
}

TEST_CASE("an inference backward after a fused forward equals the unfused chain's, exactly") {
  // The Identity keeps the second chain from fusing; otherwise the layers and parameters are the same.
  using Kept = Sequential<Conv2D<8, 3>, Identity, BatchNorm<>, ReLU>;
  static_assert(absorbed<Kept, small> == std::array<std::size_t, 4>{});
  ConvBnRelu::layer<small, double> chain;
  Kept::layer<small, double> kept;
  randomize(chain, 21);
  std::vector<Parameter<double>*> from, to;
  visit_parameters(chain, "", [&](const std::string&, Parameter<double>& p) { from.push_back(&p); });
  visit_parameters(kept, "", [&](const std::string&, Parameter<double>& p) { to.push_back(&p); });
  REQUIRE(from.size() == to.size());
  for (std::size_t i = 0; i < from.size(); ++i) to[i]->value = from[i]->value;

  const Tensor<double> x = random_input<double>(2, small, 22), gy = random_input<double>(2, Shape{7, 6, 8}, 23);
  Tensor<double> y1, y2, gx1, gx2;
  run_forward(chain, x, y1, Context::inference());
  run_forward(kept, x, y2, Context::inference());
  run_backward(chain, x, y1, gy, &gx1);
  run_backward(kept, x, y2, gy, &gx2);
  check_close(y1, y2, 1e-12);
  check_close(gx1, gx2, 1e-12);
  for (std::size_t i = 0; i < from.size(); ++i)
    for (std::size_t k = 0; k < from[i]->grad.size(); ++k) CHECK(from[i]->grad[k] == doctest::Approx(to[i]->grad[k]).epsilon(1e-12));
}
