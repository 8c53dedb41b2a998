// ChannelMean and ChannelMax: H x W x C -> H x W x 1, the inputs of spatial attention maps
// (MassAtt's spatial branch, CBAM's spatial gate). ChannelMax sends its gradient to the first
// maximal channel.
#pragma once

#include <cstdint>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

struct ChannelMean {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{In.h, In.w, 1};
    static constexpr std::string_view kind = "ChannelMean";
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.reduce_channels("ReduceMean", path, input, In);
    }
    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "ChannelMean");
      output.resize(input.n(), output_shape);
      Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(output.data(), Eigen::Index(output.size())) =
          input.matrix().rowwise().sum() * (T(1) / T(In.c));
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      const T scale = T(1) / T(In.c);
      parallel_for(0, std::ptrdiff_t(grad_output.size()), [&](std::ptrdiff_t p) {
        std::fill_n(grad_input->data() + p * In.c, In.c, grad_output[std::size_t(p)] * scale);
      });
    }
  };
};

struct ChannelMax {
  template <Shape In, class T>
  class layer : public NoParameters {
   public:
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape{In.h, In.w, 1};
    static constexpr std::string_view kind = "ChannelMax";
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.reduce_channels("ReduceMax", path, input, In);
    }
    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) {
      expect_shape(input, In, "ChannelMax");
      output.resize(input.n(), output_shape);
      argmax_.resize(output.size());
      parallel_for(0, std::ptrdiff_t(output.size()), [&](std::ptrdiff_t p) {
        const T* x = input.data() + p * In.c;
        int best = 0;
        for (int c = 1; c < In.c; ++c)
          if (x[c] > x[best]) best = c;
        output[std::size_t(p)] = x[best];
        argmax_[std::size_t(p)] = std::uint16_t(best);
      });
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      parallel_for(0, std::ptrdiff_t(grad_output.size()), [&](std::ptrdiff_t p) {
        T* dx = grad_input->data() + p * In.c;
        std::fill_n(dx, In.c, T(0));
        dx[argmax_[std::size_t(p)]] = grad_output[std::size_t(p)];
      });
    }

   private:
    static_assert(In.c <= 65536, "ChannelMax: at most 65536 channels");
    std::vector<std::uint16_t> argmax_;
  };
};

}  // namespace lanmsff
