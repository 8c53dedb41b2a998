// BatchNorm over the channel axis. Training: normalise with the batch's mean and (biased)
// variance and update the moving statistics; inference: use the moving statistics.
// Momentum follows Keras: moving = momentum * moving + (1 - momentum) * batch (PyTorch's
// momentum m is Keras' 1 - m; use TorchBatchNorm). Parameters gamma, beta (trainable) and
// moving_mean, moving_variance (state). Momentum and epsilon can be changed at run time.
// In inference the layer is a per-channel affine map, which a convolution before it can apply to its
// output tiles instead (Sequential plans this; see inference_affine).
//
// Data-parallel training (train/trainer.hpp with a communicator) splits a batch over replicas. By
// default each replica normalises its own shard; `ghost_batch` does the same in one process (each run
// of ghost_batch samples normalised with its own statistics), and `cross_replica_sum` makes the
// statistics those of the whole global batch (synchronised BatchNorm).
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

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
    // Ghost batch normalisation: in training, each run of `ghost_batch` samples of a batch (the last
    // one possibly shorter) is normalised with its own mean and variance, as replicas of data-parallel
    // training with per-replica statistics would; 0 = the whole batch. The moving statistics are fed
    // the mean of the ghosts' statistics.
    int ghost_batch = 0;
    // Synchronised BatchNorm: when set, called with per-channel sums of this replica (doubles) to
    // replace them with their sums over every replica. Training forward passes then use the mean and
    // variance of the global batch, and backward passes the global sums of the input gradient's
    // formula. Every replica must run the same layers in the same order (each call is a collective).
    std::function<void(std::span<double>)> cross_replica_sum;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) { forward_impl<false>(input, output, ctx); }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      backward_impl<false>(input, nullptr, grad_output, grad_input);
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
      backward_impl<true>(input, &output, grad_output, grad_input);
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

    static constexpr std::ptrdiff_t pixels = std::ptrdiff_t(In.h) * In.w;

    // The samples of group g (a ghost batch, or the whole batch) of a batch of n.
    int group_begin(int g) const { return g * group_samples_; }
    int group_count(int g, int n) const { return std::min(group_samples_, n - g * group_samples_); }

    template <bool Relu>
    void forward_impl(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      expect_shape(input, In, "BatchNorm");
      output.resize(input.n(), In);
      const int n = input.n();
      trained_ = ctx.training();
      groups_ = 1, group_samples_ = n;
      if (trained_ && ghost_batch > 0 && ghost_batch < n) {
        if (cross_replica_sum) throw std::logic_error("BatchNorm: ghost batches and synchronised statistics together");
        group_samples_ = ghost_batch, groups_ = (n + ghost_batch - 1) / ghost_batch;
      }
      if (trained_) {
        mean_.resize(groups_ * C), variance_.resize(groups_ * C);
        for (int g = 0; g < groups_; ++g)
          kernels::channel_mean_variance<T>(group_count(g, n) * pixels, C, input.sample(group_begin(g)),
                                            mean_.data() + g * C, variance_.data() + g * C);
        global_rows_ = double(n) * double(pixels);
        if (cross_replica_sum) synchronise_statistics();
        inv_std_ = (variance_ + T(epsilon)).rsqrt();
        update_moving(n);
      } else {
        use_moving_statistics();
      }
      scale_.resize(groups_ * C), shift_.resize(groups_ * C);
      for (int g = 0; g < groups_; ++g) {
        scale_.segment(g * C, C) = array(gamma_) * inv_std_.segment(g * C, C);
        shift_.segment(g * C, C) = array(beta_) - mean_.segment(g * C, C) * scale_.segment(g * C, C);
        kernels::channel_affine(group_count(g, n) * pixels, C, input.sample(group_begin(g)),
                                output.sample(group_begin(g)), scale_.data() + g * C, shift_.data() + g * C, Relu);
      }
    }

    // This replica's mean and (biased) variance over global_rows_ pixels become the global batch's:
    // the mean from the sums of rows * mean, the variance from the sums of rows * (variance + (mean -
    // global mean)^2) (the parallel variance formula, which has no cancellation).
    void synchronise_statistics() {
      reduce_.assign(std::size_t(C + 1), 0.0);
      for (int c = 0; c < C; ++c) reduce_[std::size_t(c)] = global_rows_ * double(mean_[c]);
      reduce_[std::size_t(C)] = global_rows_;
      cross_replica_sum(std::span<double>(reduce_));
      const double rows = reduce_[std::size_t(C)];
      std::vector<double> global_mean(reduce_.begin(), reduce_.begin() + C);
      for (double& m : global_mean) m /= rows;
      for (int c = 0; c < C; ++c) {
        const double d = double(mean_[c]) - global_mean[std::size_t(c)];
        reduce_[std::size_t(c)] = global_rows_ * (double(variance_[c]) + d * d);
      }
      reduce_.resize(std::size_t(C));
      cross_replica_sum(std::span<double>(reduce_));
      for (int c = 0; c < C; ++c) {
        mean_[c] = T(global_mean[std::size_t(c)]);
        variance_[c] = T(reduce_[std::size_t(c)] / rows);
      }
      global_rows_ = rows;
    }

    // With Relu, `output` is max(BN(x), 0) and grad_output the gradient after the ReLU: it counts only
    // where the output is positive (kernels/batch_norm.hpp). Without, output is null (not read).
    template <bool Relu>
    void backward_impl(const Tensor<T>& input, const Tensor<T>* output, const Tensor<T>& grad_output,
                       Tensor<T>* grad_input) {
      const int n = input.n();
      if (grad_input) grad_input->resize(n, In);
      sums_.resize(2 * C);
      for (int g = 0; g < groups_; ++g) {
        const int first = group_begin(g);
        const std::ptrdiff_t at = std::ptrdiff_t(first) * In.size();
        const kernels::BatchNormBackward<T> pass{group_count(g, n) * pixels, C, input.data() + at, grad_output.data() + at,
                                                 Relu ? output->data() + at : nullptr, mean_.data() + g * C, Relu};
        kernels::batch_norm_backward_sums(pass, sums_.data(), sums_.data() + C);
        const auto inv_std = inv_std_.segment(g * C, C);
        Array sum_dy = sums_.head(C), sum_dy_xhat = sums_.tail(C) * inv_std;
        array_grad(gamma_) += sum_dy_xhat;  // this replica's share: the trainer sums the replicas'
        array_grad(beta_) += sum_dy;
        if (!grad_input) continue;
        // Training: dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)), the means over the
        // (global) batch; inference: the statistics are constants, dx = gamma * inv_std * dy.
        double rows = double(pass.pixels);
        if (trained_ && cross_replica_sum) {
          reduce_.resize(std::size_t(2 * C));
          for (int c = 0; c < C; ++c) reduce_[std::size_t(c)] = sum_dy[c], reduce_[std::size_t(C + c)] = sum_dy_xhat[c];
          cross_replica_sum(std::span<double>(reduce_));
          for (int c = 0; c < C; ++c) sum_dy[c] = T(reduce_[std::size_t(c)]), sum_dy_xhat[c] = T(reduce_[std::size_t(C + c)]);
          rows = global_rows_;
        }
        const T m = T(1) / T(rows);
        const Array mean_dy = sum_dy * m, k = sum_dy_xhat * m * inv_std;
        kernels::batch_norm_backward_input(pass, scale_.data() + g * C, mean_dy.data(), k.data(), trained_,
                                           grad_input->data() + at);
      }
    }

    void use_moving_statistics() {
      groups_ = 1, group_samples_ = std::numeric_limits<int>::max();
      mean_ = array(moving_mean_);
      inv_std_ = (array(moving_variance_) + T(epsilon)).rsqrt();
    }

    // The moving statistics fed with this batch's (the mean over its ghost batches; the global batch's
    // when synchronised). Batch statistics (mean_, variance_: one block of C per group) are set.
    void update_moving(int n) {
      Array batch_mean = mean_.head(C), batch_variance = unbiased(0, n);
      for (int g = 1; g < groups_; ++g)
        batch_mean += mean_.segment(g * C, C), batch_variance += unbiased(g, n);
      if (groups_ > 1) batch_mean /= T(groups_), batch_variance /= T(groups_);
      if (accumulate_statistics) {
        const T w = T(1) / T(++accumulated_batches);  // exact average over the re-estimation batches
        array(moving_mean_) += w * (batch_mean - array(moving_mean_));
        array(moving_variance_) += w * (batch_variance - array(moving_variance_));
      } else {
        const T m = T(momentum);
        array(moving_mean_) = m * array(moving_mean_) + (T(1) - m) * batch_mean;
        array(moving_variance_) = m * array(moving_variance_) + (T(1) - m) * batch_variance;
      }
    }
    // Group g's variance as the moving statistic takes it (PyTorch: unbiased over the group's pixels).
    Array unbiased(int g, int n) const {
      const double rows = groups_ == 1 ? global_rows_ : double(group_count(g, n)) * double(pixels);
      const auto v = variance_.segment(g * C, C);
      return UnbiasedMoving && rows > 1 ? Array(v * (T(rows) / T(rows - 1))) : Array(v);
    }

    Parameter<T> gamma_, beta_, moving_mean_, moving_variance_;
    Array mean_, variance_ = Array(C), inv_std_, scale_, shift_, sums_;
    std::vector<double> reduce_;
    double global_rows_ = 0;  // the pixels the last training forward's statistics are over
    int groups_ = 1, group_samples_ = std::numeric_limits<int>::max();
    bool trained_ = false;
  };
};

// PyTorch's BatchNorm2d: momentum m (new = (1-m) old + m batch), eps 1e-5, unbiased moving variance.
template <Real TorchMomentum = 0.1, Real Epsilon = 1e-5>
using TorchBatchNorm = BatchNorm<1.0 - TorchMomentum, Epsilon, true>;

}  // namespace lanmsff
