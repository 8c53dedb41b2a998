// KDEF (Karolinska Directed Emotional Faces): 70 people (35 F, 35 M) photographed twice (sessions
// A, B) with 7 expressions from 5 angles. A file name says it all: AF01ANFL.JPG = session A, female,
// subject 01, angry, full left. Loading keeps chosen angles and splits train/test by person.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/image_files.hpp"

namespace lanmsff::io {

// Expression codes in label order (alphabetical) and their class names.
inline constexpr std::array<std::string_view, 7> kdef_expression_codes{"AF", "AN", "DI", "HA", "NE", "SA", "SU"};
inline const std::vector<std::string>& kdef_class_names() {
  static const std::vector<std::string> names{"Afraid", "Angry", "Disgusted", "Happy", "Neutral", "Sad", "Surprised"};
  return names;
}
// Camera angles: full left, half left, straight, half right, full right.
inline constexpr std::array<std::string_view, 5> kdef_angle_codes{"FL", "HL", "S", "HR", "FR"};

struct KdefName {
  char session = 'A';  // 'A' or 'B'
  char gender = 'F';   // 'F' or 'M'
  int subject = 0;     // 1..35 within the gender
  int expression = 0;  // index into kdef_expression_codes
  std::string angle;   // one of kdef_angle_codes
  // The person, the same in both sessions: "F01".
  std::string person() const { return std::string(1, gender) + (subject < 10 ? "0" : "") + std::to_string(subject); }
};

// Parses a KDEF file name (any case, extension .jpg or .jpeg); nothing if it is not one.
inline std::optional<KdefName> parse_kdef_name(std::string_view file_name) {
  std::string name;
  for (char ch : file_name) name += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::string stem;
  if (name.ends_with(".JPG"))
    stem = name.substr(0, name.size() - 4);
  else if (name.ends_with(".JPEG"))
    stem = name.substr(0, name.size() - 5);
  else
    return std::nullopt;
  if (stem.size() != 7 && stem.size() != 8) return std::nullopt;
  KdefName out;
  out.session = stem[0];
  out.gender = stem[1];
  if ((out.session != 'A' && out.session != 'B') || (out.gender != 'F' && out.gender != 'M')) return std::nullopt;
  if (!std::isdigit(static_cast<unsigned char>(stem[2])) || !std::isdigit(static_cast<unsigned char>(stem[3])))
    return std::nullopt;
  out.subject = (stem[2] - '0') * 10 + (stem[3] - '0');
  if (out.subject < 1 || out.subject > 35) return std::nullopt;
  const auto expression = std::find(kdef_expression_codes.begin(), kdef_expression_codes.end(), stem.substr(4, 2));
  if (expression == kdef_expression_codes.end()) return std::nullopt;
  out.expression = static_cast<int>(expression - kdef_expression_codes.begin());
  out.angle = stem.substr(6);
  if (std::find(kdef_angle_codes.begin(), kdef_angle_codes.end(), out.angle) == kdef_angle_codes.end())
    return std::nullopt;
  return out;
}

// The held-out people: options.test_subjects if given (each must occur in `people`), else
// round(test_fraction * people) of them drawn with options.seed. `people` is sorted.
inline std::set<std::string> kdef_test_people(const std::vector<std::string>& people, const LoadOptions& options,
                                              const std::string& path) {
  std::set<std::string> test;
  if (!options.test_subjects.empty()) {
    for (std::string subject : options.test_subjects) {
      for (char& ch : subject) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (!std::binary_search(people.begin(), people.end(), subject))
        throw std::invalid_argument(path + ": test subject '" + subject +
                                    "' is not among the people found (expected gender + number, e.g. F01, M17)");
      test.insert(subject);
    }
    return test;
  }
  if (!(options.test_fraction >= 0.0 && options.test_fraction <= 1.0))
    throw std::invalid_argument(path + ": LoadOptions::test_fraction must be in [0, 1], got " +
                                std::to_string(options.test_fraction));
  std::vector<std::string> shuffled = people;
  Rng rng(hash_combine(options.seed, hash_name("kdef-split")));
  lanmsff::shuffle(shuffled.begin(), shuffled.end(), rng);
  const auto count = static_cast<std::size_t>(std::lround(options.test_fraction * double(shuffled.size())));
  test.insert(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(count));
  return test;
}

// Every KDEF image under `dir` (any folder layout). An image file whose name is not a KDEF name
// is an error, not skipped. Colour (3 channels) unless options say 1; KDEF's 562x762 photographs
// are best loaded with a target size. Split val is not defined (take one from train by subject).
inline Dataset load_kdef(const std::filesystem::path& dir, const LoadOptions& options = {}) {
  const std::string where = dir.string();
  detail::check_load_options(options, where);
  if (options.split == Split::val)
    throw std::invalid_argument(where + ": KDEF has no val split; load train and hold out people from it");
  std::vector<std::string> angles;
  for (std::string angle : options.kdef_angles) {
    for (char& ch : angle) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (std::find(kdef_angle_codes.begin(), kdef_angle_codes.end(), angle) == kdef_angle_codes.end())
      throw std::invalid_argument(where + ": unknown KDEF angle '" + angle + "' (expected FL, HL, S, HR or FR)");
    angles.push_back(angle);
  }

  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw std::runtime_error(where + ": not a directory");
  const std::vector<std::filesystem::path> all_files = find_image_files(dir);
  std::vector<std::filesystem::path> files;
  std::vector<KdefName> names;
  std::set<std::string> people_set;
  for (const auto& file : all_files) {
    const std::optional<KdefName> name = parse_kdef_name(file.filename().string());
    if (!name)
      throw std::runtime_error(
          file.string() +
          ": not a KDEF file name (expected session A/B, gender F/M, "
          "subject 01-35, expression AF/AN/DI/HA/NE/SA/SU, angle FL/HL/S/HR/FR, e.g. AF01ANFL.JPG)");
    people_set.insert(name->person());
    if (!angles.empty() && std::find(angles.begin(), angles.end(), name->angle) == angles.end()) continue;
    files.push_back(file);
    names.push_back(*name);
  }
  if (all_files.empty()) throw std::runtime_error(where + ": no KDEF images (.JPG) found");

  const std::vector<std::string> people(people_set.begin(), people_set.end());
  std::set<std::string> test_people;
  if (options.split != Split::all) test_people = kdef_test_people(people, options, where);
  std::vector<std::filesystem::path> kept;
  std::vector<int> labels;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const bool is_test = test_people.count(names[i].person()) != 0;
    if (options.split == Split::all || (options.split == Split::test) == is_test) {
      kept.push_back(files[i]);
      labels.push_back(names[i].expression);
    }
  }
  if (kept.empty())
    throw std::runtime_error(where + ": no KDEF images left in split " + std::string(to_string(options.split)) +
                             " with the chosen angles");
  Dataset dataset =
      detail::load_image_files(kept, labels, detail::class_names_for(where, kdef_class_names(), options), 3, options);
  dataset.description = "KDEF " + where + " (" + to_string(options.split) + ")";
  return dataset;
}

}  // namespace lanmsff::io
