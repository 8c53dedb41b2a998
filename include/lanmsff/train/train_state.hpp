// The resumable state of optimizers, learning-rate schedules and early stopping, as plain named
// values a checkpoint writer can store (safetensors tensors, or JSON): named tensors for
// per-parameter buffers, named scalars for counters. Lookups validate names and sizes.
// Also the MonitorMode the metric-watching callbacks share.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lanmsff {

// Direction of a monitored metric, for ReduceLROnPlateau and EarlyStopping: min = lower is better
// (a loss), max = higher is better (an accuracy).
enum class MonitorMode { min, max };

// One-dimensional tensors by name, e.g. {"adam.m.block1.conv.kernel", {...}}.
template <class T>
using NamedTensors = std::vector<std::pair<std::string, std::vector<T>>>;

// Scalars by name, e.g. {"reduce_lr_on_plateau.best", 0.53}. Counters are stored as doubles (exact
// up to 2^53); "best so far" values start at +/-infinity, which safetensors (F64) keeps but JSON
// cannot represent, so a JSON writer has to encode those specially.
using NamedScalars = std::vector<std::pair<std::string, double>>;

namespace detail {

// Index of entries by name; a name that occurs twice is an error, not "last one wins".
template <class Entries>
std::unordered_map<std::string, std::size_t> index_by_name(const Entries& entries, const std::string& who) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (!index.emplace(entries[i].first, i).second)
      throw std::invalid_argument(who + ": entry '" + entries[i].first + "' occurs twice");
  return index;
}

// Throws if `entries` holds a name outside `expected` (a state saved by another object or model).
template <class Entries>
void reject_unknown_names(const Entries& entries, const std::unordered_map<std::string, std::size_t>& expected,
                          const std::string& who) {
  for (const auto& [name, value] : entries)
    if (!expected.count(name))
      throw std::invalid_argument(who + ": unexpected entry '" + name +
                                  "' (state saved by a different optimizer, schedule or model?)");
}

}  // namespace detail

// Reads named scalars back. The constructor checks that exactly the expected names are present,
// so a caller can read everything into locals first and change its own state only once all is valid.
class ScalarReader {
 public:
  ScalarReader(const NamedScalars& scalars, std::string who, const std::vector<std::string>& expected_names)
      : scalars_(scalars), who_(std::move(who)), index_(detail::index_by_name(scalars, who_)) {
    std::unordered_map<std::string, std::size_t> expected;
    for (std::size_t i = 0; i < expected_names.size(); ++i) {
      expected.emplace(expected_names[i], i);
      if (!index_.count(expected_names[i]))
        throw std::invalid_argument(who_ + ": missing entry '" + expected_names[i] + "'");
    }
    detail::reject_unknown_names(scalars_, expected, who_);
  }

  double get(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) throw std::invalid_argument(who_ + ": missing entry '" + name + "'");
    return scalars_[it->second].second;
  }
  // A finite value (learning rates, factors).
  double finite(const std::string& name) const {
    const double v = get(name);
    if (!std::isfinite(v)) throw std::invalid_argument(who_ + ": entry '" + name + "' is not finite");
    return v;
  }
  // A counter: a non-negative integer.
  long long count(const std::string& name) const {
    const double v = get(name);
    if (!(v >= 0) || v != std::floor(v) || v > 9007199254740992.0)  // 2^53: doubles stop being exact
      throw std::invalid_argument(who_ + ": entry '" + name + "' = " + std::to_string(v) +
                                  ", expected a non-negative integer");
    return static_cast<long long>(v);
  }
  // A counter that may be -1 ("not started", e.g. no epoch finished yet).
  long long count_or_minus_one(const std::string& name) const {
    return get(name) == -1 ? -1 : count(name);
  }

 private:
  const NamedScalars& scalars_;
  std::string who_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace lanmsff
