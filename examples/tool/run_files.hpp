// What a training run leaves in its directory: metrics.csv, checkpoints (best, last, and the
// optimizer state to resume from), plots, and the exact command and seed.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <optional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lanmsff/io/checkpoint.hpp"
#include "lanmsff/io/plot.hpp"
#include "lanmsff/train/optimizer.hpp"
#include "lanmsff/train/schedule.hpp"
#include "lanmsff/train/trainer.hpp"
#include "numbers.hpp"

namespace lanmsff::tool {

namespace fs = std::filesystem;

// Text files of a run (metrics.csv, command.txt) are replaced atomically, like the checkpoints.
inline void write_text_atomically(const fs::path& path, const std::string& text) {
  io::detail::write_file_atomically(path, std::vector<std::uint8_t>(text.begin(), text.end()));
}

inline void write_metrics_csv(const fs::path& path, const std::vector<EpochEnd>& history) {
  std::string text = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second\n";
  char line[256];
  for (const auto& e : history) {
    std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%s,%s,%.6g,%.2f,%.1f\n", e.epoch + 1, e.train_loss, e.train_accuracy,
                  e.val_loss ? std::to_string(*e.val_loss).c_str() : "",
                  e.val_accuracy ? std::to_string(*e.val_accuracy).c_str() : "", e.learning_rate, e.seconds,
                  e.images_per_second);
    text += line;
  }
  write_text_atomically(path, text);
}

// Reads back a metrics.csv written above (to continue it when resuming).
inline std::vector<EpochEnd> read_metrics_csv(const fs::path& path) {
  std::vector<EpochEnd> history;
  std::ifstream in(path);
  if (!in) return history;
  std::string line;
  std::getline(in, line);
  for (int number = 2; std::getline(in, line); ++number) {
    std::vector<std::string> cells;
    std::size_t start = 0;
    for (std::size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1)
      cells.push_back(line.substr(start, comma - start));
    cells.push_back(line.substr(start));
    if (cells.size() != 8) throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": expected 8 columns");
    const auto cell = [&](std::size_t k) {
      const std::optional<double> v = parse_double(cells[k]);
      if (!v)
        throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": column " + std::to_string(k + 1) +
                                 " ('" + cells[k] + "') is not a number");
      return *v;
    };
    EpochEnd e;
    const std::optional<long long> epoch = parse_integer(cells[0]);
    if (!epoch || *epoch < 1)
      throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": the epoch ('" + cells[0] +
                               "') is not a positive integer");
    e.epoch = int(*epoch - 1);
    e.train_loss = cell(1), e.train_accuracy = cell(2);
    if (!cells[3].empty()) e.val_loss = cell(3), e.val_accuracy = cell(4);
    e.learning_rate = cell(5), e.seconds = cell(6), e.images_per_second = cell(7);
    history.push_back(e);
  }
  return history;
}

inline void plot_history(const fs::path& dir, const std::vector<EpochEnd>& history) {
  io::Series train_loss{"train", {}, {}}, val_loss{"validation", {}, {}}, train_acc{"train", {}, {}},
      val_acc{"validation", {}, {}};
  for (const auto& e : history) {
    train_loss.x.push_back(e.epoch + 1), train_loss.y.push_back(e.train_loss);
    train_acc.x.push_back(e.epoch + 1), train_acc.y.push_back(100 * e.train_accuracy);
    if (e.val_loss) {
      val_loss.x.push_back(e.epoch + 1), val_loss.y.push_back(*e.val_loss);
      val_acc.x.push_back(e.epoch + 1), val_acc.y.push_back(100 * *e.val_accuracy);
    }
  }
  std::vector<io::Series> losses{train_loss}, accuracies{train_acc};
  if (!val_loss.x.empty()) losses.push_back(val_loss), accuracies.push_back(val_acc);
  io::plot_lines(dir / "loss.png", "Loss", "epoch", losses);
  io::plot_lines(dir / "accuracy.png", "Accuracy (%)", "epoch", accuracies);
}

