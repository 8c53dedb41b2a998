// BatchNorm re-estimation: after re-estimating over K batches, each moving statistic equals the
// exact mean of the per-batch statistics, computed here independently (a hand-written 3x3
// convolution and two-pass mean / variance in double); dropout rates and flags are restored.
#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include "lanmsff/lanmsff.hpp"
#include "lanmsff/train/bn_reestimate.hpp"

using namespace lanmsff;

namespace {

// Dropout before the BatchNorm would change its statistics if re-estimation left it on.
using Spec = Sequential<Conv2D<3, 3>, Dropout<0.5>, BatchNorm<>, ReLU, Dropout<0.3>, GlobalAvgPool, Dense<2>>;
using Net = Network<Spec, Shape{6, 6, 1}>;
constexpr int kChannels = 3;

std::vector<Tensor<float>> make_batches(const std::vector<int>& sizes, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor<float>> batches;
  for (int n : sizes) {
    Tensor<float> t(n, Shape{6, 6, 1});
    for (auto& v : t) v = float(rng.uniform(-1, 2));
    batches.push_back(std::move(t));
  }
  return batches;
}

struct Statistics {
  std::vector<double> mean, variance;
};

// Per-channel batch mean and biased variance of Conv2D<3, 3> ('same', stride 1, pad 1 on each
// side for a 6x6 input) over one batch, from the kernel (kh, kw, in = 1, out) and bias.
Statistics conv_batch_statistics(const Tensor<float>& x, const std::vector<float>& kernel, const std::vector<float>& bias) {
  std::vector<std::vector<double>> outputs(kChannels);
  for (int n = 0; n < x.n(); ++n)
    for (int y = 0; y < 6; ++y)
      for (int xx = 0; xx < 6; ++xx)
        for (int o = 0; o < kChannels; ++o) {
          double sum = bias[o];
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int iy = y + ky - 1, ix = xx + kx - 1;
              if (iy < 0 || iy >= 6 || ix < 0 || ix >= 6) continue;
              sum += double(x(n, iy, ix, 0)) * kernel[(ky * 3 + kx) * kChannels + o];
            }
          outputs[o].push_back(sum);
        }
  Statistics s;
  for (const auto& values : outputs) {
    double mean = 0, variance = 0;
    for (double v : values) mean += v;
    mean /= double(values.size());
    for (double v : values) variance += (v - mean) * (v - mean);
    s.mean.push_back(mean);
    s.variance.push_back(variance / double(values.size()));
  }
  return s;
}

std::vector<float> values_of(Parameter<float>& p) { return {p.value.begin(), p.value.end()}; }

// The moving statistics of the BatchNorm layer (index 2), by name.
template <class Root>
std::vector<float> bn_statistic(Root& root, const std::string& name) {
  std::vector<float> out;
  root.template get<2>().for_each_parameter([&](std::string_view n, Parameter<float>& p) {
    if (n == name) out = values_of(p);
  });
  return out;
}

// next_batch that hands out `batches` in order.
auto feeder(const std::vector<Tensor<float>>& batches) {
  return [&batches, i = std::size_t(0)](Tensor<float>& batch) mutable {
    if (i == batches.size()) return false;
    batch = batches[i++];
    return true;
  };
}

template <class Root>
void check_exact_average(Root& root, const std::vector<Tensor<float>>& batches) {
  std::vector<float> kernel, bias;
  root.template get<0>().for_each_parameter([&](std::string_view n, Parameter<float>& p) {
    (n == "kernel" ? kernel : bias) = values_of(p);
  });
  std::vector<double> mean(kChannels, 0), variance(kChannels, 0);
  for (const auto& b : batches) {
    const Statistics s = conv_batch_statistics(b, kernel, bias);
    for (int c = 0; c < kChannels; ++c) mean[c] += s.mean[c] / double(batches.size()),
                                        variance[c] += s.variance[c] / double(batches.size());
  }
  const auto moving_mean = bn_statistic(root, "moving_mean"), moving_variance = bn_statistic(root, "moving_variance");
  for (int c = 0; c < kChannels; ++c) {
    CAPTURE(c);
    CHECK(moving_mean[c] == doctest::Approx(mean[c]).epsilon(1e-5));
    CHECK(moving_variance[c] == doctest::Approx(variance[c]).epsilon(1e-5));
  }
}

void set_conv_bias(Net& net) {
  net.for_each_parameter([](const std::string& name, Parameter<float>& p) {
    if (name == "0.bias") p.value = {0.1f, -0.2f, 0.3f};
  });
}

}  // namespace

