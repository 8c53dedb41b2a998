// What the tool knows of each model it runs, apart from its commands: its name (the value of --model and
// of a checkpoint's "model"), its input and its defaults. The command line (cli.hpp) needs only this
// list; each model's commands are its entry in registry.hpp, under the same name and in the same order
// (registry.hpp checks it at compile time).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "models.hpp"
#include "train_options.hpp"

namespace lanmsff::tool {

struct ModelInfo {
  std::string_view name;   // the value of --model and of a checkpoint's "model"
  std::string_view title;  // in messages
  int size = 64;           // the input's side
  int fixed_channels = 0;  // the input channels the model takes (0: 1 or 3, --channels chooses)
  int bench_classes = 8;   // the class count `bench` runs a fixed-input model with
  bool two_heads = false;  // --beta weighs its heads
  int eval_batch_size = 0; // eval's --batch-size when not given (0: the option's default)
};

inline constexpr ModelInfo model_list[] = {
    {.name = "lanmsff", .title = "LANMSFF"},
    {.name = "manet",
     .title = "MA-Net",
     .size = manet_size,
     .fixed_channels = 3,
     .bench_classes = 7,
     .two_heads = true,
     .eval_batch_size = manet_batch_size},
};

// The values of --model.
inline std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelInfo& model : model_list) names.emplace_back(model.name);
  return names;
}

// The model of a name.
inline const ModelInfo& model_info(std::string_view name) {
  std::string names;
  for (const ModelInfo& model : model_list) {
    if (model.name == name) return model;
    names += (names.empty() ? "" : ", ") + std::string(model.name);
  }
  throw std::invalid_argument("unknown model '" + std::string(name) + "' (available: " + names + ")");
}

// The model a command runs: a model with fixed input channels may only be confirmed by --channels, and
// takes its own input size.
inline ModelChoice resolve_model(const CLI::App* command, ModelChoice model) {
  const ModelInfo& info = model_info(model.name);
  if (!info.fixed_channels) return model;
  if (command->count("--channels") && model.channels != info.fixed_channels)
    throw std::invalid_argument("--channels " + std::to_string(model.channels) + ": " + std::string(info.title) + " takes " +
                                (info.fixed_channels == 3 ? "RGB input (3 channels)" : std::to_string(info.fixed_channels) + " channels"));
  model.channels = info.fixed_channels, model.size = info.size;
  return model;
}

// --beta weighs a model's two heads; for a one-head model it would silently do nothing.
inline void check_beta_option(const CLI::App* command, const ModelChoice& model) {
  const CLI::Option* beta = command->get_option_no_throw("--beta");  // a command without the option (quantize)
  if (model_info(model.name).two_heads || !beta || beta->count() == 0) return;
  std::string two_heads;
  for (const ModelInfo& info : model_list)
    if (info.two_heads) two_heads += (two_heads.empty() ? "" : ", ") + std::string(info.title);
  throw std::invalid_argument("--beta weighs the two heads of " + two_heads + "; " + model.name + " has one head");
}

}  // namespace lanmsff::tool
