// Times LANMSFF (8 classes, 64x64x1) as a user's own program would run it: inference, or a training
// step (cross-entropy, Keras-style Adam), at a batch size, for about --seconds. Prints one JSON line:
// images per second and the kernels' instruction set (LANMSFF_ISA forces one). --profile also
// prints the per-layer times of a few more iterations (core/profiler.hpp) to standard error.
//   consumer_bench --batch 32 [--train] [--seconds 3] [--profile]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <lanmsff/lanmsff.hpp>
#include <lanmsff/models/lanmsff.hpp>
#include <lanmsff/train/adam.hpp>

int main(int argc, char** argv) {
  int batch = 32;
  bool train = false, profile = false;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--train")) train = true;
    else if (!std::strcmp(argv[i], "--profile")) profile = true;
    else return std::fprintf(stderr, "usage: %s [--batch N] [--train] [--seconds S] [--profile]\n", argv[0]), 2;
  }
  if (batch < 1 || seconds <= 0) return std::fprintf(stderr, "--batch must be >= 1, --seconds > 0\n"), 2;

  using Model = lanmsff::models::LANMSFF<8>;
  auto model = std::make_unique<Model>(1);
  lanmsff::Tensor<float> x(batch, Model::input_shape), grad;
  lanmsff::Rng rng(2);
  for (auto& v : x) v = float(rng.uniform());
  std::vector<int> labels(static_cast<std::size_t>(batch));
  for (int i = 0; i < batch; ++i) labels[std::size_t(i)] = i % 8;
  lanmsff::Adam<float> adam(*model, lanmsff::AdamOptions::keras());
  const lanmsff::SoftmaxCrossEntropy<float> loss{};
  std::uint64_t step = 0;
  const auto run = [&] {
    if (!train) return void(model->forward(x));
    adam.zero_grad();
    loss(model->forward(x, lanmsff::Context::train(step++)), labels, &grad);
    model->backward(grad);
    adam.step();
  };
  run();  // warm-up: buffers allocated, caches filled
  using clock = std::chrono::steady_clock;
  int iterations = 0;
  double elapsed = 0;
  for (const auto start = clock::now(); elapsed < seconds || iterations < 2; ++iterations) {
    run();
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  if (profile) {
    lanmsff::Profiler profiler;
    const auto profile_start = clock::now();
    {
      lanmsff::Profiler::Enable on(profiler);
      for (int i = 0; i < 10; ++i) run();
    }
    const double profiled = std::chrono::duration<double>(clock::now() - profile_start).count();
    std::fprintf(stderr, "%s", profiler.report(4, profiled).c_str());
  }
  std::printf("{\"images_per_second\": %.3f, \"isa\": \"%s\", \"batch\": %d, \"train\": %s, \"threads\": %d}\n",
              iterations * batch / elapsed, std::string(lanmsff::isa_name(lanmsff::active_isa())).c_str(), batch,
              train ? "true" : "false", lanmsff::max_threads());
}
