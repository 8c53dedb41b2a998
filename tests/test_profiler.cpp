// The per-layer profiler: paths as checkpoints name them, pre-order, call counts, nesting of the
// measured intervals, and nothing recorded while it is off.
#include <doctest/doctest.h>

#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;

namespace {
using Net = Sequential<Named<"stem", Sequential<Named<"conv", Conv2D<4, 3>>, Named<"relu", ReLU>>>,
                       Flat<Parallel<Add, Named<"a", Conv2D<4, 1>>, Named<"b", Identity>>>,
                       Named<"pool", GlobalAvgPool>>;
constexpr Shape in_shape{6, 6, 2};
}  // namespace

TEST_CASE("the profiler records every named layer by path, forward and backward") {
  Net::layer<in_shape, float> net;
  initialize_parameters(net, 1);
  Tensor<float> x(2, in_shape), y, gy, gx;
  x.fill(0.5f);
  Profiler profiler;
  {
    Profiler::Enable on(profiler);
    for (int i = 0; i < 3; ++i) {
      run_forward(net, x, y, Context::train(std::uint64_t(i)));
      gy.resize(y.n(), y.shape());
      gy.fill(1.0f);
      run_backward(net, x, y, gy, &gx);
    }
  }
  std::vector<std::string> paths;
  for (const auto& e : profiler.entries()) paths.push_back(e.path);
  // Pre-order; the transparent Parallel adds no level; Identity branches are not run, so not timed.
  const std::vector<std::string> expected{"stem", "stem.conv", "stem.relu", "a", "merge", "pool"};
  CHECK(paths == expected);
  for (const auto& e : profiler.entries()) {
    CAPTURE(e.path);
    CHECK(e.forward_calls == 3);
    CHECK(e.backward_calls == 3);
    CHECK(e.forward_seconds >= 0);
    CHECK(e.depth == (e.path.find('.') == std::string::npos ? 0 : 1));
  }
  // A block's interval contains its children's.
  const auto& e = profiler.entries();
  CHECK(e[0].forward_seconds >= e[1].forward_seconds + e[2].forward_seconds);
  CHECK(e[0].backward_seconds >= e[1].backward_seconds + e[2].backward_seconds);
  const std::string report = profiler.report();
  CHECK(report.find("stem") != std::string::npos);
  CHECK(report.find("  conv") != std::string::npos);  // indented under its block

  // Off again: nothing more is recorded.
  CHECK(Profiler::active() == nullptr);
  run_forward(net, x, y, Context::inference());
  CHECK(profiler.entries()[0].forward_calls == 3);
}
