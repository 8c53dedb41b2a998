// A small CNN defined as a type and trained by hand: the program to copy from when writing your
// own network. It composes layers with Sequential, Parallel and Residual, prints the summary, and
// runs SGD with momentum, written by hand through net.for_each_parameter, on a synthetic
// three-class problem (horizontal stripes, vertical stripes, a centred blob).
#include <lanmsff/lanmsff.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using namespace lanmsff;

// Two convolutions with a shortcut: x + BN(Conv(ReLU(BN(Conv(x))))). Residual<Body> is
// Parallel<Add, Body, Identity>; the Identity branch hands its input over without a copy. The
// Flat<> makes the body transparent: its layers appear as "block.conv1", not "block.0.conv1".
template <int Filters>
using ResidualBlock = Residual<Flat<Sequential<Named<"conv1", Conv2D<Filters, 3>>, Named<"bn1", BatchNorm<>>,
                                                    Named<"relu", ReLU>, Named<"conv2", Conv2D<Filters, 3>>,
                                                    Named<"bn2", BatchNorm<>>>>>;

// Two 3x3 paths with different receptive fields (dilation 1 and 2), concatenated along channels.
using MultiScale = Parallel<Concat<>, Named<"fine", Conv2D<8, 3>>, Named<"coarse", Conv2D<8, 3, 1, 2>>>;

// The network is a type. The names give the parameters stable paths ("block.conv1.kernel");
// shapes are checked at compile time once the input shape is known.
using SmallCNN = Sequential<Named<"stem", Conv2D<8, 3>>, Named<"stem_bn", BatchNorm<>>, Named<"stem_relu", ReLU>,
                            Named<"multiscale", MultiScale>, Named<"pool", MaxPool<2>>,
                            Named<"block", ResidualBlock<16>>, Named<"relu", ReLU>, Named<"gap", GlobalAvgPool>,
                            Named<"dropout", Dropout<0.2>>, Named<"classifier", Dense<3>>>;

constexpr Shape input_shape{16, 16, 1};
using Net = Network<SmallCNN, input_shape>;
static_assert(Net::output_shape == Shape{1, 1, 3});

// Class 0: horizontal stripes, 1: vertical stripes, 2: a bright centred blob; plus noise.
void make_batch(Tensor<float>& images, std::vector<int>& labels, int count, std::uint64_t seed) {
  Rng rng(seed);
  images.resize(count, input_shape);
  labels.resize(std::size_t(count));
  for (int n = 0; n < count; ++n) {
    const int label = n % 3;
    const double phase = rng.uniform(0, 6.283185307179586), period = rng.uniform(3, 6);
    for (int y = 0; y < input_shape.h; ++y)
      for (int x = 0; x < input_shape.w; ++x) {
        double v = 0;
        if (label == 0) v = std::sin(6.283185307179586 * y / period + phase);
        if (label == 1) v = std::sin(6.283185307179586 * x / period + phase);
        if (label == 2) v = 2 * std::exp(-((y - 7.5) * (y - 7.5) + (x - 7.5) * (x - 7.5)) / 12.0) - 0.5;
        images(n, y, x, 0) = float(v + rng.uniform(-0.3, 0.3));
      }
    labels[std::size_t(n)] = label;
  }
}

double accuracy(const Tensor<float>& logits, const std::vector<int>& labels) {
  int correct = 0;
  for (int n = 0; n < logits.n(); ++n) {
    const float* z = logits.sample(n);
    int best = 0;
    for (int k = 1; k < int(logits.sample_size()); ++k)
      if (z[k] > z[best]) best = k;
    correct += best == labels[std::size_t(n)];
  }
  return double(correct) / logits.n();
}

int main() {
  Net net(/*seed=*/7);  // He-uniform convolutions, Glorot-uniform Dense, BN gamma 1 / beta 0
  std::printf("%s\n", net.summary("SmallCNN").c_str());

  Tensor<float> train_images, test_images;
  std::vector<int> train_labels, test_labels;
  make_batch(train_images, train_labels, 48, 1);
  make_batch(test_images, test_labels, 60, 2);

  SoftmaxCrossEntropy<float> loss;
  Tensor<float> grad_logits;
  const float learning_rate = 0.05f, momentum = 0.9f;

  // SGD with momentum, written against the parameter visitor: one velocity per parameter tensor,
  // in the visitor's order, which is fixed. BN moving statistics are state (not trainable): skip them.
  std::vector<std::vector<float>> velocity;
  net.for_each_parameter([&](const std::string&, Parameter<float>& p) {
    velocity.emplace_back(p.trainable ? p.size() : 0, 0.0f);
  });

  double window_loss = 0;  // mean over 5 steps: dropout makes single steps noisy
  for (int step = 0; step < 40; ++step) {
    const Tensor<float>& logits = net.forward(train_images, Context::train(std::uint64_t(step)));
    window_loss += loss(logits, train_labels, &grad_logits) / 5;
    net.zero_grad();           // backward adds into the gradients
    net.backward(grad_logits);  // no input gradient needed: grad_input defaults to nullptr
    std::size_t i = 0;
    net.for_each_parameter([&](const std::string&, Parameter<float>& p) {
      std::vector<float>& v = velocity[i++];
      if (!p.trainable) return;
      for (std::size_t k = 0; k < p.size(); ++k) {
        v[k] = momentum * v[k] - learning_rate * p.grad[k];
        p.value[k] += v[k];
      }
    });
    if (step % 5 == 4) {
      std::printf("steps %2d-%2d  mean training loss %.4f\n", step - 4, step, window_loss);
      window_loss = 0;
    }
  }

  // Gradients are plain arrays next to the values; here, the classifier's after the last step.
  net.for_each_parameter([](const std::string& name, Parameter<float>& p) {
    if (name != "classifier.kernel") return;
    double norm = 0;
    for (float g : p.grad) norm += double(g) * g;
    std::printf("|d loss / d %s| = %.5f, shape %s\n", name.c_str(), std::sqrt(norm), shape_string(p.shape).c_str());
  });

  // Inference: BatchNorm uses its moving statistics, Dropout is the identity.
  const Tensor<float>& test_logits = net.forward(test_images);
  std::printf("test loss %.4f, test accuracy %.1f %%\n", loss(test_logits, test_labels), 100 * accuracy(test_logits, test_labels));
}
