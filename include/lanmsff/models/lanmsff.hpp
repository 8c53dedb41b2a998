// LANMSFF (Ezati et al., arXiv 2403.14318): a lightweight fully-convolutional FER network with
// MassAtt attention and PWFS multi-scale feature fusion. The definition below reads like the
// block table of docs/models.md; every part is a composition of library layers.
// Default: 64x64x1 input, 356,451 trainable parameters for 8 classes.
#pragma once

#include <cstdint>

#include "lanmsff/blocks/mass_att.hpp"
#include "lanmsff/blocks/pwfs.hpp"
#include "lanmsff/blocks/two_path.hpp"
#include "lanmsff/compose/cascade.hpp"
#include "lanmsff/compose/network.hpp"
#include "lanmsff/layers/dropout.hpp"
#include "lanmsff/layers/pooling.hpp"

namespace lanmsff::models {

namespace lanmsff_parts {
using blocks::Attend;
using blocks::MassAtt;
using blocks::PWFS;
using blocks::TwoPath;

inline constexpr double dropout_rate = 0.4;

// Blocks 1 and 3: Conv BN ReLU · SepConv BN ReLU · Conv BN · MaxPool · ReLU · Dropout.
template <int F>
using ConvBlock = Sequential<Named<"conv1", Conv2D<F, 3>>, Named<"bn1", BatchNorm<>>, Named<"relu1", ReLU>,
                             Named<"sepconv", SeparableConv2D<F, 3>>, Named<"bn2", BatchNorm<>>, Named<"relu2", ReLU>,
                             Named<"conv2", Conv2D<F, 3>>, Named<"bn3", BatchNorm<>>, Named<"pool", MaxPool<2>>,
                             Named<"relu", ReLU>, Named<"dropout", Dropout<dropout_rate>>>;

// Blocks 2 and 4: TwoPath · x * MassAtt(x) · Conv1x1 BN · MaxPool · ReLU · Dropout.
template <int F>
using AttentionBlock =
    Sequential<Named<"twopath", TwoPath<F>>, Flat<Attend<Named<"massatt", MassAtt<4>>>>,
               Named<"conv", Conv2D<F, 1>>, Named<"bn", BatchNorm<>>, Named<"pool", MaxPool<2>>, Named<"relu", ReLU>,
               Named<"dropout", Dropout<dropout_rate>>>;

// Head inputs: PWFS then global average pooling (block 4: pooling only).
using Fusion = Sequential<Named<"pwfs", PWFS>, Named<"pool", GlobalAvgPool>>;
}  // namespace lanmsff_parts

// The spec: 4 blocks, their fused multi-scale features (22 + 24 + 26 + 84 = 156), Dense(classes).
// Outputs logits; apply Softmax (or SoftmaxCrossEntropy in training) for probabilities.
template <int Classes>
struct LANMSFFSpec {
  static_assert(Classes >= 2, "LANMSFF: at least two classes");
  template <Shape In, class T>
  struct layer
      : Sequential<
            Flat<Cascade<Concat<>,
                         Tap<Named<"block1", lanmsff_parts::ConvBlock<66>>, Named<"fusion1", lanmsff_parts::Fusion>>,
                         Tap<Named<"block2", lanmsff_parts::AttentionBlock<72>>, Named<"fusion2", lanmsff_parts::Fusion>>,
                         Tap<Named<"block3", lanmsff_parts::ConvBlock<78>>, Named<"fusion3", lanmsff_parts::Fusion>>,
                         Tap<Named<"block4", lanmsff_parts::AttentionBlock<84>>, Named<"fusion4", GlobalAvgPool>>>>,
            Named<"classifier", Dense<Classes>>>::template layer<In, T> {
    // Four 2x2 poolings, and block 4's MassAtt needs its 1/8-size input divisible by 4.
    static_assert(In.h % 32 == 0 && In.w % 32 == 0, "LANMSFF: input height and width must be divisible by 32");
    static_assert(In.c == 1 || In.c == 3, "LANMSFF: input channels must be 1 (gray) or 3 (RGB)");
    static constexpr std::string_view kind = "LANMSFF";
  };
};

// LANMSFF<Classes, Size, Channels, T>: the network, ready to use (initialised from `seed`).
template <int Classes = 8, int Size = 64, int Channels = 1, class T = float>
class LANMSFF : public Network<LANMSFFSpec<Classes>, Shape{Size, Size, Channels}, T> {
 public:
  static constexpr std::string_view name = "lanmsff";
  static constexpr int classes = Classes;
  explicit LANMSFF(std::uint64_t seed = 0) : Network<LANMSFFSpec<Classes>, Shape{Size, Size, Channels}, T>(seed) {}
};

}  // namespace lanmsff::models

// The LANMSFF networks that lanmsff::models compiles once (src/models_lanmsff.cpp), X(classes, channels):
// float, 64x64, gray for 2 to 10 classes and RGB for 7 and 8 (the tool's models). Where
// LANMSFF_EXTERN_MODELS is defined they are only declared here (compose/network.hpp says why).
#define LANMSFF_FOR_EACH_COMPILED_LANMSFF(X) \
  X(2, 1) X(3, 1) X(4, 1) X(5, 1) X(6, 1) X(7, 1) X(8, 1) X(9, 1) X(10, 1) X(7, 3) X(8, 3)
#define LANMSFF_COMPILED_LANMSFF(C, Ch) \
  ::lanmsff::Network<::lanmsff::models::LANMSFFSpec<C>, ::lanmsff::Shape{64, 64, Ch}, float>
#if defined(LANMSFF_EXTERN_MODELS)
namespace lanmsff {
#define LANMSFF_DECLARE_LANMSFF_(C, Ch) extern template class LANMSFF_COMPILED_LANMSFF(C, Ch);
LANMSFF_FOR_EACH_COMPILED_LANMSFF(LANMSFF_DECLARE_LANMSFF_)
#undef LANMSFF_DECLARE_LANMSFF_
}  // namespace lanmsff
#endif
