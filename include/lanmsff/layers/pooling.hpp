// Pooling: MaxPool (k x k, stride s, 'valid' or explicit padding with -inf as PyTorch),
// GlobalAvgPool and GlobalMaxPool (H x W x C -> 1 x 1 x C). Max pooling's gradient goes to the
// first maximum in row-major window order, as in TensorFlow and PyTorch.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "lanmsff/kernels/pooling.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <int Kernel, int Stride = Kernel, Padding Pad = valid>
struct MaxPool {
  static_assert(Pad.kind != Padding::same || Stride > 0, "MaxPool: bad stride");
  template <Shape In, class T>
  class layer : public NoParameters {
   public:
    using scalar = T;
    static constexpr ConvGeometry geometry = make_conv_geometry(In, In.c, Kernel, Stride, 1, Pad);
    static_assert(geometry.out_h > 0 && geometry.out_w > 0, "MaxPool: the window does not fit the input");
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = geometry.output_shape();
    static constexpr std::string_view kind = "MaxPool";
    // 2x2 windows at stride 2 without padding: a convolution's epilogue can apply it (layer.hpp).
    static constexpr bool is_max_pool_2x2 = Kernel == 2 && Stride == 2 && Pad == valid;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "MaxPool");
      output.resize(input.n(), output_shape);
      kernels::maxpool_forward(geometry, input.n(), input.data(), output.data());
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      kernels::maxpool_backward(geometry, input.n(), input.data(), grad_output.data(), grad_input->data());
    }
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.pool("MaxPool", path, input, geometry);
    }
  };
};

struct GlobalAvgPool {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{1, 1, In.c};
    static constexpr std::string_view kind = "GlobalAvgPool";

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "GlobalAvgPool");
      output.resize(input.n(), output_shape);
      parallel_for(0, input.n(), [&](std::ptrdiff_t n) {
        const Eigen::Map<const RowMatrix<T>> x(input.sample(int(n)), In.h * In.w, In.c);  // samples may start anywhere
        Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(output.sample(int(n)), In.c) =
            x.colwise().sum() * (T(1) / T(In.h * In.w));
      });
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      parallel_for(0, input.n(), [&](std::ptrdiff_t n) {
        const auto g = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(grad_output.sample(int(n)), In.c) *
                       (T(1) / T(In.h * In.w));
        Eigen::Map<RowMatrix<T>>(grad_input->sample(int(n)), In.h * In.w, In.c).rowwise() = g;
      });
    }
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.node("GlobalAveragePool", {input}, path);
    }
  };
};

struct GlobalMaxPool {
  template <Shape In, class T>
  class layer : public NoParameters {
   public:
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{1, 1, In.c};
    static constexpr std::string_view kind = "GlobalMaxPool";

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "GlobalMaxPool");
      output.resize(input.n(), output_shape);
      argmax_.resize(output.size());
      parallel_for(0, input.n(), [&](std::ptrdiff_t n) {
        const T* x = input.sample(int(n));
        T* y = output.sample(int(n));
        std::int32_t* a = argmax_.data() + n * In.c;
        for (int c = 0; c < In.c; ++c) y[c] = x[c], a[c] = c;
        for (int p = 1; p < In.h * In.w; ++p)
          for (int c = 0; c < In.c; ++c)
            if (x[p * In.c + c] > y[c]) y[c] = x[p * In.c + c], a[c] = p * In.c + c;
      });
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      grad_input->set_zero();
      for (int n = 0; n < input.n(); ++n)
        for (int c = 0; c < In.c; ++c) grad_input->sample(n)[argmax_[n * In.c + c]] = grad_output.sample(n)[c];
    }
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.node("GlobalMaxPool", {input}, path);
    }

   private:
    std::vector<std::int32_t> argmax_;
  };
};

}  // namespace lanmsff
