// load_dataset(path, options): one entry point for every supported format, told apart by what the
// path holds: a CSV's header (FER-2013 or FERPlus), IDX file names, train/val/test folders, KDEF
// file names, or else class folders. LoadOptions::format skips the guessing.
#pragma once

#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "lanmsff/io/csv.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/fer2013.hpp"
#include "lanmsff/io/ferplus.hpp"
#include "lanmsff/io/idx.hpp"
#include "lanmsff/io/image_files.hpp"
#include "lanmsff/io/image_folder.hpp"
#include "lanmsff/io/kdef.hpp"

namespace lanmsff::io {

inline const char* to_string(DatasetFormat f) {
  switch (f) {
    case DatasetFormat::idx:
      return "idx";
    case DatasetFormat::fer2013:
      return "fer2013";
    case DatasetFormat::ferplus:
      return "ferplus";
    case DatasetFormat::kdef:
      return "kdef";
    case DatasetFormat::image_folder:
      return "folder";
    default:
      return "auto";
  }
}

// The names to_string gives (auto, idx, fer2013, ferplus, kdef, folder), plus image_folder.
inline DatasetFormat parse_dataset_format(const std::string& name) {
  if (name == "image_folder") return DatasetFormat::image_folder;
  for (DatasetFormat f : {DatasetFormat::automatic, DatasetFormat::idx, DatasetFormat::fer2013, DatasetFormat::ferplus,
                          DatasetFormat::kdef, DatasetFormat::image_folder})
    if (name == to_string(f)) return f;
  throw std::invalid_argument("unknown data set format '" + name +
                              "': expected auto, idx, fer2013, ferplus, kdef or folder");
}

// The rules, in order:
//   a .csv file: FERPlus if its header has the vote columns (neutral ... contempt), FER-2013 if it
//     has a pixels column;
//   a file with "idx3-ubyte" in its name: IDX;
//   a directory with idx3-ubyte / idx1-ubyte files: IDX;
//   a directory with train/, val/ or test/ sub-folders: image folder;
//   a directory whose first image file (in path order) has a KDEF name: KDEF;
//   any other directory: image folder.
inline DatasetFormat detect_dataset_format(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string where = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw std::runtime_error(where + ": no such file or directory");
  if (fs::is_regular_file(path, ec)) {
    const std::string name = path.filename().string();
    if (name.find("idx3-ubyte") != std::string::npos) return DatasetFormat::idx;
    std::string ext = path.extension().string();
    for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (ext != ".csv")
      throw std::runtime_error(where +
                               ": not a recognised data set file (expected a FER-2013 or FERPlus .csv, an "
                               "IDX images file, or a directory)");
    CsvReader csv(path);
    std::vector<std::string> header;
    if (!csv.next(header)) throw std::runtime_error(where + ": empty CSV file");
    if (csv_column(header, "neutral") >= 0 && csv_column(header, "contempt") >= 0) return DatasetFormat::ferplus;
    if (csv_column(header, "pixels") >= 0) return DatasetFormat::fer2013;
    std::string columns;
    for (const auto& h : header) columns += (columns.empty() ? "" : ",") + h;
    csv.fail(
        "neither a FER-2013 header (emotion,pixels,Usage) nor a FERPlus one (Usage,Image name,neutral,...,NF); "
        "found: " +
        columns);
  }
  if (!fs::is_directory(path, ec)) throw std::runtime_error(where + ": neither a regular file nor a directory");
  if (is_idx_directory(path)) return DatasetFormat::idx;
  if (!image_folder_splits(path).empty()) return DatasetFormat::image_folder;
  const std::vector<fs::path> images = find_image_files(path);
  if (images.empty()) throw std::runtime_error(where + ": no IDX files, no CSV and no images found in the directory");
  if (parse_kdef_name(images.front().filename().string())) return DatasetFormat::kdef;
  return DatasetFormat::image_folder;
}

inline Dataset load_dataset(const std::filesystem::path& path, const LoadOptions& options = {}) {
  const DatasetFormat format =
      options.format == DatasetFormat::automatic ? detect_dataset_format(path) : options.format;
  switch (format) {
    case DatasetFormat::idx:
      return load_idx(path, options);
    case DatasetFormat::fer2013:
      return load_fer2013(path, options);
    case DatasetFormat::ferplus:
      return load_ferplus(path, options);
    case DatasetFormat::kdef:
      return load_kdef(path, options);
    case DatasetFormat::image_folder:
      return load_image_folder(path, options);
    default:
      break;
  }
  throw std::logic_error("load_dataset: unhandled format");
}

}  // namespace lanmsff::io
