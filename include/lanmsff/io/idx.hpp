// IDX files (MNIST, Fashion-MNIST, KMNIST): a 4-byte magic (0, 0, element type, number of
// dimensions), the dimensions as big-endian uint32, then the elements. Files may be gzipped (Debian
// ships Fashion-MNIST as .gz); zlib reads both. An images file pairs with its labels file.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/image.hpp"

namespace lanmsff::io {

// The whole file, gunzipped if it is gzip data (by content, not by name). A damaged or truncated
// gzip stream is an error naming the file.
inline std::vector<std::uint8_t> read_maybe_gzipped(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(path.string() + ": " +
                             (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
  gzFile file = gzopen(path.string().c_str(), "rb");
  if (!file) throw std::runtime_error(path.string() + ": cannot open for reading");
  // zlib's messages start with the path it was given; ours already names the file.
  auto zlib_message = [&](const char* message) {
    std::string text = message ? message : "unknown error";
    if (text.starts_with(path.string() + ": ")) text.erase(0, path.string().size() + 2);
    return text;
  };
  std::vector<std::uint8_t> out;
  // Read in chunks that grow with what has been read (64 KiB to 16 MiB): a small file costs a small
  // buffer, a large one few calls.
  while (true) {
    const std::size_t old_size = out.size();
    const unsigned chunk = unsigned(std::clamp<std::size_t>(old_size, std::size_t(1) << 16, std::size_t(1) << 24));
    out.resize(old_size + chunk);
    const int got = gzread(file, out.data() + old_size, chunk);
    if (got < 0) {
      int code = 0;
      const std::string message = zlib_message(gzerror(file, &code));
      gzclose(file);
      throw std::runtime_error(path.string() + ": damaged gzip data (zlib: " + message + ")");
    }
    out.resize(old_size + static_cast<std::size_t>(got));
    if (got == 0) break;
  }
  int code = Z_OK;
  const std::string message = zlib_message(gzerror(file, &code));
  const int close_code = gzclose(file);
  // zlib reports a gzip stream cut short as Z_BUF_ERROR once the data run out.
  if ((code != Z_OK && code != Z_STREAM_END) || close_code != Z_OK)
    throw std::runtime_error(path.string() + ": damaged or truncated gzip data (zlib: " +
                             (code != Z_OK ? message : std::string("close failed")) + ")");
  return out;
}

struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> data;  // row-major, dims multiplied out
};

// An IDX file of unsigned bytes (element type 0x08) with `expected_dims` dimensions, validated:
// magic, element type, dimension count and the exact data size.
inline IdxArray read_idx_u8(const std::filesystem::path& path, int expected_dims) {
  const std::vector<std::uint8_t> bytes = read_maybe_gzipped(path);
  const std::string where = path.string();
  if (bytes.size() < 4)
    throw std::runtime_error(where + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0)
    throw std::runtime_error(where + ": bad IDX magic (the first two bytes must be 0); not an IDX file");
  if (bytes[2] != 0x08)
    throw std::runtime_error(where + ": IDX element type " + std::to_string(bytes[2]) +
                             " is not supported; expected 8 (unsigned byte)");
  const int dims = bytes[3];
  if (dims != expected_dims)
    throw std::runtime_error(where + ": IDX file has " + std::to_string(dims) + " dimensions, expected " +
                             std::to_string(expected_dims));
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(dims);
  if (bytes.size() < header) throw std::runtime_error(where + ": truncated IDX header");
  IdxArray out;
  std::size_t count = 1;
  for (int d = 0; d < dims; ++d) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * d;
    const std::size_t n = (std::size_t(p[0]) << 24) | (std::size_t(p[1]) << 16) | (std::size_t(p[2]) << 8) | p[3];
    out.dims.push_back(n);
    if (n != 0 && count > std::numeric_limits<std::size_t>::max() / n)  // a wrapped product could pass the size check
      throw std::runtime_error(where + ": the IDX dimensions multiply past any possible size; not a valid IDX file");
    count *= n;
  }
  const std::size_t have = bytes.size() - header;
  if (have < count)
    throw std::runtime_error(where + ": truncated: the header promises " + std::to_string(count) +
                             " bytes of data, the file holds " + std::to_string(have));
  if (have > count)
    throw std::runtime_error(where + ": " + std::to_string(have - count) +
                             " bytes after the data that the header describes; not a valid IDX file");
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

inline const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

namespace detail {

// "<prefix>-images-idx3-ubyte" or "<prefix>-images.idx3-ubyte", plain or .gz, in `dir`.
inline std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& prefix,
                                           const std::string& kind, const std::string& idx) {
  std::error_code ec;
  for (const char* separator : {"-", "."})
    for (const char* suffix : {"", ".gz"}) {
      const auto candidate = dir / (prefix + "-" + kind + separator + idx + "-ubyte" + suffix);
      if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    }
  throw std::runtime_error(dir.string() + ": no " + prefix + "-" + kind + "-" + idx + "-ubyte[.gz] file");
}

inline bool contains_fashion(const std::filesystem::path& path) {
  std::string s = std::filesystem::absolute(path).string();
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s.find("fashion") != std::string::npos;
}

}  // namespace detail

// Whether `dir` holds IDX data set files (train-images-idx3-ubyte[.gz], t10k-..., ...).
inline bool is_idx_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find("idx3-ubyte") != std::string::npos || name.find("idx1-ubyte") != std::string::npos) return true;
  }
  return false;
}

