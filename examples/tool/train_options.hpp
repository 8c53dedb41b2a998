// The options of `lanmsff train` and each model's recipe: LANMSFF's defaults are TrainArgs'
// initialisers; MA-Net's (the authors' fine-tuning setup) replace those the user did not give.
// describe_recipe writes the effective options back as command-line text (command.txt, stderr).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "data.hpp"
#include "models.hpp"

namespace lanmsff::tool {

struct TrainArgs {
  ModelChoice model;
  std::string data, val, data_split = "auto", val_split = "auto";
  DataOptions data_options;
  double val_fraction = 0.1;
  std::size_t limit = 0, val_limit = 0;
  int epochs = 10, batch_size = 32;
  std::string optimizer = "adam";
  double lr = 1e-3, momentum = 0.9, weight_decay = -1, adam_epsilon = 1e-7;
  bool nesterov = false;
  std::string schedule = "none";
  int plateau_patience = 9, step_size = 15;
  double factor = 0.1, min_lr = 0;
  int early_stopping = 0;
  std::uint64_t seed = 0;
  std::optional<double> dropout, bn_momentum;
  std::size_t bn_reestimate = 50;
  int eval_batch_size = 64;  // validation batches
  double beta = 0.6;         // MA-Net: weight of head 1 (fc_1) in the loss and the prediction
  std::string augment = "online";
  bool shuffle = true, balanced = false, class_weights = false;
  double label_smoothing = 0;
  std::string init, resume, out;
  std::string command_line;
};

// MA-Net's batch on a CPU: the backward pass keeps ~75 MB of activations per image, so the paper's
// 128 would need ~10 GB where 16 peaks near 2 GB; see docs/training.md.
inline constexpr int manet_batch_size = 16;

// The authors' recipe (docs/training.md, "MA-Net's defaults"): SGD (momentum 0.9, weight decay 1e-4), lr 0.01 times 0.1
// every 15 epochs, RandomResizedCrop + horizontal flip. BatchNorm re-estimation is off: PyTorch's
// momentum 0.1 follows the weights within a few batches, and 50 extra forward passes of MA-Net per
// epoch are expensive. `given(option)` says whether the user passed the option (then it wins).
inline void apply_recipe_defaults(TrainArgs& args, const std::function<bool(std::string_view)>& given) {
  if (args.model.name != "manet") return;
  const auto set = [&](std::string_view option, auto& field, auto value) {
    if (!given(option)) field = value;
  };
  set("--optimizer", args.optimizer, std::string("sgd"));
  set("--lr", args.lr, 0.01);
  set("--momentum", args.momentum, 0.9);
  set("--weight-decay", args.weight_decay, 1e-4);
  set("--schedule", args.schedule, std::string("step"));
  set("--step-size", args.step_size, 15);
  set("--factor", args.factor, 0.1);
  set("--augment", args.augment, std::string("resized-crop"));
  set("--batch-size", args.batch_size, manet_batch_size);
  set("--bn-reestimate", args.bn_reestimate, std::size_t(0));
  args.eval_batch_size = args.batch_size;  // 64 images at once would take ~4 GB
}

// The options that decide how the run trains, as `--name value` text.
inline std::string describe_recipe(const TrainArgs& args) {
  std::string text;
  const auto add = [&](const char* option, const std::string& value) {
    // Appended piece by piece: GCC 12 reports a false -Wrestrict overlap in `"x" + std::string` (its bug 105329).
    if (!text.empty()) text += ' ';
    text += option;
    if (!value.empty()) text.append(1, ' ').append(value);
  };
  const auto number = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  add("--model", args.model.name);
  add("--classes", std::to_string(args.model.classes));
  if (args.model.name == "lanmsff") add("--channels", std::to_string(args.model.channels));
  add("--epochs", std::to_string(args.epochs));
  add("--batch-size", std::to_string(args.batch_size));
  add("--optimizer", args.optimizer);
  add("--lr", number(args.lr));
  if (args.optimizer == "sgd") {
    add("--momentum", number(args.momentum));
    if (args.nesterov) add("--nesterov", "");
  }
  if (args.optimizer == "adam") add("--adam-epsilon", number(args.adam_epsilon));
  if (args.weight_decay >= 0) add("--weight-decay", number(args.weight_decay));
  add("--schedule", args.schedule);
  if (args.schedule == "plateau") add("--plateau-patience", std::to_string(args.plateau_patience));
  if (args.schedule == "step") add("--step-size", std::to_string(args.step_size));
  if (args.schedule == "plateau" || args.schedule == "step") add("--factor", number(args.factor));
  if (args.schedule == "plateau" || args.schedule == "cosine") add("--min-lr", number(args.min_lr));
  add("--augment", args.augment);
  add("--bn-reestimate", std::to_string(args.bn_reestimate));
  if (args.model.name == "manet") add("--beta", number(args.beta));
  return text;
}

}  // namespace lanmsff::tool
