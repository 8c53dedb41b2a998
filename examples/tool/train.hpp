// `lanmsff train`: trains a model on a data set and writes a run directory (checkpoints, metrics,
// plots, the command and recipe). Also resumes a run from its directory. Generic over the model and
// its loss (cross-entropy for LANMSFF, the two-head loss for MA-Net). Started by mpirun / srun, every
// process trains on its shard of each batch (processes.hpp); rank 0 writes the run directory.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "lanmsff/io/augment.hpp"
#include "lanmsff/train/adam.hpp"
#include "lanmsff/train/sgd.hpp"
#include "data.hpp"
#include "models.hpp"
#include "processes.hpp"
#include "progress.hpp"
#include "run_files.hpp"
#include "train_options.hpp"

namespace lanmsff::tool {

// The run directory that --resume PATH names: PATH itself, or the directory of its last.safetensors.
inline fs::path run_directory_of(const fs::path& resume) {
  return fs::is_directory(resume) ? resume : resume.parent_path();
}

inline std::map<std::string, std::string> checkpoint_metadata(const ModelChoice& m, const io::Dataset& data) {
  nlohmann::json names = data.class_names();
  return {{"model", m.name},
          {"classes", std::to_string(m.classes)},
          {"input_shape", std::to_string(m.size) + "x" + std::to_string(m.size) + "x" + std::to_string(m.channels)},
          {"class_names", names.dump()}};
}

// The values of --augment.
inline const std::vector<std::string> augment_modes = {"none", "online", "offline4", "resized-crop"};

inline Augmentation make_augmentation(const std::string& mode, Shape input) {
  if (mode == "none" || mode == "offline4") return {};
  if (mode == "online")  // flips, small rotations and shifts: cheap, safe for faces and clothes
    return io::compose(io::RandomHorizontalFlip{}, io::RandomRotation{10.0},
                       io::RandomCrop{input.h, input.w, input.h / 16});
  if (mode == "resized-crop")  // torchvision RandomResizedCrop(size) then RandomHorizontalFlip (MA-Net)
    return io::compose(io::RandomResizedCrop{input.h, input.w}, io::RandomHorizontalFlip{});
  throw std::invalid_argument("--augment: expected none, online, offline4 or resized-crop, got '" + mode + "'");
}

// The cross-entropy inside a loss (TwoHeadLoss applies one to each head): class weights and label
// smoothing are set there.
template <class Loss>
auto& cross_entropy_of(Loss& loss) {
  if constexpr (requires { loss.cross_entropy; }) return loss.cross_entropy;
  else return loss;
}

template <class Model, class Loss>
void train_process(const TrainArgs& args, Processes& processes);

template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
void train_model(const TrainArgs& args) {
  if (args.mpi_timeout < 1) throw std::invalid_argument("--mpi-timeout: expected >= 1 second, got " + std::to_string(args.mpi_timeout));
  Processes processes{std::chrono::seconds(args.mpi_timeout)};
  try {
    train_process<Model, Loss>(args, processes);
  } catch (const Interrupted&) {
    throw;  // every process stops after the same step (the signal is shared), and the state is saved
  } catch (const std::exception& error) {
    processes.abort_job(error.what());  // the others may be waiting for this one: end them all
    throw;
  }
}

template <class Model, class Loss>
void train_process(const TrainArgs& args, Processes& processes) {
  using T = typename Model::scalar;
  const bool leader = processes.leader();  // writes the run directory and prints
  const fs::path out(args.out);
  const bool resuming = !args.resume.empty();
  const fs::path resume_dir = resuming ? run_directory_of(args.resume) : fs::path();
  std::optional<RunLock> lock;  // one training per run directory
  if (leader) {
    fs::create_directories(out);
    lock.emplace(out);
  }
  FILE* const log = leader ? stderr : nullptr;
  const auto say = [log](const char* format, auto... values) {
    if (log) std::fprintf(log, format, values...);
  };
  say("recipe: %s\n", describe_recipe(args).c_str());
  say("%s, %d threads\n", isa_report().c_str(), max_threads());
  if (processes.size() > 1)
    say("data-parallel: %d processes, %d samples of each batch of %d per process, BatchNorm statistics %s\n",
        processes.size(), args.batch_size / processes.size(), args.batch_size,
        args.sync_bn ? "of the whole batch (--sync-bn)" : "per process");
  if (args.sync_bn && args.ghost_batch > 0)
    throw std::invalid_argument("--sync-bn and --ghost-batch contradict each other (statistics of the whole batch, "
                                "or of each run of --ghost-batch samples)");

  // ---- data --------------------------------------------------------------------------------
  io::Dataset train = load_data(args.data, args.data_split, io::Split::train, Model::input_shape, args.data_options);
  say("data: %s, %zu samples, %d classes\n", train.description.c_str(), train.size(), train.num_classes());
  if (train.num_classes() != args.model.classes)
    throw std::invalid_argument(args.data + " has " + std::to_string(train.num_classes()) + " classes, the model " +
                                std::to_string(args.model.classes) + " (--classes)");
  io::Dataset val;
  if (!args.val.empty()) {
    val = load_data(args.val, args.val_split, io::Split::val, Model::input_shape, args.data_options);
    if (val.num_classes() != train.num_classes())
      throw std::invalid_argument(args.val + " has " + std::to_string(val.num_classes()) + " classes, " + args.data +
                                  " " + std::to_string(train.num_classes()));
    train = random_subset(train, args.limit, args.seed);
  } else if (args.val_fraction > 0) {
    train = random_subset(train, args.limit ? std::size_t(double(args.limit) / (1 - args.val_fraction)) : 0, args.seed);
    std::tie(train, val) = hold_out(train, args.val_fraction, hash_combine(args.seed, 7));
  } else {
    train = random_subset(train, args.limit, args.seed);
  }
  val = random_subset(val, args.val_limit, hash_combine(args.seed, 9));
  if (args.augment == "offline4") {
    train = io::augment_offline_x4(train, {.seed = args.seed});
  }
  say("training on %zu samples, validating on %zu\n", train.size(), val.size());

  // ---- model and optimisation --------------------------------------------------------------
  auto model = std::make_unique<Model>(args.seed);
  if (!args.init.empty()) io::load_checkpoint(*model, args.init);
  if (args.dropout && set_dropout_rate(*model, *args.dropout) == 0)
    throw std::invalid_argument("--dropout: " + args.model.name + " has no dropout layer");
  if (args.bn_momentum) set_bn_momentum(*model, *args.bn_momentum);
  if (args.ghost_batch > 0 && set_bn_ghost_batch(*model, args.ghost_batch) == 0)
    throw std::invalid_argument("--ghost-batch: " + args.model.name + " has no BatchNorm layer");

  std::unique_ptr<Optimizer<T>> optimizer;
  if (args.optimizer == "adam") {
    AdamOptions o = AdamOptions::keras(args.lr);
    o.epsilon = args.adam_epsilon;
    if (args.weight_decay > 0) o.weight_decay = args.weight_decay;
    optimizer = std::make_unique<Adam<T>>(*model, o);
  } else if (args.optimizer == "adamw") {
    optimizer = std::make_unique<AdamW<T>>(*model, AdamWOptions{.learning_rate = args.lr,
                                                                .weight_decay = args.weight_decay >= 0 ? args.weight_decay : 1e-2});
  } else if (args.optimizer == "sgd") {
    optimizer = std::make_unique<SGD<T>>(*model, SGDOptions{.learning_rate = args.lr, .momentum = args.momentum,
                                                            .nesterov = args.nesterov,
                                                            .weight_decay = std::max(args.weight_decay, 0.0)});
  } else {
    throw std::invalid_argument("--optimizer: expected adam, adamw or sgd, got '" + args.optimizer + "'");
  }

  std::unique_ptr<LearningRateSchedule> schedule;
  if (args.schedule == "plateau") {
    auto o = ReduceLROnPlateauOptions::keras(args.factor, args.plateau_patience);
    o.min_lr = args.min_lr;
    schedule = std::make_unique<ReduceLROnPlateau>(args.lr, o);
  } else if (args.schedule == "step") {
    schedule = std::make_unique<StepLR>(args.lr, args.step_size, args.factor);
  } else if (args.schedule == "cosine") {
    schedule = std::make_unique<CosineAnnealing>(args.lr, std::max(args.epochs, 1), args.min_lr);
  } else if (args.schedule != "none") {
    throw std::invalid_argument("--schedule: expected none, plateau, step or cosine, got '" + args.schedule + "'");
  }
  std::optional<EarlyStopping<T>> early;
  if (args.early_stopping > 0) early.emplace(EarlyStoppingOptions{.patience = args.early_stopping, .restore_best_weights = true});

  Trainer<Model, Loss> trainer(*model, *optimizer,
                               {.epochs = args.epochs, .batch_size = args.batch_size, .shuffle = args.shuffle,
                                .balanced_sampling = args.balanced, .seed = args.seed,
                                .bn_reestimate_batches = args.bn_reestimate,
                                .evaluation_batch_size = args.eval_batch_size});
  trainer.schedule = schedule.get();
  trainer.early_stopping = early ? &*early : nullptr;
  trainer.augment = make_augmentation(args.augment, Model::input_shape);
  if constexpr (requires { trainer.loss.beta; }) trainer.loss.beta = args.beta;
  auto& cross_entropy = cross_entropy_of(trainer.loss);
  cross_entropy.label_smoothing = args.label_smoothing;
  if (args.class_weights) {  // n / (K * count_k), the "balanced" heuristic (scikit-learn, Keras users)
    const auto counts = train.class_counts();
    for (std::size_t k = 0; k < counts.size(); ++k)
      cross_entropy.class_weights.push_back(counts[k] ? double(train.size()) / double(counts.size() * counts[k]) : 0.0);
  }

  // ---- resume --------------------------------------------------------------------------------
  TrainPosition start;
  std::vector<EpochEnd> history;
  if (resuming) {
    const fs::path& dir = resume_dir;
    const ResumeState state = read_resume_state(dir / "resume.safetensors", dir / "last.safetensors", *model,
                                                *optimizer, schedule.get());
    start = state.position;
    trainer.set_step(state.step);
    history = read_metrics_csv(dir / "metrics.csv");
    history.resize(std::min(history.size(), std::size_t(start.epoch)));
    std::optional<double> best;  // so that best.safetensors is only replaced by a better epoch
    for (const auto& e : history) {
      const double monitored = e.val_loss ? *e.val_loss : e.train_loss;
      if (!best || monitored < *best) best = monitored;
    }
    trainer.set_best(best);
    if (start.batch == 0) say("resuming %s after epoch %d\n", dir.string().c_str(), start.epoch);
    else
      say("resuming %s in epoch %d after batch %zu (step %llu)\n", dir.string().c_str(), start.epoch + 1, start.batch,
          (unsigned long long)state.step);
  } else if (schedule) {
    optimizer->set_learning_rate(schedule->learning_rate());
  }
  // Every process from rank 0's weights; every batch split over the processes.
  trainer.distribute(processes.communicator(), processes.gradient_communicator(),
                     {.sync_batch_norm = args.sync_bn,
                      .check_every = args.check_every,
                      .progress = args.mpi_progress == "thread" ? dist::Progress::thread : dist::Progress::calls});

  const auto metadata = checkpoint_metadata(args.model, train);
  if (leader) {
    nlohmann::json record = record_options(args, max_threads());
    record["processes"] = processes.size();
    write_text_atomically(out / "run.json", record.dump(2) + "\n");
    const std::string command_record =
        args.command_line + "\nseed " + std::to_string(args.seed) + "\nrecipe " + describe_recipe(args) +
        (processes.size() > 1 ? "\nprocesses " + std::to_string(processes.size()) : std::string()) + "\n";
    if (!resuming) {
      write_text_atomically(out / "command.txt", command_record);
    } else {  // the run's first command stays; each continuation is added below it
      std::ifstream previous(resume_dir / "command.txt");
      const std::string before((std::istreambuf_iterator<char>(previous)), std::istreambuf_iterator<char>());
      write_text_atomically(out / "command.txt", before + "resumed: " + command_record);
    }
  }
  if (args.epochs == 0) {
    if (leader) io::save_checkpoint(*model, out / "last.safetensors", metadata);
    say("--epochs 0: wrote the initial weights to %s\n", (out / "last.safetensors").string().c_str());
    return;
  }

  // resume.safetensors is the commit point of every checkpoint: it is written last, so a crash between
  // the files leaves the previous state whole (metrics.csv rows after its epoch are dropped on resume).
  // Every process calls it (the moving statistics are averaged over them); rank 0 writes.
  const auto save_state = [&] {
    trainer.synchronise_state();
    if (leader)
      write_resume_state(out / "resume.safetensors", *model, *optimizer, schedule.get(), trainer.position(),
                         trainer.step());
  };
  const InterruptGuard interrupts;
  const auto stop_if_interrupted = [&](bool saved) {
    // mpirun passes a SIGINT / SIGTERM to every process, which may see it after different steps: the
    // largest over the processes decides, so that all stop after the same one.
    const int signal = processes.size() > 1 ? processes.max(InterruptGuard::pending()) : InterruptGuard::pending();
    if (!signal) return;
    if (!saved) save_state();
    const TrainPosition& at = trainer.position();
    throw Interrupted(signal, std::string(signal == SIGINT ? "SIGINT" : "SIGTERM") + ": stopped after step " +
                                  std::to_string(trainer.step()) + " (epoch " + std::to_string(at.epoch + 1) +
                                  ", batch " + std::to_string(at.batch) + "), state saved; continue with: lanmsff "
                                  "train --resume " + out.string());
  };
  Progress progress(leader && isatty(fileno(stderr)));
  trainer.on_batch_end = [&](const BatchEnd& b) {
    progress.batch(b);
    const bool save = args.checkpoint_every > 0 && trainer.step() % args.checkpoint_every == 0;
    if (save) save_state();
    stop_if_interrupted(save);
  };
  trainer.on_epoch_end = [&](const EpochEnd& e) {  // the processes' moving statistics are averaged by now
    history.push_back(e);
    if (leader) {
      progress.epoch(e);
      if (e.best) io::save_checkpoint(*model, out / "best.safetensors", metadata);
      io::save_checkpoint(*model, out / "last.safetensors", metadata);
      write_metrics_csv(out / "metrics.csv", history);
      plot_history(out, history);
    }
    save_state();
    if (e.epoch + 1 < e.epochs && !e.stop) stop_if_interrupted(true);  // else the run ends anyway
  };
  trainer.fit(train, val.empty() ? nullptr : &val, start);
  if (early && leader) io::save_checkpoint(*model, out / "best.safetensors", metadata);  // the restored best weights

  if (!val.empty()) {
    const Evaluation eval = trainer.evaluate(val);
    if (leader) plot_confusion(out / "confusion.png", eval.confusion, "Validation confusion matrix");
    say("validation: loss %.4f, accuracy %.2f%% (inference mode, %zu samples)\n", eval.loss, 100 * eval.accuracy(),
        val.size());
  }
  say("run directory %s: best.safetensors, last.safetensors, metrics.csv, loss.png, accuracy.png%s\n",
      out.string().c_str(), val.empty() ? "" : ", confusion.png");
}

}  // namespace lanmsff::tool
