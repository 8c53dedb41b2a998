// The `lanmsff` command-line tool: train, evaluate, predict, summarise and benchmark FER models
// (LANMSFF here, MA-Net through tool/manet_commands.hpp). Run `lanmsff --help` or
// `lanmsff <command> --help`; docs/training.md is the guide.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "lanmsff/train/adam.hpp"
#include "tool/bench.hpp"
#include "tool/evaluate.hpp"
#include "tool/manet_commands.hpp"
#include "tool/predict.hpp"
#include "tool/train.hpp"

using namespace lanmsff;
using namespace lanmsff::tool;

namespace {

void add_data_options(CLI::App* cmd, DataOptions& o) {
  cmd->add_option("--format", o.format, "Data format: auto, idx, fer2013, ferplus, kdef, folder")->capture_default_str();
  cmd->add_option("--fer2013-csv", o.fer2013_csv, "FERPlus: the fer2013.csv holding the pixels (default: next to fer2013new.csv)");
  cmd->add_option("--kdef-angles", o.kdef_angles, "KDEF: camera angles to keep (FL HL S HR FR; default all)");
}

// --beta weighs MA-Net's two heads; for a one-head model it would silently do nothing.
void check_beta_option(const CLI::App* cmd, const ModelChoice& model) {
  if (model.name != "manet" && cmd->count("--beta"))
    throw std::invalid_argument("--beta weighs MA-Net's two heads; " + model.name + " has one head");
}

// MA-Net is 224x224 RGB; --channels may only confirm that.
ModelChoice resolve_manet(const CLI::App* cmd, const ModelChoice& model) {
  if (model.name != "manet") return model;
  if (cmd->count("--channels") && model.channels != 3)
    throw std::invalid_argument("--channels " + std::to_string(model.channels) + ": MA-Net takes RGB input (3 channels)");
  return manet_choice(model.classes);
}

std::string joined_command(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.find_first_of(" \t\"'") != std::string::npos) a = "'" + a + "'";
    s += (i ? " " : "") + a;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lanmsff: train, evaluate and run facial expression recognition models (LANMSFF, MA-Net)"};
  app.require_subcommand(1);
  // An option given twice takes its last value, as in most command-line tools: a wrapper's defaults can be
  // overridden by arguments appended after them (`bash tools/demo.sh --epochs 5`). Subcommands inherit this.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", [] {
    std::string text = std::string("lanmsff ") + version_string;
    try {
      text += "\n" + isa_report();
    } catch (const std::exception& error) {  // a bad LANMSFF_ISA
      text += "\nkernels: " + std::string(error.what());
    }
    return text;
  });
  int threads = 0;
  std::string isa;
  app.add_option("--isa", isa,
                 "Force the kernels' instruction set: avx512, avx2, neon or baseline (default: the best this CPU "
                 "has, or the LANMSFF_ISA environment variable's)")
      ->check(CLI::IsMember({"avx512", "avx2", "neon", "baseline"}));
  app.add_option("--threads", threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  std::string conv_algorithm = "auto";
  app.add_option("--conv-algorithm", conv_algorithm,
                 "3x3 convolutions: auto (Winograd where it pays), winograd (wherever it can run), im2col")
      ->capture_default_str()->check(CLI::IsMember({"auto", "winograd", "im2col"}));

  // ---- train ---------------------------------------------------------------------------------
  TrainArgs t;
  std::optional<double> dropout, bn_momentum;
  auto* train = app.add_subcommand("train", "Train a model; writes checkpoints, metrics and plots to --out");
  train->add_option("--model", t.model.name, "Model: lanmsff or manet (whose recipe changes the defaults, see docs/training.md)")
      ->capture_default_str()->check(CLI::IsMember(model_names));
  train->add_option("--data", t.data, "Training data: IDX directory, FER-2013/FERPlus CSV, KDEF or image folder (required unless --resume)");
  train->add_option("--data-split", t.data_split, "Split of --data to train on (auto = train)")->capture_default_str();
  train->add_option("--val", t.val, "Validation data (default: hold out --val-fraction of the training data)");
  train->add_option("--val-split", t.val_split, "Split of --val (auto = val, or test where there is no val)")->capture_default_str();
  train->add_option("--val-fraction", t.val_fraction, "Fraction held out for validation when --val is not given")
      ->capture_default_str()->check(CLI::Range(0.0, 0.9));
  train->add_option("--limit", t.limit, "Use a seeded random subset of this many training samples (0 = all)");
  train->add_option("--val-limit", t.val_limit, "Use at most this many validation samples (0 = all)");
  train->add_option("--classes", t.model.classes, "Number of classes (default: the data set's)");
  train->add_option("--channels", t.model.channels, "Input channels: 1 (gray) or 3 (RGB)")->capture_default_str()->check(CLI::IsMember({1, 3}));
  train->add_option("--epochs", t.epochs, "Epochs (0 writes the initialised weights)")->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--batch-size", t.batch_size, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--optimizer", t.optimizer, "adam (Keras semantics), adamw or sgd")->capture_default_str()
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}));
  train->add_option("--lr", t.lr, "Learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--momentum", t.momentum, "SGD momentum")->capture_default_str();
  train->add_flag("--nesterov", t.nesterov, "SGD with Nesterov momentum");
  train->add_option("--weight-decay", t.weight_decay, "Weight decay (adam/sgd: L2 in the gradient; adamw: decoupled, default 1e-2)");
  train->add_option("--adam-epsilon", t.adam_epsilon, "Adam epsilon (Keras placement)")->capture_default_str();
  train->add_option("--schedule", t.schedule, "Learning-rate schedule: none, plateau, step, cosine")->capture_default_str()
      ->check(CLI::IsMember({"none", "plateau", "step", "cosine"}));
  train->add_option("--plateau-patience", t.plateau_patience, "plateau: epochs without improvement of the validation loss")->capture_default_str();
  train->add_option("--factor", t.factor, "plateau/step: learning-rate factor")->capture_default_str();
  train->add_option("--step-size", t.step_size, "step: epochs between reductions")->capture_default_str();
  train->add_option("--min-lr", t.min_lr, "plateau/cosine: lowest learning rate")->capture_default_str();
  train->add_option("--early-stopping", t.early_stopping, "Stop after this many epochs without improvement and keep the best weights (0 = off)")
      ->capture_default_str();
  train->add_option("--seed", t.seed, "Seed of initialisation, shuffling, augmentation and dropout")->capture_default_str();
  train->add_option("--dropout", dropout, "Override the model's dropout rate (0 disables dropout)")->check(CLI::Range(0.0, 0.99));
  train->add_option("--bn-momentum", bn_momentum, "Override every BatchNorm's momentum (Keras convention, reference 0.99)")
      ->check(CLI::Range(0.0, 1.0));
  train->add_option("--bn-reestimate", t.bn_reestimate, "Re-estimate BatchNorm statistics over N training batches before each evaluation (0 = off)")
      ->capture_default_str();
  train->add_option("--augment", t.augment,
                    "none, online (flip, rotation, shift), offline4 (LANMSFF's x4 scheme) or resized-crop "
                    "(RandomResizedCrop + flip; MA-Net's default)")
      ->capture_default_str()->check(CLI::IsMember(augment_modes));
  train->add_option("--beta", t.beta, "MA-Net: loss and prediction weight of head 1 (fc_1)")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  bool no_augment = false, no_shuffle = false;
  train->add_flag("--no-augment", no_augment, "Same as --augment none");
  train->add_flag("--no-shuffle", no_shuffle, "Keep the data order");
  train->add_flag("--balanced", t.balanced, "Sample batches class-balanced (with replacement)");
  train->add_flag("--class-weights", t.class_weights, "Weight the loss by inverse class frequency");
  train->add_option("--label-smoothing", t.label_smoothing, "Label smoothing epsilon")->check(CLI::Range(0.0, 0.99));
  train->add_option("--init", t.init, "Start from these weights (a .safetensors checkpoint)")->check(CLI::ExistingFile);
  train->add_option("--resume", t.resume,
                    "Continue the run in this directory (or of this last.safetensors) with the options it recorded")
      ->check(CLI::ExistingPath);
  train->add_option("--out", t.out, "Run directory (required unless --resume, whose directory is the default)");
  train->add_option("--checkpoint-every", t.checkpoint_every,
                    "Also save the state to resume from every this many steps (0 = after every epoch only)")
      ->capture_default_str();
  add_data_options(train, t.data_options);

  // ---- eval ----------------------------------------------------------------------------------
  EvalArgs e;
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint: accuracy, per-class metrics, confusion matrix");
  eval->add_option("--weights", e.weights, "Checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
  eval->add_option("--data", e.data, "Data to evaluate on")->required();
  eval->add_option("--split", e.split, "Split (auto = test)")->capture_default_str();
  eval->add_option("--batch-size", e.batch_size, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  eval->add_option("--limit", e.limit, "Evaluate a seeded random subset of this many samples (0 = all)");
  eval->add_option("--confusion-png", e.confusion_png, "Also draw the confusion matrix into this PNG");
  eval->add_flag("--json", e.json, "Print JSON");
  eval->add_option("--beta", e.beta, "MA-Net: prediction and loss weight of head 1 (fc_1)")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  add_data_options(eval, e.data_options);

  // ---- predict -------------------------------------------------------------------------------
  PredictArgs p;
  auto* predict = app.add_subcommand("predict", "Class probabilities for images");
  predict->add_option("--weights", p.weights, "Checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
  predict->add_option("images", p.images, "Image files (PNG, JPEG, BMP)")->required();
  predict->add_flag("--json", p.json, "Print JSON");
  predict->add_option("--explain", p.explain, "Write the image with MassAtt's spatial attention maps overlaid to this PNG (LANMSFF)");
  predict->add_option("--beta", p.beta, "MA-Net: prediction weight of head 1 (fc_1)")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));

  // ---- summary -------------------------------------------------------------------------------
  ModelChoice s{.classes = 7};
  auto* summary = app.add_subcommand("summary", "Print the layers, output shapes and parameter counts of a model");
  summary->add_option("--model", s.name, "Model")->capture_default_str()->check(CLI::IsMember(model_names));
  summary->add_option("--classes", s.classes, "Number of classes")->capture_default_str();
  summary->add_option("--channels", s.channels, "Input channels")->capture_default_str()->check(CLI::IsMember({1, 3}));

  // ---- bench ---------------------------------------------------------------------------------
  BenchArgs b{.model = {.classes = 8}};
  auto* bench = app.add_subcommand("bench", "Measure whole-model speed on this machine");
  bench->add_option("--model", b.model.name, "Model (lanmsff: 8 classes, 64x64x1; manet: 7 classes, 224x224x3)")
      ->capture_default_str()->check(CLI::IsMember(model_names));
  bench->add_option("--batch", b.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  bench->add_flag("--train", b.train,
                  "Time a training step (forward, loss, backward, and Adam for lanmsff, SGD for manet) instead of inference");
  bench->add_option("--seconds", b.seconds, "Measure for about this long")->capture_default_str();
  bench->add_option("--iterations", b.iterations, "Or run exactly this many iterations");
  bench->add_flag("--json", b.json, "Print JSON");
  bench->add_flag("--profile", b.profile, "Also time every layer (forward and backward) and print the table");
  bench->add_option("--profile-depth", b.profile_depth, "Levels of the layer tree in the --profile table")
      ->capture_default_str()->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
    if (*train && !train->count("--resume")) {  // a new run needs both; a resumed one has them recorded
      if (!train->count("--data")) throw CLI::RequiredError("--data");
      if (!train->count("--out")) throw CLI::RequiredError("--out");
    }
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (threads > 0) set_num_threads(threads);
  try {
    if (!isa.empty()) {
      const Isa forced = isa == "avx512" ? Isa::avx512 : isa == "avx2" ? Isa::avx2 : isa == "neon" ? Isa::neon : Isa::baseline;
      if (!isa_supported(forced))
        throw std::invalid_argument("--isa " + isa + ": this CPU has no " + isa + " path; it supports " +
                                    supported_isa_list());
      set_isa(forced);
    }
    active_isa();  // settles the path now: a bad LANMSFF_ISA is an error here, before any work
  } catch (const std::exception& error) {
    std::fprintf(stderr, "lanmsff: error: %s\n", error.what());
    return 2;
  }
  set_conv_algorithm(conv_algorithm == "im2col"     ? ConvAlgorithm::im2col
                              : conv_algorithm == "winograd" ? ConvAlgorithm::winograd
                                                             : ConvAlgorithm::automatic);

  try {
    if (*train) {
      t.dropout = dropout, t.bn_momentum = bn_momentum;
      if (no_shuffle) t.shuffle = false;
      t.command_line = joined_command(argc, argv);
      if (no_augment) t.augment = "none";
      const auto given = [&](std::string_view option) { return train->count(std::string(option)) > 0; };
      bool recorded = false;
      if (!t.resume.empty()) {
        const fs::path dir = run_directory_of(t.resume);
        if (fs::exists(dir / "run.json")) {  // the run's own options, with what may change on resume
          const std::string source = (dir / "run.json").string();
          std::ifstream in(dir / "run.json");
          nlohmann::json record;
          try {
            record = nlohmann::json::parse(in);
          } catch (const nlohmann::json::exception& error) {
            throw std::runtime_error(source + ": not valid JSON (" + error.what() + ")");
          }
          TrainArgs r = recorded_args(record, source, t, given);
          r.resume = t.resume, r.command_line = t.command_line;
          r.out = t.out.empty() ? dir.string() : t.out;
          if (record.contains("threads") && record["threads"].is_number_integer() &&
              record["threads"].get<int>() != max_threads())
            std::fprintf(stderr, "note: the run was trained with %d threads, this process has %d: the resumed run "
                         "will differ from an uninterrupted one in the last bits (--threads)\n",
                         record["threads"].get<int>(), max_threads());
          t = r;
          recorded = true;
        } else if (t.data.empty()) {
          throw std::invalid_argument(dir.string() + " has no run.json (a run of an older lanmsff): give --data and "
                                      "the other training options again with --resume");
        }
        if (t.out.empty()) t.out = dir.string();
        if (!recorded) {  // an older run records no options: its checkpoint's model choice wins
          const auto meta = io::read_checkpoint_metadata(dir / "last.safetensors");
          t.model = model_from_metadata(meta, (dir / "last.safetensors").string());
        }
      } else {
        t.model = resolve_manet(train, t.model);
      }
      check_beta_option(train, t.model);
      if (!recorded) apply_recipe_defaults(t, given);
      if (t.model.classes == 0) {  // the data set decides
        io::LoadOptions probe;
        probe.format = io::parse_dataset_format(t.data_options.format);
        probe.split = resolve_split(t.data, t.data_split, io::Split::train, probe.format);
        probe.fer2013_csv = t.data_options.fer2013_csv;
        probe.kdef_angles = t.data_options.kdef_angles;
        probe.height = probe.width = 8;  // only the class list is needed; keep it small
        t.model.classes = io::load_dataset(t.data, probe).num_classes();
      }
      if (t.model.name == "manet") train_manet(t);
      else with_model(t.model, [&]<class Model>() { train_model<Model>(t); });
    } else if (*eval) {
      const ModelChoice m = model_from_metadata(io::read_checkpoint_metadata(e.weights), e.weights);
      check_beta_option(eval, m);
      if (m.name == "manet") {
        if (!eval->count("--batch-size")) e.batch_size = manet_batch_size;
        evaluate_manet(e, m);
      } else {
        with_model(m, [&]<class Model>() { evaluate_model<Model>(e); });
      }
    } else if (*predict) {
      const ModelChoice m = model_from_metadata(io::read_checkpoint_metadata(p.weights), p.weights);
      check_beta_option(predict, m);
      if (m.name == "manet") predict_manet(p, m);
      else with_model(m, [&]<class Model>() { predict_images<Model>(p); });
    } else if (*summary) {
      if (s.name == "manet") {
        summarize_manet(resolve_manet(summary, s));
      } else {
        with_model(s, [&]<class Model>() {
          auto model = std::make_unique<Model>();
          std::cout << model->summary(s.name + " (" + std::to_string(s.classes) + " classes, input " +
                                      to_string(Model::input_shape) + ")");
        });
      }
    } else if (*bench) {
      if (b.model.name == "manet") {
        b.model = manet_choice(7);
        bench_manet(b);
      } else {
        with_model(b.model, [&]<class Model>() {
          bench_model<Model>(b, lanmsff_forward_flops, [](Model& model) {
            return std::make_unique<Adam<typename Model::scalar>>(model, AdamOptions::keras());
          });
        });
      }
    }
  } catch (const Interrupted& interrupted) {
    std::fprintf(stderr, "\nlanmsff: %s\n", interrupted.what());
    return 128 + interrupted.signal;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "lanmsff: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
