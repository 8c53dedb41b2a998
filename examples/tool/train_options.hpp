// The options of `lanmsff train` and each model's recipe: LANMSFF's defaults are TrainArgs'
// initialisers; MA-Net's (the authors' fine-tuning setup) replace those the user did not give.
// describe_recipe writes the effective options back as command-line text (command.txt, stderr).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

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
  std::size_t checkpoint_every = 0;  // also save the resume state every this many steps (0 = per epoch only)
  // Data-parallel training (mpirun / srun): BatchNorm statistics of the whole batch; steps between
  // checks that the processes' weights agree; the longest a collective may wait, in seconds.
  bool sync_bn = false;
  int check_every = 100;
  int mpi_timeout = 300;
  std::string mpi_progress = "calls";  // who moves the gradients' allreduces on: "calls" or "thread"
  int ghost_batch = 0;  // BatchNorm statistics per run of this many samples (0 = the whole batch)
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
  if (args.sync_bn) add("--sync-bn", "");
  if (args.ghost_batch > 0) add("--ghost-batch", std::to_string(args.ghost_batch));
  if (args.model.name == "manet") add("--beta", number(args.beta));
  return text;
}

// ---- run.json: the options a run was started with ------------------------------------------------
// `lanmsff train --resume DIR` alone continues a run with the options recorded in DIR/run.json; an
// option given again must agree with the recording, except those a continued run may change.

// One option of `lanmsff train` as run.json records it: its value in a TrainArgs, as JSON, and back.
struct RecordedOption {
  std::string option;  // "--lr"; the JSON key
  std::function<nlohmann::json(const TrainArgs&)> get;
  std::function<void(TrainArgs&, const nlohmann::json&)> set;
};

namespace detail {

// A field reached by access(args) (a reference), stored as itself; paths as absolute paths, so that the
// run can be continued from any working directory.
template <class Access>
RecordedOption recorded(std::string option, Access access, bool path = false) {
  return {std::move(option),
          [access, path](const TrainArgs& args) -> nlohmann::json {
            static_cast<void>(path);  // used by the string fields only
            const auto& value = access(args);
            using V = std::remove_cvref_t<decltype(value)>;
            if constexpr (std::is_same_v<V, std::optional<double>>) {
              return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
            } else if constexpr (std::is_same_v<V, std::string>) {
              if (path && !value.empty()) return std::filesystem::absolute(value).lexically_normal().string();
              return value;
            } else {
              return value;
            }
          },
          [access](TrainArgs& args, const nlohmann::json& json) {
            auto& value = access(args);
            using V = std::remove_cvref_t<decltype(value)>;
            if constexpr (std::is_same_v<V, std::optional<double>>) {
              if (json.is_null()) value.reset();
              else value = json.get<double>();
            } else {
              value = json.get<V>();
            }
          }};
}

}  // namespace detail

#define LANMSFF_RECORDED(option, field, ...) \
  detail::recorded(option, [](auto& args) -> auto& { return args.field; } __VA_OPT__(, ) __VA_ARGS__)

