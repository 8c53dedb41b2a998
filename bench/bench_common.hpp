// What the Google Benchmark programs share: random inputs, the forward FLOP count of a layer tree, and
// one benchmark body for any layer or block at its shape, forward or backward.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lanmsff/lanmsff.hpp"

namespace lanmsff::bench {

inline void fill(Tensor<float>& t, std::uint64_t seed, double low = -1, double high = 1) {
  Rng rng(seed);
  for (auto& v : t) v = float(rng.uniform(low, high));
}

// Forward floating-point operations per image (2 per multiply-add) of every dense convolution,
// transposed convolution and Dense layer in a layer tree; the elementwise work (BN, ReLU, pooling,
// gates, depthwise convolutions) is left out, as FLOP counts usually do. Selected by kind: pooling
// and depthwise layers have a ConvGeometry too, but not this arithmetic.
template <class L>
double forward_flops(L& layer) {
  double flops = 0;
  visit_layers(layer, "", [&]<class Child>(const std::string&, Child&, int) {
    if constexpr (requires { Child::kind; }) {
      if constexpr (requires { Child::geometry; }) {
        const auto& g = Child::geometry;
        if (Child::kind == std::string_view("Conv2D") || Child::kind == std::string_view("Conv2DTranspose"))
          flops += 2.0 * g.out_h * g.out_w * g.out_c * g.patch_size();
      } else if (Child::kind == std::string_view("Dense")) {
        flops += 2.0 * double(Child::input_shape.size()) * Child::output_shape.c;
      }
    }
  });
  return flops;
}

// images/s, and GFLOP/s where the benchmark has a FLOP count.
inline void set_counters(benchmark::State& state, int batch, double flops_per_image) {
  state.SetItemsProcessed(state.iterations() * batch);
  if (flops_per_image > 0)
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops_per_image * 1e-9 * batch * double(state.iterations()), benchmark::Counter::kIsRate);
}

enum class Pass { forward, backward };

// One layer or block at its shape in the network, in training mode as in a training step; the batch is
// the benchmark's argument. Convolutions run with the given algorithm setting (then back to automatic).
template <class Spec, Shape In, Pass P, ConvAlgorithm Algorithm = ConvAlgorithm::automatic>
void BM_Layer(benchmark::State& state) {
  using L = typename Spec::template layer<In, float>;
  set_conv_algorithm(Algorithm);
  const int batch = int(state.range(0));
  auto layer = std::make_unique<L>();
  initialize_parameters(*layer, 1);
  Tensor<float> x(batch, In), y, gy(batch, L::output_shape), gx;
  fill(x, 2);
  fill(gy, 3);
  const Context ctx = Context::train(0);
  run_forward(*layer, x, y, ctx);
  for (auto _ : state) {
    if constexpr (P == Pass::forward) {
      run_forward(*layer, x, y, ctx);
      benchmark::DoNotOptimize(y.data());
    } else {
      run_backward(*layer, x, y, gy, &gx);
      benchmark::DoNotOptimize(gx.data());
    }
  }
  // Backward: two GEMMs of the forward's size per convolution (input and weight gradients).
  set_counters(state, batch, forward_flops(*layer) * (P == Pass::backward ? 2 : 1));
  set_conv_algorithm(ConvAlgorithm::automatic);
}

}  // namespace lanmsff::bench

// LAYER_BENCH(name, batch, h, w, c, spec): forward and backward of `spec` at h x w x c; the spec last, so
// that the commas of its template arguments are part of __VA_ARGS__.
#define LAYER_BENCH(name, batch, h, w, c, ...)                                                              \
  BENCHMARK(lanmsff::bench::BM_Layer<__VA_ARGS__, lanmsff::Shape{h, w, c}, lanmsff::bench::Pass::forward>)  \
      ->Name(name "/forward")                                                                               \
      ->Arg(batch)                                                                                          \
      ->UseRealTime()                                                                                       \
      ->Unit(benchmark::kMillisecond);                                                                      \
  BENCHMARK(lanmsff::bench::BM_Layer<__VA_ARGS__, lanmsff::Shape{h, w, c}, lanmsff::bench::Pass::backward>) \
      ->Name(name "/backward")                                                                              \
      ->Arg(batch)                                                                                          \
      ->UseRealTime()                                                                                       \
      ->Unit(benchmark::kMillisecond);

// CONV_BENCH(name, batch, h, w, c, spec): LAYER_BENCH, and the same with im2col + GEMM forced
// ("name/im2col/forward", ...) beside it, to compare with Winograd where that is what runs.
#define CONV_BENCH(name, batch, h, w, c, ...)                                                       \
  LAYER_BENCH(name, batch, h, w, c, __VA_ARGS__)                                                     \
  BENCHMARK(lanmsff::bench::BM_Layer<__VA_ARGS__, lanmsff::Shape{h, w, c}, lanmsff::bench::Pass::forward,  \
                                     lanmsff::ConvAlgorithm::im2col>)                       \
      ->Name(name "/im2col/forward")                                                                 \
      ->Arg(batch)                                                                                   \
      ->UseRealTime()                                                                                \
      ->Unit(benchmark::kMillisecond);                                                               \
  BENCHMARK(lanmsff::bench::BM_Layer<__VA_ARGS__, lanmsff::Shape{h, w, c}, lanmsff::bench::Pass::backward, \
                                     lanmsff::ConvAlgorithm::im2col>)                       \
      ->Name(name "/im2col/backward")                                                                \
      ->Arg(batch)                                                                                   \
      ->UseRealTime()                                                                                \
      ->Unit(benchmark::kMillisecond);
