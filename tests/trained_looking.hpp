// Parameters as training leaves them rather than as initialisation does: BatchNorm statistics away from 0
// and 1, gammas around 1, non-zero betas and biases. The int8 tests and benchmarks run on these: with the
// initial statistics every BatchNorm is the identity, and folding one into a convolution would prove nothing.
#pragma once

#include <cstdint>
#include <string>

#include "lanmsff/core/random.hpp"
#include "lanmsff/core/parameter.hpp"

namespace lanmsff::testing {

// visit(f) calls f(name, Parameter<float>&) for each parameter (a network's for_each_parameter, or
// visit_parameters on a layer).
template <class Visit>
void make_trained_looking(Visit&& visit, std::uint64_t seed) {
  Rng rng(seed + 100);
  visit([&](const std::string& name, Parameter<float>& p) {
    double lo = 0, hi = 0;
    if (name.ends_with("gamma")) lo = 0.5, hi = 1.5;
    else if (name.ends_with("beta") || name.ends_with("bias") || name.ends_with("moving_mean")) lo = -0.3, hi = 0.3;
    else if (name.ends_with("moving_variance")) lo = 0.2, hi = 2.0;
    else return;
    for (auto& v : p.value) v = float(rng.uniform(lo, hi));
  });
}

}  // namespace lanmsff::testing
