// LANMSFF: parameter counts against the reference (docs/models.md) (total and per block), gradient checks of its blocks
// (double, then the float block on the path under test against it), shapes for other input sizes, and determinism of
// initialisation. Run once per instruction-set path. The whole network's finite-difference check is
// test_lanmsff_gradient.cpp (run once: double takes the baseline's code on every path); the whole float network's
// training step on each path is checked against PyTorch by test_golden_lanmsff.cpp.
#include <doctest/doctest.h>

#include <map>

#include "gradcheck.hpp"
#include "lanmsff/models/lanmsff.hpp"

using namespace lanmsff;
using lanmsff::testing::check_spec;
using lanmsff::testing::GradCheckOptions;

namespace {
template <class Net>
std::map<std::string, std::size_t> trainable_by_path(Net& net) {
  std::map<std::string, std::size_t> counts;
  net.for_each_layer([&](const std::string& path, auto& layer, int) {
    counts.emplace(path, count_parameters(layer).trainable);
  });
  return counts;
}
}  // namespace

TEST_CASE("LANMSFF parameter counts equal the reference") {
  models::LANMSFF<8> net(1);
  const auto count = net.parameter_count();
  CHECK(count.trainable == 356451);
  CHECK(count.state == 2112);
  CHECK(count.total() == 358563);
  const auto by_path = trainable_by_path(net);
  CHECK(by_path.at("block1") == 45342);
  CHECK(by_path.at("block2") == 83531);
  CHECK(by_path.at("block2.twopath") == 75168);
  CHECK(by_path.at("block2.massatt") == 2963);
  CHECK(by_path.at("block3") == 112788);
  CHECK(by_path.at("block4") == 113534);
  CHECK(by_path.at("block4.twopath") == 102312);
  CHECK(by_path.at("block4.massatt") == 3914);
  CHECK(by_path.at("classifier") == 1256);

  models::LANMSFF<7> seven(1);
  CHECK(seven.parameter_count().trainable == 356451 - 157);
}

TEST_CASE("LANMSFF shapes") {
  using Net = models::LANMSFF<7>;
  static_assert(Net::input_shape == Shape{64, 64, 1});
  static_assert(Net::output_shape == Shape{1, 1, 7});
  using RGB96 = models::LANMSFF<8, 96, 3>;
  static_assert(RGB96::input_shape == Shape{96, 96, 3});
  static_assert(RGB96::output_shape == Shape{1, 1, 8});
  models::LANMSFF<8, 96, 3> rgb(2);
  // Only the first convolution depends on the input channels: 3x3x(3-1)x66 more weights.
  CHECK(rgb.parameter_count().trainable == 356451 + 9 * 2 * 66);
  Tensor<float> x(2, 96, 96, 3);
  x.fill(0.5f);
  const auto& y = rgb.forward(x);
  CHECK(y.n() == 2);
  CHECK(y.shape() == Shape{1, 1, 8});
}

TEST_CASE("LANMSFF initialisation is deterministic and seed-dependent") {
  models::LANMSFF<8> a(42), b(42), c(43);
  std::vector<float> va, vb, vc;
  a.for_each_parameter([&](const std::string&, Parameter<float>& p) { va.insert(va.end(), p.value.begin(), p.value.end()); });
  b.for_each_parameter([&](const std::string&, Parameter<float>& p) { vb.insert(vb.end(), p.value.begin(), p.value.end()); });
  c.for_each_parameter([&](const std::string&, Parameter<float>& p) { vc.insert(vc.end(), p.value.begin(), p.value.end()); });
  CHECK(va == vb);
  CHECK(va != vc);
  // He-uniform bound of block1.conv2 (fan_in 3*3*66) and zero biases, BN gamma 1.
  a.for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    if (name == "block1.conv2.kernel") {
      const float limit = std::sqrt(6.0f / (9 * 66));
      float lo = 0, hi = 0;
      for (float v : p.value) lo = std::min(lo, v), hi = std::max(hi, v);
      CHECK(lo >= -limit);
      CHECK(hi <= limit);
      CHECK(hi > 0.9f * limit);  // 39k draws reach close to the bound
    }
    if (name == "block1.conv2.bias") CHECK(std::all_of(p.value.begin(), p.value.end(), [](float v) { return v == 0; }));
    if (name == "block1.bn1.gamma") CHECK(std::all_of(p.value.begin(), p.value.end(), [](float v) { return v == 1; }));
  });
}

TEST_CASE("block gradients") {
  SUBCASE("PWFS") { check_spec<blocks::PWFS, Shape{5, 4, 9}>({.batch = 3}); }
  SUBCASE("PWFS with ties") {
    // Inputs on a coarse grid make exact ties common; the subgradient rule must still match
    // finite differences away from the kinks, so check on values spaced wider than eps.
    check_spec<blocks::PWFS, Shape{3, 3, 6}>({.input_lo = -3, .input_hi = 3});
  }
  SUBCASE("MassAtt") { check_spec<blocks::MassAtt<4>, Shape{8, 8, 12}>(); }
  SUBCASE("x * MassAtt(x)") { check_spec<blocks::Attend<blocks::MassAtt<4>>, Shape{8, 4, 8}>(); }
  SUBCASE("TwoPath") { check_spec<blocks::TwoPath<10>, Shape{6, 5, 6}>({.max_checks_per_tensor = 40}); }
}
