// Softmax + categorical cross-entropy on logits, with optional class weights and label
// smoothing. Each sample's loss is weighted by its class weight and the mean divides by the total
// weight (so uniform weights give the plain mean). Label smoothing eps replaces the one-hot
// target by (1 - eps) * onehot + eps / K.
#pragma once

#include <cmath>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "lanmsff/core/tensor.hpp"

namespace lanmsff {

template <class T = float>
struct SoftmaxCrossEntropy {
  std::vector<double> class_weights;  // empty: every class weighs 1
  double label_smoothing = 0;

  // logits: N samples of K = h*w*c scores. Returns the mean loss; if grad is given, writes
  // dLoss/dlogits; if probabilities is given, writes the softmax.
  double operator()(const Tensor<T>& logits, std::span<const int> labels, Tensor<T>* grad = nullptr,
                    Tensor<T>* probabilities = nullptr) const {
    const int N = logits.n(), K = int(logits.sample_size());
    if (int(labels.size()) != N)
      throw std::invalid_argument("SoftmaxCrossEntropy: " + std::to_string(labels.size()) + " labels for " +
                                  std::to_string(N) + " samples");
    if (!class_weights.empty() && int(class_weights.size()) != K)
      throw std::invalid_argument("SoftmaxCrossEntropy: " + std::to_string(class_weights.size()) +
                                  " class weights for " + std::to_string(K) + " classes");
    if (label_smoothing < 0 || label_smoothing >= 1)
      throw std::invalid_argument("SoftmaxCrossEntropy: label smoothing must be in [0, 1)");
    if (grad) grad->resize(N, logits.shape());
    if (probabilities) probabilities->resize(N, logits.shape());
    double total_weight = 0, total = 0;
    for (int n = 0; n < N; ++n) {
      if (labels[n] < 0 || labels[n] >= K)
        throw std::out_of_range("SoftmaxCrossEntropy: label " + std::to_string(labels[n]) + " of sample " +
                                std::to_string(n) + " is outside [0, " + std::to_string(K) + ")");
      total_weight += weight(labels[n]);
    }
    if (total_weight <= 0) throw std::invalid_argument("SoftmaxCrossEntropy: the class weights of the batch sum to 0");
    std::vector<double> p(K);
    for (int n = 0; n < N; ++n) {
      const T* z = logits.sample(n);
      double zmax = z[0];
      for (int k = 1; k < K; ++k) zmax = std::max(zmax, double(z[k]));
      double sum = 0;
      for (int k = 0; k < K; ++k) sum += (p[k] = std::exp(double(z[k]) - zmax));
      const double log_sum = std::log(sum), w = weight(labels[n]);
      double loss = 0;
      for (int k = 0; k < K; ++k) {
        const double q = target(k, labels[n], K);
        loss -= q * (double(z[k]) - zmax - log_sum);
        p[k] /= sum;
        if (grad) grad->sample(n)[k] = T(w * (p[k] - q) / total_weight);
        if (probabilities) probabilities->sample(n)[k] = T(p[k]);
      }
      total += w * loss;
    }
    return total / total_weight;
  }

 private:
  double weight(int label) const { return class_weights.empty() ? 1.0 : class_weights[label]; }
  double target(int k, int label, int K) const {
    return (k == label ? 1.0 - label_smoothing : 0.0) + label_smoothing / K;
  }
};

}  // namespace lanmsff
