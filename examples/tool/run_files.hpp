// What a training run leaves in its directory: metrics.csv, checkpoints (best, last, and the
// optimizer state to resume from), plots, and the exact command and seed.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lanmsff/io/checkpoint.hpp"
#include "lanmsff/io/plot.hpp"
#include "lanmsff/train/trainer.hpp"

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
    try {
      EpochEnd e;
      e.epoch = std::stoi(cells[0]) - 1;
      e.train_loss = std::stod(cells[1]), e.train_accuracy = std::stod(cells[2]);
      if (!cells[3].empty()) e.val_loss = std::stod(cells[3]), e.val_accuracy = std::stod(cells[4]);
      e.learning_rate = std::stod(cells[5]), e.seconds = std::stod(cells[6]), e.images_per_second = std::stod(cells[7]);
      history.push_back(e);
    } catch (const std::logic_error&) {
      throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": not a number");
    }
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

}  // namespace lanmsff::tool
