// Evaluation metrics: a weighted running mean (the epoch loss), and a confusion matrix with
// accuracy, per-class precision / recall / F1, their macro averages, a text rendering and JSON.
// Definitions follow scikit-learn's with zero_division=0 and labels = all classes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lanmsff/core/tensor.hpp"

namespace lanmsff {

// Mean of values with weights, e.g. batch losses weighted by batch size so that the epoch loss is
// the mean over samples even when the last batch is short. NaN before the first value.
class RunningMean {
 public:
  void add(double value, double weight = 1) {
    if (!(weight >= 0) || !std::isfinite(weight))
      throw std::invalid_argument("RunningMean: weight " + std::to_string(weight) + " must be finite and >= 0");
    sum_ += value * weight;
    weight_ += weight;
  }
  double mean() const { return weight_ > 0 ? sum_ / weight_ : std::numeric_limits<double>::quiet_NaN(); }
  double total_weight() const { return weight_; }
  // The weighted sum: with total_weight() the whole state, so that a checkpoint can carry a mean in
  // progress and restore(sum, weight) continue it exactly.
  double weighted_sum() const { return sum_; }
  void restore(double weighted_sum, double total_weight) {
    if (!(total_weight >= 0) || !std::isfinite(total_weight) || !std::isfinite(weighted_sum))
      throw std::invalid_argument("RunningMean: cannot restore sum " + std::to_string(weighted_sum) + ", weight " +
                                  std::to_string(total_weight));
    sum_ = weighted_sum, weight_ = total_weight;
  }
  void reset() { sum_ = 0, weight_ = 0; }

 private:
  double sum_ = 0, weight_ = 0;
};

// Counts of (true class, predicted class) pairs: rows are true classes, columns predictions.
//   precision(k) = count(k, k) / (samples predicted k)   0 when nothing was predicted k
//   recall(k)    = count(k, k) / (samples of class k)    0 when class k has no samples
//   f1(k)        = 2 precision recall / (precision + recall), 0 when both are 0
// Macro averages are plain means over all classes, absent ones included (each then counts as 0),
// so they match sklearn's average='macro' with labels=range(classes), zero_division=0. Macro F1 is
// the mean of the per-class F1 scores, not the F1 of macro precision and macro recall.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int classes) : ConfusionMatrix(default_names(classes)) {}
  explicit ConfusionMatrix(std::vector<std::string> class_names)
      : names_(std::move(class_names)), counts_(names_.size() * names_.size(), 0) {
    if (names_.empty()) throw std::invalid_argument("ConfusionMatrix: at least one class is needed");
  }

  void add(int true_class, int predicted_class, std::uint64_t count = 1) {
    check_class(true_class, "true class");
    check_class(predicted_class, "predicted class");
    counts_[std::size_t(true_class) * names_.size() + std::size_t(predicted_class)] += count;
  }

  // Adds one prediction per sample: the arg-max of its scores (the first maximum on ties, as
  // numpy.argmax). `scores` holds N samples of `classes()` values (logits or probabilities).
  template <class T>
  void add_batch(const Tensor<T>& scores, std::span<const int> labels) {
    if (scores.sample_size() != names_.size())
      throw std::invalid_argument("ConfusionMatrix::add_batch: samples of " + std::to_string(scores.sample_size()) +
                                  " scores for " + std::to_string(names_.size()) + " classes");
    if (labels.size() != std::size_t(scores.n()))
      throw std::invalid_argument("ConfusionMatrix::add_batch: " + std::to_string(labels.size()) + " labels for " +
                                  std::to_string(scores.n()) + " samples");
    for (int n = 0; n < scores.n(); ++n) {
      const T* s = scores.sample(n);
      add(labels[n], int(std::max_element(s, s + names_.size()) - s));
    }
  }

  void reset() { std::fill(counts_.begin(), counts_.end(), 0); }