// Every option that decides how a run trains. --resume and --out are where, not how; --no-augment is
// recorded as --augment none.
inline const std::vector<RecordedOption>& recorded_options() {
  static const std::vector<RecordedOption> options = {
      LANMSFF_RECORDED("--model", model.name),
      LANMSFF_RECORDED("--classes", model.classes),
      LANMSFF_RECORDED("--channels", model.channels),
      LANMSFF_RECORDED("input-size", model.size),  // not an option: the model's (MA-Net 224, LANMSFF 64)
      LANMSFF_RECORDED("--data", data, true),
      LANMSFF_RECORDED("--data-split", data_split),
      LANMSFF_RECORDED("--val", val, true),
      LANMSFF_RECORDED("--val-split", val_split),
      LANMSFF_RECORDED("--val-fraction", val_fraction),
      LANMSFF_RECORDED("--limit", limit),
      LANMSFF_RECORDED("--val-limit", val_limit),
      LANMSFF_RECORDED("--epochs", epochs),
      LANMSFF_RECORDED("--batch-size", batch_size),
      LANMSFF_RECORDED("--optimizer", optimizer),
      LANMSFF_RECORDED("--lr", lr),
      LANMSFF_RECORDED("--momentum", momentum),
      LANMSFF_RECORDED("--nesterov", nesterov),
      LANMSFF_RECORDED("--weight-decay", weight_decay),
      LANMSFF_RECORDED("--adam-epsilon", adam_epsilon),
      LANMSFF_RECORDED("--schedule", schedule),
      LANMSFF_RECORDED("--plateau-patience", plateau_patience),
      LANMSFF_RECORDED("--factor", factor),
      LANMSFF_RECORDED("--step-size", step_size),
      LANMSFF_RECORDED("--min-lr", min_lr),
      LANMSFF_RECORDED("--early-stopping", early_stopping),
      LANMSFF_RECORDED("--seed", seed),
      LANMSFF_RECORDED("--dropout", dropout),
      LANMSFF_RECORDED("--bn-momentum", bn_momentum),
      LANMSFF_RECORDED("--bn-reestimate", bn_reestimate),
      LANMSFF_RECORDED("--augment", augment),
      LANMSFF_RECORDED("--beta", beta),
      {"--no-shuffle", [](const TrainArgs& a) -> nlohmann::json { return !a.shuffle; },
       [](TrainArgs& a, const nlohmann::json& j) { a.shuffle = !j.get<bool>(); }},
      LANMSFF_RECORDED("--balanced", balanced),
      LANMSFF_RECORDED("--class-weights", class_weights),
      LANMSFF_RECORDED("--label-smoothing", label_smoothing),
      LANMSFF_RECORDED("--init", init, true),
      LANMSFF_RECORDED("--format", data_options.format),
      LANMSFF_RECORDED("--fer2013-csv", data_options.fer2013_csv, true),
      LANMSFF_RECORDED("--kdef-angles", data_options.kdef_angles),
      LANMSFF_RECORDED("--checkpoint-every", checkpoint_every),
      LANMSFF_RECORDED("eval-batch-size", eval_batch_size),  // not an option: the recipe's validation batch
      LANMSFF_RECORDED("--sync-bn", sync_bn),
      LANMSFF_RECORDED("--ghost-batch", ghost_batch),
  };
  return options;
}

#undef LANMSFF_RECORDED

// Options recorded since a later version: a run.json without them has their defaults.
inline bool recorded_later(std::string_view option) { return option == "--sync-bn" || option == "--ghost-batch"; }

// Options a continued run may change: train longer, checkpoint more or less often.
inline bool may_change_on_resume(std::string_view option) {
  return option == "--epochs" || option == "--checkpoint-every";
}

// The run.json of a run with these effective options.
inline nlohmann::json record_options(const TrainArgs& args, int threads) {
  nlohmann::json options = nlohmann::json::object();
  for (const auto& o : recorded_options()) options[o.option] = o.get(args);
  return {{"lanmsff_run", 1}, {"options", options}, {"threads", threads}};
}

// The options of the run recorded in `record` (from `source`, for messages), with what the command line
// gave: an option the user gave (given(option)) must equal the recording unless may_change_on_resume.
inline TrainArgs recorded_args(const nlohmann::json& record, const std::string& source, const TrainArgs& command_line,
                               const std::function<bool(std::string_view)>& given) {
  if (!record.is_object() || !record.contains("options") || !record["options"].is_object())
    throw std::runtime_error(source + ": not a run record (no \"options\" object)");
  const nlohmann::json& options = record["options"];
  TrainArgs args;
  for (const auto& o : recorded_options()) {
    if (!options.contains(o.option)) {
      if (recorded_later(o.option)) continue;
      throw std::runtime_error(source + ": the option " + o.option + " is not recorded");
    }
    try {
      o.set(args, options[o.option]);
    } catch (const nlohmann::json::exception&) {
      throw std::runtime_error(source + ": the recorded " + o.option + " " + options[o.option].dump() +
                               " is not a valid value");
    }
    if (!o.option.starts_with("--")) continue;  // recorded, but not a command-line option
    const bool given_again = given(o.option) || (o.option == "--augment" && given("--no-augment"));
    if (!given_again) continue;
    const nlohmann::json now = o.get(command_line);
    if (may_change_on_resume(o.option)) {
      o.set(args, now);
    } else if (now != options[o.option]) {
      throw std::invalid_argument(o.option + " " + now.dump() + " contradicts the run being resumed, which " +
                                  source + " records as " + o.option + " " + options[o.option].dump() +
                                  ": leave the option out to continue the run as it was started, or start a new "
                                  "run (another --out)");
    }
  }
  return args;
}

}  // namespace lanmsff::tool
