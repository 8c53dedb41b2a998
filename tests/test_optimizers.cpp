// Optimizers against hand-computed steps and against torch.optim (PyTorch 1.13) on the same
// tensors; parameter collection through the visitor; weight-decay filters; state round trips.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lanmsff/lanmsff.hpp"
#include "lanmsff/train/adam.hpp"
#include "lanmsff/train/sgd.hpp"

using namespace lanmsff;

namespace {

// A model of two parameters: "weight" (3 values) and "bias" (1 value), plus a non-trainable statistic.
template <class T>
struct ToyModel {
  using scalar = T;
  Parameter<T> weight, bias, statistic;
  ToyModel() {
    weight.define({3}, Init::zeros);
    bias.define({1}, Init::zeros);
    statistic.define({2}, Init::zeros, 1, 1, false);
    weight.value = {T(1.0), T(-2.0), T(0.5)};
    bias.value = {T(0.25)};
  }
  template <class F>
  void for_each_parameter(F&& f) {
    f("weight", weight);
    f("bias", bias);
    f("statistic", statistic);
  }
};

struct FrozenModel {
  using scalar = float;
  Parameter<float> p;
  template <class F>
  void for_each_parameter(F&& f) { f("p", p); }
};

// The gradients of the three steps, shared with the PyTorch reference script below.
const double kGradients[3][3] = {{0.1, -0.2, 0.3}, {-0.5, 0.4, 0.05}, {0.2, 0.2, -0.1}};

// Runs three steps with kGradients on "weight" (and zero gradients on "bias"), checking the
// weight after each step against `expected` to a relative 1e-12 (double) or 1e-5 (float).
template <class T, class Optimizer>
void check_three_steps(ToyModel<T>& model, Optimizer& optimizer, const double (&expected)[3][3]) {
  const double tolerance = sizeof(T) == 8 ? 1e-12 : 1e-5;
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    for (int i = 0; i < 3; ++i) model.weight.grad[i] = T(kGradients[step][i]);
    optimizer.step();
    for (int i = 0; i < 3; ++i) {
      CAPTURE(step);
      CAPTURE(i);
      CHECK(double(model.weight.value[i]) == doctest::Approx(expected[step][i]).epsilon(tolerance));
    }
  }
}

// Reference values: /usr/bin/python3 with torch 1.13, float64, p0 = [1, -2, 0.5]:
//   p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
//   opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)   # or the other cases
//   for g in [[0.1, -0.2, 0.3], [-0.5, 0.4, 0.05], [0.2, 0.2, -0.1]]:
//       p.grad = torch.tensor(g, dtype=torch.float64); opt.step(); print(p.tolist())
// with, for the other cases:
//   SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
//   Adam(lr=0.1, betas=(0.9, 0.999), eps=1e-8)
//   Adam(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
//   AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
const double kTorchSgdMomentum[3][3] = {
    {0.989, -1.978, 0.4695}, {1.028111, -1.996222, 0.4365805}, {1.042282789, -2.030625578, 0.4165163695}};
const double kTorchSgdNesterov[3][3] = {{0.9791, -1.9582, 0.44205},
                                        {1.0633297099999999, -2.01265942, 0.407005105},
                                        {1.054997312551, -2.061611225102, 0.39858923480049996}};
const double kTorchAdam[3][3] = {{0.900000009999999, -1.9000000049999999, 0.4000000033333332},
                                 {0.9598354265523341, -1.9366103565460369, 0.321667272150606},
                                 {0.9795549188742791, -1.9885344363316624, 0.28412186418272706}};
const double kTorchAdamL2[3][3] = {{0.9000000049999998, -1.9000000025, 0.40000000285714277},
                                   {0.937522034544049, -1.87528316883678, 0.31656659378840796},
                                   {0.9273037988393159, -1.857948684170344, 0.2650792999410155}};
const double kTorchAdamW[3][3] = {{0.890000009999999, -1.8800000049999999, 0.3950000033333332},
                                  {0.9409354264523341, -1.897810356496037, 0.3127172721172726},
                                  {0.9512455645097557, -1.930756332716702, 0.27204469142822096}};