  int classes() const { return int(names_.size()); }
  const std::vector<std::string>& class_names() const { return names_; }
  std::uint64_t count(int true_class, int predicted_class) const {
    check_class(true_class, "true class");
    check_class(predicted_class, "predicted class");
    return counts_[std::size_t(true_class) * names_.size() + std::size_t(predicted_class)];
  }
  // The counts, row-major (true class, predicted class): to sum the matrices of several processes.
  std::span<std::uint64_t> counts() { return counts_; }
  std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (auto c : counts_) sum += c;
    return sum;
  }
  std::uint64_t support(int k) const {  // samples whose true class is k (row sum)
    std::uint64_t sum = 0;
    for (int j = 0; j < classes(); ++j) sum += count(k, j);
    return sum;
  }
  std::uint64_t predicted(int k) const {  // samples predicted as k (column sum)
    std::uint64_t sum = 0;
    for (int i = 0; i < classes(); ++i) sum += count(i, k);
    return sum;
  }

  // Fraction of correct predictions; 0 when empty.
  double accuracy() const {
    std::uint64_t correct = 0;
    for (int k = 0; k < classes(); ++k) correct += count(k, k);
    const std::uint64_t n = total();
    return n ? double(correct) / double(n) : 0.0;
  }
  double precision(int k) const { return ratio(count(k, k), predicted(k)); }
  double recall(int k) const { return ratio(count(k, k), support(k)); }
  double f1(int k) const {
    const double p = precision(k), r = recall(k);
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
  double macro_precision() const { return macro([&](int k) { return precision(k); }); }
  double macro_recall() const { return macro([&](int k) { return recall(k); }); }
  double macro_f1() const { return macro([&](int k) { return f1(k); }); }

  // The matrix as a table, class names on both axes.
  std::string to_string() const {
    std::size_t label_width = std::string("true \\ predicted").size(), cell = 1;
    for (const auto& name : names_) label_width = std::max(label_width, name.size()), cell = std::max(cell, name.size());
    for (auto c : counts_) cell = std::max(cell, std::to_string(c).size());
    std::ostringstream out;
    out << std::left << std::setw(int(label_width)) << "true \\ predicted" << std::right;
    for (const auto& name : names_) out << "  " << std::setw(int(cell)) << name;
    out << '\n';
    for (int i = 0; i < classes(); ++i) {
      out << std::left << std::setw(int(label_width)) << names_[i] << std::right;
      for (int j = 0; j < classes(); ++j) out << "  " << std::setw(int(cell)) << count(i, j);
      out << '\n';
    }
    return out.str();
  }

  // Per-class precision, recall, F1 and support, then accuracy and the macro averages.
  std::string classification_report() const {
    std::size_t label_width = std::string("macro avg").size();
    for (const auto& name : names_) label_width = std::max(label_width, name.size());
    std::ostringstream out;
    out << std::fixed << std::setprecision(4);
    const auto row = [&](const std::string& label, double p, double r, double f, std::uint64_t support) {
      out << std::left << std::setw(int(label_width)) << label << std::right << "  " << std::setw(9) << p << "  "
          << std::setw(9) << r << "  " << std::setw(9) << f << "  " << std::setw(9) << support << '\n';
    };
    out << std::left << std::setw(int(label_width)) << "" << std::right << "  " << std::setw(9) << "precision"
        << "  " << std::setw(9) << "recall" << "  " << std::setw(9) << "f1-score" << "  " << std::setw(9)
        << "support" << '\n';
    for (int k = 0; k < classes(); ++k) row(names_[k], precision(k), recall(k), f1(k), support(k));
    out << std::left << std::setw(int(label_width)) << "accuracy" << std::right << "  " << std::setw(9) << ""
        << "  " << std::setw(9) << "" << "  " << std::setw(9) << accuracy() << "  " << std::setw(9) << total()
        << '\n';
    row("macro avg", macro_precision(), macro_recall(), macro_f1(), total());
    return out.str();
  }

  // {"classes", "confusion_matrix" (rows true), "samples", "accuracy", "macro": {precision, recall,
  // f1}, "per_class": [{class, precision, recall, f1, support}]}
  nlohmann::json to_json() const {
    nlohmann::json matrix = nlohmann::json::array(), per_class = nlohmann::json::array();
    for (int i = 0; i < classes(); ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (int j = 0; j < classes(); ++j) row.push_back(count(i, j));
      matrix.push_back(std::move(row));
      per_class.push_back({{"class", names_[i]},
                           {"precision", precision(i)},
                           {"recall", recall(i)},
                           {"f1", f1(i)},
                           {"support", support(i)}});
    }
    return {{"classes", names_},
            {"confusion_matrix", std::move(matrix)},
            {"samples", total()},
            {"accuracy", accuracy()},
            {"macro", {{"precision", macro_precision()}, {"recall", macro_recall()}, {"f1", macro_f1()}}},
            {"per_class", std::move(per_class)}};
  }

 private:
  static std::vector<std::string> default_names(int classes) {
    if (classes < 1) throw std::invalid_argument("ConfusionMatrix: class count " + std::to_string(classes) + " must be >= 1");
    std::vector<std::string> names;
    for (int k = 0; k < classes; ++k) names.push_back(std::to_string(k));
    return names;
  }
  void check_class(int k, const char* what) const {
    if (k < 0 || k >= classes())
      throw std::out_of_range(std::string("ConfusionMatrix: ") + what + " " + std::to_string(k) + " is outside [0, " +
                              std::to_string(classes()) + ")");
  }
  static double ratio(std::uint64_t num, std::uint64_t den) { return den ? double(num) / double(den) : 0.0; }
  template <class F>
  double macro(F&& per_class) const {
    double sum = 0;
    for (int k = 0; k < classes(); ++k) sum += per_class(k);
    return sum / classes();
  }

  std::vector<std::string> names_;
  std::vector<std::uint64_t> counts_;
};

}  // namespace lanmsff
