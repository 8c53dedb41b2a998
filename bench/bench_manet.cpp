// Google Benchmark of MA-Net (224x224x3, 7 classes, float): the whole model (forward at batch 1 and 16, a
// training step at 16 with SGD and the two-head loss, as the authors train) and its blocks at their real shapes
// (the stem convolution, the BasicBlocks of layer1/layer2, the local branch's AttentionBlocks and CBAM at the
// 14x14 patch shapes, the global branch's MulScaleBlocks), forward and backward, batch 16.
// Counters: images/s (items_per_second) and GFLOP/s of the forward's convolutions and Linear layers.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "lanmsff/lanmsff.hpp"
#include "lanmsff/models/manet.hpp"
#include "lanmsff/train/sgd.hpp"
#include "lanmsff/train/two_head_loss.hpp"

namespace {

using namespace lanmsff;

constexpr int block_batch = 16;

void fill(Tensor<float>& t, std::uint64_t seed, double low, double high) {
  Rng rng(seed);
  for (auto& v : t) v = float(rng.uniform(low, high));
}

// Forward floating-point operations per image (2 per multiply-add) of every convolution and Dense layer
// in a layer tree; the elementwise work (BN, ReLU, pooling, gates) is left out, as FLOP counts usually do.
// For the whole model: 7.277 G (3.638 G multiply-adds, SPEC.md's 3.64 G).
template <class L>
double forward_flops(L& layer) {
  double flops = 0;
  // By kind: pooling layers have a ConvGeometry too.
  visit_layers(layer, "", [&]<class Child>(const std::string&, Child&, int) {
    if constexpr (requires { Child::kind; }) {
      if constexpr (requires { Child::geometry; }) {
        const auto& g = Child::geometry;
        if (Child::kind == std::string_view("Conv2D")) flops += 2.0 * g.out_h * g.out_w * g.out_c * g.patch_size();
      } else if (Child::kind == std::string_view("Dense")) {
        flops += 2.0 * double(Child::input_shape.size()) * Child::output_shape.c;
      }
    }
  });
  return flops;
}

void set_counters(benchmark::State& state, int batch, double flops_per_image) {
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_image * 1e-9 * batch * double(state.iterations()), benchmark::Counter::kIsRate);
}

enum class Pass { forward, backward };

// One block (or layer) at its shape in the network, in training mode as in a training step.
template <class Spec, Shape In, Pass P>
void BM_Block(benchmark::State& state) {
  using L = typename Spec::template layer<In, float>;
  const int batch = int(state.range(0));
  auto layer = std::make_unique<L>();
  initialize_parameters(*layer, 1);
  Tensor<float> x(batch, In), y, gy(batch, L::output_shape), gx;
  fill(x, 2, -1, 1);
  fill(gy, 3, -1, 1);
  const Context ctx = Context::train(0);
  layer->forward(x, y, ctx);
  for (auto _ : state) {
    if constexpr (P == Pass::forward) {
      layer->forward(x, y, ctx);
      benchmark::DoNotOptimize(y.data());
    } else {
      layer->backward(x, y, gy, &gx);
      benchmark::DoNotOptimize(gx.data());
    }
  }
  // Backward: two GEMMs of the forward's size per convolution (input and weight gradients).
  set_counters(state, batch, forward_flops(*layer) * (P == Pass::backward ? 2 : 1));
}

// BLOCK_BENCH(name, h, w, c, spec): the spec last, so that the commas of its template arguments are part of
// __VA_ARGS__.
#define BLOCK_BENCH(name, h, w, c, ...)                                                                   \
  BENCHMARK(BM_Block<__VA_ARGS__, Shape{h, w, c}, Pass::forward>)                                         \
      ->Name(name "/forward")                                                                             \
      ->Arg(block_batch)                                                                                  \
      ->UseRealTime()                                                                                     \
      ->Unit(benchmark::kMillisecond);                                                                    \
  BENCHMARK(BM_Block<__VA_ARGS__, Shape{h, w, c}, Pass::backward>)                                        \
      ->Name(name "/backward")                                                                            \
      ->Arg(block_batch)                                                                                  \
      ->UseRealTime()                                                                                     \
      ->Unit(benchmark::kMillisecond);

