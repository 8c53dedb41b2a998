// Data augmentation: geometric transforms of one float image, their random versions (drawing from
// a caller's Rng, so one seed gives one result), and LANMSFF's offline x4 scheme that turns a
// Dataset into one four times as large. Random transforms follow torchvision's semantics.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/random.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/io/image.hpp"
#include "lanmsff/io/resize.hpp"

namespace lanmsff::io {

// What a rotation shows where the rotated image does not cover the frame: the nearest edge pixel
// (replicate; Keras ImageDataGenerator's default fill_mode 'nearest') or black (zero; torchvision's
// and OpenCV's default). Replicate is the default: a black wedge is a feature no face has.
enum class BorderMode { replicate, zero };

inline Image flip_horizontal(const Image& in) {
  Image out(in.h(), in.w(), in.c());
  for (int y = 0; y < in.h(); ++y)
    for (int x = 0; x < in.w(); ++x) std::copy_n(in.pixel(y, in.w() - 1 - x), in.c(), out.pixel(y, x));
  return out;
}

// Rotates by `degrees` counter-clockwise (as the image is seen; torchvision's sign) about the
// image centre ((W-1)/2, (H-1)/2 in pixel indices), sampling bilinearly. Same size out.
// Multiples of 90 degrees on a square image move pixels exactly.
inline Image rotate(const Image& in, double degrees, BorderMode border = BorderMode::replicate) {
  const double radians = degrees * (3.14159265358979323846 / 180.0);
  auto snap = [](double v) {
    return std::abs(v) < 1e-12 ? 0.0 : std::abs(std::abs(v) - 1.0) < 1e-12 ? std::copysign(1.0, v) : v;
  };
  const double cos_t = snap(std::cos(radians)), sin_t = snap(std::sin(radians));
  const double cx = (in.w() - 1) * 0.5, cy = (in.h() - 1) * 0.5;
  const int channels = in.c();
  Image out(in.h(), in.w(), channels);
  auto fetch = [&](int y, int x, int c) -> float {
    if (border == BorderMode::replicate) {
      y = std::clamp(y, 0, in.h() - 1);
      x = std::clamp(x, 0, in.w() - 1);
    } else if (y < 0 || y >= in.h() || x < 0 || x >= in.w()) {
      return 0.0f;
    }
    return in(y, x, c);
  };
  for (int y = 0; y < in.h(); ++y)
    for (int x = 0; x < in.w(); ++x) {
      // The inverse rotation maps each output pixel to where it comes from (y grows downwards).
      const double dx = x - cx, dy = y - cy;
      const double sx = cx + dx * cos_t - dy * sin_t, sy = cy + dx * sin_t + dy * cos_t;
      const double fx0 = std::floor(sx), fy0 = std::floor(sy);
      const float wx = static_cast<float>(sx - fx0), wy = static_cast<float>(sy - fy0);
      // Far outside the frame the sample is the border value; the clamp keeps int conversion safe.
      const int x0 = static_cast<int>(std::clamp(fx0, -2.0, double(in.w()) + 1.0));
      const int y0 = static_cast<int>(std::clamp(fy0, -2.0, double(in.h()) + 1.0));
      for (int c = 0; c < channels; ++c) {
        const float top = fetch(y0, x0, c) + wx * (fetch(y0, x0 + 1, c) - fetch(y0, x0, c));
        const float bottom = fetch(y0 + 1, x0, c) + wx * (fetch(y0 + 1, x0 + 1, c) - fetch(y0 + 1, x0, c));
        out(y, x, c) = top + wy * (bottom - top);
      }
    }
  return out;
}

// The height x width window whose top-left pixel is (top, left); it must lie inside the image.
inline Image crop(const Image& in, int top, int left, int height, int width) {
  if (height <= 0 || width <= 0 || top < 0 || left < 0 || top + height > in.h() || left + width > in.w())
    throw std::invalid_argument("crop: window " + std::to_string(height) + "x" + std::to_string(width) + " at (" +
                                std::to_string(top) + ", " + std::to_string(left) + ") does not fit in a " +
                                std::to_string(in.h()) + "x" + std::to_string(in.w()) + " image");
  Image out(height, width, in.c());
  for (int y = 0; y < height; ++y) std::copy_n(in.pixel(top + y, left), std::size_t(width) * in.c(), out.pixel(y, 0));
  return out;
}

// Centred window; an odd margin puts the extra pixel after the window when it rounds down
// (torchvision: top = round((H - h) / 2), rounding half to even).
inline Image center_crop(const Image& in, int height, int width) {
  const int top = static_cast<int>(std::nearbyint((in.h() - height) / 2.0));
  const int left = static_cast<int>(std::nearbyint((in.w() - width) / 2.0));
  return crop(in, top, left, height, width);
}

// `padding` pixels of `value` on every side.
inline Image pad(const Image& in, int padding, float value = 0.0f) {
  if (padding < 0) throw std::invalid_argument("pad: negative padding " + std::to_string(padding));
  Image out(in.h() + 2 * padding, in.w() + 2 * padding, in.c(), value);
  for (int y = 0; y < in.h(); ++y)
    std::copy_n(in.pixel(y, 0), std::size_t(in.w()) * in.c(), out.pixel(y + padding, padding));
  return out;
}

struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox&) const = default;
};

