// SumOverHeight: H x W x C -> 1 x W x C, the sum over the rows. With Concat<Axis::height> it
// lets a shared sub-network run on several stacked vectors and add the results: CBAM's channel
// gate stacks its avg- and max-pooled vectors (2x1xC), applies one MLP to both, then sums.
#pragma once

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

struct SumOverHeight {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{1, In.w, In.c};
    static constexpr std::string_view kind = "SumOverHeight";
    static constexpr int row = In.w * In.c;  // elements in one row of a sample

    // ONNX: the rows sliced out and added in order, as forward sums them.
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      std::string sum = In.h == 1 ? input : graph.slice(path, input, {2}, {0}, {1});
      for (int r = 1; r < In.h; ++r) sum = graph.node("Add", {sum, graph.slice(path, input, {2}, {r}, {r + 1})}, path);
      return sum;
    }

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "SumOverHeight");
      output.resize(input.n(), output_shape);
      parallel_for(0, input.n(), [&](std::ptrdiff_t n) {
        ArrayMap<T> y(output.sample(int(n)), row);
        const T* x = input.sample(int(n));
        y = ConstArrayMap<T>(x, row);
        for (int r = 1; r < In.h; ++r) y += ConstArrayMap<T>(x + std::ptrdiff_t(r) * row, row);
      });
    }

    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      parallel_for(0, input.n(), [&](std::ptrdiff_t n) {  // every row receives the whole output gradient
        const ConstArrayMap<T> g(grad_output.sample(int(n)), row);
        for (int r = 0; r < In.h; ++r) ArrayMap<T>(grad_input->sample(int(n)) + std::ptrdiff_t(r) * row, row) = g;
      });
    }
  };
};

}  // namespace lanmsff
