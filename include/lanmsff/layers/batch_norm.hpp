// BatchNorm over the channel axis. Training: normalise with the batch's mean and (biased)
// variance and update the moving statistics; inference: use the moving statistics.
// Momentum follows Keras: moving = momentum * moving + (1 - momentum) * batch (PyTorch's
// momentum m is Keras' 1 - m; use TorchBatchNorm). Parameters gamma, beta (trainable) and
// moving_mean, moving_variance (state). Momentum and epsilon can be changed at run time.
// In inference the layer is a per-channel affine map, which a convolution before it can apply to its
// output tiles instead (Sequential plans this; see inference_affine).
#pragma once

#include <cmath>

#include "lanmsff/core/real.hpp"
#include "lanmsff/kernels/batch_norm.hpp"
#include "lanmsff/kernels/epilogue.hpp"
#include "lanmsff/kernels/reduce.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

// Momentum and Epsilon are the defaults of every instance, written as plain literals (Real,
// core/real.hpp); UnbiasedMoving = PyTorch, which feeds the moving variance with the unbiased batch
// variance (Keras uses the biased one).
template <Real Momentum = 0.99, Real Epsilon = 1e-3, bool UnbiasedMoving = false>
struct BatchNorm {
  template <Shape In, class T>
  class layer {
   public:
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = In;
    static constexpr std::string_view kind = "BatchNorm";
    static constexpr bool backward_reads_output = false;
    static constexpr bool is_batch_norm = true;  // has inference_affine (see layer.hpp)
    static constexpr int C = In.c;

    layer() {
      gamma_.define({C}, Init::ones);
      beta_.define({C}, Init::zeros);
      moving_mean_.define({C}, Init::zeros, 1, 1, false);
      moving_variance_.define({C}, Init::ones, 1, 1, false);
      mean_.resize(C), inv_std_.resize(C), scale_.resize(C), shift_.resize(C);
    }

    double momentum = Momentum;  // Keras convention
    double epsilon = Epsilon;
    // When set, training-mode forward passes accumulate an exact average of batch statistics
    // instead of the moving average (used to re-estimate statistics after training).
    bool accumulate_statistics = false;
    std::size_t accumulated_batches = 0;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) { forward_impl<false>(input, output, ctx); }
    void backward(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      backward_impl<false>(input, output, grad_output, grad_input);
    }
    // BatchNorm then ReLU as one layer (Sequential runs a BatchNorm and the in-place ReLU after it so,
    // in training too): forward writes max(BN(x), 0); backward takes that output and the ReLU's output
    // gradient, and masks the gradient where the output is 0 as the ReLU's backward would. One pass
    // over the activation fewer each way.
    void forward_relu(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      forward_impl<true>(input, output, ctx);
    }
    void backward_relu(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                       Tensor<T>* grad_input) {
      backward_impl<true>(input, output, grad_output, grad_input);
    }

    template <class F>
    void for_each_parameter(F&& f) {
      f("gamma", gamma_);
      f("beta", beta_);
      f("moving_mean", moving_mean_);
      f("moving_variance", moving_variance_);
    }

    // The inference forward as y = x * scale + shift per channel (then max(y, 0) when `relu`), for a
    // layer before this one to apply to its own output (Sequential's fusion). Sets the statistics an
    // inference forward would, so that backward works without this forward having run (given the
    // input, which the caller then computes); the pointers stay valid until the next forward.
    kernels::ChannelAffine<T> inference_affine(bool relu) {
      trained_ = false;
      use_moving_statistics();
      scale_ = array(gamma_) * inv_std_;
      shift_ = array(beta_) - mean_ * scale_;
      return {scale_.data(), shift_.data(), relu};
    }