// `path` is a directory with the four IDX files (split train = train-*, test = t10k-*, all = both)
// or one images file, whose labels file has "labels"/"idx1" for "images"/"idx3" in its name.
// Classes: LoadOptions::class_names, else Fashion-MNIST's names when the path mentions
// "fashion", else "0".."9" (more if a label is larger).
inline Dataset load_idx(const std::filesystem::path& path, const LoadOptions& options = {}) {
  const std::string where = path.string();
  detail::check_load_options(options, where);
  if (options.split == Split::val)
    throw std::invalid_argument(where + ": IDX data sets have train and test (t10k) files, no val split");
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> pairs;  // (images, labels)
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const std::string prefix : {"train", "t10k"}) {
      const Split split = prefix == "train" ? Split::train : Split::test;
      if (options.split != Split::all && options.split != split) continue;
      std::filesystem::path images_file = detail::find_idx_file(path, prefix, "images", "idx3");
      pairs.emplace_back(std::move(images_file), detail::find_idx_file(path, prefix, "labels", "idx1"));
    }
  } else {
    std::string name = path.filename().string();
    const auto images_at = name.find("images"), idx3_at = name.find("idx3");
    if (images_at == std::string::npos || idx3_at == std::string::npos)
      throw std::runtime_error(where + ": not an IDX images file (expected a name like train-images-idx3-ubyte)");
    if (options.split != Split::all && !name.starts_with(options.split == Split::train ? "train" : "t10k"))
      throw std::invalid_argument(where + ": the file is not of split " + std::string(to_string(options.split)));
    name.replace(images_at, 6, "labels");
    name.replace(name.find("idx3"), 4, "idx1");
    pairs.emplace_back(path, path.parent_path() / name);
  }

  std::vector<IdxArray> images, labels;
  int max_label = 0;
  for (const auto& [images_path, labels_path] : pairs) {
    images.push_back(read_idx_u8(images_path, 3));
    labels.push_back(read_idx_u8(labels_path, 1));
    if (images.back().dims[0] != labels.back().dims[0])
      throw std::runtime_error(images_path.string() + " has " + std::to_string(images.back().dims[0]) + " images but " +
                               labels_path.string() + " has " + std::to_string(labels.back().dims[0]) + " labels");
    if (images.back().dims[1] != images.front().dims[1] || images.back().dims[2] != images.front().dims[2])
      throw std::runtime_error(images_path.string() + ": image size differs from " + pairs.front().first.string());
    for (std::uint8_t l : labels.back().data) max_label = std::max(max_label, int(l));
  }
  const int file_h = static_cast<int>(images.front().dims[1]), file_w = static_cast<int>(images.front().dims[2]);
  if (file_h <= 0 || file_w <= 0) throw std::runtime_error(pairs.front().first.string() + ": images of size 0");

  std::vector<std::string> class_names;
  const int num_classes = std::max(10, max_label + 1);
  if (!options.class_names.empty()) {
    if (static_cast<int>(options.class_names.size()) <= max_label)
      throw std::invalid_argument(where + ": LoadOptions::class_names has " +
                                  std::to_string(options.class_names.size()) + " names but a label is " +
                                  std::to_string(max_label));
    class_names = options.class_names;
  } else if (num_classes == 10 && detail::contains_fashion(path)) {
    class_names = fashion_mnist_class_names();
  } else {
    for (int c = 0; c < num_classes; ++c) class_names.push_back(std::to_string(c));
  }

  const int channels = options.channels == 0 ? 1 : options.channels;
  const int height = options.height > 0 ? options.height : file_h;
  const int width = options.width > 0 ? options.width : file_w;
  Dataset dataset({height, width, channels}, std::move(class_names));
  dataset.description = "IDX " + where + " (" + to_string(options.split) + ")";
  std::size_t total = 0;
  for (const auto& l : labels) total += l.data.size();
  dataset.resize(total);
  std::size_t next = 0;
  const std::size_t image_bytes = static_cast<std::size_t>(file_h) * file_w;
  const bool as_stored = channels == 1 && height == file_h && width == file_w;
  for (std::size_t f = 0; f < images.size(); ++f) {
    const std::size_t n = labels[f].data.size();
    parallel_for(0, static_cast<std::ptrdiff_t>(n), [&](std::ptrdiff_t i) {
      const std::uint8_t* src = images[f].data.data() + static_cast<std::size_t>(i) * image_bytes;
      const auto dst = dataset.mutable_pixels(next + i);
      if (as_stored) {
        std::copy(src, src + image_bytes, dst.begin());
      } else {
        ImageU8 image(file_h, file_w, 1);
        std::copy(src, src + image_bytes, image.data());
        const ImageU8 fitted = detail::fit_image(std::move(image), channels, height, width);
        std::copy(fitted.begin(), fitted.end(), dst.begin());
      }
      dataset.set_label(next + i, labels[f].data[i]);
    });
    next += n;
  }
  return dataset;
}

}  // namespace lanmsff::io
