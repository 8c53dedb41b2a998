// What the KDEF and image-folder loaders share: finding image files under a directory in a
// deterministic order, and decoding a list of them (in parallel) into a Dataset of one shape.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/image.hpp"

namespace lanmsff::io {

// The extensions stb_image decodes (case-insensitive).
inline bool has_image_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif" || ext == ".tga" ||
         ext == ".pgm" || ext == ".ppm" || ext == ".pnm";
}

// Every file with an image extension under `dir`, recursively, sorted by path. Hidden files and
// folders (names starting with '.') are not looked at; files of other kinds are not images.
inline std::vector<std::filesystem::path> find_image_files(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) throw std::runtime_error(dir.string() + ": cannot list the directory (" + ec.message() + ")");
  for (; it != end; it.increment(ec)) {
    if (ec) throw std::runtime_error(dir.string() + ": cannot list the directory (" + ec.message() + ")");
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && has_image_extension(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

namespace detail {

// Decodes files[i] as sample i with labels[i]. The shape is the target size of `options` if it
// has one, else the first image's; channels are options.channels, else `default_channels`, else
// (0) the first image's own. A file that does not decode, or has another size when no target size
// is given, throws naming it (the lowest-numbered such file, whatever the thread count), or with
// options.skipped set is left out and listed there (in file order).
inline Dataset load_image_files(const std::vector<std::filesystem::path>& files, const std::vector<int>& labels,
                                std::vector<std::string> class_names, int default_channels,
                                const LoadOptions& options) {
  if (files.empty()) throw std::invalid_argument("load_image_files: no files");
  int channels = options.channels != 0 ? options.channels : default_channels;
  // The first file that decodes sets the size and channels the others must match.
  std::size_t first_index = 0;
  ImageU8 first;
  std::vector<SkippedFile> skipped;
  for (;; ++first_index) {
    try {
      first = load_image_u8(files[first_index], channels);
      break;
    } catch (const std::exception& error) {
      if (!options.skipped) throw;
      skipped.push_back({files[first_index].string(), error.what()});
      if (first_index + 1 == files.size()) {
        options.skipped->insert(options.skipped->end(), skipped.begin(), skipped.end());
        throw std::runtime_error(files[0].parent_path().string() + ": none of the " + std::to_string(files.size()) +
                                 " image files decodes (the first: " + skipped.front().reason + ")");
      }
    }
  }
  if (channels == 0) channels = first.c();
  const int height = options.height > 0 ? options.height : first.h();
  const int width = options.width > 0 ? options.width : first.w();
  const Shape first_shape = first.shape();

  Dataset dataset({height, width, channels}, std::move(class_names));
  dataset.resize(files.size());
  std::vector<std::exception_ptr> errors(files.size());
  parallel_for(static_cast<std::ptrdiff_t>(first_index), static_cast<std::ptrdiff_t>(files.size()),
               [&](std::ptrdiff_t i) {
    try {
      ImageU8 image = std::size_t(i) == first_index ? std::move(first) : load_image_u8(files[i], channels);
      if (options.height == 0 && (image.h() != height || image.w() != width))
        throw std::runtime_error(files[i].string() + ": image is " + std::to_string(image.h()) + "x" +
                                 std::to_string(image.w()) + " but " + files[first_index].string() + " is " +
                                 std::to_string(first_shape.h) + "x" + std::to_string(first_shape.w) +
                                 "; give a target size (LoadOptions height and width) to resize them all");
      image = fit_image(std::move(image), channels, height, width);
      const auto src = image.values();
      std::copy(src.begin(), src.end(), dataset.mutable_pixels(i).begin());
      dataset.set_label(i, labels[i]);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
  std::vector<std::string> sources(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) sources[i] = files[i].string();
  dataset.set_sources(std::move(sources));
  bool any_error = first_index > 0;
  for (const std::exception_ptr& error : errors) {
    if (!error) continue;
    if (!options.skipped) std::rethrow_exception(error);
    any_error = true;
  }
  if (!any_error) return dataset;

  // Keep the samples that loaded, in file order; list the others.
  Dataset kept({height, width, channels}, dataset.class_names());
  kept.reserve(files.size() - first_index);
  for (std::size_t i = first_index; i < files.size(); ++i) {
    if (!errors[i]) {
      kept.add(dataset.pixels(i), dataset.label(i), dataset.source(i));
      continue;
    }
    try {
      std::rethrow_exception(errors[i]);
    } catch (const std::exception& error) {
      skipped.push_back({files[i].string(), error.what()});
    }
  }
  options.skipped->insert(options.skipped->end(), skipped.begin(), skipped.end());
  return kept;
}

}  // namespace detail
}  // namespace lanmsff::io
