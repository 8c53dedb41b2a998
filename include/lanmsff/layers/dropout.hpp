// Dropout (inverted): in training, each element is kept with probability 1 - rate and scaled by
// 1 / (1 - rate); in inference it is the identity. The mask is a pure function of the layer's
// seed, the context's step and the element's index in the global batch (Context::first_sample), so
// it is reproducible for a given seed and step whatever the thread count, and the shards of a
// data-parallel step draw the masks of the whole batch. `rate` can be changed at run time (0 disables the layer).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/random.hpp"
#include "lanmsff/core/real.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <Real Rate = 0.5>  // a plain literal: Dropout<0.4> (core/real.hpp)
struct Dropout {
  static_assert(Rate >= 0.0 && Rate < 1.0, "Dropout: rate must be in [0, 1)");
  template <Shape In, class T>
  class layer : public NoParameters {
   public:
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = In;
    static constexpr std::string_view kind = "Dropout";
    // Elementwise (forward_in_place), its backward reads only the stored mask (no buffer), and it
    // scales by 0 or 1 / (1 - rate) with no gradient through dropped values: it keeps a ReLU's mask.
    static constexpr bool keeps_relu_mask = true;

    double rate = Rate;

    void set_seed(std::uint64_t seed) { seed_ = seed; }

    // Inference: the identity, no node.
    template <class G>
    std::string to_onnx(G&, const std::string& input, const std::string&) {
      return input;
    }

    void forward_in_place(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      expect_shape(input, In, "Dropout");
      if (rate < 0 || rate >= 1) throw std::invalid_argument("Dropout: rate must be in [0, 1)");
      active_ = ctx.training() && rate > 0;
      output.resize(input.n(), In);
      if (!active_) {
        if (&output != &input) output.array() = input.array();
        return;
      }
      kept_.resize(input.size());
      const std::uint64_t stream = hash_combine(seed_, ctx.step);
      const T scale = scale_ = T(1.0 / (1.0 - rate));
      // unit_float(h) < keep  <=>  (h >> 40) < ceil(keep * 2^24): the same draw as an integer
      // comparison, which keeps the loop free of conversions (it vectorises).
      const std::uint64_t limit = static_cast<std::uint64_t>(std::ceil(double(float(1.0 - rate)) * 16777216.0));
      parallel_for(0, input.n(), [&](std::ptrdiff_t n) {
        // In chunks, three simple loops that each vectorise: the draws, the output, the mask.
        constexpr std::size_t chunk = 1024;
        std::uint32_t draws[chunk];
        const std::size_t begin = std::size_t(n) * In.size(), end = begin + In.size();
        // The draw of an element is keyed by its index in the global batch (Context::first_sample).
        const std::size_t global = std::size_t(ctx.first_sample) * In.size();
        for (std::size_t start = begin; start < end; start += chunk) {
          const std::size_t count = std::min(chunk, end - start);
          for (std::size_t i = 0; i < count; ++i)
            draws[i] = std::uint32_t(hash_combine(stream, global + start + i) >> 40) < std::uint32_t(limit);
          const T* x = input.data() + start;
          T* y = output.data() + start;
          for (std::size_t i = 0; i < count; ++i) y[i] = x[i] * (T(draws[i]) * scale);
          std::uint8_t* __restrict kept = kept_.data() + start;
          for (std::size_t i = 0; i < count; ++i) kept[i] = std::uint8_t(draws[i]);
        }
      });
    }

    void backward(const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(grad_output.n(), In);
      if (!active_) {
        grad_input->array() = grad_output.array();
        return;
      }
      const T scale = scale_;
      const std::uint8_t* kept = kept_.data();
      const T* dy = grad_output.data();
      T* dx = grad_input->data();
      parallel_for(0, grad_output.n(), [&](std::ptrdiff_t n) {
        const std::size_t begin = std::size_t(n) * In.size(), end = begin + In.size();
        for (std::size_t e = begin; e < end; ++e) dx[e] = dy[e] * (T(kept[e]) * scale);
      });
    }

   private:
    std::uint64_t seed_ = 0;
    bool active_ = false;
    std::vector<std::uint8_t> kept_;  // the mask: 1 where the element was kept
    T scale_ = T(1);                  // 1 / (1 - rate) of the last forward
  };
};

}  // namespace lanmsff
