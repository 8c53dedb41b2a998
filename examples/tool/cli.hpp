// The `lanmsff` tool's command line: every command and option (CLI11), the values they set, and the checks
// that need the whole line. main() (examples/lanmsff.cpp) parses it and runs the command; the fuzz target
// tests/fuzz/fuzz_options.cpp parses arbitrary lines with it.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "bench.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "lanmsff/core/isa.hpp"
#include "lanmsff/version.hpp"
#include "processes.hpp"
#include "model_info.hpp"
#include "models.hpp"
#include "predict.hpp"
#include "quantize.hpp"
#include "train.hpp"
#include "train_options.hpp"

namespace lanmsff::tool {

inline void add_data_options(CLI::App* cmd, DataOptions& o) {
  cmd->add_option("--format", o.format, "Data format: auto, idx, fer2013, ferplus, kdef, folder")->capture_default_str();
  cmd->add_option("--fer2013-csv", o.fer2013_csv, "FERPlus: the fer2013.csv holding the pixels (default: next to fer2013new.csv)");
  cmd->add_option("--kdef-angles", o.kdef_angles, "KDEF: camera angles to keep (FL HL S HR FR; default all)");
}

struct CommandLine {
  CLI::App app{"lanmsff: train, evaluate and run facial expression recognition models (LANMSFF, MA-Net)"};
  int threads = 0;
  std::string isa;
  std::string conv_algorithm = "auto";
  TrainArgs t;
  std::optional<double> dropout, bn_momentum;
  bool no_augment = false, no_shuffle = false;
  EvalArgs e;
  PredictArgs p;
  ModelChoice s{.classes = 7};
  BenchArgs b{.model = {.classes = 8}};
  ExportArgs x;
  QuantizeArgs q;
  PrepareFacesArgs f;
  CLI::App *train = nullptr, *eval = nullptr, *predict = nullptr, *summary = nullptr, *bench = nullptr,
           *exporter = nullptr, *quantize = nullptr, *prepare = nullptr;