inline void plot_confusion(const fs::path& path, const ConfusionMatrix& confusion, const std::string& title) {
  std::vector<std::vector<long long>> counts(std::size_t(confusion.classes()),
                                             std::vector<long long>(std::size_t(confusion.classes())));
  for (int i = 0; i < confusion.classes(); ++i)
    for (int j = 0; j < confusion.classes(); ++j) counts[std::size_t(i)][std::size_t(j)] = (long long)confusion.count(i, j);
  io::plot_confusion_matrix(path, title, counts, confusion.class_names());
}

// After a batch command (predict, eval) carried on past unreadable files: the end of it is an error
// that counts and names them (exit status 1), the results of the others having been printed.
inline void throw_if_files_failed(const std::vector<io::SkippedFile>& failed, const std::string& what_was_done) {
  if (failed.empty()) return;
  std::string list;
  for (const auto& file : failed) list += "\n  " + file.path;
  throw std::runtime_error(std::to_string(failed.size()) + (failed.size() == 1 ? " file" : " files") +
                           " could not be read, " + what_was_done + ":" + list);
}

// ---- one training per run directory --------------------------------------------------------------
// An exclusive lock on DIR/.lock, held while the process lives: a second training into the same directory
// refuses to start instead of interleaving its files with the first one's. The kernel releases the lock
// when the process ends in any way (kill -9 included), so a crashed run never leaves a stale lock.
class RunLock {
 public:
  explicit RunLock(const fs::path& dir) {
    const fs::path path = dir / ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char owner[32] = {};
      const ssize_t n = ::pread(fd_, owner, sizeof owner - 1, 0);
      ::close(fd_);
      std::string pid(owner, std::size_t(n > 0 ? n : 0));
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      throw std::runtime_error(dir.string() + " is in use by another training" +
                               (pid.empty() ? std::string() : " (process " + pid + ")") +
                               ": wait for it to end, or give another --out");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
      // The lock holds without the note of who holds it.
    }
  }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

// ---- SIGINT and SIGTERM ---------------------------------------------------------------------------
// While an InterruptGuard lives, the first SIGINT (Ctrl-C) or SIGTERM (kill, a batch system's end of
// time) only sets a flag; the training loop checks it after every batch, saves the resume state and
// ends with Interrupted. A second signal ends the process at once, as without the guard.
inline volatile std::sig_atomic_t interrupt_signal = 0;

extern "C" inline void lanmsff_tool_on_signal(int signal) {
  interrupt_signal = signal;
  std::signal(signal, SIG_DFL);
}