// Keras' Adam update (keras/src/optimizers/adam.py) transcribed with numpy, float64, eps 0.1 so
// that its placement of epsilon shows:
//   p = np.array([1.0, -2.0, 0.5]); m = np.zeros(3); v = np.zeros(3); lr, b1, b2, eps = 0.1, 0.9, 0.999, 0.1
//   for t, g in enumerate(gradients, start=1):
//       alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
//       m += (g - m) * (1 - b1); v += (g * g - v) * (1 - b2); p -= alpha * m / (np.sqrt(v) + eps)
const double kKerasAdamEps01[3][3] = {{0.9969346569968285, -1.9940516512848026, 0.4913351836725478},
                                      {1.0052429900481756, -1.998587252511474, 0.48446543794432173},
                                      {1.0081531427736707, -2.0055492635043057, 0.4810165056551541}};

}  // namespace

TEST_CASE("SGD without momentum: p -= lr * g, by hand") {
  ToyModel<double> model;
  SGD optimizer(model, {.learning_rate = 0.1});
  // step 1: [1 - 0.01, -2 + 0.02, 0.5 - 0.03]; step 2: + [0.05, -0.04, -0.005]; step 3: - [0.02, 0.02, -0.01]
  const double expected[3][3] = {{0.99, -1.98, 0.47}, {1.04, -2.02, 0.465}, {1.02, -2.04, 0.475}};
  check_three_steps(model, optimizer, expected);
  CHECK(model.bias.value[0] == 0.25);  // zero gradient, no decay
  CHECK(optimizer.steps() == 3);
}

