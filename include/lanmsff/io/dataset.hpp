// Dataset: labelled images kept compactly as 0-255 bytes (H x W x C each, one shape for all), with
// the class names and the options every loader shares (split, target size, channels). Samples come
// out as floats in [0, 1], singly or as an NHWC batch (make_batch), optionally augmented on the way.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/core/shape.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/io/image.hpp"
#include "lanmsff/io/resize.hpp"

namespace lanmsff::io {

// Which part of a data set to load. FER-2013 and FERPlus: train = Training, val = PublicTest,
// test = PrivateTest. IDX: train = train-*, test = t10k-*. KDEF: train / test by subject. Image
// folders: the train/, val/ (or valid/, validation/) and test/ sub-folders. all = every sample.
enum class Split { all, train, val, test };

inline const char* to_string(Split s) {
  switch (s) {
    case Split::train:
      return "train";
    case Split::val:
      return "val";
    case Split::test:
      return "test";
    default:
      return "all";
  }
}

// Accepts the names users and the data sets use, case-insensitively: all; train, training;
// val, valid, validation, publictest; test, privatetest.
inline Split parse_split(std::string_view name) {
  std::string lower(name);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "all") return Split::all;
  if (lower == "train" || lower == "training") return Split::train;
  if (lower == "val" || lower == "valid" || lower == "validation" || lower == "publictest") return Split::val;
  if (lower == "test" || lower == "privatetest") return Split::test;
  throw std::invalid_argument("unknown split '" + std::string(name) +
                              "': expected all, train, val (PublicTest) or test (PrivateTest)");
}

enum class DatasetFormat { automatic, idx, fer2013, ferplus, kdef, image_folder };

// An image file a loader left out (LoadOptions::skipped), and why.
struct SkippedFile {
  std::string path, reason;
};

struct LoadOptions {
  DatasetFormat format = DatasetFormat::automatic;
  Split split = Split::all;
  // Target size: every image is resized (bilinear, half-pixel centres) once, at load time. 0 x 0
  // keeps the stored size, which must then be the same for every image.
  int height = 0, width = 0;
  // 0 = the data set's own (1 for FER-2013, FERPlus and IDX; 3 for KDEF; an image folder's first
  // image decides), 1 = gray (BT.601 luma), 3 = RGB (gray replicated).
  int channels = 0;
  // FERPlus: the fer2013.csv that holds the pixels; empty = fer2013.csv next to fer2013new.csv.
  std::string fer2013_csv;
  // KDEF: the camera angles to keep (FL, HL, S, HR, FR); empty = all five.
  std::vector<std::string> kdef_angles;
  // KDEF train/test split by subject (subject-independent). test_subjects names the held-out
  // people as gender + number ("F01", "M17"); when empty, a `test_fraction` of the subjects is
  // drawn with `seed`.
  std::vector<std::string> test_subjects;
  double test_fraction = 0.2;
  std::uint64_t seed = 0;
  // Names for the classes in label order, replacing the format's own (IDX files carry none: the
  // loader names Fashion-MNIST's when the path mentions "fashion", else "0".."9").
  std::vector<std::string> class_names;
  // Image folders and KDEF: when set, an image file that does not decode (or has the wrong size) is left
  // out and listed here with the reason, and the others still load; when null, it fails the load,
  // naming the file. (A batch job that evaluates a folder carries on; training stays strict.)
  std::vector<SkippedFile>* skipped = nullptr;
};

class Dataset {
 public:
  Dataset() = default;
  Dataset(Shape image_shape, std::vector<std::string> class_names)
      : shape_(image_shape), class_names_(std::move(class_names)) {
    if (shape_.h <= 0 || shape_.w <= 0 || (shape_.c != 1 && shape_.c != 3))
      throw std::invalid_argument("Dataset: image shape must be HxWx1 or HxWx3 with H, W > 0, got " +
                                  lanmsff::to_string(shape_));
    if (class_names_.empty()) throw std::invalid_argument("Dataset: needs at least one class");
  }