TEST_CASE("re-estimated moving statistics are the exact average of the batch statistics") {
  Net net(11);
  set_conv_bias(net);
  // Some ordinary training-mode passes first, so the moving statistics hold momentum averages.
  for (const auto& warm : make_batches({4, 4}, 5)) net.forward(warm, Context::train(1));
  const auto before = bn_statistic(net.root(), "moving_mean");

  const auto batches = make_batches({2, 3, 4}, 42);  // unequal sizes: each batch weighs the same
  const BatchNormReestimation result = reestimate_batch_norm(net, feeder(batches), 10);
  CHECK(result.batches == 3);
  CHECK(result.layers == 1);
  CHECK(bn_statistic(net.root(), "moving_mean") != before);
  check_exact_average(net.root(), batches);

  // Rates and the accumulation flag are back, and training-mode passes use momentum again.
  CHECK(net.root().get<1>().rate == 0.5);
  CHECK(net.root().get<4>().rate == 0.3);
  CHECK_FALSE(net.root().get<2>().accumulate_statistics);
  const auto reestimated = bn_statistic(net.root(), "moving_mean");
  net.root().get<1>().rate = 0;  // the dropout before the BatchNorm would change its batch mean
  net.forward(batches[0], Context::train(7));
  const auto after = bn_statistic(net.root(), "moving_mean");
  std::vector<float> kernel, bias;
  net.for_each_parameter([&](const std::string& n, Parameter<float>& p) {
    if (n == "0.kernel") kernel = values_of(p);
    if (n == "0.bias") bias = values_of(p);
  });
  const Statistics first = conv_batch_statistics(batches[0], kernel, bias);
  for (int c = 0; c < kChannels; ++c)
    CHECK(after[c] == doctest::Approx(0.99 * reestimated[c] + 0.01 * first.mean[c]).epsilon(1e-5));
}

TEST_CASE("re-estimation stops at max_batches and works on a bare layer tree") {
  Net::root_type root;
  initialize_parameters(root, 3);
  const auto batches = make_batches({3, 3, 3, 3}, 8);
  const auto result = reestimate_batch_norm(root, feeder(batches), 2);
  CHECK(result.batches == 2);
  check_exact_average(root, std::vector<Tensor<float>>(batches.begin(), batches.begin() + 2));
}

TEST_CASE("a failing batch source leaves the model as it was") {
  Net net(2);
  net.forward(make_batches({4}, 1)[0], Context::train(0));
  const auto mean_before = bn_statistic(net.root(), "moving_mean");
  const auto variance_before = bn_statistic(net.root(), "moving_variance");
  const auto batches = make_batches({2}, 9);
  int calls = 0;
  auto failing = [&](Tensor<float>& batch) -> bool {
    if (calls++ == 1) throw std::runtime_error("data set: cannot read image 17");
    batch = batches[0];
    return true;
  };
  CHECK_THROWS_WITH_AS(reestimate_batch_norm(net, failing, 5), "data set: cannot read image 17", std::runtime_error);
  CHECK(bn_statistic(net.root(), "moving_mean") == mean_before);
  CHECK(bn_statistic(net.root(), "moving_variance") == variance_before);
  CHECK(net.root().get<1>().rate == 0.5);
  CHECK(net.root().get<4>().rate == 0.3);
  CHECK_FALSE(net.root().get<2>().accumulate_statistics);

  auto empty = [](Tensor<float>&) { return false; };
  CHECK_THROWS_AS(reestimate_batch_norm(net, empty, 5), std::invalid_argument);
  CHECK(bn_statistic(net.root(), "moving_mean") == mean_before);
  CHECK_THROWS_AS(reestimate_batch_norm(net, empty, 0), std::invalid_argument);
}