// torchvision RandomResizedCrop.get_params: up to 10 tries of an area fraction uniform in `scale`
// and an aspect ratio (width / height) log-uniform in `ratio`, rounded to whole pixels and kept
// if the box fits, at a uniform position; else the largest centred box with a ratio in range.
inline CropBox random_resized_crop_box(int height, int width, Rng& rng, double scale_min = 0.08, double scale_max = 1.0,
                                       double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0) {
  if (height <= 0 || width <= 0) throw std::invalid_argument("random_resized_crop: empty image");
  if (!(scale_min > 0 && scale_min <= scale_max) || !(ratio_min > 0 && ratio_min <= ratio_max))
    throw std::invalid_argument("random_resized_crop: need 0 < scale_min <= scale_max and 0 < ratio_min <= ratio_max");
  const double area = double(height) * width;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_min, scale_max);
    const double aspect = std::exp(rng.uniform(std::log(ratio_min), std::log(ratio_max)));
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area * aspect)));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area / aspect)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int top = static_cast<int>(rng.below(static_cast<std::uint64_t>(height - h + 1)));
      const int left = static_cast<int>(rng.below(static_cast<std::uint64_t>(width - w + 1)));
      return {top, left, h, w};
    }
  }
  const double in_ratio = double(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_min)
    h = static_cast<int>(std::nearbyint(w / ratio_min));
  else if (in_ratio > ratio_max)
    w = static_cast<int>(std::nearbyint(h * ratio_max));
  return {(height - h) / 2, (width - w) / 2, h, w};
}

// The box, resized (bilinear, half-pixel centres) to height x width.
inline Image resized_crop(const Image& in, CropBox box, int height, int width) {
  return resize_bilinear(crop(in, box.top, box.left, box.height, box.width), height, width);
}

// ---- random versions, as functions and as function objects for compose() and make_batch ------

// Draws one number whatever p is, so that the stream does not depend on p.
inline Image random_horizontal_flip(const Image& in, Rng& rng, double p = 0.5) {
  return rng.uniform() < p ? flip_horizontal(in) : in;
}

// An angle uniform in [-max_degrees, max_degrees].
inline Image random_rotation(const Image& in, Rng& rng, double max_degrees, BorderMode border = BorderMode::replicate) {
  return rotate(in, rng.uniform(-max_degrees, max_degrees), border);
}

// torchvision RandomCrop(size, padding): zero-pad every side, then a uniformly placed window.
inline Image random_crop(const Image& in, Rng& rng, int height, int width, int padding = 0) {
  const Image padded = padding > 0 ? pad(in, padding) : in;
  if (height > padded.h() || width > padded.w())
    throw std::invalid_argument("random_crop: " + std::to_string(height) + "x" + std::to_string(width) +
                                " is larger than the (padded) " + std::to_string(padded.h()) + "x" +
                                std::to_string(padded.w()) + " image");
  const int top = static_cast<int>(rng.below(static_cast<std::uint64_t>(padded.h() - height + 1)));
  const int left = static_cast<int>(rng.below(static_cast<std::uint64_t>(padded.w() - width + 1)));
  return crop(padded, top, left, height, width);
}

inline Image random_resized_crop(const Image& in, Rng& rng, int height, int width, double scale_min = 0.08,
                                 double scale_max = 1.0, double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0) {
  return resized_crop(in, random_resized_crop_box(in.h(), in.w(), rng, scale_min, scale_max, ratio_min, ratio_max),
                      height, width);
}

