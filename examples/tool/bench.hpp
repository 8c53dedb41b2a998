// `lanmsff bench`: whole-model speed on the user's machine — forward (inference) at a batch size,
// or a training step (forward, loss, backward, optimizer step) with --train — as images/s and
// GFLOP/s. Generic over the model, its loss and its optimizer (LANMSFF: Adam; MA-Net: SGD).
#pragma once

#include <algorithm>
#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "lanmsff/core/profiler.hpp"
#include "lanmsff/train/loss.hpp"
#include "lanmsff/train/optimizer.hpp"
#include "lanmsff/train/trainer.hpp"
#include "models.hpp"
#include "quantize.hpp"

namespace lanmsff::tool {

struct BenchArgs {
  ModelChoice model;
  int batch = 32, iterations = 0;
  double seconds = 3;
  bool train = false, json = false;
  bool profile = false;   // also time every layer (core/profiler.hpp) over a few more iterations
  int profile_depth = 3;  // levels of the layer tree to print
  std::string precision = "float";  // int8: the model in int8, calibrated on the benchmark's own input
};

// Forward-pass FLOPs per image (2 x multiply-adds, docs/models.md): LANMSFF at 64x64, MA-Net at 224x224.
inline constexpr double lanmsff_forward_flops = 601.2e6;
inline constexpr double manet_forward_flops = 7.28e9;

// make_optimizer(model) returns the std::unique_ptr<Optimizer<T>> that --train steps with.
template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>, class MakeOptimizer>
void bench_model(const BenchArgs& args, double forward_flops, MakeOptimizer make_optimizer) {
  using T = typename Model::scalar;
  using clock = std::chrono::steady_clock;
  if (args.batch < 1) throw std::invalid_argument("--batch must be >= 1");
  auto model = std::make_unique<Model>(1);
  Tensor<T> x(args.batch, Model::input_shape), grad;
  Rng rng(2);
  for (auto& v : x) v = T(rng.uniform());
  std::vector<int> labels(std::size_t(args.batch));
  for (int i = 0; i < args.batch; ++i) labels[std::size_t(i)] = i % model_classes<Model, Loss>();
  const std::unique_ptr<Optimizer<T>> optimizer = make_optimizer(*model);
  const Loss loss{};
  std::uint64_t step = 0;
  // --precision int8: the untrained model calibrated on the input it is timed on (the speed of int8
  // arithmetic does not depend on the weights' values).
  std::unique_ptr<quant::Int8Network<Model>> int8;
  if (int8_precision(args.precision)) {
    if (args.train) throw std::invalid_argument("--precision int8 runs inference: leave --train out");
    const quant::Program program = quant::record(*model);
    quant::Calibrator calibrator(program);
    calibrator.observe(x.data(), x.n());
    int8 = std::make_unique<quant::Int8Network<Model>>(program, calibrator.params());
  }
  const auto run = [&] {
    if (int8) {
      int8->forward(x);
    } else if (args.train) {
      optimizer->zero_grad();
      loss(model->forward(x, Context::train(step++)), labels, &grad);
      model->backward(grad);
      optimizer->step();
    } else {
      model->forward(x);
    }
  };
  run();  // warm-up: buffers allocated, caches filled
  int iterations = 0;
  const auto start = clock::now();
  double elapsed = 0;
  while ((args.iterations > 0 && iterations < args.iterations) || (args.iterations <= 0 && elapsed < args.seconds)) {
    run();
    ++iterations;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  const double images = double(iterations) * args.batch, per_second = images / elapsed;
  const double flops = per_second * forward_flops * (args.train ? 3 : 1);  // backward ~ 2x forward

  // The per-layer profile comes from separate iterations, so that the timing above is unaffected.
  Profiler profiler;
  double profiled_seconds = 0;
  if (args.profile) {
    const int profiled = std::max(3, std::min(iterations, 10));
    const auto profile_start = clock::now();
    {
      Profiler::Enable on(profiler);
      if (int8) int8->model().profiling = true;
      for (int i = 0; i < profiled; ++i) run();
    }
    profiled_seconds = std::chrono::duration<double>(clock::now() - profile_start).count();
  }

  if (args.json) {
    nlohmann::json out{{"model", args.model.name}, {"mode", args.train ? "train" : "inference"}, {"precision", args.precision},
                       {"batch", args.batch}, {"threads", max_threads()}, {"isa", std::string(isa_name(active_isa()))},
                       {"iterations", iterations},
                       {"seconds", elapsed}, {"images_per_second", per_second},
                       {"ms_per_batch", 1e3 * elapsed / iterations}, {"gflops", flops * 1e-9}};
    if (int8) out["int8_kernels"] = std::string(kernels::int8_kernel_name(kernels::int8_kernel()));
    if (args.profile && int8) {
      out["profile"] = int8->model().profile(std::size_t(-1));  // the table's text: every step
    } else if (args.profile) {
      nlohmann::json layers = nlohmann::json::array();
      for (const auto& e : profiler.entries()) {
        const auto per_call = [](double s, std::size_t n) { return n ? 1e3 * s / double(n) : 0.0; };
        layers.push_back({{"path", e.path},
                          {"forward_ms", per_call(e.forward_seconds, e.forward_calls)},
                          {"backward_ms", per_call(e.backward_seconds, e.backward_calls)},
                          {"share", (e.forward_seconds + e.backward_seconds) / profiled_seconds}});
      }
      out["profile"] = layers;
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  const std::string kernels = int8 ? std::string(kernels::int8_kernel_name(kernels::int8_kernel())) + " int8"
                                   : std::string(isa_name(active_isa()));
  std::printf("%s %s%s, batch %d, %d threads, %s kernels: %.1f images/s, %.2f ms per batch, %.1f %s/s (%d iterations)\n",
              args.model.name.c_str(), args.train ? "training step" : "inference", int8 ? " in int8" : "", args.batch, max_threads(),
              kernels.c_str(), per_second, 1e3 * elapsed / iterations, flops * 1e-9, int8 ? "GOP" : "GFLOP", iterations);
  if (args.profile && int8)
    std::printf("\nper step (milliseconds per batch; the slowest steps, then the total by kind):\n%s", int8->model().profile().c_str());
  else if (args.profile)
    std::printf("\nper layer (milliseconds per batch; share of the whole %s, optimizer and loss included):\n%s",
                args.train ? "step" : "pass", profiler.report(args.profile_depth, profiled_seconds).c_str());
}

}  // namespace lanmsff::tool
