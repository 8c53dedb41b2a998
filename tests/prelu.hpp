// PReLU: y = x where x > 0, else alpha[c] * x, with a learnable slope per channel (Keras' PReLU with
// shared_axes=[1, 2], alpha initialised to 0; PyTorch's nn.PReLU(num_parameters=C) with init=0).
// Written from docs/layer-contract.md alone, as a user would write a layer of their own: the test
// suite checks that nothing else is needed (test_prelu.cpp, and its line in test_memory_plans.cpp).
#pragma once

#include <lanmsff/lanmsff.hpp>

struct PReLU {
  template <lanmsff::Shape In, class T>
  class layer {
   public:
    using scalar = T;
    static constexpr lanmsff::Shape input_shape = In;
    static constexpr lanmsff::Shape output_shape = In;
    static constexpr std::string_view kind = "PReLU";

    layer() { alpha_.define({In.c}, lanmsff::Init::zeros); }  // starts as a ReLU

    void forward(const lanmsff::Tensor<T>& input, lanmsff::Tensor<T>& output, const lanmsff::Context&) {
      lanmsff::expect_shape(input, In, "PReLU");
      output.resize(input.n(), In);
      const std::ptrdiff_t pixels = std::ptrdiff_t(input.n()) * In.h * In.w;
      lanmsff::parallel_for(0, pixels, [&](std::ptrdiff_t p) {
        for (int c = 0; c < In.c; ++c) {
          const T x = input[p * In.c + c];
          output[p * In.c + c] = x > 0 ? x : alpha_.value[c] * x;
        }
      });
    }

    // Reads the input only (the sign of x, and x for alpha's gradient): this form.
    void backward(const lanmsff::Tensor<T>& input, const lanmsff::Tensor<T>& grad_output,
                  lanmsff::Tensor<T>* grad_input) {
      const std::ptrdiff_t pixels = std::ptrdiff_t(input.n()) * In.h * In.w;
      for (std::ptrdiff_t p = 0; p < pixels; ++p)  // serial: a sum over pixels (reproducible)
        for (int c = 0; c < In.c; ++c)
          if (const T x = input[p * In.c + c]; x <= 0) alpha_.grad[c] += grad_output[p * In.c + c] * x;
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      lanmsff::parallel_for(0, pixels, [&](std::ptrdiff_t p) {
        for (int c = 0; c < In.c; ++c) {
          const T dy = grad_output[p * In.c + c];
          (*grad_input)[p * In.c + c] = input[p * In.c + c] > 0 ? dy : alpha_.value[c] * dy;
        }
      });
    }

    template <class F>
    void for_each_parameter(F&& f) { f("alpha", alpha_); }

   private:
    lanmsff::Parameter<T> alpha_;
  };
};
