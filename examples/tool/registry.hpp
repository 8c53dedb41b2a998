// The models the tool runs, one entry each: what the commands need to know of a model (its input, its
// heads, its defaults) and the function that runs each command for it. main() looks the model up here
// and calls; adding a model is its entry (and its commands, as manet_commands.cpp has MA-Net's).
// Included by lanmsff.cpp only: MA-Net's commands stay in their own translation unit.
#pragma once

#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "lanmsff/train/adam.hpp"
#include "bench.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "manet_commands.hpp"
#include "models.hpp"
#include "predict.hpp"
#include "quantize.hpp"
#include "train.hpp"

namespace lanmsff::tool {

struct ModelEntry {
  std::string_view name;   // the value of --model and of a checkpoint's "model"
  std::string_view title;  // in messages
  int size = 64;           // the input's side
  int fixed_channels = 0;  // the input channels the model takes (0: 1 or 3, --channels chooses)
  int bench_classes = 8;   // the class count `bench` runs a fixed-input model with
  bool two_heads = false;  // --beta weighs its heads
  int eval_batch_size = 0; // eval's --batch-size when not given (0: the option's default)
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

inline const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> entries = {
      {.name = "lanmsff",
       .title = "LANMSFF",
       .train = [](TrainArgs& t) { with_model(t.model, [&]<class Model>() { train_model<Model>(t); }); },
       .evaluate = [](EvalArgs& e, const ModelChoice& m) { with_model(m, [&]<class Model>() { evaluate_model<Model>(e); }); },
       .predict = [](PredictArgs& p, const ModelChoice& m) { with_model(m, [&]<class Model>() { predict_images<Model>(p); }); },
       .export_onnx = [](ExportArgs& x, const ModelChoice& m) { with_model(m, [&]<class Model>() { export_checkpoint<Model>(x); }); },
       .quantize = [](QuantizeArgs& q, const ModelChoice& m) { with_model(m, [&]<class Model>() { quantize_checkpoint<Model>(q); }); },
       .summary = detail::summarize_lanmsff,
       .bench = detail::bench_lanmsff},
      {.name = "manet",
       .title = "MA-Net",
       .size = manet_size,
       .fixed_channels = 3,
       .bench_classes = 7,
       .two_heads = true,
       .eval_batch_size = manet_batch_size,
       .train = [](TrainArgs& t) { train_manet(t); },
       .evaluate = [](EvalArgs& e, const ModelChoice& m) { evaluate_manet(e, m); },
       .predict = [](PredictArgs& p, const ModelChoice& m) { predict_manet(p, m); },
       .export_onnx = [](ExportArgs& x, const ModelChoice& m) { export_manet(x, m); },
       .quantize = [](QuantizeArgs& q, const ModelChoice& m) { quantize_manet(q, m); },
       .summary = [](const ModelChoice& m) { summarize_manet(m); },
       .bench = [](BenchArgs& b) { bench_manet(b); }},
  };
  return entries;
}

// The values of --model: the registry's names.
inline std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelEntry& entry : model_registry()) names.emplace_back(entry.name);
  return names;
}

// The entry of a model name.
inline const ModelEntry& model_entry(std::string_view name) {
  std::string names;
  for (const ModelEntry& entry : model_registry()) {
    if (entry.name == name) return entry;
    names += (names.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw std::invalid_argument("unknown model '" + std::string(name) + "' (available: " + names + ")");
}

// The model a command runs: a model with fixed input channels may only be confirmed by --channels, and
// takes its own input size.
inline ModelChoice resolve_model(const CLI::App* command, ModelChoice model) {
  const ModelEntry& entry = model_entry(model.name);
  if (!entry.fixed_channels) return model;
  if (command->count("--channels") && model.channels != entry.fixed_channels)
    throw std::invalid_argument("--channels " + std::to_string(model.channels) + ": " + std::string(entry.title) + " takes " +
                                (entry.fixed_channels == 3 ? "RGB input (3 channels)" : std::to_string(entry.fixed_channels) + " channels"));
  model.channels = entry.fixed_channels, model.size = entry.size;
  return model;
}

// --beta weighs a model's two heads; for a one-head model it would silently do nothing.
inline void check_beta_option(const CLI::App* command, const ModelChoice& model) {
  const CLI::Option* beta = command->get_option_no_throw("--beta");  // a command without the option (quantize)
  if (model_entry(model.name).two_heads || !beta || beta->count() == 0) return;
  std::string two_heads;
  for (const ModelEntry& entry : model_registry())
    if (entry.two_heads) two_heads += (two_heads.empty() ? "" : ", ") + std::string(entry.title);
  throw std::invalid_argument("--beta weighs the two heads of " + two_heads + "; " + model.name + " has one head");
}

}  // namespace lanmsff::tool