TEST_CASE("SGD with momentum and weight decay matches torch.optim.SGD") {
  // Step 1 by hand: d = g + 0.01 p = [0.11, -0.22, 0.305]; b = d; p -= 0.1 b = [0.989, -1.978, 0.4695].
  ToyModel<double> model;
  SGD optimizer(model, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  check_three_steps(model, optimizer, kTorchSgdMomentum);
  // The bias has a zero gradient but decays: b1 = 0.0025, b2 = 0.9 b1 + 0.01 p1, ...
  CHECK(model.bias.value[0] < 0.25);
}

TEST_CASE("SGD with Nesterov momentum matches torch.optim.SGD") {
  // Step 1 by hand: d = [0.11, -0.22, 0.305]; b = d; p -= 0.1 (d + 0.9 b) = p - 0.19 d = [0.9791, -1.9582, 0.44205].
  ToyModel<double> model;
  SGD optimizer(model, {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01});
  check_three_steps(model, optimizer, kTorchSgdNesterov);
}

TEST_CASE("Adam matches torch.optim.Adam") {
  // Step 1 by hand: m_hat = g, v_hat = g^2, so p -= 0.1 g / (|g| + 1e-8) ~ p - 0.1 sign(g):
  // 1 - 0.1 * 0.1 / (0.1 + 1e-8) = 0.90000001 (to 1e-16), the first reference row.
  SUBCASE("double") {
    ToyModel<double> model;
    Adam optimizer(model, {.learning_rate = 0.1});
    check_three_steps(model, optimizer, kTorchAdam);
  }
  SUBCASE("float") {
    ToyModel<float> model;
    Adam optimizer(model, {.learning_rate = 0.1});
    static_assert(std::is_same_v<decltype(optimizer), Adam<float>>);
    check_three_steps(model, optimizer, kTorchAdam);
  }
  SUBCASE("coupled L2 weight decay") {
    ToyModel<double> model;
    Adam optimizer(model, {.learning_rate = 0.1, .weight_decay = 0.1});
    check_three_steps(model, optimizer, kTorchAdamL2);
  }
}

TEST_CASE("AdamW matches torch.optim.AdamW") {
  // Step 1 by hand: p *= 1 - 0.1 * 0.1, then the Adam step: 0.99 - 0.1 * 0.1 / (0.1 + 1e-8) = 0.89000001.
  ToyModel<double> model;
  AdamW optimizer(model, {.learning_rate = 0.1, .weight_decay = 0.1});
  check_three_steps(model, optimizer, kTorchAdamW);
  CHECK(model.bias.value[0] == doctest::Approx(0.25 * 0.99 * 0.99 * 0.99).epsilon(1e-12));  // decay only
}

TEST_CASE("Adam with Keras' epsilon placement") {
  ToyModel<double> model;
  Adam optimizer(model, {.learning_rate = 0.1, .epsilon = 0.1, .epsilon_mode = AdamEpsilon::keras});
  // Step 1 by hand: alpha = 0.1 sqrt(0.001) / 0.1 = 0.0316228; m = 0.1 g; sqrt(v) = sqrt(0.001) |g|;
  // p0 -= 0.0316228 * 0.01 / (0.0031623 + 0.1) = 0.0030653, so 0.9969347 (first row).
  check_three_steps(model, optimizer, kKerasAdamEps01);
  // PyTorch's placement with the same epsilon moves less at step 1: 0.1 * 0.1 / (0.1 + 0.1) = 0.05.
  ToyModel<double> other;
  Adam torch_like(other, {.learning_rate = 0.1, .epsilon = 0.1});
  for (int i = 0; i < 3; ++i) other.weight.grad[i] = kGradients[0][i];
  torch_like.step();
  CHECK(other.weight.value[0] == doctest::Approx(0.95).epsilon(1e-12));
}

TEST_CASE("the LANMSFF recipe preset is Keras' Adam") {
  const AdamOptions keras = AdamOptions::keras();
  CHECK(keras.learning_rate == 1e-3);
  CHECK(keras.beta1 == 0.9);
  CHECK(keras.beta2 == 0.999);
  CHECK(keras.epsilon == 1e-7);
  CHECK(keras.epsilon_mode == AdamEpsilon::keras);
}

TEST_CASE("decay filters exclude biases and BatchNorm gamma/beta") {
  const DecayFilter filter = exclude_bias_and_batch_norm();
  CHECK(filter("block1.conv.kernel"));
  CHECK_FALSE(filter("block1.conv.bias"));
  CHECK_FALSE(filter("block1.bn.gamma"));
  CHECK_FALSE(filter("bn.beta"));
  CHECK_FALSE(filter("bias"));
  CHECK(filter("block1.biased.kernel"));

  ToyModel<double> model;
  SGD optimizer(model, {.learning_rate = 0.1, .weight_decay = 0.5, .decay_filter = filter});
  CHECK(optimizer.decays(0));
  CHECK_FALSE(optimizer.decays(1));
  optimizer.step();  // zero gradients: only decay moves parameters
  CHECK(model.weight.value[0] == doctest::Approx(1.0 - 0.1 * 0.5 * 1.0).epsilon(1e-15));
  CHECK(model.bias.value[0] == 0.25);
}

TEST_CASE("optimizers collect only trainable parameters of a Network") {
  Network<Sequential<Dense<2>, BatchNorm<>>, Shape{1, 1, 3}> net(7);
  Adam optimizer(net);
  REQUIRE(optimizer.parameter_count() == 4);
  CHECK(optimizer.parameter_name(0) == "0.kernel");
  CHECK(optimizer.parameter_name(1) == "0.bias");
  CHECK(optimizer.parameter_name(2) == "1.gamma");
  CHECK(optimizer.parameter_name(3) == "1.beta");
  const auto state = optimizer.state();
  REQUIRE(state.size() == 9);
  CHECK(state[0].first == "adam.step");
  CHECK(state[1].first == "adam.m.0.kernel");
  CHECK(state[1].second.size() == 6);
  CHECK(state[5].first == "adam.v.0.kernel");
  CHECK(state[8].first == "adam.v.1.beta");

  // zero_grad clears the gradients the optimizer owns.
  net.for_each_parameter([](const std::string&, Parameter<float>& p) { std::fill(p.grad.begin(), p.grad.end(), 1.f); });
  optimizer.zero_grad();
  net.for_each_parameter([](const std::string& name, Parameter<float>& p) {
    for (float g : p.grad) CHECK_MESSAGE(g == 0.f, name);
  });
}

TEST_CASE("optimizer state round trip resumes the same trajectory") {
  auto run_steps = [](ToyModel<double>& model, Optimizer<double>& optimizer, int first, int last) {
    for (int step = first; step < last; ++step) {
      optimizer.zero_grad();
      for (int i = 0; i < 3; ++i) model.weight.grad[i] = kGradients[step % 3][i] * (1 + step);
      model.bias.grad[0] = 0.1 * step;
      optimizer.step();
    }
  };
  SUBCASE("Adam") {
    ToyModel<double> straight, resumed;
    Adam a(straight, {.learning_rate = 0.05, .weight_decay = 0.01});
    run_steps(straight, a, 0, 2);
    const auto saved = a.state();
    resumed.weight.value = straight.weight.value, resumed.bias.value = straight.bias.value;
    Adam b(resumed, {.learning_rate = 0.05, .weight_decay = 0.01});
    b.load_state(saved);
    CHECK(b.steps() == 2);
    run_steps(straight, a, 2, 5);
    run_steps(resumed, b, 2, 5);
    for (int i = 0; i < 3; ++i) CHECK(resumed.weight.value[i] == straight.weight.value[i]);
    CHECK(resumed.bias.value[0] == straight.bias.value[0]);
  }
  SUBCASE("SGD with momentum") {
    ToyModel<double> straight, resumed;
    SGD a(straight, {.learning_rate = 0.05, .momentum = 0.9});
    run_steps(straight, a, 0, 2);
    resumed.weight.value = straight.weight.value, resumed.bias.value = straight.bias.value;
    SGD b(resumed, {.learning_rate = 0.05, .momentum = 0.9});
    b.load_state(a.state());
    run_steps(straight, a, 2, 4);
    run_steps(resumed, b, 2, 4);
    for (int i = 0; i < 3; ++i) CHECK(resumed.weight.value[i] == straight.weight.value[i]);
  }
}

TEST_CASE("load_state rejects states that do not fit, and changes nothing then") {
  ToyModel<double> model;
  Adam optimizer(model);
  for (int i = 0; i < 3; ++i) model.weight.grad[i] = 1;
  optimizer.step();
  const auto good = optimizer.state();

  auto bad = good;
  bad.pop_back();
  CHECK_THROWS_WITH_AS(optimizer.load_state(bad), "adam optimizer: load_state: missing entry 'adam.v.bias'",
                       std::invalid_argument);
  bad = good;
  bad[1].second.push_back(0);
  CHECK_THROWS_WITH_AS(optimizer.load_state(bad),
                       "adam optimizer: load_state: entry 'adam.m.weight' has 4 values, expected 3",
                       std::invalid_argument);
  bad = good;
  bad.emplace_back("adam.m.other", std::vector<double>{1});
  CHECK_THROWS_AS(optimizer.load_state(bad), std::invalid_argument);
  bad = good;
  bad.push_back(good[1]);
  CHECK_THROWS_WITH_AS(optimizer.load_state(bad), "adam optimizer: load_state: entry 'adam.m.weight' occurs twice",
                       std::invalid_argument);
  bad = good;
  bad[0].second[0] = 1.5;
  CHECK_THROWS_AS(optimizer.load_state(bad), std::invalid_argument);

  AdamW other_kind(model);
  CHECK_THROWS_AS(other_kind.load_state(good), std::invalid_argument);
  CHECK(optimizer.steps() == 1);
  CHECK(optimizer.state() == good);
}

TEST_CASE("optimizer options are validated") {
  ToyModel<double> model;
  CHECK_THROWS_AS(SGD(model, {.learning_rate = -1}), std::invalid_argument);
  CHECK_THROWS_AS(SGD(model, {.momentum = 1.5}), std::invalid_argument);
  CHECK_THROWS_AS(SGD(model, {.nesterov = true}), std::invalid_argument);
  CHECK_THROWS_AS(Adam(model, {.beta1 = 1.0}), std::invalid_argument);
  CHECK_THROWS_AS(Adam(model, {.epsilon = -1e-8}), std::invalid_argument);
  CHECK_THROWS_AS(AdamW(model, {.weight_decay = -0.1}), std::invalid_argument);
  Adam optimizer(model);
  CHECK_THROWS_AS(optimizer.set_learning_rate(std::nan("")), std::invalid_argument);
  optimizer.set_learning_rate(0.5);
  CHECK(optimizer.learning_rate() == 0.5);

  FrozenModel frozen;
  frozen.p.define({2}, Init::zeros, 1, 1, false);
  CHECK_THROWS_WITH_AS(SGD<float>{frozen}, "SGD: the model has no trainable parameters", std::invalid_argument);
}