// Trunk. layer1's two blocks have the same shape; layer2.0 carries the stride and the projection.
BLOCK_BENCH("stem.conv7x7s2/224x224x3->64", 224, 224, 3, TorchConv2D<64, 7, 2, 3>)
BLOCK_BENCH("basicblock/layer1.0/56x56x64", 56, 56, 64, blocks::BasicBlock<64, 1>)
BLOCK_BENCH("basicblock/layer2.0/56x56x64->128s2", 56, 56, 64, blocks::BasicBlock<128, 2>)
BLOCK_BENCH("basicblock/layer2.1/28x28x128", 28, 28, 128, blocks::BasicBlock<128, 1>)
// Local branch: each of the four 14x14 patches runs these four blocks (so a forward pass runs each 4 times).
BLOCK_BENCH("attentionblock/layer3_1_pK.0/14x14x128->256s2", 14, 14, 128, blocks::AttentionBlock<256, 2>)
BLOCK_BENCH("attentionblock/layer3_1_pK.1/7x7x256", 7, 7, 256, blocks::AttentionBlock<256, 1>)
BLOCK_BENCH("attentionblock/layer4_1_pK.0/7x7x256->512", 7, 7, 256, blocks::AttentionBlock<512, 1>)
BLOCK_BENCH("attentionblock/layer4_1_pK.1/7x7x512", 7, 7, 512, blocks::AttentionBlock<512, 1>)
BLOCK_BENCH("cbam/layer4_1_pK/7x7x512", 7, 7, 512, blocks::CBAM<16>)
// Global branch.
BLOCK_BENCH("mulscaleblock/layer3_2.0/28x28x128->256s2", 28, 28, 128, blocks::MulScaleBlock<256, 2>)
BLOCK_BENCH("mulscaleblock/layer3_2.1/14x14x256", 14, 14, 256, blocks::MulScaleBlock<256, 1>)
BLOCK_BENCH("mulscaleblock/layer4_2.0/14x14x256->512s2", 14, 14, 256, blocks::MulScaleBlock<512, 2>)
BLOCK_BENCH("mulscaleblock/layer4_2.1/7x7x512", 7, 7, 512, blocks::MulScaleBlock<512, 1>)

// ---- the whole model ------------------------------------------------------------------------------
using Model = models::MANet<7>;

std::unique_ptr<Model> make_model(Tensor<float>& x, int batch) {
  auto net = std::make_unique<Model>(1);  // ~200 MB of parameters (and as much of gradients): on the heap
  x.resize(batch, Model::input_shape);
  fill(x, 4, 0, 1);  // pixels scaled to [0, 1]
  return net;
}

void BM_MANet_Forward(benchmark::State& state) {
  const int batch = int(state.range(0));
  Tensor<float> x;
  auto net = make_model(x, batch);
  net->forward(x);  // warm-up: buffers allocated
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x).data());
  set_counters(state, batch, forward_flops(net->root()));
}
BENCHMARK(BM_MANet_Forward)->Name("manet/forward")->Arg(1)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);

// The authors' recipe: SGD (momentum 0.9, weight decay 1e-4) on 0.6 CE(fc_1) + 0.4 CE(fc_2).
void BM_MANet_TrainStep(benchmark::State& state) {
  const int batch = int(state.range(0));
  Tensor<float> x, grad;
  auto net = make_model(x, batch);
  std::vector<int> labels(static_cast<std::size_t>(batch));
  for (int i = 0; i < batch; ++i) labels[std::size_t(i)] = i % Model::classes;
  SGD<float> sgd(*net, {.learning_rate = 0.01, .momentum = 0.9, .weight_decay = 1e-4});
  const TwoHeadLoss<float> loss;
  std::uint64_t step = 0;
  const auto train_step = [&] {
    sgd.zero_grad();
    benchmark::DoNotOptimize(loss(net->forward(x, Context::train(step++)), labels, &grad));
    net->backward(grad);
    sgd.step();
  };
  train_step();  // warm-up: activations and the momentum buffers allocated
  for (auto _ : state) train_step();
  // Forward + backward ~ 3x the forward's arithmetic (two GEMMs per convolution backward).
  set_counters(state, batch, 3 * forward_flops(net->root()));
}
BENCHMARK(BM_MANet_TrainStep)->Name("manet/train-step")->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
