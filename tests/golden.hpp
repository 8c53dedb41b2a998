// Golden fixtures from an independent framework (tools/make_golden_*.py, PyTorch in float64):
// loading tensors and parameters from a fixture with shape checks, and comparing results against
// it with a tolerance that fits the scalar type (double: 1e-10 relative, float: 1e-4).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lanmsff/core/context.hpp"
#include "lanmsff/core/parameter.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/io/safetensors.hpp"

namespace lanmsff::testing {

template <class T>
constexpr const char* scalar_name = std::is_same_v<T, double> ? "double" : "float";

// Relative tolerance per element, against max(|expected|, a tenth of the tensor's largest value):
// values that cancel to almost nothing are judged on the tensor's scale, not their own.
template <class T>
constexpr double golden_tolerance = std::is_same_v<T, double> ? 1e-10 : 1e-4;

// The outcome of comparing one tensor with the fixture.
struct Comparison {
  std::string tensor;
  std::size_t size = 0, mismatches = 0;
  std::size_t worst_index = 0;
  double worst_actual = 0, worst_expected = 0, worst_error = 0;  // worst_error: in units of the allowance
};

// Every comparison of one run of one fixture, asserted at once by expect_match.
struct Report {
  std::string fixture, scalar;
  std::vector<Comparison> comparisons;

  Report(std::string fixture_name, std::string scalar_type)
      : fixture(std::move(fixture_name)), scalar(std::move(scalar_type)) {}

  template <class A>
  void compare(const std::string& tensor, const A* actual, std::size_t size, const std::vector<double>& expected,
               double tolerance) {
    REQUIRE_MESSAGE(size == expected.size(), fixture << " (" << scalar << "): " << tensor << " has " << size
                                                    << " values, the fixture " << expected.size());
    double scale = 0;
    for (double e : expected) scale = std::max(scale, std::abs(e));
    Comparison c{tensor, size};
    for (std::size_t i = 0; i < size; ++i) {
      const double a = double(actual[i]), e = expected[i];
      const double error = std::abs(a - e) / (tolerance * std::max(std::abs(e), 0.1 * scale) + 1e-300);
      if (!(error <= 1)) ++c.mismatches;  // NaN counts as a mismatch
      if (!(error <= c.worst_error)) c.worst_index = i, c.worst_actual = a, c.worst_expected = e, c.worst_error = error;
    }
    comparisons.push_back(c);
  }

  const Comparison& operator[](const std::string& tensor) const {
    for (const auto& c : comparisons)
      if (c.tensor == tensor) return c;
    FAIL(fixture << ": no comparison of '" << tensor << "' was made");
    return comparisons.front();
  }
};

// All significant digits: a mismatch at the 1e-10 level must be visible in the message.
inline std::string digits(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

inline void expect_match(const Report& report) {
  CHECK_MESSAGE(!report.comparisons.empty(), report.fixture << ": nothing was compared");
  for (const auto& c : report.comparisons)
    CHECK_MESSAGE(c.mismatches == 0, report.fixture << " (" << report.scalar << "): " << c.tensor << " differs from "
                                                    << "PyTorch at " << c.mismatches << " of " << c.size
                                                    << " values; worst [" << c.worst_index << "] " << digits(c.worst_actual)
                                                    << " vs " << digits(c.worst_expected));
}

// A fixture file; `name` is relative to tests/golden/, without the extension ("layers/relu").
class GoldenFile {
 public:
  explicit GoldenFile(const std::string& name) : name_(name), file_(io::Safetensors::load(path(name))) {}

  static std::filesystem::path path(const std::string& name) {
#ifdef LANMSFF_TEST_DATA_DIR
    const std::filesystem::path root = std::filesystem::path(LANMSFF_TEST_DATA_DIR) / "golden";
#else
    const std::filesystem::path root = "golden";  // tests run from tests/
#endif
    return root / (name + ".safetensors");
  }

  static std::string shape_text(const std::vector<std::int64_t>& shape) {
    return shape_string(std::vector<int>(shape.begin(), shape.end()));
  }

  const std::string& name() const { return name_; }
  bool contains(const std::string& key) const { return file_.contains(key); }
  const io::Safetensors& file() const { return file_; }

  const io::TensorEntry& entry(const std::string& key) const {
    const io::TensorEntry* e = file_.find(key);
    REQUIRE_MESSAGE(e != nullptr, name_ << ": the fixture has no tensor '" << key << "'");
    return *e;
  }
  template <class T>
  std::vector<T> values(const std::string& key) const {
    entry(key);
    return file_.read<T>(key);
  }
  std::vector<double> expected(const std::string& key) const { return values<double>(key); }

  // Requires the tensor to be a batch of `sample`-shaped NHWC samples, (N, h, w, c); returns N.
  int check_shape(const std::string& key, Shape sample) const {
    const auto& shape = entry(key).shape;
    REQUIRE_MESSAGE((shape.size() == 4 && shape[1] == sample.h && shape[2] == sample.w && shape[3] == sample.c),
                    name_ << ": tensor '" << key << "' has shape " << shape_text(shape)
                          << ", expected (N, " << to_string(sample) << ")");
    return int(shape[0]);
  }

  template <class T>
  Tensor<T> tensor(const std::string& key, Shape sample) const {
    Tensor<T> t(check_shape(key, sample), sample);
    const std::vector<T> v = values<T>(key);
    std::copy(v.begin(), v.end(), t.begin());
    return t;
  }

  // Sets a parameter's value from the tensor of the same name, whose shape must be the parameter's.
  template <class T>
  void load(const std::string& key, Parameter<T>& p) const {
    const auto& shape = entry(key).shape;
    REQUIRE_MESSAGE(std::equal(shape.begin(), shape.end(), p.shape.begin(), p.shape.end()),
                    name_ << ": tensor '" << key << "' has shape " << shape_text(shape)
                          << ", the parameter " << shape_string(p.shape));
    const std::vector<T> v = values<T>(key);
    std::copy(v.begin(), v.end(), p.value.begin());
  }

  // The metadata "mode": training or inference.
  Context context() const {
    const auto& meta = file_.metadata();
    const auto it = meta.find("mode");
    REQUIRE_MESSAGE(it != meta.end(), name_ << ": the fixture's metadata has no 'mode'");
    REQUIRE_MESSAGE((it->second == "training" || it->second == "inference"),
                    name_ << ": metadata 'mode' is '" << it->second << "', expected training or inference");
    return it->second == "training" ? Context::train(0) : Context::inference();
  }

  // Fails for every tensor of the fixture that the test did not use: nothing is silently skipped.
  void expect_all_used(const std::set<std::string>& used) const {
    for (const auto& e : file_.entries())
      CHECK_MESSAGE(used.contains(e.name), name_ << ": fixture tensor '" << e.name << "' was not used");
  }

 private:
  std::string name_;
  io::Safetensors file_;
};

}  // namespace lanmsff::testing
