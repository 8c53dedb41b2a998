// Loading data sets for the tool: format detection, the split to read when the user names none,
// and the model's input size and channels.
#pragma once

#include <filesystem>
#include <string>

#include "lanmsff/io/load_dataset.hpp"

namespace lanmsff::tool {

struct DataOptions {
  std::string format = "auto";
  std::string fer2013_csv;               // FERPlus: the pixels file
  std::vector<std::string> kdef_angles;  // KDEF: angles to keep
  std::uint64_t seed = 0;                // KDEF subject split
};

// "auto" picks `preferred` where the data has it: a folder without split sub-folders is read whole;
// IDX and KDEF have no validation split, so `val` falls back to `test` there.
inline io::Split resolve_split(const std::filesystem::path& path, const std::string& requested, io::Split preferred,
                               io::DatasetFormat format) {
  if (requested != "auto") return io::parse_split(requested);
  if (format == io::DatasetFormat::automatic) format = io::detect_dataset_format(path);
  switch (format) {
    case io::DatasetFormat::image_folder: {
      const auto splits = io::image_folder_splits(path);
      if (splits.empty()) return io::Split::all;
      if (splits.count(preferred)) return preferred;
      if (preferred == io::Split::val && splits.count(io::Split::test)) return io::Split::test;
      return preferred;
    }
    case io::DatasetFormat::idx:
    case io::DatasetFormat::kdef: return preferred == io::Split::val ? io::Split::test : preferred;
    default: return preferred;
  }
}

// skipped: when set, image files that do not decode are left out and listed there (eval carries on).
inline io::Dataset load_data(const std::filesystem::path& path, const std::string& split, io::Split preferred, Shape input,
                             const DataOptions& options, std::vector<io::SkippedFile>* skipped = nullptr) {
  io::LoadOptions load;
  load.skipped = skipped;
  load.format = io::parse_dataset_format(options.format);
  load.split = resolve_split(path, split, preferred, load.format);
  load.height = input.h, load.width = input.w, load.channels = input.c;
  load.fer2013_csv = options.fer2013_csv;
  load.kdef_angles = options.kdef_angles;
  load.seed = options.seed;
  io::Dataset data = io::load_dataset(path, load);
  if (data.empty()) throw std::runtime_error(path.string() + ": no samples in the " + io::to_string(load.split) + " split");
  return data;
}

// 0 .. n-1 in a seeded random order.
inline std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  Rng rng(seed);
  lanmsff::shuffle(order.begin(), order.end(), rng);
  return order;
}

// A seeded random subset of `count` samples (all if count is 0 or too large).
inline io::Dataset random_subset(const io::Dataset& data, std::size_t count, std::uint64_t seed) {
  if (count == 0 || count >= data.size()) return data;
  std::vector<std::size_t> order = shuffled_indices(data.size(), seed);
  order.resize(count);
  std::sort(order.begin(), order.end());
  return data.subset(order);
}

// Splits off a seeded random `fraction` of `data` as a validation set.
inline std::pair<io::Dataset, io::Dataset> hold_out(const io::Dataset& data, double fraction, std::uint64_t seed) {
  std::vector<std::size_t> order = shuffled_indices(data.size(), seed);
  const std::size_t held = std::max<std::size_t>(1, std::size_t(double(data.size()) * fraction));
  std::vector<std::size_t> val(order.begin(), order.begin() + std::ptrdiff_t(held)),
      train(order.begin() + std::ptrdiff_t(held), order.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {data.subset(train), data.subset(val)};
}

}  // namespace lanmsff::tool
