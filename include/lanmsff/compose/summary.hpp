// A Keras-style model summary: one line per layer with its path, kind, output shape and
// parameter count (composites show the total of their children), then the totals.
#pragma once

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "lanmsff/compose/parallel.hpp"
#include "lanmsff/compose/visit.hpp"

namespace lanmsff {

struct LayerRow {
  std::string path;
  std::string kind;
  Shape output;
  std::size_t parameters = 0;  // trainable, including descendants
  int depth = 0;
};

namespace detail {
struct RowCollector {
  std::vector<LayerRow>* rows;
  std::set<std::string>* seen;
  template <class L>
  void operator()(const std::string& path, L& layer, int) const {
    if (!seen->insert(path).second) return;
    if constexpr (IdentityLayer<L>) return;  // a Parallel's pass-through branch: nothing to show
    const int depth = path.empty() ? 0 : 1 + int(std::count(path.begin(), path.end(), '.'));
    rows->push_back({path.empty() ? "(model)" : path, std::string(L::kind), L::output_shape,
                     count_parameters(layer).trainable, depth});
  }
};
}  // namespace detail

// Composites with a transparent (empty) name add no path segment; they are folded into their
// parent and not listed, so the rows follow the parameter paths. Depth = number of path segments.
template <class L>
std::vector<LayerRow> layer_rows(L& root) {
  std::vector<LayerRow> rows;
  std::set<std::string> seen;
  visit_layers(root, "", detail::RowCollector{&rows, &seen});
  return rows;
}

inline std::string group_thousands(std::size_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

template <class L>
std::string summarize(L& root, const std::string& title = "") {
  const auto rows = layer_rows(root);
  const ParameterCount count = count_parameters(root);
  std::size_t width = 24;
  for (const auto& r : rows) width = std::max(width, r.path.size() + 2 * r.depth - 2 * std::min(r.depth, 1));
  std::string out;
  char line[512];
  if (!title.empty()) out += "Model: " + title + "\n";
  std::snprintf(line, sizeof line, "%-*s %-18s %-14s %12s\n", int(width), "Layer", "Kind", "Output", "Params");
  out += line;
  out += std::string(width + 47, '-') + "\n";
  for (const auto& r : rows) {
    const std::string name = std::string(std::size_t(2 * std::max(r.depth - 1, 0)), ' ') + r.path;
    std::snprintf(line, sizeof line, "%-*s %-18s %-14s %12s\n", int(width), name.c_str(), r.kind.c_str(),
                  to_string(r.output).c_str(), group_thousands(r.parameters).c_str());
    out += line;
  }
  out += std::string(width + 47, '-') + "\n";
  out += "Trainable parameters:     " + group_thousands(count.trainable) + "\n";
  out += "Non-trainable (BN stats): " + group_thousands(count.state) + "\n";
  out += "Total:                    " + group_thousands(count.total()) + "\n";
  return out;
}

}  // namespace lanmsff