  // The options are bound to the members: a CommandLine stays where it was made.
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  CommandLine() {
    // A path given as "" is a mistake (an unset shell variable, say), not the current directory.
    const CLI::Validator path(
        [](std::string& value) { return value.empty() ? std::string("an empty path") : std::string(); }, "PATH",
        "non-empty path");
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
      text += std::string("\nface front end: ") +
              (tool_has_faces ? "yes (dlib)" : "no (built without dlib: predict takes face crops only)") +
              "; video: " + (tool_has_video ? "yes (OpenCV)" : "no") +
              "\ndata-parallel training: " + (built_with_mpi() ? "yes (MPI: mpirun -np N lanmsff train ...)" : "no (built without MPI)");
      return text;
    });
    app.add_option("--isa", isa,
                   "Force the kernels' instruction set: avx512, avx2, neon or baseline (default: the best this CPU "
                   "has, or the LANMSFF_ISA environment variable's)")
        ->check(CLI::IsMember({"avx512", "avx2", "neon", "baseline"}));
    app.add_option("--threads", threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
    app.add_option("--conv-algorithm", conv_algorithm,
                   "3x3 convolutions: auto (Winograd where it pays), winograd (wherever it can run), im2col")
        ->capture_default_str()->check(CLI::IsMember({"auto", "winograd", "im2col"}));

    // ---- train ---------------------------------------------------------------------------------
    train = app.add_subcommand("train", "Train a model; writes checkpoints, metrics and plots to --out");
    train->add_option("--model", t.model.name, "Model: lanmsff or manet (whose recipe changes the defaults, see docs/training.md)")
        ->capture_default_str()->check(CLI::IsMember(model_names()));
    train->add_option("--data", t.data, "Training data: IDX directory, FER-2013/FERPlus CSV, KDEF or image folder (required unless --resume)")
        ->check(path);
    train->add_option("--data-split", t.data_split, "Split of --data to train on (auto = train)")->capture_default_str();
    train->add_option("--val", t.val, "Validation data (default: hold out --val-fraction of the training data)")
        ->check(path);
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
    train->add_flag("--no-augment", no_augment, "Same as --augment none");
    train->add_flag("--no-shuffle", no_shuffle, "Keep the data order");
    train->add_flag("--balanced", t.balanced, "Sample batches class-balanced (with replacement)");
    train->add_flag("--class-weights", t.class_weights, "Weight the loss by inverse class frequency");
    train->add_option("--label-smoothing", t.label_smoothing, "Label smoothing epsilon")->check(CLI::Range(0.0, 0.99));
    train->add_option("--init", t.init, "Start from these weights (a .safetensors checkpoint)")->check(CLI::ExistingFile);
    train->add_option("--resume", t.resume,
                      "Continue the run in this directory (or of this last.safetensors) with the options it recorded")
        ->check(CLI::ExistingPath);
    train->add_option("--out", t.out, "Run directory (required unless --resume, whose directory is the default)")
        ->check(path);
    train->add_option("--checkpoint-every", t.checkpoint_every,
                      "Also save the state to resume from every this many steps (0 = after every epoch only)")
        ->capture_default_str();
    train->add_flag("--sync-bn", t.sync_bn,
                    "Data-parallel (mpirun, srun): BatchNorm statistics of the whole batch, summed over the processes "
                    "(default: each process normalises its own share)");
    train->add_option("--ghost-batch", t.ghost_batch,
                      "Normalise each run of N samples of a batch with its own BatchNorm statistics, as N-sample "
                      "shards on separate processes would be (0 = the whole batch)")
        ->capture_default_str()->check(CLI::NonNegativeNumber);
    train->add_option("--check-every", t.check_every,
                      "Data-parallel: every this many steps, check that all processes hold identical weights "
                      "(0 = after each epoch only)")
        ->capture_default_str()->check(CLI::NonNegativeNumber);
    train->add_option("--mpi-timeout", t.mpi_timeout,
                      "Data-parallel: end the job when the processes wait for each other longer than this many "
                      "seconds (a process hangs or the network failed)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--mpi-progress", t.mpi_progress,
                      "Data-parallel: who moves the gradients' allreduces on during the backward pass: its own calls, "
                      "or a thread (for a network slower than the CPU)")
        ->capture_default_str()->check(CLI::IsMember({"calls", "thread"}));
    add_data_options(train, t.data_options);

    // ---- eval ----------------------------------------------------------------------------------
    eval = app.add_subcommand("eval", "Evaluate a checkpoint: accuracy, per-class metrics, confusion matrix");
    eval->add_option("--weights", e.weights, "Checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
    eval->add_option("--data", e.data, "Data to evaluate on")->required()->check(path);
    eval->add_option("--split", e.split, "Split (auto = test)")->capture_default_str();
    eval->add_option("--batch-size", e.batch_size, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
    eval->add_option("--limit", e.limit, "Evaluate a seeded random subset of this many samples (0 = all)");
    eval->add_option("--confusion-png", e.confusion_png, "Also draw the confusion matrix into this PNG");
    eval->add_flag("--json", e.json, "Print JSON");
    eval->add_option("--beta", e.beta, "MA-Net: prediction and loss weight of head 1 (fc_1)")->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    eval->add_option("--precision", e.precision, "float, or int8 (a checkpoint from lanmsff quantize)")
        ->capture_default_str()->check(CLI::IsMember({"float", "int8"}));
    add_data_options(eval, e.data_options);

    // ---- predict -------------------------------------------------------------------------------
    predict = app.add_subcommand("predict", "Class probabilities for every face in photos and videos, or for face crops");
    predict->add_option("--weights", p.weights, "Checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
    predict->add_option("images", p.images, "Photos (PNG, JPEG, BMP, ...), folders of them (walked recursively), or videos");
    predict->add_flag("--json", p.json, "Print JSON");
    predict->add_flag("--csv", p.csv, "Print CSV (video: always)");
    predict->add_option("--faces", p.faces,
                        "detect: find, align and classify every face (photos, video); aligned: each image is a face crop")
        ->capture_default_str()->check(CLI::IsMember({"detect", "aligned"}));
    predict->add_option("--annotate", p.annotate,
                        "Write the photo (.jpg/.png; a folder for several photos) or video (.avi/.mp4) with boxes and labels")
        ->check(path);
    predict->add_option("--explain", p.explain, "Write the input with MassAtt's spatial attention maps overlaid to this PNG (LANMSFF; a row per face)")
        ->check(path);
    predict->add_option("--min-face", p.min_face, "Smallest face to find, in pixels (default: 40 in photos, 80 in video)")
        ->check(CLI::Range(20, 100000));
    predict->add_option("--landmarks", p.landmarks, "The 68-point landmark model (default: dlib's shape_predictor_68_face_landmarks.dat)")
        ->check(CLI::ExistingFile);
    predict->add_option("--eye-line", p.eye_line, "Aligned crop: height of the eyes, a fraction of the crop")
        ->capture_default_str()->check(CLI::Range(0.05, 0.95));
    predict->add_option("--eye-distance", p.eye_distance, "Aligned crop: distance between the eyes, a fraction of the width")
        ->capture_default_str()->check(CLI::Range(0.05, 0.95));
    predict->add_option("--camera", p.camera, "Predict on the frames of this camera (0 = the first) until interrupted")
        ->check(CLI::NonNegativeNumber);
    predict->add_option("--max-frames", p.max_frames, "Video: stop after this many frames")->check(CLI::PositiveNumber);
    predict->add_option("--beta", p.beta, "MA-Net: prediction weight of head 1 (fc_1)")->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    predict->add_option("--precision", p.precision, "float, or int8 (a checkpoint from lanmsff quantize)")
        ->capture_default_str()->check(CLI::IsMember({"float", "int8"}));

    // ---- prepare-faces -------------------------------------------------------------------------
    prepare = app.add_subcommand("prepare-faces", "Detect, align and crop the faces of a folder of photos into a training folder");
    prepare->add_option("input", f.input, "Folder of photos (class folders, or a KDEF-style tree)")->required()->check(CLI::ExistingDirectory);
    prepare->add_option("output", f.output, "Folder to write the crops to (same layout and names, .png)")->required()->check(path);
    prepare->add_option("--model", f.model, "The model the crops are for: lanmsff (64x64 gray), manet (224x224 RGB)")
        ->capture_default_str()->check(CLI::IsMember(model_names()));
    prepare->add_option("--size", f.size, "Crop side in pixels (default: the model's input)")->check(CLI::Range(8, 4096));
    prepare->add_option("--channels", f.channels, "1 gray, 3 RGB (default: the model's input)")->check(CLI::IsMember({1, 3}));
    prepare->add_option("--min-face", f.min_face, "Smallest face to find, in pixels")->capture_default_str()->check(CLI::Range(20, 100000));
    prepare->add_option("--landmarks", f.landmarks, "The 68-point landmark model (default: dlib's)")->check(CLI::ExistingFile);
    prepare->add_option("--eye-line", f.eye_line, "Height of the eyes, a fraction of the crop")->capture_default_str()
        ->check(CLI::Range(0.05, 0.95));
    prepare->add_option("--eye-distance", f.eye_distance, "Distance between the eyes, a fraction of the width")
        ->capture_default_str()->check(CLI::Range(0.05, 0.95));

    // ---- export --------------------------------------------------------------------------------
    exporter = app.add_subcommand("export", "Write a checkpoint as an ONNX model for ONNX Runtime, OpenCV and other engines");
    exporter->add_option("--weights", x.weights, "Checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
    exporter->add_option("output", x.output, "The model file to write (.onnx)")->required()->check(path);
    exporter->add_option("--format", x.format, "Format: onnx (opset 13, NCHW input, dynamic batch)")
        ->capture_default_str()->check(CLI::IsMember({"onnx"}));
    exporter->add_option("--beta", x.beta, "MA-Net: weight of head 1 (fc_1) in the exported probabilities")
        ->capture_default_str()->check(CLI::Range(0.0, 1.0));
    exporter->add_option("--precision", x.precision,
                         "float, or int8: a QDQ model with int8 weights (a checkpoint from lanmsff quantize)")
        ->capture_default_str()->check(CLI::IsMember({"float", "int8"}));

    // ---- quantize ------------------------------------------------------------------------------
    quantize = app.add_subcommand("quantize", "Calibrate a checkpoint for int8 inference (eval, predict and bench --precision int8)");
    quantize->add_option("--weights", q.weights, "Checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
    quantize->add_option("--calibrate", q.data, "Data whose images calibrate the activations' ranges")->required()->check(path);
    quantize->add_option("output", q.output, "The checkpoint to write (.safetensors): the weights and the calibration")
        ->required()->check(path);
    quantize->add_option("--split", q.split, "Split of the data (auto = train)")->capture_default_str();
    quantize->add_option("--images", q.images, "Calibration images: a seeded random subset of this many (0 = all)")
        ->capture_default_str();
    quantize->add_option("--method", q.method,
                         "Range of each activation: mse (least expected squared error), minmax, percentile")
        ->capture_default_str()->check(CLI::IsMember({"mse", "minmax", "percentile"}));
    quantize->add_option("--percentile", q.percentile, "--method percentile: the share of values inside the range")
        ->capture_default_str()->check(CLI::Range(0.5, 1.0));
    add_data_options(quantize, q.data_options);

    // ---- summary -------------------------------------------------------------------------------
    summary = app.add_subcommand("summary", "Print the layers, output shapes and parameter counts of a model");
    summary->add_option("--model", s.name, "Model")->capture_default_str()->check(CLI::IsMember(model_names()));
    summary->add_option("--classes", s.classes, "Number of classes")->capture_default_str();
    summary->add_option("--channels", s.channels, "Input channels")->capture_default_str()->check(CLI::IsMember({1, 3}));

    // ---- bench ---------------------------------------------------------------------------------
    bench = app.add_subcommand("bench", "Measure whole-model speed on this machine");
    bench->add_option("--model", b.model.name, "Model (lanmsff: 8 classes, 64x64x1; manet: 7 classes, 224x224x3)")
        ->capture_default_str()->check(CLI::IsMember(model_names()));
    bench->add_option("--batch", b.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
    bench->add_flag("--train", b.train,
                    "Time a training step (forward, loss, backward, and Adam for lanmsff, SGD for manet) instead of inference");
    bench->add_option("--seconds", b.seconds, "Measure for about this long")->capture_default_str();
    bench->add_option("--iterations", b.iterations, "Or run exactly this many iterations");
    bench->add_flag("--json", b.json, "Print JSON");
    bench->add_flag("--profile", b.profile, "Also time every layer (forward and backward) and print the table");
    bench->add_option("--profile-depth", b.profile_depth, "Levels of the layer tree in the --profile table")
        ->capture_default_str()->check(CLI::PositiveNumber);
    bench->add_option("--precision", b.precision, "float, or int8 (inference; calibrated on the benchmark's input)")
        ->capture_default_str()->check(CLI::IsMember({"float", "int8"}));

  }

  // Parses argv; a CLI11 error (unknown option, bad value, missing option) throws CLI::ParseError, which
  // app.exit() turns into its message and exit code.
  void parse(int argc, const char* const* argv) {
    app.parse(argc, argv);
    if (*train && !train->count("--resume")) {  // a new run needs both; a resumed one has them recorded
      if (!train->count("--data")) throw CLI::RequiredError("--data");
      if (!train->count("--out")) throw CLI::RequiredError("--out");
    }
  }
};

}  // namespace lanmsff::tool
