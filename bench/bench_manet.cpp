// Google Benchmark of MA-Net (224x224x3, 7 classes, float): the whole model (forward at batch 1 and 16, a
// training step at 16 with SGD and the two-head loss, as the authors train) and its blocks at their real shapes
// (the stem convolution, the BasicBlocks of layer1/layer2, the local branch's AttentionBlocks and CBAM at the
// 14x14 patch shapes, the global branch's MulScaleBlocks) and its dense 3x3 convolutions (also with im2col
// forced, to compare with Winograd), forward and backward, batch 16.
// Counters: images/s (items_per_second) and GFLOP/s of the forward's convolutions and Linear layers.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "bench_common.hpp"
#include "lanmsff/lanmsff.hpp"
#include "lanmsff/models/manet.hpp"
#include "lanmsff/train/sgd.hpp"
#include "lanmsff/train/two_head_loss.hpp"

namespace {

using namespace lanmsff;
using bench::fill;
using bench::forward_flops;
using bench::set_counters;

constexpr int block_batch = 16;

// Trunk. layer1's two blocks have the same shape; layer2.0 carries the stride and the projection.
LAYER_BENCH("stem.conv7x7s2/224x224x3->64", block_batch, 224, 224, 3, TorchConv2D<64, 7, 2, 3>)
LAYER_BENCH("basicblock/layer1.0/56x56x64", block_batch, 56, 56, 64, blocks::BasicBlock<64, 1>)
LAYER_BENCH("basicblock/layer2.0/56x56x64->128s2", block_batch, 56, 56, 64, blocks::BasicBlock<128, 2>)
LAYER_BENCH("basicblock/layer2.1/28x28x128", block_batch, 28, 28, 128, blocks::BasicBlock<128, 1>)
// Local branch: each of the four 14x14 patches runs these four blocks (so a forward pass runs each 4 times).
LAYER_BENCH("attentionblock/layer3_1_pK.0/14x14x128->256s2", block_batch, 14, 14, 128, blocks::AttentionBlock<256, 2>)
LAYER_BENCH("attentionblock/layer3_1_pK.1/7x7x256", block_batch, 7, 7, 256, blocks::AttentionBlock<256, 1>)
LAYER_BENCH("attentionblock/layer4_1_pK.0/7x7x256->512", block_batch, 7, 7, 256, blocks::AttentionBlock<512, 1>)
LAYER_BENCH("attentionblock/layer4_1_pK.1/7x7x512", block_batch, 7, 7, 512, blocks::AttentionBlock<512, 1>)
LAYER_BENCH("cbam/layer4_1_pK/7x7x512", block_batch, 7, 7, 512, blocks::CBAM<16>)
// Global branch.
LAYER_BENCH("mulscaleblock/layer3_2.0/28x28x128->256s2", block_batch, 28, 28, 128, blocks::MulScaleBlock<256, 2>)
LAYER_BENCH("mulscaleblock/layer3_2.1/14x14x256", block_batch, 14, 14, 256, blocks::MulScaleBlock<256, 1>)
LAYER_BENCH("mulscaleblock/layer4_2.0/14x14x256->512s2", block_batch, 14, 14, 256, blocks::MulScaleBlock<512, 2>)
LAYER_BENCH("mulscaleblock/layer4_2.1/7x7x512", block_batch, 7, 7, 512, blocks::MulScaleBlock<512, 1>)

// MA-Net's dense stride-1 3x3 convolutions alone, Winograd (position by position for the kernels larger
// than the L2) beside im2col + GEMM forced (".../im2col/...").
CONV_BENCH("conv3x3/layer1/56x56x64", block_batch, 56, 56, 64, TorchConv2D<64, 3>)
CONV_BENCH("conv3x3/layer2.1/28x28x128", block_batch, 28, 28, 128, TorchConv2D<128, 3>)
CONV_BENCH("conv3x3/layer3_2.1/14x14x256", block_batch, 14, 14, 256, TorchConv2D<256, 3>)
CONV_BENCH("conv3x3/layer3_1_pK.1/7x7x256", block_batch, 7, 7, 256, TorchConv2D<256, 3>)
CONV_BENCH("conv3x3/layer4_1_pK.0/7x7x256->512", block_batch, 7, 7, 256, TorchConv2D<512, 3>)
CONV_BENCH("conv3x3/layer4_1_pK.1/7x7x512", block_batch, 7, 7, 512, TorchConv2D<512, 3>)

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