    // ONNX BatchNormalization with the moving statistics (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      return graph.batch_norm(path, input, C, gamma_.data(), beta_.data(), moving_mean_.data(), moving_variance_.data(),
                              epsilon);
    }

    // Restart an exact running average of batch statistics (see accumulate_statistics).
    void reset_accumulation() { accumulated_batches = 0; }

   private:
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    static Eigen::Map<Array> array(Parameter<T>& p) { return Eigen::Map<Array>(p.data(), C); }
    static Eigen::Map<Array> array_grad(Parameter<T>& p) { return Eigen::Map<Array>(p.grad_data(), C); }

    template <bool Relu>
    void forward_impl(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      expect_shape(input, In, "BatchNorm");
      output.resize(input.n(), In);
      const std::ptrdiff_t rows = std::ptrdiff_t(input.n()) * In.h * In.w;
      trained_ = ctx.training();
      if (trained_) {
        batch_statistics(input.data(), rows);
        update_moving(rows);
      } else {
        use_moving_statistics();
      }
      scale_ = array(gamma_) * inv_std_;
      shift_ = array(beta_) - mean_ * scale_;
      kernels::channel_affine(rows, C, input.data(), output.data(), scale_.data(), shift_.data(), Relu);
    }

    // With Relu, `output` is max(BN(x), 0) and grad_output the gradient after the ReLU: it counts only
    // where the output is positive (kernels/batch_norm.hpp).
    template <bool Relu>
    void backward_impl(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                       Tensor<T>* grad_input) {
      const std::ptrdiff_t rows = std::ptrdiff_t(input.n()) * In.h * In.w;
      const kernels::BatchNormBackward<T> pass{
          rows, C, input.data(), grad_output.data(), Relu ? output.data() : nullptr, mean_.data(), Relu};
      sums_.resize(2 * C);
      kernels::batch_norm_backward_sums(pass, sums_.data(), sums_.data() + C);
      const auto sum_dy = sums_.head(C);
      const Array sum_dy_xhat = sums_.tail(C) * inv_std_;
      array_grad(gamma_) += sum_dy_xhat;
      array_grad(beta_) += sum_dy;
      if (!grad_input) return;
      grad_input->resize(input.n(), In);
      // Training: dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)); inference: the
      // statistics are constants, dx = gamma * inv_std * dy.
      const T m = T(1) / T(rows);
      const Array mean_dy = sum_dy * m, k = sum_dy_xhat * m * inv_std_;
      kernels::batch_norm_backward_input(pass, scale_.data(), mean_dy.data(), k.data(), trained_, grad_input->data());
    }

    void use_moving_statistics() {
      mean_ = array(moving_mean_);
      inv_std_ = (array(moving_variance_) + T(epsilon)).rsqrt();
    }

    void batch_statistics(const T* x, std::ptrdiff_t rows) {
      // One read of x: per-block means and squared deviations merged pairwise (no cancellation).
      kernels::channel_mean_variance<T>(rows, C, x, mean_.data(), variance_.data());
      inv_std_ = (variance_ + T(epsilon)).rsqrt();
    }

    void update_moving(std::ptrdiff_t rows) {
      const Array moving_input = UnbiasedMoving && rows > 1 ? Array(variance_ * (T(rows) / T(rows - 1))) : variance_;
      if (accumulate_statistics) {
        const T w = T(1) / T(++accumulated_batches);  // exact average over the re-estimation batches
        array(moving_mean_) += w * (mean_ - array(moving_mean_));
        array(moving_variance_) += w * (moving_input - array(moving_variance_));
      } else {
        const T m = T(momentum);
        array(moving_mean_) = m * array(moving_mean_) + (T(1) - m) * mean_;
        array(moving_variance_) = m * array(moving_variance_) + (T(1) - m) * moving_input;
      }
    }

    Parameter<T> gamma_, beta_, moving_mean_, moving_variance_;
    Array mean_, variance_ = Array(C), inv_std_, scale_, shift_, sums_;
    bool trained_ = false;
  };
};

// PyTorch's BatchNorm2d: momentum m (new = (1-m) old + m batch), eps 1e-5, unbiased moving variance.
template <Real TorchMomentum = 0.1, Real Epsilon = 1e-5>
using TorchBatchNorm = BatchNorm<1.0 - TorchMomentum, Epsilon, true>;

}  // namespace lanmsff
