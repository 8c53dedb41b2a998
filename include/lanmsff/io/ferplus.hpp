// FERPlus (Barsoum et al. 2016): fer2013new.csv gives, for every row of fer2013.csv in the same
// order, 10 annotators' votes over neutral, happiness, surprise, sadness, anger, disgust, fear,
// contempt, unknown and NF (not a face). The pixels come from fer2013.csv; the label is the majority vote.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "lanmsff/io/csv.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/fer2013.hpp"

namespace lanmsff::io {

inline constexpr int ferplus_vote_columns = 10;

// Label order: the first 8 vote columns. Votes 8 (unknown) and 9 (NF) never become labels.
inline const std::vector<std::string>& ferplus_class_names() {
  static const std::vector<std::string> names{"Neutral", "Happiness", "Surprise", "Sadness",
                                              "Anger",   "Disgust",   "Fear",     "Contempt"};
  return names;
}

// The 'majority' rule of Microsoft's reference reader (FERPlus src/ferplus.py, _process_data and
// load_folders), over all 10 vote counts:
//   1. outlier removal: every count of at most 1 becomes 0 (a single annotator's vote is noise);
//   2. the winner is the column with the largest remaining count (the first one on a tie), and it
//      counts only if it holds more than half of the remaining votes (strictly: 2 * max > sum);
//   3. no such winner, or a winner that is unknown or NF, excludes the image.
// Returns the label 0..7, or nothing for an excluded image.
inline std::optional<int> ferplus_majority_label(std::span<const int> votes) {
  if (votes.size() != ferplus_vote_columns)
    throw std::invalid_argument("ferplus_majority_label: expected 10 vote counts, got " + std::to_string(votes.size()));
  std::array<int, ferplus_vote_columns> kept{};
  long long sum = 0;  // ten counts of up to 2^31 - 1 each: no overflow in 64 bits
  for (int i = 0; i < ferplus_vote_columns; ++i) {
    kept[i] = votes[i] <= 1 ? 0 : votes[i];
    sum += kept[i];
  }
  const auto winner = std::max_element(kept.begin(), kept.end());  // first maximum, like np.argmax
  if (2 * static_cast<long long>(*winner) <= sum) return std::nullopt;  // also covers sum == 0
  const int label = static_cast<int>(winner - kept.begin());
  if (label >= static_cast<int>(ferplus_class_names().size())) return std::nullopt;
  return label;
}

// Loads FERPlus from fer2013new.csv (`votes_path`) and the fer2013.csv holding the pixels
// (options.fer2013_csv, or fer2013.csv next to votes_path). Rows are paired by position; their
// Usage must agree. Rows with an empty Image name (faces FERPlus dropped) and rows that the
// majority rule excludes are counted in Dataset::excluded.
inline Dataset load_ferplus(const std::filesystem::path& votes_path, const LoadOptions& options = {}) {
  detail::check_load_options(options, votes_path.string());
  const std::filesystem::path pixels_path = !options.fer2013_csv.empty() ? std::filesystem::path(options.fer2013_csv)
                                                                         : votes_path.parent_path() / "fer2013.csv";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(pixels_path, ec))
    throw std::runtime_error(votes_path.string() + ": FERPlus needs the pixels of FER-2013, but " +
                             pixels_path.string() + " does not exist (set LoadOptions::fer2013_csv)");

  CsvReader votes(votes_path);
  std::vector<std::string> header, fields;
  if (!votes.next(header)) throw std::runtime_error(votes_path.string() + ": empty file, expected a FERPlus header");
  static constexpr const char* vote_names[ferplus_vote_columns] = {
      "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"};
  const int usage_column = csv_column(header, "Usage"), name_column = csv_column(header, "Image name");
  std::array<int, ferplus_vote_columns> vote_column{};
  for (int i = 0; i < ferplus_vote_columns; ++i) {
    vote_column[i] = csv_column(header, vote_names[i]);
    if (vote_column[i] < 0)
      votes.fail(std::string("no '") + vote_names[i] +
                 "' column; FERPlus has Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,"
                 "contempt,unknown,NF");
  }
  if (usage_column < 0 || name_column < 0) votes.fail("the header needs 'Usage' and 'Image name' columns");

  Fer2013Reader pixels(pixels_path);
  const int channels = options.channels == 0 ? 1 : options.channels;
  const int height = options.height > 0 ? options.height : fer2013_side;
  const int width = options.width > 0 ? options.width : fer2013_side;
  Dataset dataset({height, width, channels},
                  detail::class_names_for(votes_path.string(), ferplus_class_names(), options));
  dataset.description = "FERPlus " + votes_path.filename().string() + " (" + to_string(options.split) + ")";

  Fer2013Row face_row;
  ImageU8 face(fer2013_side, fer2013_side, 1);
  std::array<int, ferplus_vote_columns> counts{};
  while (votes.next(fields)) {
    if (fields.size() != header.size())
      votes.fail("expected " + std::to_string(header.size()) + " fields like the header, found " +
                 std::to_string(fields.size()));
    if (!pixels.next(face_row))
      votes.fail("this row has no partner: " + pixels_path.string() + " ends at line " + std::to_string(pixels.line()));
    const std::optional<Split> parsed_usage = parse_fer2013_usage(fields[usage_column]);
    if (!parsed_usage) votes.fail("Usage '" + fields[usage_column] + "' is not Training, PublicTest or PrivateTest");
    const Split usage = *parsed_usage;
    if (pixels.has_usage() && face_row.usage != usage)
      votes.fail("Usage " + fields[usage_column] + " disagrees with " + pixels_path.string() + ":" +
                 std::to_string(pixels.line()) + " (Usage " + face_row.usage_name +
                 "); the two files must list the same images in the same order");
    for (int i = 0; i < ferplus_vote_columns; ++i) {
      const std::string& text = fields[vote_column[i]];
      int value = -1;
      const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (err != std::errc() || end != text.data() + text.size() || value < 0)
        votes.fail(std::string("vote count ") + vote_names[i] + " '" + text + "' is not a non-negative integer");
      counts[i] = value;
    }
    if (options.split != Split::all && usage != options.split) continue;
    const std::optional<int> label = fields[name_column].empty() ? std::nullopt : ferplus_majority_label(counts);
    if (!label) {
      ++dataset.excluded;
      continue;
    }
    std::copy(face_row.pixels.begin(), face_row.pixels.end(), face.data());
    dataset.add(detail::fit_image(face, channels, height, width), *label,
                votes_path.string() + ":" + std::to_string(votes.line()));
  }
  if (pixels.next(face_row))
    pixels.fail("this row has no partner: " + votes_path.string() + " ends at line " + std::to_string(votes.line()));
  if (dataset.empty())
    throw std::runtime_error(votes_path.string() + ": no labelled rows in split " + to_string(options.split));
  return dataset;
}

}  // namespace lanmsff::io