  std::size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  Shape image_shape() const { return shape_; }
  int num_classes() const { return static_cast<int>(class_names_.size()); }
  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::vector<int>& labels() const { return labels_; }
  int label(std::size_t i) const { return labels_.at(i); }
  // Where sample i came from ("file.csv:12", an image path), or "" where the format has no such name.
  std::string source(std::size_t i) const { return sources_.empty() ? std::string() : sources_.at(i); }
  bool has_sources() const { return !sources_.empty(); }

  std::span<const std::uint8_t> pixels(std::size_t i) const {
    check_index(i);
    return {pixels_.data() + i * shape_.size(), shape_.size()};
  }
  ImageU8 image_u8(std::size_t i) const {
    ImageU8 out(shape_);
    const auto p = pixels(i);
    std::copy(p.begin(), p.end(), out.data());
    return out;
  }
  Image image(std::size_t i) const {
    Image out(shape_);
    copy_to(i, out.data());
    return out;
  }
  // Sample i as floats in [0, 1] into dst (image_shape().size() values).
  void copy_to(std::size_t i, float* dst) const {
    const auto p = pixels(i);
    for (std::size_t k = 0; k < p.size(); ++k) dst[k] = static_cast<float>(p[k]) * (1.0f / 255.0f);
  }

  std::vector<std::size_t> class_counts() const {
    std::vector<std::size_t> counts(class_names_.size(), 0);
    for (int l : labels_) ++counts[static_cast<std::size_t>(l)];
    return counts;
  }

  // Appends a sample whose bytes have image_shape(). `source` is optional, but either every
  // sample names one or none does.
  void add(std::span<const std::uint8_t> pixels, int label, std::string source = {}) {
    if (pixels.size() != shape_.size())
      throw std::invalid_argument("Dataset::add: expected " + std::to_string(shape_.size()) + " bytes (" +
                                  lanmsff::to_string(shape_) + "), got " + std::to_string(pixels.size()));
    check_label(label);
    if (!source.empty() && sources_.size() != labels_.size())
      throw std::invalid_argument("Dataset::add: a source name for sample " + std::to_string(labels_.size()) +
                                  " but not for the samples before it");
    if (source.empty() && !sources_.empty())
      throw std::invalid_argument("Dataset::add: sample " + std::to_string(labels_.size()) + " has no source name");
    pixels_.insert(pixels_.end(), pixels.begin(), pixels.end());
    labels_.push_back(label);
    if (!source.empty()) sources_.push_back(std::move(source));
  }
  void add(const ImageU8& image, int label, std::string source = {}) {
    if (image.shape() != shape_)
      throw std::invalid_argument("Dataset::add: image is " + lanmsff::to_string(image.shape()) +
                                  ", the data set holds " + lanmsff::to_string(shape_));
    add(image.values(), label, std::move(source));
  }
  void reserve(std::size_t n) {
    pixels_.reserve(n * shape_.size());
    labels_.reserve(n);
  }

  // Room for n samples, to be filled in any order (by several threads) through mutable_pixels and
  // set_label; the labels start at 0.
  void resize(std::size_t n) {
    pixels_.resize(n * shape_.size());
    labels_.resize(n, 0);
    if (!sources_.empty()) sources_.resize(n);
  }
  std::span<std::uint8_t> mutable_pixels(std::size_t i) {
    check_index(i);
    return {pixels_.data() + i * shape_.size(), shape_.size()};
  }
  void set_label(std::size_t i, int label) {
    check_index(i);
    check_label(label);
    labels_[i] = label;
  }
  void set_sources(std::vector<std::string> sources) {
    if (!sources.empty() && sources.size() != size())
      throw std::invalid_argument("Dataset::set_sources: " + std::to_string(sources.size()) + " names for " +
                                  std::to_string(size()) + " samples");
    sources_ = std::move(sources);
  }

  // The samples at `indices`, in that order (repeats allowed): a validation hold-out, a class subset.
  Dataset subset(std::span<const std::size_t> indices) const {
    Dataset out(shape_, class_names_);
    out.description = description;
    out.reserve(indices.size());
    for (std::size_t i : indices) out.add(pixels(i), labels_[i], source(i));
    return out;
  }

