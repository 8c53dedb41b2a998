// Google Benchmark of every LANMSFF kernel (forward and backward) at the network's own shapes,
// and of the whole model: forward at batch 1 and 32, training step (forward, loss, backward) at 32.
// Counters: images/s (items_per_second) and GFLOP/s of the forward arithmetic where it is defined;
// fma-peak measures the machine's fused multiply-add peak to compare them with.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench_common.hpp"
#include "fma_peak.hpp"
#include "lanmsff/lanmsff.hpp"
#include "lanmsff/models/lanmsff.hpp"

namespace {

using namespace lanmsff;
using bench::fill;
using bench::set_counters;

// Dense 3x3 convolutions of LANMSFF (block 1's second convolution is half the network's cost); those
// with enough channels also with im2col + GEMM forced (".../im2col/..."), beside the Winograd default.
LAYER_BENCH("conv3x3/block1.conv1/64x64x1->66", 32, 64, 64, 1, Conv2D<66, 3>)
CONV_BENCH("conv3x3/block1.conv2/64x64x66->66", 32, 64, 64, 66, Conv2D<66, 3>)
CONV_BENCH("conv3x3/twopath.stage1/32x32x33->36", 32, 32, 32, 33, Conv2D<36, 3>)
CONV_BENCH("conv3x3-dil2/twopath.stage1/32x32x33->36", 32, 32, 32, 33, Conv2D<36, 3, 1, 2>)
CONV_BENCH("conv3x3/twopath.stage3/32x32x72->36", 32, 32, 32, 72, Conv2D<36, 3>)
CONV_BENCH("conv3x3/block3.conv1/16x16x72->78", 32, 16, 16, 72, Conv2D<78, 3>)
CONV_BENCH("conv3x3/block3.conv2/16x16x78->78", 32, 16, 16, 78, Conv2D<78, 3>)
CONV_BENCH("conv3x3/twopath.stage3/8x8x84->42", 32, 8, 8, 84, Conv2D<42, 3>)
LAYER_BENCH("conv1x1/block2.conv/32x32x72->72", 32, 32, 32, 72, Conv2D<72, 1>)
LAYER_BENCH("depthwise3x3/block1.sepconv/64x64x66", 32, 64, 64, 66, DepthwiseConv2D<3>)
LAYER_BENCH("depthwise3x3-dil2/twopath.stage2/32x32x72", 32, 32, 32, 72, DepthwiseConv2D<3, 1, 2>)
LAYER_BENCH("conv-transpose3x3s2/massatt/8x8x4->16x16x4", 32, 8, 8, 4, Conv2DTranspose<4, 3, 2>)
LAYER_BENCH("batchnorm/64x64x66", 32, 64, 64, 66, BatchNorm<>)
LAYER_BENCH("maxpool2/64x64x66", 32, 64, 64, 66, MaxPool<2>)
LAYER_BENCH("relu/64x64x66", 32, 64, 64, 66, ReLU)
LAYER_BENCH("dropout0.4/32x32x66", 32, 32, 32, 66, Dropout<0.4>)
LAYER_BENCH("massatt/32x32x72", 32, 32, 32, 72, blocks::MassAtt<4>)
LAYER_BENCH("x*massatt(x)/32x32x72", 32, 32, 32, 72, blocks::Attend<blocks::MassAtt<4>>)
LAYER_BENCH("pwfs/32x32x66", 32, 32, 32, 66, blocks::PWFS)
LAYER_BENCH("twopath/32x32x66->72", 32, 32, 32, 66, blocks::TwoPath<72>)

// Inference fusions (architecture.md, "Fusion"): a chain's forward in inference, fused, beside the same
// layers with an Identity that keeps them apart (".../unfused/inference"). Block 1's SeparableConv2D
// (depthwise and pointwise as one kernel) and its conv2 -> bn3 -> pool -> relu (one step, pooled
// inside the convolution's output tiles).
template <class Spec, Shape In>
void BM_Inference(benchmark::State& state) {
  using L = typename Spec::template layer<In, float>;
  const int batch = int(state.range(0));
  auto layer = std::make_unique<L>();
  initialize_parameters(*layer, 1);
  Tensor<float> x(batch, In), y;
  fill(x, 2);
  run_forward(*layer, x, y, Context::inference());
  for (auto _ : state) {
    run_forward(*layer, x, y, Context::inference());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, batch, bench::forward_flops(*layer));
}
#define INFERENCE_BENCH(name, batch, h, w, c, ...)                                  \
  BENCHMARK(BM_Inference<__VA_ARGS__, lanmsff::Shape{h, w, c}>)                     \
      ->Name(name "/inference")                                                     \
      ->Arg(batch)                                                                  \
      ->UseRealTime()                                                               \
      ->Unit(benchmark::kMillisecond);
INFERENCE_BENCH("sepconv3x3/block1.sepconv/64x64x66->66", 32, 64, 64, 66, SeparableConv2D<66, 3>)
INFERENCE_BENCH("sepconv3x3/block1.sepconv/64x64x66->66/unfused", 32, 64, 64, 66,
                Sequential<DepthwiseConv2D<3, 1, 1, same, false>, Identity, Conv2D<66, 1>>)
INFERENCE_BENCH("conv-bn-pool-relu/block1.conv2/64x64x66->66", 32, 64, 64, 66,
                Sequential<Conv2D<66, 3>, BatchNorm<>, MaxPool<2>, ReLU>)
INFERENCE_BENCH("conv-bn-pool-relu/block1.conv2/64x64x66->66/unfused", 32, 64, 64, 66,
                Sequential<Conv2D<66, 3>, Identity, BatchNorm<>, MaxPool<2>, ReLU>)

// The dense 3x3 convolutions at batch 1 in inference, where a model's weights come again unchanged:
// Winograd with its transformed kernel kept between calls (the default, kernels/weight_cache.hpp),
// Winograd making it at every call (".../made-per-call": the cache off) and im2col + GEMM
// (".../im2col", what batch 1 ran before the transforms were kept).
enum class Kernel3x3 { kept, made_per_call, im2col };
template <class Spec, Shape In, Kernel3x3 How>
void BM_Inference3x3(benchmark::State& state) {
  using L = typename Spec::template layer<In, float>;
  const std::size_t limit = weight_cache_limit();
  if (How == Kernel3x3::made_per_call) set_weight_cache_limit(0);
  set_conv_algorithm(How == Kernel3x3::im2col ? ConvAlgorithm::im2col : ConvAlgorithm::winograd);
  auto layer = std::make_unique<L>();
  initialize_parameters(*layer, 1);
  Tensor<float> x(1, In), y;
  fill(x, 2);
  run_forward(*layer, x, y, Context::inference());
  for (auto _ : state) {
    run_forward(*layer, x, y, Context::inference());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, 1, bench::forward_flops(*layer));
  set_conv_algorithm(ConvAlgorithm::automatic);
  set_weight_cache_limit(limit);
}
#define INFERENCE3X3_ONE(name, h, w, c, how, ...)                                  \
  BENCHMARK(BM_Inference3x3<__VA_ARGS__, lanmsff::Shape{h, w, c}, Kernel3x3::how>) \
      ->Name(name)                                                                  \
      ->UseRealTime()                                                               \
      ->Unit(benchmark::kMicrosecond);
#define INFERENCE3X3_BENCH(name, h, w, c, ...)                                \
  INFERENCE3X3_ONE(name "/kept", h, w, c, kept, __VA_ARGS__)                   \
  INFERENCE3X3_ONE(name "/made-per-call", h, w, c, made_per_call, __VA_ARGS__) \
  INFERENCE3X3_ONE(name "/im2col", h, w, c, im2col, __VA_ARGS__)
INFERENCE3X3_BENCH("batch1/conv3x3/block1.conv2/64x64x66->66", 64, 64, 66, Conv2D<66, 3>)
INFERENCE3X3_BENCH("batch1/conv3x3/twopath.stage3/32x32x72->36", 32, 32, 72, Conv2D<36, 3>)
INFERENCE3X3_BENCH("batch1/conv3x3/block3.conv2/16x16x78->78", 16, 16, 78, Conv2D<78, 3>)
INFERENCE3X3_BENCH("batch1/conv3x3/twopath.stage3/8x8x84->42", 8, 8, 84, Conv2D<42, 3>)

// The whole model. 601 MFLOP per image forward (docs/models.md).
constexpr double lanmsff_forward_flops = 601.2e6;

void BM_LANMSFF_Forward(benchmark::State& state) {
  const int batch = int(state.range(0));
  auto net = std::make_unique<models::LANMSFF<8>>(1);
  Tensor<float> x(batch, 64, 64, 1);
  fill(x, 4);
  net->forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x).data());
  set_counters(state, batch, lanmsff_forward_flops);
}
BENCHMARK(BM_LANMSFF_Forward)->Name("lanmsff/forward")->Arg(1)->Arg(32)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_LANMSFF_TrainStep(benchmark::State& state) {
  const int batch = int(state.range(0));
  auto net = std::make_unique<models::LANMSFF<8>>(1);
  Tensor<float> x(batch, 64, 64, 1), grad;
  fill(x, 5);
  std::vector<int> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = i % 8;
  SoftmaxCrossEntropy<float> loss;
  std::uint64_t step = 0;
  loss(net->forward(x, Context::train(step++)), labels, &grad);  // warm-up: every buffer allocated
  net->backward(grad);
  for (auto _ : state) {
    net->zero_grad();
    const auto& logits = net->forward(x, Context::train(step++));
    benchmark::DoNotOptimize(loss(logits, labels, &grad));
    net->backward(grad);
    // The optimizer update (Adam over 356k parameters) is < 1 % of a step; the tool's `bench
    // --train` includes it.
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_LANMSFF_TrainStep)->Name("lanmsff/train-step")->Arg(32)->UseRealTime()->MinTime(2.0)->Unit(benchmark::kMillisecond);

// The machine's fused multiply-add peak on the path in use, the yardstick for the GFLOP/s above
// (fma_peak.hpp).
void BM_FmaPeak(benchmark::State& state) {
  double flops = 0;
  for (auto _ : state) {
    const kernels::FmaPeakRun run = kernels::fma_peak_run(1 << 20);
    benchmark::DoNotOptimize(run.checksum);
    flops += run.flops;
  }
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(isa_name(active_isa())));
}
BENCHMARK(BM_FmaPeak)->Name("fma-peak/all-threads")->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
