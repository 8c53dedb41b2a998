// Numbers read back from the files the tool writes (checkpoint metadata, metrics.csv): the whole text
// must be the number, so "7abc", " 7" or "" are refused instead of read as 7 or 0.
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

namespace lanmsff::tool {

inline std::optional<double> parse_double(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

inline std::optional<long long> parse_integer(std::string_view text) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace lanmsff::tool
