// train / eval / predict / export / quantize / summary / bench for MA-Net: the generic command templates instantiated
// with models::MANet<K> (224x224 RGB) and its two-head loss (beta * CE(fc_1) + (1 - beta) * CE(fc_2),
// prediction beta * fc_1 + (1 - beta) * fc_2), SGD for bench --train as in the authors' recipe.
#include "manet_commands.hpp"

// GCC 12 warns falsely (-Wrestrict, GCC bug 105329) inside std::string's operator+ as inlined into this unit
// from io/safetensors.hpp's error messages; the library avoids the pattern where it is cheap to (strings
// built by appending), and this unit only includes it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <algorithm>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "bench.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "lanmsff/models/manet.hpp"
#include "lanmsff/train/sgd.hpp"
#include "lanmsff/train/two_head_loss.hpp"
#include "predict.hpp"
#include "quantize.hpp"
#include "train.hpp"

namespace lanmsff::tool {

namespace {

// RAF-DB, SFEW, CAER-S and AffectNet-7 have 7 classes, AffectNet-8 has 8: each count is a model
// type of its own, with its own compile time and code.
using ManetClasses = std::integer_sequence<int, 7, 8>;

// lanmsff::models compiles these networks once for the tool (LANMSFF_FOR_EACH_COMPILED_MANET).
template <int... Classes>
constexpr bool all_compiled(std::integer_sequence<int, Classes...>) {
#define LANMSFF_TOOL_COMPILED_(C) C,
  constexpr int compiled[] = {LANMSFF_FOR_EACH_COMPILED_MANET(LANMSFF_TOOL_COMPILED_)};
#undef LANMSFF_TOOL_COMPILED_
  return ((std::ranges::find(compiled, Classes) != std::end(compiled)) && ...);
}
static_assert(all_compiled(ManetClasses{}), "a model of the tool is not in LANMSFF_FOR_EACH_COMPILED_MANET (models/manet.hpp)");
using Loss = TwoHeadLoss<float>;

template <class F, int... Classes>
void dispatch_classes(const ModelChoice& choice, F& f, std::integer_sequence<int, Classes...>) {
  if (choice.name != "manet") throw std::logic_error("MA-Net command called for model '" + choice.name + "'");
  if (choice.size != manet_size || choice.channels != 3)
    throw std::invalid_argument("the tool's MA-Net takes " + std::to_string(manet_size) + "x" +
                                std::to_string(manet_size) + "x3 inputs, not " + std::to_string(choice.size) + "x" +
                                std::to_string(choice.size) + "x" + std::to_string(choice.channels));
  const bool found =
      ((choice.classes == Classes ? (f.template operator()<models::MANet<Classes>>(), true) : false) || ...);
  if (!found) {
    const int counts[] = {Classes...};
    std::string list;
    for (std::size_t i = 0; i < std::size(counts); ++i)
      list += (i == 0 ? "" : i + 1 == std::size(counts) ? " or " : ", ") + std::to_string(counts[i]);
    throw std::invalid_argument("the tool's MA-Net models have " + list + " classes, not " +
                                std::to_string(choice.classes) +
                                " (instantiate models::MANet<K> in your own program for others)");
  }
}

// Calls f.template operator()<models::MANet<K>>() for choice.classes == K.
template <class F>
void with_manet(const ModelChoice& choice, F&& f) {
  dispatch_classes(choice, f, ManetClasses{});
}

Loss two_head_loss(double beta) {
  Loss loss;
  loss.beta = beta;
  return loss;
}

}  // namespace

void train_manet(const TrainArgs& args) {
  with_manet(args.model, [&]<class Model>() { train_model<Model, Loss>(args); });
}

void evaluate_manet(const EvalArgs& args, const ModelChoice& model) {
  with_manet(model, [&]<class Model>() { evaluate_model<Model, Loss>(args, two_head_loss(args.beta)); });
}

void predict_manet(const PredictArgs& args, const ModelChoice& model) {
  with_manet(model, [&]<class Model>() { predict_images<Model, Loss>(args, two_head_loss(args.beta)); });
}

void export_manet(const ExportArgs& args, const ModelChoice& model) {
  with_manet(model, [&]<class Model>() { export_checkpoint<Model, Loss>(args); });
}

void quantize_manet(const QuantizeArgs& args, const ModelChoice& model) {
  with_manet(model, [&]<class Model>() { quantize_checkpoint<Model, Loss>(args); });
}

void summarize_manet(const ModelChoice& model) {
  with_manet(model, [&]<class Model>() {
    auto network = std::make_unique<Model>();
    std::cout << network->summary("manet (" + std::to_string(model.classes) + " classes, input " +
                                  to_string(Model::input_shape) + ")");
  });
}

void bench_manet(const BenchArgs& args) {
  with_manet(args.model, [&]<class Model>() {
    bench_model<Model, Loss>(args, manet_forward_flops, [](Model& network) {
      return std::make_unique<SGD<float>>(network, SGDOptions{.learning_rate = 0.01, .momentum = 0.9, .weight_decay = 1e-4});
    });
  });
}

}  // namespace lanmsff::tool