class InterruptGuard {
 public:
  // A signal the process was started ignoring (nohup, a background job of a script) stays ignored.
  InterruptGuard() {
    interrupt_signal = 0;
    previous_int_ = catch_unless_ignored(SIGINT);
    previous_term_ = catch_unless_ignored(SIGTERM);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  ~InterruptGuard() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  static int pending() { return interrupt_signal; }

 private:
  using Handler = void (*)(int);
  static Handler catch_unless_ignored(int signal) {
    const Handler previous = std::signal(signal, lanmsff_tool_on_signal);
    if (previous == SIG_IGN) std::signal(signal, SIG_IGN);
    return previous;
  }

  Handler previous_int_ = SIG_DFL;
  Handler previous_term_ = SIG_DFL;
};

// Thrown by the training loop after it saved the state on SIGINT / SIGTERM; main() exits with 128 + signal.
struct Interrupted : std::runtime_error {
  Interrupted(int signal, const std::string& message) : std::runtime_error(message), signal(signal) {}
  int signal;
};

// ---- resume.safetensors ----------------------------------------------------------------------------
// Everything a run's future depends on, in one file written atomically (the commit point of every
// checkpoint): the weights and BatchNorm statistics (model.*), the optimizer state (optimizer.*), the
// schedule state (schedule.*), and in the metadata the step, the learning rate and where in which epoch
// the run stands (epoch = epochs done; batch, loss_sum, accuracy_sum, samples: the epoch in progress).
inline std::string exact_text(double v) {
  char text[32];  // %.17g round-trips a double (std::to_string keeps 6 decimals)
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

template <class Model, class T>
void write_resume_state(const fs::path& path, Model& model, const Optimizer<T>& optimizer,
                        const LearningRateSchedule* schedule, const TrainPosition& position, std::uint64_t step) {
  io::SafetensorsWriter state;
  io::add_parameters(state, model, "model.");
  for (const auto& [name, values] : optimizer.state()) {
    const std::vector<float> as_float(values.begin(), values.end());
    state.add("optimizer." + name, {std::int64_t(as_float.size())}, as_float.data());
  }
  if (schedule)
    for (const auto& [name, value] : schedule->state()) state.add("schedule." + name, {1}, &value, "F64");
  state.set_metadata("epoch", std::to_string(position.epoch));
  state.set_metadata("batch", std::to_string(position.batch));
  state.set_metadata("loss_sum", exact_text(position.loss_sum));
  state.set_metadata("accuracy_sum", exact_text(position.accuracy_sum));
  state.set_metadata("samples", exact_text(position.samples));
  state.set_metadata("step", std::to_string(step));
  state.set_metadata("learning_rate", exact_text(optimizer.learning_rate()));
  state.write(path);
}

struct ResumeState {
  TrainPosition position;
  std::uint64_t step = 0;
  double learning_rate = 0;
};

// Restores what write_resume_state wrote. A run directory of an older lanmsff has no model.* tensors
// and no batch: its weights come from last_checkpoint, and it stands at the start of an epoch.
template <class Model, class T>
ResumeState read_resume_state(const fs::path& path, const fs::path& last_checkpoint, Model& model,
                              Optimizer<T>& optimizer, LearningRateSchedule* schedule) {
  const auto state = io::Safetensors::load(path);
  const auto& meta = state.metadata();
  const auto number = [&](const char* key, bool required) -> std::optional<double> {
    const auto it = meta.find(key);
    if (it == meta.end()) {
      if (required) throw std::runtime_error(path.string() + ": the metadata has no '" + key + "'");
      return std::nullopt;
    }
    const std::optional<double> v = parse_double(it->second);
    if (!v || !std::isfinite(*v) || *v < 0)
      throw std::runtime_error(path.string() + ": metadata '" + key + "' = '" + it->second +
                               "' is not a non-negative number");
    return *v;
  };
  ResumeState r;
  r.position.epoch = int(*number("epoch", true));
  r.position.batch = std::size_t(number("batch", false).value_or(0));
  r.position.loss_sum = number("loss_sum", false).value_or(0);
  r.position.accuracy_sum = number("accuracy_sum", false).value_or(0);
  r.position.samples = number("samples", false).value_or(0);
  r.step = std::uint64_t(*number("step", true));
  r.learning_rate = *number("learning_rate", true);

  bool has_weights = false;
  for (const auto& e : state.entries()) has_weights |= e.name.starts_with("model.");
  if (has_weights) io::load_parameters(model, state, path.string(), "model.");
  else io::load_checkpoint(model, last_checkpoint);
  NamedTensors<T> tensors;
  for (const auto& e : state.entries())
    if (e.name.starts_with("optimizer.")) tensors.emplace_back(e.name.substr(10), state.read<T>(e.name));
  optimizer.load_state(tensors);
  optimizer.set_learning_rate(r.learning_rate);
  if (schedule) {
    NamedScalars scalars;
    for (const auto& e : state.entries())
      if (e.name.starts_with("schedule.")) scalars.emplace_back(e.name.substr(9), state.read<double>(e.name)[0]);
    schedule->load_state(scalars);
  }
  return r;
}

}  // namespace lanmsff::tool
