// Crop<Top, Left, Height, Width>: a spatial window of the input (MA-Net's four face patches).
// TileGrid (compose/merges.hpp) puts such windows back together.
#pragma once

#include <cstring>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <int Top, int Left, int Height, int Width>
struct Crop {
  template <Shape In, class T>
  struct layer : NoParameters {
    static_assert(Top >= 0 && Left >= 0 && Height > 0 && Width > 0 && Top + Height <= In.h && Left + Width <= In.w,
                  "Crop: the window must lie inside the input");
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{Height, Width, In.c};
    static constexpr std::string_view kind = "Crop";
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.slice(path, input, {2, 3}, {Top, Left}, {Top + Height, Left + Width});
    }

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "Crop");
      output.resize(input.n(), output_shape);
      parallel_for(0, std::ptrdiff_t(input.n()) * Height, [&](std::ptrdiff_t r) {
        const int n = int(r / Height), y = int(r % Height);
        std::memcpy(output.pixel(n, y, 0), input.pixel(n, Top + y, Left), sizeof(T) * Width * In.c);
      });
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      grad_input->set_zero();
      parallel_for(0, std::ptrdiff_t(input.n()) * Height, [&](std::ptrdiff_t r) {
        const int n = int(r / Height), y = int(r % Height);
        std::memcpy(grad_input->pixel(n, Top + y, Left), grad_output.pixel(n, y, 0), sizeof(T) * Width * In.c);
      });
    }
  };
};

}  // namespace lanmsff
