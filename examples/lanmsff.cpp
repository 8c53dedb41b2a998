// The `lanmsff` command-line tool: train, evaluate, predict, export, quantise, summarise and benchmark FER models.
// main() parses the command line (tool/cli.hpp) and hands each command to the model's commands in
// tool/registry.hpp (LANMSFF here, MA-Net through tool/manet_commands.hpp; the models' names, inputs and
// defaults: tool/model_info.hpp). Run `lanmsff --help` or
// `lanmsff <command> --help`; docs/training.md is the guide.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include <functional>
#include <utility>
#include <vector>

#include "tool/cli.hpp"
#include "tool/registry.hpp"

using namespace lanmsff;
using namespace lanmsff::tool;

namespace {

std::string joined_command(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.find_first_of(" \t\"'") != std::string::npos) a = "'" + a + "'";
    s += (i ? " " : "") + a;
  }
  return s;
}

// `train`'s arguments made whole: the options a resumed run recorded (run.json), the recipe's defaults,
// the model from the data set's classes when --classes is not given.
void complete_training_args(CommandLine& line, const std::string& command_line) {
  TrainArgs& t = line.t;
  const CLI::App* train = line.train;
  t.dropout = line.dropout, t.bn_momentum = line.bn_momentum;
  if (line.no_shuffle) t.shuffle = false;
  t.command_line = command_line;
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
      if (record.contains("threads") && record["threads"].is_number_integer() && record["threads"].get<int>() != max_threads())
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
    t.model = resolve_model(train, t.model);
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
}

// --isa and LANMSFF_ISA (a bad value is an error here, before any work), --conv-algorithm.
void apply_kernel_options(const CommandLine& line) {
  const std::string& isa = line.isa;
  if (!isa.empty()) {
    const Isa forced = isa == "avx512" ? Isa::avx512 : isa == "avx2" ? Isa::avx2 : isa == "neon" ? Isa::neon : Isa::baseline;
    if (!isa_supported(forced))
      throw std::invalid_argument("--isa " + isa + ": this CPU has no " + isa + " path; it supports " + supported_isa_list());
    set_isa(forced);
  }
  active_isa();
  set_conv_algorithm(line.conv_algorithm == "im2col"     ? ConvAlgorithm::im2col
                     : line.conv_algorithm == "winograd" ? ConvAlgorithm::winograd
                                                         : ConvAlgorithm::automatic);
}

// The model a checkpoint holds, checked against the command's options.
ModelChoice checkpoint_model(const CLI::App* command, const std::string& weights) {
  const ModelChoice m = model_from_metadata(io::read_checkpoint_metadata(weights), weights);
  check_beta_option(command, m);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine line;  // every command and option: tool/cli.hpp
  try {
    line.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return line.app.exit(error);
  }
  if (line.threads > 0) set_num_threads(line.threads);
  try {
    apply_kernel_options(line);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "lanmsff: error: %s\n", error.what());
    return 2;
  }

  // Each command: the model it runs and that model's function for it (tool/registry.hpp).
  const std::vector<std::pair<const CLI::App*, std::function<void()>>> commands = {
      {line.train,
       [&] {
         complete_training_args(line, joined_command(argc, argv));
         model_commands(line.t.model.name).train(line.t);
       }},
      {line.eval,
       [&] {
         const ModelChoice m = checkpoint_model(line.eval, line.e.weights);
         const ModelInfo& info = model_info(m.name);
         if (info.eval_batch_size && !line.eval->count("--batch-size")) line.e.batch_size = info.eval_batch_size;
         model_commands(m.name).evaluate(line.e, m);
       }},
      {line.predict,
       [&] {
         const ModelChoice m = checkpoint_model(line.predict, line.p.weights);
         model_commands(m.name).predict(line.p, m);
       }},
      {line.prepare, [&] { prepare_faces(line.f); }},
      {line.exporter,
       [&] {
         const ModelChoice m = checkpoint_model(line.exporter, line.x.weights);
         model_commands(m.name).export_onnx(line.x, m);
       }},
      {line.quantize,
       [&] {
         const ModelChoice m = checkpoint_model(line.quantize, line.q.weights);
         model_commands(m.name).quantize(line.q, m);
       }},
      {line.summary, [&] { model_commands(line.s.name).summary(resolve_model(line.summary, line.s)); }},
      {line.bench,
       [&] {
         const ModelInfo& info = model_info(line.b.model.name);
         if (info.fixed_channels) line.b.model = {.name = std::string(info.name), .classes = info.bench_classes,
                                                  .channels = info.fixed_channels, .size = info.size};
         model_commands(info.name).bench(line.b);
       }},
  };
  try {
    for (const auto& [command, run] : commands)
      if (*command) run();
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
