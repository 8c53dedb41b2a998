// Finite-difference gradient checks in double precision, written once against the layer
// contract: loss = sum(output * R) for a fixed random R, so dLoss/dOutput = R.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "lanmsff/compose/visit.hpp"

namespace lanmsff::testing {

inline void fill_uniform(Tensor<double>& t, std::uint64_t seed, double lo = -1, double hi = 1) {
  Rng rng(seed);
  for (auto& v : t) v = rng.uniform(lo, hi);
}

struct GradCheckOptions {
  int batch = 2;
  std::uint64_t seed = 1;
  Context ctx = Context::train(7);
  double eps = 1e-6;
  double rtol = 1e-5, atol = 1e-7;
  std::size_t max_checks_per_tensor = 120;  // random subset of elements for large tensors
  double input_lo = -1, input_hi = 1;
};

namespace detail {
// Indices to probe: all of them when few, else a seeded random subset.
inline std::vector<std::size_t> probe_indices(std::size_t size, std::size_t max_checks, std::uint64_t seed) {
  std::vector<std::size_t> idx;
  if (size <= max_checks) {
    for (std::size_t i = 0; i < size; ++i) idx.push_back(i);
  } else {
    Rng rng(seed);
    for (std::size_t i = 0; i < max_checks; ++i) idx.push_back(std::size_t(rng.below(size)));
  }
  return idx;
}

inline bool close(double analytic, double numeric, const GradCheckOptions& o) {
  return std::abs(analytic - numeric) <= o.atol + o.rtol * std::max(std::abs(analytic), std::abs(numeric)) * 1e2;
}
}  // namespace detail

// Checks dLoss/dInput and dLoss/dParameter for every parameter of `layer` (a concrete layer over
// double). Parameters should be initialised by the caller (or are initialised here from the seed).
template <class L>
void check_gradients(L& layer, GradCheckOptions o = {}, bool init = true) {
  static_assert(std::is_same_v<typename L::scalar, double>, "gradient checks run in double precision");
  if (init) {
    initialize_parameters(layer, o.seed);
    seed_layers(layer, o.seed);
    // Give zero-initialised parameters (biases, BN beta) non-trivial values too.
    visit_parameters(layer, "", [&](const std::string& name, Parameter<double>& p) {
      if (!p.trainable) return;
      Rng rng(hash_combine(o.seed + 1, hash_name(name)));
      for (auto& v : p.value) v += rng.uniform(-0.1, 0.1);
    });
  }
  Tensor<double> x(o.batch, L::input_shape), y, R(o.batch, L::output_shape), gx;
  fill_uniform(x, o.seed + 11, o.input_lo, o.input_hi);
  fill_uniform(R, o.seed + 13);

  auto loss = [&]() {
    run_forward(layer, x, y, o.ctx);
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * R[i];
    return s;
  };

  zero_gradients(layer);
  loss();
  REQUIRE(y.n() == o.batch);
  REQUIRE(y.shape() == L::output_shape);
  // The contract: backward OVERWRITES grad_input. Hand it a buffer full of NaN (every element must
  // be written), then run backward again into the result (nothing may be accumulated onto it).
  gx.resize(o.batch, L::input_shape);
  gx.fill(std::numeric_limits<double>::quiet_NaN());
  run_backward(layer, x, y, R, &gx);
  REQUIRE(gx.size() == x.size());
  std::size_t unwritten = 0;
  for (double v : gx) unwritten += std::isnan(v) ? 1 : 0;
  CHECK_MESSAGE(unwritten == 0, unwritten << " input-gradient elements were not written by backward");
  const Tensor<double> first = gx;
  run_backward(layer, x, y, R, &gx);
  std::size_t changed = 0;
  for (std::size_t i = 0; i < gx.size(); ++i) changed += gx[i] != first[i] ? 1 : 0;
  CHECK_MESSAGE(changed == 0, changed << " input-gradient elements changed on a second backward (accumulated?)");
  zero_gradients(layer);  // the second backward doubled the parameter gradients: start again
  loss();
  run_backward(layer, x, y, R, &gx);

  // Save analytic parameter gradients before the finite-difference passes.
  struct Saved {
    std::string name;
    Parameter<double>* p;
    AlignedVector<double> grad;
  };
  std::vector<Saved> params;
  visit_parameters(layer, "", [&](const std::string& name, Parameter<double>& p) {
    if (p.trainable) params.push_back({name, &p, p.grad});
  });

  auto numeric = [&](double& v) {
    const double keep = v;
    v = keep + o.eps;
    const double plus = loss();
    v = keep - o.eps;
    const double minus = loss();
    v = keep;
    return (plus - minus) / (2 * o.eps);
  };

  int failures = 0;
  for (std::size_t i : detail::probe_indices(x.size(), o.max_checks_per_tensor, o.seed + 17)) {
    const double n = numeric(x[i]);
    if (!detail::close(gx[i], n, o) && ++failures <= 5)
      FAIL_CHECK("input gradient [" << i << "]: analytic " << gx[i] << " vs numeric " << n);
  }
  for (auto& s : params)
    for (std::size_t i : detail::probe_indices(s.p->size(), o.max_checks_per_tensor, o.seed + 19)) {
      const double n = numeric(s.p->value[i]);
      if (!detail::close(s.grad[i], n, o) && ++failures <= 10)
        FAIL_CHECK(s.name << "[" << i << "]: analytic " << s.grad[i] << " vs numeric " << n);
    }
  CHECK(failures == 0);
}

// The float layer (on the active instruction set: ctest runs the gradient tests once per path the
// CPU has, LANMSFF_ISA=...) against the double one whose gradients the finite differences checked:
// with the same parameters and input, forward, input gradient and parameter gradients agree to float
// rounding. Double runs the baseline's code on every path; this is what checks each path's gradients.
template <class Spec, Shape In>
void check_float_matches_double(typename Spec::template layer<In, double>& reference, const GradCheckOptions& o) {
  typename Spec::template layer<In, float> layer;
  std::vector<Parameter<double>*> from;
  visit_parameters(reference, "", [&](const std::string&, Parameter<double>& p) { from.push_back(&p); });
  std::size_t next = 0;
  visit_parameters(layer, "", [&](const std::string& name, Parameter<float>& p) {
    REQUIRE_MESSAGE(next < from.size(), name);
    REQUIRE(from[next]->size() == p.size());
    for (std::size_t i = 0; i < p.size(); ++i) p.value[i] = float(from[next]->value[i]);
    ++next;
  });
  seed_layers(layer, o.seed);
  Tensor<double> x(o.batch, In), R(o.batch, decltype(layer)::output_shape), y, gx;
  fill_uniform(x, o.seed + 11, o.input_lo, o.input_hi);
  fill_uniform(R, o.seed + 13);
  Tensor<float> xf(o.batch, In), Rf(o.batch, decltype(layer)::output_shape), yf, gxf;
  for (std::size_t i = 0; i < x.size(); ++i) xf[i] = float(x[i]);
  for (std::size_t i = 0; i < R.size(); ++i) Rf[i] = float(R[i]);
  zero_gradients(reference);
  zero_gradients(layer);
  run_forward(reference, x, y, o.ctx);
  run_backward(reference, x, y, R, &gx);
  run_forward(layer, xf, yf, o.ctx);
  run_backward(layer, xf, yf, Rf, &gxf);
  // Max-norm agreement relative to the largest value, or to 1 (the output gradient R is in [-1, 1]): a
  // gradient that is 0 in exact arithmetic (a bias before a BatchNorm) is float rounding noise.
  const auto agree = [](const char* what, const auto& got, const auto& want) {
    REQUIRE(got.size() == want.size());
    double worst = 0, size = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::abs(double(got[i]) - double(want[i])));
      size = std::max(size, std::abs(double(want[i])));
    }
    CHECK_MESSAGE(worst <= 1e-4 * std::max(size, 1.0), std::string(what) << ": float differs from double by " << worst << " (largest " << size << ")");
  };
  agree("output", yf, y);
  agree("input gradient", gxf, gx);
  std::vector<Parameter<double>*> grads;
  visit_parameters(reference, "", [&](const std::string&, Parameter<double>& p) {
    if (p.trainable) grads.push_back(&p);
  });
  next = 0;
  visit_parameters(layer, "", [&](const std::string& name, Parameter<float>& p) {
    if (!p.trainable) return;
    CAPTURE(name);
    agree("parameter gradient", p.grad, grads[next++]->grad);
  });
}

// Convenience: builds Spec's layer for input shape In in double precision and checks it, then the
// float layer against it (check_float_matches_double).
template <class Spec, Shape In>
void check_spec(GradCheckOptions o = {}) {
  typename Spec::template layer<In, double> layer;
  check_gradients(layer, o);
  check_float_matches_double<Spec, In>(layer, o);
}

}  // namespace lanmsff::testing
