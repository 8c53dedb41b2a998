// Layers that pick or reorder channels: ChannelShuffle (ShuffleNet's shuffle, as LANMSFF's
// TwoPath does it: reshape C -> (G, C/G), transpose, flatten) and Split (one of `Parts` equal
// contiguous channel groups). Both are "output channel j = input channel source(j)".
#pragma once

#include <algorithm>
#include <array>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/kernels/copy.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

namespace detail {
template <Shape In, int OutC, class T, class Source>
struct ChannelGatherLayer : NoParameters {
  using scalar = T;
  static constexpr Shape input_shape = In;
  static constexpr Shape output_shape{In.h, In.w, OutC};
  static constexpr std::array<int, OutC> source = [] {
    std::array<int, OutC> s{};
    for (int j = 0; j < OutC; ++j) s[j] = Source::of(j);
    return s;
  }();
  // A contiguous run of source channels is copied as a block.
  static constexpr bool contiguous = [] {
    for (int j = 1; j < OutC; ++j)
      if (source[j] != source[0] + j) return false;
    return true;
  }();


  void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
    expect_shape(input, In, "channel gather");
    output.resize(input.n(), output_shape);
    const std::ptrdiff_t pixels = std::ptrdiff_t(input.n()) * In.h * In.w;
    if constexpr (contiguous) {
      constexpr std::ptrdiff_t block = 256;  // pixels per work item
      parallel_for(0, (pixels + block - 1) / block, [&](std::ptrdiff_t item) {
        const std::ptrdiff_t p = item * block;
        kernels::copy_rows(output.data() + p * OutC, OutC, input.data() + p * In.c + source[0], In.c,
                           std::min(block, pixels - p), OutC);
      });
      return;
    }
    parallel_for(0, pixels, [&](std::ptrdiff_t p) {
      const T* x = input.data() + p * In.c;
      T* y = output.data() + p * OutC;
      for (int j = 0; j < OutC; ++j) y[j] = x[source[j]];
    });
  }
  void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
    if (!grad_input) return;
    grad_input->resize(input.n(), In);
    const std::ptrdiff_t pixels = std::ptrdiff_t(input.n()) * In.h * In.w;
    parallel_for(0, pixels, [&](std::ptrdiff_t p) {
      T* dx = grad_input->data() + p * In.c;
      const T* dy = grad_output.data() + p * OutC;
      std::fill_n(dx, In.c, T(0));  // grad_input is overwritten, never accumulated (it is a reused buffer)
      for (int j = 0; j < OutC; ++j) dx[source[j]] += dy[j];
    });
  }
};
}  // namespace detail

template <int Groups = 2>
struct ChannelShuffle {
  template <Shape In, class T>
  struct layer : detail::ChannelGatherLayer<In, In.c, T, layer<In, T>> {
    static_assert(In.c % Groups == 0, "ChannelShuffle: channels must be divisible by the group count");
    static constexpr std::string_view kind = "ChannelShuffle";
    static constexpr int of(int j) { return (j % Groups) * (In.c / Groups) + j / Groups; }
    // Reshape (G, C/G), Transpose, Reshape back (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.channel_shuffle(path, input, In, Groups);
    }
  };
};

// Split<I, Parts>: the I-th of Parts equal contiguous channel groups.
template <int Index, int Parts>
struct Split {
  static_assert(Parts > 0 && Index >= 0 && Index < Parts, "Split: need 0 <= Index < Parts");
  template <Shape In, class T>
  struct layer : detail::ChannelGatherLayer<In, In.c / Parts, T, layer<In, T>> {
    static_assert(In.c % Parts == 0, "Split: channels must be divisible by the number of parts");
    static constexpr std::string_view kind = "Split";
    static constexpr int of(int j) { return Index * (In.c / Parts) + j; }
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.slice(path, input, {1}, {of(0)}, {of(0) + In.c / Parts});
    }
  };
};

}  // namespace lanmsff