TEST_CASE("ghost batches: each run of ghost_batch samples normalised on its own, forward and backward") {
  // One BatchNorm (+ ReLU, the fused path) over a batch of 5 with ghost batches of 2 (2 + 2 + 1)
  // against three separate layers, each given its part of the batch.
  constexpr Shape shape{3, 4, 6};
  using Bn = BatchNorm<0.9, 1e-3, true>::layer<shape, double>;
  Rng rng(17);
  Tensor<double> x(5, shape), dy(5, shape), y, dx;
  for (auto& v : x) v = rng.uniform(-1, 3);
  for (auto& v : dy) v = rng.uniform(-1, 1);
  Bn ghost;
  ghost.ghost_batch = 2;
  ghost.forward_relu(x, y, Context::train());
  ghost.backward_relu(x, y, dy, &dx);
  std::vector<double> gamma_grad(std::size_t(shape.c), 0.0), mean_sum(std::size_t(shape.c), 0.0),
      variance_sum(std::size_t(shape.c), 0.0);
  const int parts[3][2] = {{0, 2}, {2, 2}, {4, 1}};
  for (const auto& [first, count] : parts) {
    Bn alone;
    Tensor<double> xs(count, shape), dys(count, shape), ys, dxs;
    std::copy(x.sample(first), x.sample(first) + xs.size(), xs.data());
    std::copy(dy.sample(first), dy.sample(first) + dys.size(), dys.data());
    alone.forward_relu(xs, ys, Context::train());
    alone.backward_relu(xs, ys, dys, &dxs);
    for (std::size_t i = 0; i < ys.size(); ++i) {
      CHECK(y.sample(first)[i] == doctest::Approx(ys[i]).epsilon(1e-12));
      CHECK(dx.sample(first)[i] == doctest::Approx(dxs[i]).epsilon(1e-10).scale(1e-12));
    }
    alone.for_each_parameter([&](std::string_view name, Parameter<double>& p) {
      for (int c = 0; c < shape.c; ++c) {
        if (name == "gamma") gamma_grad[std::size_t(c)] += p.grad[std::size_t(c)];
        // moving = 0.9 * initial + 0.1 * batch: recover the batch statistic
        if (name == "moving_mean") mean_sum[std::size_t(c)] += (p.value[std::size_t(c)] - 0.9 * 0.0) / 0.1;
        if (name == "moving_variance") variance_sum[std::size_t(c)] += (p.value[std::size_t(c)] - 0.9 * 1.0) / 0.1;
      }
    });
  }
  // Parameter gradients: the sums over the ghosts; moving statistics: fed the ghosts' mean statistics.
  ghost.for_each_parameter([&](std::string_view name, Parameter<double>& p) {
    for (int c = 0; c < shape.c; ++c) {
      if (name == "gamma") CHECK(p.grad[std::size_t(c)] == doctest::Approx(gamma_grad[std::size_t(c)]).epsilon(1e-10));
      if (name == "moving_mean")
        CHECK(p.value[std::size_t(c)] == doctest::Approx(0.1 * mean_sum[std::size_t(c)] / 3).epsilon(1e-12));
      if (name == "moving_variance")
        CHECK(p.value[std::size_t(c)] == doctest::Approx(0.9 + 0.1 * variance_sum[std::size_t(c)] / 3).epsilon(1e-12));
    }
  });
  // In inference (moving statistics) ghost batches change nothing; a batch no larger than a ghost is
  // one ghost.
  Bn plain;
  Tensor<double> y_plain, y_ghost;
  run_forward(plain, x, y_plain, Context::train());
  Bn big_ghost;
  big_ghost.ghost_batch = 5;
  run_forward(big_ghost, x, y_ghost, Context::train());
  CHECK((y_plain.array() == y_ghost.array()).all());
}

TEST_CASE("set_bn_momentum and set_dropout_rate reach every layer") {
  Net net(4);
  CHECK(set_bn_momentum(net, 0.9) == 1);
  CHECK(net.root().get<2>().momentum == 0.9);
  CHECK(set_dropout_rate(net, 0.1) == 2);
  CHECK(net.root().get<1>().rate == 0.1);
  CHECK(net.root().get<4>().rate == 0.1);
  CHECK(set_bn_ghost_batch(net, 4) == 1);
  CHECK(net.root().get<2>().ghost_batch == 4);
  CHECK(set_bn_cross_replica_sum(net, [](std::span<double>) {}) == 1);
  CHECK(bool(net.root().get<2>().cross_replica_sum));
  CHECK_THROWS_AS(set_bn_ghost_batch(net, -1), std::invalid_argument);
  CHECK_THROWS_AS(set_bn_momentum(net, 1.5), std::invalid_argument);
  CHECK_THROWS_AS(set_dropout_rate(net, 1.0), std::invalid_argument);
  CHECK(net.root().get<1>().rate == 0.1);

  // A model without BatchNorm is left alone.
  Network<Sequential<Conv2D<2, 3>, GlobalAvgPool>, Shape{4, 4, 1}> plain(1);
  auto never = [](Tensor<float>&) -> bool { throw std::logic_error("must not be called"); };
  CHECK(reestimate_batch_norm(plain, never, 3).layers == 0);
}
