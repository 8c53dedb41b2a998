// MA-Net's two heads: a network whose output holds two blocks of K logits per sample (fc_1's, then
// fc_2's, as models::MANet gives them) is trained on beta * CE(head 1) + (1 - beta) * CE(head 2)
// and predicts with beta * head 1 + (1 - beta) * head 2 (beta = 0.6 in the paper).
#pragma once

#include <span>
#include <stdexcept>
#include <string>

#include "lanmsff/core/tensor.hpp"
#include "lanmsff/train/loss.hpp"

namespace lanmsff {

namespace detail {
inline void check_two_heads(std::size_t sample_size, double beta, const char* who) {
  if (sample_size == 0 || sample_size % 2 != 0)
    throw std::invalid_argument(std::string(who) + ": expected two heads of K logits per sample, got " +
                                std::to_string(sample_size) + " values (not an even, positive count)");
  if (!(beta >= 0 && beta <= 1))
    throw std::invalid_argument(std::string(who) + ": beta must be in [0, 1], got " + std::to_string(beta));
}
}  // namespace detail

// The prediction scores: N x 1 x 1 x K, beta * head 1 + (1 - beta) * head 2.
template <class T>
void combine_heads(const Tensor<T>& logits, Tensor<T>& scores, double beta = 0.6) {
  detail::check_two_heads(logits.sample_size(), beta, "combine_heads");
  const int K = int(logits.sample_size() / 2);
  scores.resize(logits.n(), 1, 1, K);
  for (int n = 0; n < logits.n(); ++n)
    for (int k = 0; k < K; ++k)
      scores.sample(n)[k] = T(beta * double(logits.sample(n)[k]) + (1 - beta) * double(logits.sample(n)[K + k]));
}

template <class T = float>
struct TwoHeadLoss {
  static constexpr int heads = 2;  // the model outputs 2K logits for K classes (see Trainer)
  double beta = 0.6;
  SoftmaxCrossEntropy<T> cross_entropy;  // applied to each head (class weights, label smoothing)

  // logits: N samples of 2K values. Returns the mean loss; if grad is given, writes dLoss/dlogits
  // (the logits' shape); if scores is given, writes combine_heads (N x 1 x 1 x K).
  double operator()(const Tensor<T>& logits, std::span<const int> labels, Tensor<T>* grad = nullptr,
                    Tensor<T>* scores = nullptr) const {
    detail::check_two_heads(logits.sample_size(), beta, "TwoHeadLoss");
    const int N = logits.n(), K = int(logits.sample_size() / 2);
    Tensor<T> head[2], head_grad[2];
    for (int h = 0; h < 2; ++h) {
      head[h].resize(N, 1, 1, K);
      for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) head[h].sample(n)[k] = logits.sample(n)[h * K + k];
    }
    const double loss1 = cross_entropy(head[0], labels, grad ? &head_grad[0] : nullptr);
    const double loss2 = cross_entropy(head[1], labels, grad ? &head_grad[1] : nullptr);
    if (grad) {
      grad->resize(N, logits.shape());
      for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) {
          grad->sample(n)[k] = T(beta * double(head_grad[0].sample(n)[k]));
          grad->sample(n)[K + k] = T((1 - beta) * double(head_grad[1].sample(n)[k]));
        }
    }
    if (scores) combine_heads(logits, *scores, beta);
    return beta * loss1 + (1 - beta) * loss2;
  }
};

}  // namespace lanmsff
