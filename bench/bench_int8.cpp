// Google Benchmark of the int8 matrix product (kernels/int8.hpp) against the float one
// (kernels/gemm.hpp, B packed per call as the convolutions do) at the im2col shapes of the models'
// convolutions: M = batch x output pixels, K = kernel height x width x input channels, N = filters.
// On AVX-512 and AVX2 the int8 kernels run with VNNI where the CPU has it ("int8") and with 16-bit products
// ("int8-no-vnni"), so one run shows what each path gives. Counters: GOP/s (two operations per
// multiply-add, as GFLOP/s counts them) and the float path's GFLOP/s beside it.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/conv.hpp"
#include "lanmsff/kernels/depthwise.hpp"
#include "lanmsff/kernels/pooling.hpp"
#include "lanmsff/lanmsff.hpp"
#include "lanmsff/models/lanmsff.hpp"
#include "lanmsff/quant/convolution.hpp"
#include "lanmsff/quant/int8_model.hpp"
#include "lanmsff/kernels/gemm.hpp"
#include "lanmsff/kernels/int8.hpp"
#include "../tests/trained_looking.hpp"

namespace {

using namespace lanmsff;
using namespace lanmsff::kernels;

struct Product {
  const char* name;
  int M, N, K;
};

// LANMSFF at batch 32 (64x64x1 input), MA-Net at batch 16 (224x224x3).
const Product products[] = {
    {"lanmsff.block1.conv2/64x64x66->66", 32 * 64 * 64, 66, 9 * 66},
    {"lanmsff.twopath.conv/32x32x36->36", 32 * 32 * 32, 36, 9 * 36},
    {"lanmsff.block2.conv1x1/32x32x72->72", 32 * 32 * 32, 72, 72},
    {"lanmsff.block3.conv1/16x16x72->78", 32 * 16 * 16, 78, 9 * 72},
    {"manet.layer1.conv/56x56x64->64", 16 * 56 * 56, 64, 9 * 64},
    {"manet.layer4.conv/7x7x512->512", 16 * 7 * 7, 512, 9 * 512},
};

void set_rate(benchmark::State& state, const Product& s) {
  state.counters["GOP/s"] = benchmark::Counter(2.0 * s.M * s.N * s.K * double(state.iterations()), benchmark::Counter::kIsRate);
}

void int8_product(benchmark::State& state, const Product& s, bool vnni) {
  set_int8_vnni(vnni);  // false: the 16-bit products on a CPU with VNNI
  Rng rng(1);
  std::vector<std::uint8_t> a(std::size_t(s.M) * std::size_t(s.K));
  std::vector<std::int8_t> b(std::size_t(s.K) * std::size_t(s.N));
  for (auto& v : a) v = std::uint8_t(rng.below(256));
  for (auto& v : b) v = std::int8_t(int(rng.below(255)) - 127);
  const PackedInt8 packed = pack_int8(s.K, s.N, b.data(), s.N);
  std::vector<float> scale(std::size_t(s.N), 1e-4f), shift(std::size_t(s.N), 0.5f), y(std::size_t(s.M) * std::size_t(s.N));
  const Int8Output out{scale.data(), shift.data(), 128, true};
  for (auto _ : state) {
    int8_gemm(s.M, s.N, s.K, a.data(), s.K, packed, y.data(), s.N, out);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(int8_kernel_name(int8_kernel())));
  set_int8_vnni(true);
  set_rate(state, s);
}

void float_product(benchmark::State& state, const Product& s) {
  Rng rng(1);
  std::vector<float> a(std::size_t(s.M) * std::size_t(s.K)), b(std::size_t(s.K) * std::size_t(s.N)),
      c(std::size_t(s.M) * std::size_t(s.N));
  for (auto& v : a) v = float(rng.uniform(-1, 1));
  for (auto& v : b) v = float(rng.uniform(-1, 1));
  for (auto _ : state) {
    matmul<float>(s.M, s.N, s.K, Strided<float>{a.data(), s.K, 1}, Strided<float>{b.data(), s.N, 1}, c.data(), s.N, false);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(std::string(isa_name(active_isa())));
  set_rate(state, s);
}

struct Conv {
  const char* name;
  int batch, size, in_c, out_c, k, stride;
  ConvGeometry geometry() const { return make_conv_geometry({size, size, in_c}, out_c, k, stride, 1, same); }
  double operations() const {
    const ConvGeometry g = geometry();
    return 2.0 * batch * g.out_h * g.out_w * g.out_c * double(g.patch_size());
  }
};

const Conv convs[] = {
    {"lanmsff.block1.conv2/64x64x66->66", 32, 64, 66, 66, 3, 1},
    {"lanmsff.block1.conv1/64x64x1->66", 32, 64, 1, 66, 3, 1},
    {"lanmsff.twopath.conv/32x32x36->36", 32, 32, 36, 36, 3, 1},
    {"lanmsff.block2.conv1x1/32x32x72->72", 32, 32, 72, 72, 1, 1},
    {"lanmsff.block3.conv1/16x16x72->78", 32, 16, 72, 78, 3, 1},
    {"manet.layer1.conv/56x56x64->64", 16, 56, 64, 64, 3, 1},
    {"manet.layer4.conv/7x7x512->512", 16, 7, 512, 512, 3, 1},
};

void float_conv(benchmark::State& state, const Conv& s) {
  const ConvGeometry g = s.geometry();
  Rng rng(1);
  std::vector<float> x(std::size_t(s.batch) * g.input_shape().size()), w(std::size_t(g.patch_size()) * g.out_c),
      bias(std::size_t(g.out_c), 0.1f), y(std::size_t(s.batch) * g.output_shape().size());
  for (auto& v : x) v = float(rng.uniform(-1, 1));
  for (auto& v : w) v = float(rng.uniform(-1, 1));
  for (auto _ : state) {
    conv2d_forward<float>(g, s.batch, x.data(), w.data(), bias.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(isa_name(active_isa())));
  state.counters["GOP/s"] = benchmark::Counter(s.operations() * double(state.iterations()), benchmark::Counter::kIsRate);
}

// The output in float (dequantised), or in uint8 (requantised: the next int8 layer's input).
template <class Y>
void int8_conv_bench(benchmark::State& state, const Conv& s, bool vnni) {
  set_int8_vnni(vnni);
  const ConvGeometry g = s.geometry();
  Rng rng(1);
  QuantizedBatch x;
  x.resize(s.batch, g.input_shape());
  x.zero = 128;
  for (std::size_t i = 0; i < x.size(); ++i) x.values()[i] = std::uint8_t(rng.below(256));
  std::vector<std::int8_t> w(std::size_t(g.patch_size()) * g.out_c);
  for (auto& v : w) v = std::int8_t(int(rng.below(255)) - 127);
  const PackedInt8 packed = pack_int8_conv(g, w.data());
  std::vector<float> scale(std::size_t(g.out_c), 1e-4f), shift(std::size_t(g.out_c), 0.1f);
  std::vector<Y> y(std::size_t(s.batch) * g.output_shape().size());
  const Requantization rq = requantize(g.out_c, scale.data(), shift.data(), 0.02f, 0);
  const Int8Output out = std::is_same_v<Y, float> ? Int8Output{scale.data(), shift.data(), 0, true} : rq.output(0, true);
  for (auto _ : state) {
    int8_conv(g, x, packed, y.data(), out);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(int8_kernel_name(int8_kernel())));
  set_int8_vnni(true);
  state.counters["GOP/s"] = benchmark::Counter(s.operations() * double(state.iterations()), benchmark::Counter::kIsRate);
}

void quantize_bench(benchmark::State& state, const Conv& s) {
  const std::size_t n = std::size_t(s.batch) * std::size_t(s.size) * std::size_t(s.size) * std::size_t(s.in_c);
  std::vector<float> x(n);
  Rng rng(1);
  for (auto& v : x) v = float(rng.uniform(-1, 1));
  std::vector<std::uint8_t> q(n);
  for (auto _ : state) {
    quantize(x.data(), n, 1.0f / 127, 128, q.data());
    benchmark::DoNotOptimize(q.data());
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(n * 5));
}

// The depthwise 3x3 of LANMSFF's separable convolutions (block 1: 64x64x66, block 3: 16x16x78), batch 32.
void float_depthwise(benchmark::State& state, Shape shape) {
  const ConvGeometry g = make_conv_geometry(shape, shape.c, 3, 1, 1, same);
  Rng rng(1);
  std::vector<float> x(32 * shape.size()), w(9 * std::size_t(shape.c)), bias(std::size_t(shape.c), 0.1f), y(x.size());
  for (auto& v : x) v = float(rng.uniform(-1, 1));
  for (auto& v : w) v = float(rng.uniform(-1, 1));
  for (auto _ : state) {
    depthwise_forward<float>(g, 32, x.data(), w.data(), bias.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * 32);
}

void int8_depthwise_bench(benchmark::State& state, Shape shape) {
  const ConvGeometry g = make_conv_geometry(shape, shape.c, 3, 1, 1, same);
  Rng rng(1);
  QuantizedBatch x;
  x.resize(32, shape);
  x.zero = 128;
  for (std::size_t i = 0; i < x.size(); ++i) x.values()[i] = std::uint8_t(rng.below(256));
  std::vector<std::int8_t> w(9 * std::size_t(shape.c));
  for (auto& v : w) v = std::int8_t(int(rng.below(255)) - 127);
  std::vector<float> scale(std::size_t(shape.c), 1e-3f), shift(std::size_t(shape.c), 0.1f);
  const Requantization rq = requantize(shape.c, scale.data(), shift.data(), 0.05f, 0);
  std::vector<std::uint8_t> y(x.size());
  for (auto _ : state) {
    int8_depthwise(g, x, w.data(), y.data(), rq.output(0, false));
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * 32);
}

using Block1 = models::lanmsff_parts::ConvBlock<66>::layer<lanmsff::Shape{64, 64, 1}, float>;

Tensor<float> block_input() {
  Tensor<float> x(32, lanmsff::Shape{64, 64, 1});
  Rng rng(2);
  for (auto& v : x) v = float(rng.uniform(0, 1));
  return x;
}

void float_block1(benchmark::State& state) {
  auto block = std::make_unique<Block1>();
  initialize_parameters(*block, 1);
  const Tensor<float> x = block_input();
  Tensor<float> y;
  for (auto _ : state) {
    run_forward(*block, x, y, Context::inference());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * 32);
}

void int8_block1(benchmark::State& state) {
  using quant::Affine;
  using quant::Int8Convolution;
  using quant::QuantParams;
  auto block = std::make_unique<Block1>();
  initialize_parameters(*block, 1);
  auto& sep = block->get<3>();
  const auto bn = [](auto& layer) {
    const auto a = layer.inference_affine(false);
    return Affine{a.scale, a.shift};
  };
  const QuantParams input{1.0f / 255, 0}, relu{0.02f, 0}, signed_values{0.02f, 128};
  const Int8Convolution conv1(block->get<0>().geometry, block->get<0>().kernel().data(), block->get<0>().bias().data(),
                              input.scale, bn(block->get<1>()), true);
  const Int8Convolution depthwise(sep.get<0>().geometry, sep.get<0>().kernel().data(), nullptr, relu.scale, Affine{}, false, true);
  const Int8Convolution pointwise(sep.get<1>().geometry, sep.get<1>().kernel().data(), sep.get<1>().bias().data(),
                                  signed_values.scale, bn(block->get<4>()), true);
  const Int8Convolution conv2(block->get<6>().geometry, block->get<6>().kernel().data(), block->get<6>().bias().data(),
                              relu.scale, bn(block->get<7>()), true);
  const Tensor<float> x = block_input();
  QuantizedBatch a, b;
  Tensor<float> y(32, lanmsff::Shape{32, 32, 66});
  for (auto _ : state) {
    quant::quantize_batch(x.data(), 32, x.shape(), input, a);
    conv1.run(a, b, relu);
    depthwise.run(b, a, signed_values);
    pointwise.run(a, b, relu);
    conv2.run(b, a, relu);
    int8_max_pool(a, 2, b);
    dequantize(b, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * 32);
  state.SetLabel(std::string(int8_kernel_name(int8_kernel())));
}

// The whole LANMSFF (8 classes, 64x64x1) in float (the library's network) and in int8 (quant::Int8Model,
// calibrated on 64 random images), at one batch size. Random weights, BatchNorm statistics away from 1
// and 0: the arithmetic is that of a trained model. LANMSFF_INT8_PROFILE=1 prints the int8 steps' times.
using Model = models::LANMSFF<8>;

Tensor<float> model_input(int n, std::uint64_t seed) {
  Tensor<float> x(n, Model::input_shape);
  Rng rng(seed);
  for (auto& v : x) v = float(rng.uniform(0, 1));
  return x;
}

std::unique_ptr<Model> trained_looking_model() {
  auto net = std::make_unique<Model>(1);
  lanmsff::testing::make_trained_looking([&](auto f) { net->for_each_parameter(f); }, 5);
  return net;
}

void float_model(benchmark::State& state) {
  const int n = int(state.range(0));
  auto net = trained_looking_model();
  const Tensor<float> x = model_input(n, 3);
  net->forward(x, Context::inference());  // warm-up: buffers allocated, weights prepared
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x, Context::inference()).data());
  state.SetItemsProcessed(std::int64_t(state.iterations()) * n);
}

void int8_model(benchmark::State& state) {
  const int n = int(state.range(0));
  auto net = trained_looking_model();
  const quant::Program program = quant::record(*net);
  quant::Calibrator calibrator(program);
  const Tensor<float> calibration = model_input(64, 4);
  calibrator.observe(calibration.data(), 64);
  quant::Int8Model model(program, calibrator.params());
  const Tensor<float> x = model_input(n, 3);
  std::vector<float> y(std::size_t(n) * model.output_shape().size());
  const char* profile = std::getenv("LANMSFF_INT8_PROFILE");
  model.run(x.data(), n, y.data());  // warm-up: buffers allocated
  model.profiling = profile && *profile == '1';
  for (auto _ : state) {
    model.run(x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * n);
  state.SetLabel(std::string(int8_kernel_name(int8_kernel())));
  if (model.profiling) std::fprintf(stderr, "int8 LANMSFF, batch %d:\n%s", n, model.profile().c_str());
}

const bool registered = [] {
  for (int n : {1, 32}) {
    benchmark::RegisterBenchmark("lanmsff/float", float_model)->Arg(n)->ArgName("batch")->UseRealTime();
    benchmark::RegisterBenchmark("lanmsff/int8", int8_model)->Arg(n)->ArgName("batch")->UseRealTime();
  }
  benchmark::RegisterBenchmark("lanmsff.block1/float/64x64x1->32x32x66", float_block1)->UseRealTime();
  benchmark::RegisterBenchmark("lanmsff.block1/int8/64x64x1->32x32x66", int8_block1)->UseRealTime();
  for (Shape shape : {Shape{64, 64, 66}, Shape{16, 16, 78}}) {
    const std::string name = std::to_string(shape.h) + "x" + std::to_string(shape.w) + "x" + std::to_string(shape.c);
    benchmark::RegisterBenchmark(("depthwise3x3/float/" + name).c_str(), float_depthwise, shape)->UseRealTime();
    benchmark::RegisterBenchmark(("depthwise3x3/int8-to-uint8/" + name).c_str(), int8_depthwise_bench, shape)->UseRealTime();
  }
  const bool both = (cpu_has_avx512_vnni() && active_isa() == Isa::avx512) || (cpu_has_avx_vnni() && active_isa() == Isa::avx2);
  for (const Conv& s : convs) {
    benchmark::RegisterBenchmark((std::string("conv/float/") + s.name).c_str(), float_conv, s)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv/int8/") + s.name).c_str(), int8_conv_bench<float>, s, true)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv/int8-to-uint8/") + s.name).c_str(), int8_conv_bench<std::uint8_t>, s, true)
        ->UseRealTime();
    if (both)
      benchmark::RegisterBenchmark((std::string("conv/int8-no-vnni/") + s.name).c_str(), int8_conv_bench<float>, s, false)
          ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv/quantize-input/") + s.name).c_str(), quantize_bench, s)->UseRealTime();
  }
  for (const Product& s : products) {
    benchmark::RegisterBenchmark((std::string("gemm/float/") + s.name).c_str(), float_product, s)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("gemm/int8/") + s.name).c_str(), int8_product, s, true)->UseRealTime();
    if (both)
      benchmark::RegisterBenchmark((std::string("gemm/int8-no-vnni/") + s.name).c_str(), int8_product, s, false)->UseRealTime();
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
