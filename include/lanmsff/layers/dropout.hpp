// Dropout (inverted): in training, each element is kept with probability 1 - rate and scaled by
// 1 / (1 - rate); in inference it is the identity. The mask is a pure function of the layer's
// seed, the context's step and the element index, so it is reproducible for a given seed and step
// whatever the thread count. `rate` can be changed at run time (0 disables the layer).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/random.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <double Rate = 0.5>
struct Dropout {
  static_assert(Rate >= 0 && Rate < 1, "Dropout: rate must be in [0, 1)");
  template <Shape In, class T>
  class layer : public NoParameters {
   public:
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = In;
    static constexpr std::string_view kind = "Dropout";
    static constexpr bool in_place = true;  // elementwise; backward uses only the stored mask
    static constexpr bool backward_reads_output = false;

    double rate = Rate;

    void set_seed(std::uint64_t seed) { seed_ = seed; }

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      expect_shape(input, In, "Dropout");
      if (rate < 0 || rate >= 1) throw std::invalid_argument("Dropout: rate must be in [0, 1)");
      active_ = ctx.training() && rate > 0;
      output.resize(input.n(), In);
      if (!active_) {
        if (&output != &input) output.array() = input.array();
        return;
      }
      mask_.resize(input.size());
      const std::uint64_t stream = hash_combine(seed_, ctx.step);
      const T scale = T(1.0 / (1.0 - rate));
      const float keep = float(1.0 - rate);
      parallel_for(0, input.n(), [&](std::ptrdiff_t n) {
        const std::size_t begin = std::size_t(n) * In.size(), end = begin + In.size();
        for (std::size_t e = begin; e < end; ++e) {
          const T m = unit_float(hash_combine(stream, e)) < keep ? scale : T(0);
          mask_[e] = m;
          output[e] = input[e] * m;
        }
      });
    }

    void backward(const Tensor<T>& input, const Tensor<T>&, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      if (!active_) {
        grad_input->array() = grad_output.array();
        return;
      }
      grad_input->array() = grad_output.array() * Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(mask_.data(), Eigen::Index(mask_.size()));
    }

   private:
    std::uint64_t seed_ = 0;
    bool active_ = false;
    AlignedVector<T> mask_;  // 0 or 1/(1-rate)
  };
};

}  // namespace lanmsff