struct RandomHorizontalFlip {
  double p = 0.5;
  Image operator()(const Image& in, Rng& rng) const { return random_horizontal_flip(in, rng, p); }
};
struct RandomRotation {
  double max_degrees = 15.0;
  BorderMode border = BorderMode::replicate;
  Image operator()(const Image& in, Rng& rng) const { return random_rotation(in, rng, max_degrees, border); }
};
struct RandomCrop {
  int height = 0, width = 0, padding = 0;
  Image operator()(const Image& in, Rng& rng) const { return random_crop(in, rng, height, width, padding); }
};
struct RandomResizedCrop {
  int height = 0, width = 0;
  double scale_min = 0.08, scale_max = 1.0, ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  Image operator()(const Image& in, Rng& rng) const {
    return random_resized_crop(in, rng, height, width, scale_min, scale_max, ratio_min, ratio_max);
  }
};

// Applies the transforms left to right: compose(RandomResizedCrop{224, 224}, RandomHorizontalFlip{}).
template <class... Transforms>
auto compose(Transforms... transforms) {
  return [=](const Image& in, Rng& rng) {
    Image out = in;
    ((out = transforms(out, rng)), ...);
    return out;
  };
}

// ---- LANMSFF's offline x4 augmentation ---------------------------------------------------------

struct OfflineAugmentOptions {
  double max_degrees = 15.0;
  // The enlarged size before cropping back, relative to the image: the paper's 72/64 for 64x64 faces.
  double enlarge = 72.0 / 64.0;
  BorderMode border = BorderMode::replicate;
  std::uint64_t seed = 0;
};

// Sample i becomes samples 4i .. 4i+3: the original; its horizontal flip; a rotation by an angle
// uniform in [-max_degrees, max_degrees] about the centre, enlarged (bilinear) and centre-cropped
// back to H x W; the original enlarged and cropped back at a uniform random position. Sample i
// draws from its own stream (seed, i), so the result does not depend on the thread count.
inline Dataset augment_offline_x4(const Dataset& in, const OfflineAugmentOptions& options = {}) {
  if (!(options.enlarge >= 1.0)) throw std::invalid_argument("augment_offline_x4: enlarge must be >= 1");
  const Shape shape = in.image_shape();
  const int big_h = static_cast<int>(std::lround(shape.h * options.enlarge));
  const int big_w = static_cast<int>(std::lround(shape.w * options.enlarge));
  Dataset out(shape, in.class_names());
  out.description = in.description + " x4 augmented";
  out.resize(in.size() * 4);
  parallel_for(0, static_cast<std::ptrdiff_t>(in.size()), [&](std::ptrdiff_t i) {
    Rng rng(hash_combine(options.seed, static_cast<std::uint64_t>(i)));
    const Image original = in.image(i);
    const Image rotated = rotate(original, rng.uniform(-options.max_degrees, options.max_degrees), options.border);
    const Image rotated_crop = center_crop(resize_bilinear(rotated, big_h, big_w), shape.h, shape.w);
    const Image enlarged = resize_bilinear(original, big_h, big_w);
    const int top = static_cast<int>(rng.below(static_cast<std::uint64_t>(big_h - shape.h + 1)));
    const int left = static_cast<int>(rng.below(static_cast<std::uint64_t>(big_w - shape.w + 1)));
    const Image variants[4] = {original, flip_horizontal(original), rotated_crop,
                               crop(enlarged, top, left, shape.h, shape.w)};
    for (int k = 0; k < 4; ++k) {
      const std::size_t slot = 4 * static_cast<std::size_t>(i) + k;
      const auto dst = out.mutable_pixels(slot);
      for (std::size_t j = 0; j < dst.size(); ++j) dst[j] = to_byte(variants[k][j]);
      out.set_label(slot, in.label(i));
    }
  });
  if (in.has_sources()) {
    std::vector<std::string> sources(out.size());
    static const char* const suffixes[4] = {"", "#flip", "#rotate", "#crop"};
    for (std::size_t i = 0; i < in.size(); ++i)
      for (int k = 0; k < 4; ++k) sources[4 * i + k] = in.source(i) + suffixes[k];
    out.set_sources(std::move(sources));
  }
  return out;
}

}  // namespace lanmsff::io
