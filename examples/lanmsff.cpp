// The `lanmsff` command-line tool: train, evaluate, predict, export, summarise and benchmark FER models
// (LANMSFF here, MA-Net through tool/manet_commands.hpp). Run `lanmsff --help` or
// `lanmsff <command> --help`; docs/training.md is the guide.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "lanmsff/train/adam.hpp"
#include "tool/bench.hpp"
#include "tool/cli.hpp"
#include "tool/evaluate.hpp"
#include "tool/export.hpp"
#include "tool/manet_commands.hpp"
#include "tool/predict.hpp"
#include "tool/train.hpp"

using namespace lanmsff;
using namespace lanmsff::tool;

namespace {

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
  CommandLine line;  // every command and option: tool/cli.hpp
  CLI::App& app = line.app;
  CLI::App *train = line.train, *eval = line.eval, *predict = line.predict, *summary = line.summary, *bench = line.bench;
  TrainArgs& t = line.t;
  EvalArgs& e = line.e;
  PredictArgs& p = line.p;
  ModelChoice& s = line.s;
  BenchArgs& b = line.b;
  ExportArgs& x = line.x;
  CLI::App* exporter = line.exporter;
  CLI::App* prepare = line.prepare;
  const std::string &isa = line.isa, &conv_algorithm = line.conv_algorithm;
  try {
    line.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (line.threads > 0) set_num_threads(line.threads);
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
      t.dropout = line.dropout, t.bn_momentum = line.bn_momentum;
      if (line.no_shuffle) t.shuffle = false;
      t.command_line = joined_command(argc, argv);
      if (line.no_augment) t.augment = "none";
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
    } else if (*prepare) {
      prepare_faces(line.f);
    } else if (*exporter) {
      const ModelChoice m = model_from_metadata(io::read_checkpoint_metadata(x.weights), x.weights);
      check_beta_option(exporter, m);
      if (m.name == "manet") export_manet(x, m);
      else with_model(m, [&]<class Model>() { export_checkpoint<Model>(x); });
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
  } catch (const NoFaceFound& none) {  // the photos with faces were predicted; these had none
    std::fprintf(stderr, "lanmsff: %s\n", none.what());
    return 3;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "lanmsff: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
