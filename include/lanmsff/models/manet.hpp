// MA-Net (Zhao, Liu and Wang, IEEE TIP 2021): a ResNet-18 trunk (stem, layer1, layer2) feeding a
// local branch (four 14x14 patches, each with its own attention-block layer3/layer4, tiled back,
// pooled, fc_1) and a global branch (multi-scale blocks layer3_2/layer4_2, pooled, fc_2).
// Default: 224x224x3 input, 50,547,214 trainable parameters for 7 classes (as PyTorch counts).
#pragma once

#include <cstdint>

#include "lanmsff/blocks/attention_block.hpp"
#include "lanmsff/blocks/basic_block.hpp"
#include "lanmsff/blocks/mul_scale_block.hpp"
#include "lanmsff/compose/network.hpp"
#include "lanmsff/layers/crop.hpp"
#include "lanmsff/layers/dense.hpp"
#include "lanmsff/layers/pooling.hpp"

namespace lanmsff::models {

namespace manet_parts {
// A ResNet stage of two blocks; the first one carries the stride (and the projection shortcut).
template <template <int, int> class Block, int Filters, int Stride>
using Stage = Sequential<Named<"0", Block<Filters, Stride>>, Named<"1", Block<Filters, 1>>>;

// PyTorch's nn.Linear initialisation (uniform in +-1/sqrt(fan_in), weight and bias).
template <int Classes>
using Linear = Dense<Classes, true, Init::uniform_fan_in>;

// One face patch of the local branch: a Size x Size window of the trunk's map, then its own
// layer3 (attention blocks, 256, stride 2) and layer4 (512, stride 1).
template <int Top, int Left, int Size, fixed_string Window, fixed_string Layer3, fixed_string Layer4>
using Patch = Sequential<Named<Window, Crop<Top, Left, Size, Size>>, Named<Layer3, Stage<blocks::AttentionBlock, 256, 2>>,
                         Named<Layer4, Stage<blocks::AttentionBlock, 512, 1>>>;

// The authors' patches: p1 top-left, p2 top-right, p3 bottom-left, p4 bottom-right, tiled back
// row by row (their torch.cat along width, then height) -- TileGrid<2, 2>'s order.
template <int Classes, int Half>
using LocalBranch = Sequential<
    Flat<Parallel<TileGrid<2, 2>, Flat<Patch<0, 0, Half, "crop_p1", "layer3_1_p1", "layer4_1_p1">>,
                  Flat<Patch<0, Half, Half, "crop_p2", "layer3_1_p2", "layer4_1_p2">>,
                  Flat<Patch<Half, 0, Half, "crop_p3", "layer3_1_p3", "layer4_1_p3">>,
                  Flat<Patch<Half, Half, Half, "crop_p4", "layer3_1_p4", "layer4_1_p4">>>>,
    Named<"avgpool_1", GlobalAvgPool>, Named<"fc_1", Linear<Classes>>>;

template <int Classes>
using GlobalBranch = Sequential<Named<"layer3_2", Stage<blocks::MulScaleBlock, 256, 2>>,
                                Named<"layer4_2", Stage<blocks::MulScaleBlock, 512, 2>>, Named<"avgpool_2", GlobalAvgPool>,
                                Named<"fc_2", Linear<Classes>>>;
}  // namespace manet_parts

// The spec. Its output is 1 x 1 x (2 * Classes): fc_1's logits (local branch), then fc_2's
// (global branch), so that the network stays a single-output type. The authors predict
// beta * fc_1 + (1 - beta) * fc_2 and train on beta * CE(fc_1) + (1 - beta) * CE(fc_2) with
// beta = 0.6: see train/two_head_loss.hpp (TwoHeadLoss, combine_heads).
//
// Parameter paths map 1:1 to the authors' state_dict (docs/models.md): conv1, bn1,
// layer1.0.conv1, layer2.0.downsample.0, layer3_1_p1.0.cbam.ChannelGate.mlp.1,
// layer3_2.0.conv1_2_1, fc_1, ...; tensors named kernel/bias/gamma/beta/moving_mean/
// moving_variance for weight/bias/weight/bias/running_mean/running_var, with kernels in HWIO and
// Dense kernels (in, out) (PyTorch: OIHW and (out, in)). Initialisation: He-uniform (fan-in) for
// convolutions where the authors use Kaiming-normal (fan-out); it only matters when training
// from scratch, which the authors do not do (they start from an MS-Celeb checkpoint).
template <int Classes>
struct MANetSpec {
  static_assert(Classes >= 2, "MA-Net: at least two classes");
  template <Shape In, class T>
  struct layer
      : Sequential<Named<"conv1", TorchConv2D<64, 7, 2, 3>>, Named<"bn1", TorchBatchNorm<>>, Named<"relu", ReLU>,
                   Named<"maxpool", MaxPool<3, 2, pad(1)>>,
                   Named<"layer1", manet_parts::Stage<blocks::BasicBlock, 64, 1>>,
                   Named<"layer2", manet_parts::Stage<blocks::BasicBlock, 128, 2>>,
                   Flat<Parallel<Concat<>, Flat<manet_parts::LocalBranch<Classes, In.h / 16>>,
                                 Flat<manet_parts::GlobalBranch<Classes>>>>>::template layer<In, T> {
    // Stem /4, layer2 /2: an In/8 map, cut into patches of half that (In/16: 14 for 224), each
    // halved again by layer3; the global branch halves the map twice.
    static_assert(In.h == In.w && In.h % 32 == 0, "MA-Net: the input must be square with a side divisible by 32");
    static_assert(In.c == 3, "MA-Net: the input must be RGB (3 channels)");
    static constexpr std::string_view kind = "MANet";
  };
};

// MANet<Classes, Size, T>: the network, ready to use (initialised from `seed`). About 200 MB of
// parameters (plus as much again of gradients) in float: allocate it on the heap.
template <int Classes = 7, int Size = 224, class T = float>
class MANet : public Network<MANetSpec<Classes>, Shape{Size, Size, 3}, T> {
 public:
  static constexpr std::string_view name = "manet";
  static constexpr int classes = Classes;
  explicit MANet(std::uint64_t seed = 0) : Network<MANetSpec<Classes>, Shape{Size, Size, 3}, T>(seed) {}
};

}  // namespace lanmsff::models

// The MA-Net networks that lanmsff::models compiles once (src/models_manet.cpp), X(classes): float,
// 224x224 RGB, 7 and 8 classes (the tool's models). Where LANMSFF_EXTERN_MODELS is defined they are only
// declared here (compose/network.hpp says why).
#define LANMSFF_FOR_EACH_COMPILED_MANET(X) X(7) X(8)
#define LANMSFF_COMPILED_MANET(C) ::lanmsff::Network<::lanmsff::models::MANetSpec<C>, ::lanmsff::Shape{224, 224, 3}, float>
#if defined(LANMSFF_EXTERN_MODELS)
namespace lanmsff {
#define LANMSFF_DECLARE_MANET_(C) extern template class LANMSFF_COMPILED_MANET(C);
LANMSFF_FOR_EACH_COMPILED_MANET(LANMSFF_DECLARE_MANET_)
#undef LANMSFF_DECLARE_MANET_
}  // namespace lanmsff
#endif