  // What was loaded, e.g. "FER-2013 fer2013.csv (train)", for logs.
  std::string description;
  // Samples the format's own rules left out (FERPlus: rows without a face or without a majority).
  std::size_t excluded = 0;

 private:
  void check_index(std::size_t i) const {
    if (i >= labels_.size())
      throw std::out_of_range("Dataset: sample " + std::to_string(i) + " of " + std::to_string(labels_.size()));
  }
  void check_label(int label) const {
    if (label < 0 || label >= num_classes())
      throw std::invalid_argument("Dataset: label " + std::to_string(label) + " is not in 0.." +
                                  std::to_string(num_classes() - 1));
  }

  Shape shape_{};
  std::vector<std::string> class_names_;
  std::vector<std::uint8_t> pixels_;
  std::vector<int> labels_;
  std::vector<std::string> sources_;
};

namespace detail {

// Converts a decoded image to the data set's channels and size (LoadOptions semantics).
inline ImageU8 fit_image(ImageU8 image, int channels, int height, int width) {
  if (channels != 0 && image.c() != channels) image = convert_channels(image, channels);
  if (height > 0 && width > 0 && (image.h() != height || image.w() != width))
    image = resize_bilinear(image, height, width);
  return image;
}

// The class names a loader uses: the format's own, or the user's if LoadOptions names them.
inline std::vector<std::string> class_names_for(const std::string& path, std::vector<std::string> own,
                                                const LoadOptions& options) {
  if (options.class_names.empty()) return own;
  if (options.class_names.size() != own.size())
    throw std::invalid_argument(path + ": LoadOptions::class_names has " + std::to_string(options.class_names.size()) +
                                " names, the data set has " + std::to_string(own.size()) + " classes");
  return options.class_names;
}

inline void check_load_options(const LoadOptions& options, const std::string& path) {
  if (options.channels != 0 && options.channels != 1 && options.channels != 3)
    throw std::invalid_argument(path + ": LoadOptions::channels must be 0 (as stored), 1 or 3, got " +
                                std::to_string(options.channels));
  if (options.height < 0 || options.width < 0 || (options.height == 0) != (options.width == 0))
    throw std::invalid_argument(path + ": LoadOptions target size must be both positive or both 0, got " +
                                std::to_string(options.height) + "x" + std::to_string(options.width));
}

}  // namespace detail

// Fills `out` (resized to indices.size() x image shape) and `labels` with the samples at `indices`,
// as floats in [0, 1].
inline void make_batch(const Dataset& dataset, std::span<const std::size_t> indices, Tensor<float>& out,
                       std::vector<int>& labels) {
  out.resize(static_cast<int>(indices.size()), dataset.image_shape());
  labels.resize(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    dataset.copy_to(indices[k], out.sample(static_cast<int>(k)));
    labels[k] = dataset.label(indices[k]);
  }
}

// The same with an augmentation `Image augment(const Image&, Rng&)` applied to each sample in
// order, all drawing from `rng`: one seed gives one batch. Every augmented image must have the
// shape of the first (a random crop to a fixed size, say).
template <class Augment>
void make_batch(const Dataset& dataset, std::span<const std::size_t> indices, Tensor<float>& out,
                std::vector<int>& labels, Augment&& augment, Rng& rng) {
  labels.resize(indices.size());
  Shape shape{};
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const Image augmented = augment(dataset.image(indices[k]), rng);
    if (k == 0) {
      shape = augmented.shape();
      out.resize(static_cast<int>(indices.size()), shape);
    } else if (augmented.shape() != shape) {
      throw std::invalid_argument("make_batch: the augmentation gave sample " + std::to_string(k) + " shape " +
                                  lanmsff::to_string(augmented.shape()) + " but sample 0 shape " +
                                  lanmsff::to_string(shape));
    }
    std::copy(augmented.begin(), augmented.end(), out.sample(static_cast<int>(k)));
    labels[k] = dataset.label(indices[k]);
  }
  if (indices.empty()) out.resize(0, dataset.image_shape());
}

}  // namespace lanmsff::io
