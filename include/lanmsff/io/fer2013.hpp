// FER-2013 (Kaggle / ICML 2013): one CSV with the columns emotion, pixels and Usage in any order
// (Kaggle's `emotion,pixels,Usage`, icml_face_data.csv's `emotion, Usage, pixels`); pixels are 2304
// space-separated 0-255 values, a 48x48 gray face, row by row. Usage: Training, PublicTest, PrivateTest.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "lanmsff/io/csv.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/image.hpp"

namespace lanmsff::io {

inline constexpr int fer2013_side = 48;

// Label order of the `emotion` column.
inline const std::vector<std::string>& fer2013_class_names() {
  static const std::vector<std::string> names{"Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"};
  return names;
}

// Usage column: Training = train, PublicTest = val, PrivateTest = test (case-insensitive).
inline std::optional<Split> parse_fer2013_usage(std::string_view text) {
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "training") return Split::train;
  if (lower == "publictest") return Split::val;
  if (lower == "privatetest") return Split::test;
  return std::nullopt;
}

struct Fer2013Row {
  int emotion = -1;                  // 0..6; -1 when the file has no emotion column
  Split usage = Split::all;          // train / val (PublicTest) / test (PrivateTest); all when no Usage column
  std::string usage_name;            // as written in the file
  std::vector<std::uint8_t> pixels;  // 48 * 48, row-major
};

// Reads a FER-2013 CSV row by row, validating each; errors name the file and the line.
class Fer2013Reader {
 public:
  explicit Fer2013Reader(const std::filesystem::path& path) : csv_(path) {
    if (!csv_.next(header_)) throw std::runtime_error(csv_.path() + ": empty file, expected a FER-2013 CSV header");
    emotion_ = csv_column(header_, "emotion");
    pixels_ = csv_column(header_, "pixels");
    usage_ = csv_column(header_, "Usage");
    if (pixels_ < 0) csv_.fail("no 'pixels' column in the header; FER-2013 has the columns emotion,pixels,Usage");
  }

  bool has_emotion() const { return emotion_ >= 0; }
  bool has_usage() const { return usage_ >= 0; }
  const std::string& path() const { return csv_.path(); }
  std::size_t line() const { return csv_.line(); }
  [[noreturn]] void fail(const std::string& what) const { csv_.fail(what); }

  bool next(Fer2013Row& row) {
    if (!csv_.next(fields_)) return false;
    if (fields_.size() != header_.size())
      csv_.fail("expected " + std::to_string(header_.size()) + " fields like the header, found " +
                std::to_string(fields_.size()));
    row.emotion = has_emotion() ? parse_emotion(fields_[emotion_]) : -1;
    if (has_usage()) {
      row.usage_name = fields_[usage_];
      row.usage = parse_usage(row.usage_name);
    } else {
      row.usage_name.clear();
      row.usage = Split::all;
    }
    parse_pixels(fields_[pixels_], row.pixels);
    return true;
  }

 private:
  int parse_emotion(const std::string& text) const {
    int value = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) csv_.fail("emotion '" + text + "' is not an integer");
    if (value < 0 || value >= static_cast<int>(fer2013_class_names().size()))
      csv_.fail("emotion " + text + " is not in 0..6 (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral)");
    return value;
  }

  Split parse_usage(const std::string& text) const {
    const std::optional<Split> usage = parse_fer2013_usage(text);
    if (!usage) csv_.fail("Usage '" + text + "' is not Training, PublicTest or PrivateTest");
    return *usage;
  }

  void parse_pixels(const std::string& text, std::vector<std::uint8_t>& out) const {
    constexpr std::size_t expected = fer2013_side * fer2013_side;
    out.clear();
    out.reserve(expected);
    const char* p = text.data();
    const char* const end = p + text.size();
    while (true) {
      while (p < end && (*p == ' ' || *p == '\t')) ++p;
      if (p == end) break;
      const char* token_end = p;
      while (token_end < end && *token_end != ' ' && *token_end != '\t') ++token_end;
      int value = -1;
      const auto [stop, ec] = std::from_chars(p, token_end, value);
      const std::string token(p, token_end);
      if (ec != std::errc() || stop != token_end)
        csv_.fail("pixels: value " + std::to_string(out.size() + 1) + " ('" + token + "') is not an integer");
      if (value < 0 || value > 255)
        csv_.fail("pixels: value " + std::to_string(out.size() + 1) + " (" + token + ") is not in 0..255");
      if (out.size() == expected) csv_.fail("pixels: more than " + std::to_string(expected) + " values (48x48)");
      out.push_back(static_cast<std::uint8_t>(value));
      p = token_end;
    }
    if (out.size() != expected)
      csv_.fail("pixels: expected " + std::to_string(expected) + " values (48x48), found " +
                std::to_string(out.size()));
  }

  CsvReader csv_;
  std::vector<std::string> header_, fields_;
  int emotion_ = -1, pixels_ = -1, usage_ = -1;
};

// The rows of `split`; 48x48x1 unless options give a size or channels.
inline Dataset load_fer2013(const std::filesystem::path& path, const LoadOptions& options = {}) {
  detail::check_load_options(options, path.string());
  Fer2013Reader reader(path);
  if (!reader.has_emotion())
    throw std::runtime_error(path.string() + ": no 'emotion' column, so no labels (is this the unlabelled test.csv?)");
  if (!reader.has_usage() && options.split != Split::all)
    throw std::invalid_argument(path.string() + ": no 'Usage' column, so there is no " + to_string(options.split) +
                                " split; load it with split all");
  const int channels = options.channels == 0 ? 1 : options.channels;
  const int height = options.height > 0 ? options.height : fer2013_side;
  const int width = options.width > 0 ? options.width : fer2013_side;
  Dataset dataset({height, width, channels}, detail::class_names_for(path.string(), fer2013_class_names(), options));
  dataset.description = "FER-2013 " + path.filename().string() + " (" + to_string(options.split) + ")";

  Fer2013Row row;
  ImageU8 face(fer2013_side, fer2013_side, 1);
  while (reader.next(row)) {
    if (options.split != Split::all && row.usage != options.split) continue;
    std::copy(row.pixels.begin(), row.pixels.end(), face.data());
    dataset.add(detail::fit_image(face, channels, height, width), row.emotion,
                path.string() + ":" + std::to_string(reader.line()));
  }
  if (dataset.empty()) throw std::runtime_error(path.string() + ": no rows in split " + to_string(options.split));
  return dataset;
}

}  // namespace lanmsff::io
