// Metrics on a small hand-made prediction set: confusion matrix, accuracy, per-class and macro
// precision / recall / F1 (worked out by hand below), text and JSON renderings, running means.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "lanmsff/train/metrics.hpp"

using namespace lanmsff;

namespace {
// Ten samples of three classes:
//   true       0 0 0 0 1 1 1 2 2 2
//   predicted  0 0 1 2 1 1 0 2 2 1
// Confusion matrix (rows true, columns predicted):  [2 1 1] [1 2 0] [0 1 2]
// Column sums (predicted): 3 4 3; row sums (support): 4 3 3; correct: 6, accuracy 0.6.
//   precision: 2/3, 2/4, 2/3    recall: 2/4, 2/3, 2/3
//   F1: class 0 and 1: 2 (2/3)(1/2) / (2/3 + 1/2) = 4/7; class 2: 2/3
//   macro precision = macro recall = (2/3 + 1/2 + 2/3) / 3 = 11/18; macro F1 = (4/7 + 4/7 + 2/3) / 3 = 38/63
const std::vector<int> kTrue = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
const std::vector<int> kPredicted = {0, 0, 1, 2, 1, 1, 0, 2, 2, 1};

ConfusionMatrix hand_made() {
  ConfusionMatrix matrix(std::vector<std::string>{"angry", "happy", "sad"});
  for (std::size_t i = 0; i < kTrue.size(); ++i) matrix.add(kTrue[i], kPredicted[i]);
  return matrix;
}
}  // namespace

TEST_CASE("confusion matrix, accuracy, precision, recall, F1 by hand") {
  const ConfusionMatrix m = hand_made();
  const int expected[3][3] = {{2, 1, 1}, {1, 2, 0}, {0, 1, 2}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) CHECK(m.count(i, j) == std::uint64_t(expected[i][j]));
  CHECK(m.total() == 10);
  CHECK(m.support(0) == 4);
  CHECK(m.predicted(1) == 4);
  CHECK(m.accuracy() == doctest::Approx(0.6));
  CHECK(m.precision(0) == doctest::Approx(2.0 / 3));
  CHECK(m.precision(1) == doctest::Approx(0.5));
  CHECK(m.precision(2) == doctest::Approx(2.0 / 3));
  CHECK(m.recall(0) == doctest::Approx(0.5));
  CHECK(m.recall(1) == doctest::Approx(2.0 / 3));
  CHECK(m.recall(2) == doctest::Approx(2.0 / 3));
  CHECK(m.f1(0) == doctest::Approx(4.0 / 7));
  CHECK(m.f1(1) == doctest::Approx(4.0 / 7));
  CHECK(m.f1(2) == doctest::Approx(2.0 / 3));
  CHECK(m.macro_precision() == doctest::Approx(11.0 / 18));
  CHECK(m.macro_recall() == doctest::Approx(11.0 / 18));
  CHECK(m.macro_f1() == doctest::Approx(38.0 / 63));
}

TEST_CASE("undefined precision and recall count as 0, and absent classes enter macro averages") {
  // Class 3 never occurs and is never predicted; class 2 is predicted once but never occurs.
  ConfusionMatrix m(4);
  m.add(0, 0, 3);
  m.add(1, 2);
  m.add(1, 1);
  CHECK(m.precision(2) == 0.0);  // 0 correct of 1 predicted
  CHECK(m.recall(2) == 0.0);     // no samples: undefined, reported 0
  CHECK(m.f1(2) == 0.0);
  CHECK(m.precision(3) == 0.0);
  CHECK(m.f1(3) == 0.0);
  // precision 1, 1, 0, 0; recall 1, 1/2, 0, 0; F1 1, 2/3, 0, 0
  CHECK(m.macro_precision() == doctest::Approx(0.5));
  CHECK(m.macro_recall() == doctest::Approx(1.5 / 4));
  CHECK(m.macro_f1() == doctest::Approx((1 + 2.0 / 3) / 4));
  CHECK(m.class_names()[3] == "3");
  ConfusionMatrix empty(2);
  CHECK(empty.accuracy() == 0.0);
  CHECK(empty.macro_f1() == 0.0);
}

