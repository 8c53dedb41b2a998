// Image folders (torchvision's ImageFolder layout, RAF-DB and most exports): one sub-folder per
// class, the class names sorted, images anywhere below. A root with train/, val/ (valid/,
// validation/) and test/ sub-folders holds splits, each laid out that way, sharing one class list.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/image_files.hpp"

namespace lanmsff::io {

namespace detail {

inline std::vector<std::filesystem::path> sorted_subdirectories(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != '.' && it->is_directory(ec)) out.push_back(it->path());
  }
  if (ec) throw std::runtime_error(dir.string() + ": cannot list the directory (" + ec.message() + ")");
  std::sort(out.begin(), out.end());
  return out;
}

// The split a folder name stands for, if any: train, training; val, valid, validation; test.
inline std::optional<Split> split_of_folder(const std::filesystem::path& dir) {
  std::string name = dir.filename().string();
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (name == "train" || name == "training") return Split::train;
  if (name == "val" || name == "valid" || name == "validation") return Split::val;
  if (name == "test") return Split::test;
  return std::nullopt;
}

}  // namespace detail

// The split sub-folders of `root` (train/, val/, test/ and their aliases).
inline std::map<Split, std::filesystem::path> image_folder_splits(const std::filesystem::path& root) {
  std::map<Split, std::filesystem::path> splits;
  for (const auto& dir : detail::sorted_subdirectories(root))
    if (const auto split = detail::split_of_folder(dir)) {
      if (splits.count(*split))
        throw std::runtime_error(root.string() + ": both " + splits[*split].filename().string() + "/ and " +
                                 dir.filename().string() + "/ name the " + to_string(*split) + " split");
      splits[*split] = dir;
    }
  return splits;
}

// Channels: options.channels, else the first image's own (gray files give 1). Without a target
// size every image must have the first one's size.
inline Dataset load_image_folder(const std::filesystem::path& root, const LoadOptions& options = {}) {
  const std::string where = root.string();
  detail::check_load_options(options, where);
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) throw std::runtime_error(where + ": not a directory");

  const std::map<Split, std::filesystem::path> splits = image_folder_splits(root);
  std::vector<std::filesystem::path> split_dirs;  // the folders whose class sub-folders we read
  if (splits.empty()) {
    if (options.split != Split::all)
      throw std::invalid_argument(where + ": no " + std::string(to_string(options.split)) +
                                  "/ sub-folder (the folder has no train/val/test splits); load it with split all");
    split_dirs.push_back(root);
  } else if (options.split == Split::all) {
    for (const auto& [split, dir] : splits) split_dirs.push_back(dir);
  } else {
    const auto found = splits.find(options.split);
    if (found == splits.end())
      throw std::invalid_argument(where + ": no " + std::string(to_string(options.split)) + "/ sub-folder");
    split_dirs.push_back(found->second);
  }

  // Classes come from every split, so that a label means the same class in train and test.
  std::vector<std::filesystem::path> class_roots;
  for (const auto& [split, dir] : splits) class_roots.push_back(dir);
  if (splits.empty()) class_roots.push_back(root);
  std::set<std::string> class_set;
  for (const auto& dir : class_roots)
    for (const auto& class_dir : detail::sorted_subdirectories(dir)) class_set.insert(class_dir.filename().string());
  if (class_set.empty()) throw std::runtime_error(where + ": no class sub-folders");
  const std::vector<std::string> class_names(class_set.begin(), class_set.end());

  std::vector<std::filesystem::path> files;
  std::vector<int> labels;
  for (const auto& dir : split_dirs)
    for (const auto& class_dir : detail::sorted_subdirectories(dir)) {
      const int label =
          static_cast<int>(std::lower_bound(class_names.begin(), class_names.end(), class_dir.filename().string()) -
                           class_names.begin());
      for (auto& file : find_image_files(class_dir)) {
        files.push_back(std::move(file));
        labels.push_back(label);
      }
    }
  if (files.empty()) throw std::runtime_error(where + ": no images (.png, .jpg, .bmp, ...) in the class folders");

  Dataset dataset =
      detail::load_image_files(files, labels, detail::class_names_for(where, class_names, options), 0, options);
  dataset.description = "image folder " + where + " (" + to_string(options.split) + ")";
  return dataset;
}

}  // namespace lanmsff::io
