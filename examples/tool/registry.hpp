// The commands of the models the tool runs: for each model of model_info.hpp's list (its name, input
// and defaults), the function that runs each command for it. main() looks the model up here and calls;
// adding a model is its line in model_info.hpp and its entry here (with its commands, as
// manet_commands.cpp has MA-Net's). Included by lanmsff.cpp only: the command line (cli.hpp) needs only
// the list, and MA-Net's commands stay in their own translation unit.
#pragma once

#include <cstddef>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "lanmsff/train/adam.hpp"
#include "bench.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "manet_commands.hpp"
#include "model_info.hpp"
#include "models.hpp"
#include "predict.hpp"
#include "quantize.hpp"
#include "train.hpp"

namespace lanmsff::tool {

// A model's commands: the function that runs each command for it.
struct ModelCommands {
  std::string_view name;  // its name in model_info.hpp's list
  void (*train)(TrainArgs&);
  void (*evaluate)(EvalArgs&, const ModelChoice&);
  void (*predict)(PredictArgs&, const ModelChoice&);
  void (*export_onnx)(ExportArgs&, const ModelChoice&);
  void (*quantize)(QuantizeArgs&, const ModelChoice&);
  void (*summary)(const ModelChoice&);
  void (*bench)(BenchArgs&);
};

namespace detail {
inline void summarize_lanmsff(const ModelChoice& choice) {
  with_model(choice, [&]<class Model>() {
    auto model = std::make_unique<Model>();
    std::cout << model->summary(choice.name + " (" + std::to_string(choice.classes) + " classes, input " +
                                to_string(Model::input_shape) + ")");
  });
}

inline void bench_lanmsff(BenchArgs& b) {
  with_model(b.model, [&]<class Model>() {
    bench_model<Model>(b, lanmsff_forward_flops, [](Model& model) {
      return std::make_unique<Adam<typename Model::scalar>>(model, AdamOptions::keras());
    });
  });
}
}  // namespace detail

inline constexpr ModelCommands model_registry[] = {
    {.name = "lanmsff",
     .train = [](TrainArgs& t) { with_model(t.model, [&]<class Model>() { train_model<Model>(t); }); },
     .evaluate = [](EvalArgs& e, const ModelChoice& m) { with_model(m, [&]<class Model>() { evaluate_model<Model>(e); }); },
     .predict = [](PredictArgs& p, const ModelChoice& m) { with_model(m, [&]<class Model>() { predict_images<Model>(p); }); },
     .export_onnx = [](ExportArgs& x, const ModelChoice& m) { with_model(m, [&]<class Model>() { export_checkpoint<Model>(x); }); },
     .quantize = [](QuantizeArgs& q, const ModelChoice& m) { with_model(m, [&]<class Model>() { quantize_checkpoint<Model>(q); }); },
     .summary = detail::summarize_lanmsff,
     .bench = detail::bench_lanmsff},
    {.name = "manet",
     .train = [](TrainArgs& t) { train_manet(t); },
     .evaluate = [](EvalArgs& e, const ModelChoice& m) { evaluate_manet(e, m); },
     .predict = [](PredictArgs& p, const ModelChoice& m) { predict_manet(p, m); },
     .export_onnx = [](ExportArgs& x, const ModelChoice& m) { export_manet(x, m); },
     .quantize = [](QuantizeArgs& q, const ModelChoice& m) { quantize_manet(q, m); },
     .summary = [](const ModelChoice& m) { summarize_manet(m); },
     .bench = [](BenchArgs& b) { bench_manet(b); }},
};

// Every model of the list has its commands, in the same order.
static_assert([] {
  if (std::size(model_registry) != std::size(model_list)) return false;
  for (std::size_t i = 0; i < std::size(model_list); ++i)
    if (model_registry[i].name != model_list[i].name) return false;
  return true;
}(), "registry.hpp: model_registry must give the commands of every model in model_info.hpp's model_list, in its order");

// The commands of a model name.
inline const ModelCommands& model_commands(std::string_view name) {
  const ModelInfo& info = model_info(name);  // an unknown name's message lists the models
  return model_registry[&info - model_list];
}

}  // namespace lanmsff::tool