TEST_CASE("add_batch predicts the arg-max, the first one on ties") {
  Tensor<float> scores(4, 1, 1, 3);
  const float values[4][3] = {{0.1f, 0.7f, 0.2f}, {2.f, -1.f, 2.f}, {-3.f, -2.f, -1.f}, {0.f, 0.f, 0.f}};
  for (int n = 0; n < 4; ++n)
    for (int k = 0; k < 3; ++k) scores(n, 0, 0, k) = values[n][k];
  const std::vector<int> labels = {1, 2, 2, 1};
  ConfusionMatrix m(3);
  m.add_batch(scores, labels);
  CHECK(m.count(1, 1) == 1);  // sample 0
  CHECK(m.count(2, 0) == 1);  // sample 1: tie between 0 and 2 -> 0
  CHECK(m.count(2, 2) == 1);  // sample 2
  CHECK(m.count(1, 0) == 1);  // sample 3: all equal -> 0
  CHECK(m.accuracy() == doctest::Approx(0.5));

  CHECK_THROWS_AS(m.add_batch(scores, std::vector<int>{1, 2}), std::invalid_argument);
  CHECK_THROWS_AS(m.add_batch(scores, std::vector<int>{1, 2, 3, 0}), std::out_of_range);
  Tensor<float> wrong(2, 1, 1, 4);
  CHECK_THROWS_AS(m.add_batch(wrong, std::vector<int>{0, 0}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.add(-1, 0), "ConfusionMatrix: true class -1 is outside [0, 3)", std::out_of_range);
  CHECK_THROWS_AS(ConfusionMatrix(0), std::invalid_argument);
}

TEST_CASE("text renderings") {
  const ConfusionMatrix m = hand_made();
  CHECK(m.to_string() ==
        "true \\ predicted  angry  happy    sad\n"
        "angry                 2      1      1\n"
        "happy                 1      2      0\n"
        "sad                   0      1      2\n");
  CHECK(m.classification_report() ==
        "           precision     recall   f1-score    support\n"
        "angry         0.6667     0.5000     0.5714          4\n"
        "happy         0.5000     0.6667     0.5714          3\n"
        "sad           0.6667     0.6667     0.6667          3\n"
        "accuracy                            0.6000         10\n"
        "macro avg     0.6111     0.6111     0.6032         10\n");
}

TEST_CASE("JSON output") {
  const nlohmann::json j = hand_made().to_json();
  CHECK(j["classes"] == nlohmann::json({"angry", "happy", "sad"}));
  CHECK(j["confusion_matrix"] == nlohmann::json({{2, 1, 1}, {1, 2, 0}, {0, 1, 2}}));
  CHECK(j["samples"] == 10);
  CHECK(j["accuracy"].get<double>() == doctest::Approx(0.6));
  CHECK(j["macro"]["f1"].get<double>() == doctest::Approx(38.0 / 63));
  REQUIRE(j["per_class"].size() == 3);
  CHECK(j["per_class"][1]["class"] == "happy");
  CHECK(j["per_class"][1]["precision"].get<double>() == doctest::Approx(0.5));
  CHECK(j["per_class"][2]["support"] == 3);
  // Round trip through text, as a --json consumer would read it.
  CHECK(nlohmann::json::parse(j.dump()) == j);
}

TEST_CASE("RunningMean weights batches") {
  RunningMean loss;
  CHECK(std::isnan(loss.mean()));
  loss.add(2.0, 3);  // a batch of 3 with mean loss 2
  loss.add(4.0, 1);  // a short last batch
  CHECK(loss.mean() == doctest::Approx(2.5));  // (6 + 4) / 4
  CHECK(loss.total_weight() == 4);
  CHECK_THROWS_AS(loss.add(1.0, -1), std::invalid_argument);
  loss.reset();
  loss.add(7.0);
  CHECK(loss.mean() == 7.0);
}
