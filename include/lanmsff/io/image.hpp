// Images in memory (height x width x channels, channels interleaved like one NHWC sample) and their
// files: decoding PNG/JPEG/BMP/GIF/TGA/PNM through stb_image, writing PNG through stb_image_write.
// Image holds floats in [0, 1] for the network; ImageU8 holds the 0-255 bytes that data sets keep.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "lanmsff/core/shape.hpp"

// lanmsff compiles its own private copy of stb_image / stb_image_write (static functions, one per
// translation unit), so a program links no stb object file and may use its own stb in other
// files. In one file, include this header before any stb_image.h / stb_image_write.h of your own.
#ifndef LANMSFF_STB_IMPLEMENTED
#define LANMSFF_STB_IMPLEMENTED
#if defined(STBI_INCLUDE_STB_IMAGE_H) || defined(INCLUDE_STB_IMAGE_WRITE_H)
#error "include <lanmsff/io/image.hpp> (or any lanmsff io header) before stb_image.h / stb_image_write.h"
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR  // float HDR images are not face photographs; keeps the copy smaller
#define STBI_NO_PSD  // nor Photoshop or Softimage files: fewer decoders, less to trust
#define STBI_NO_PIC
// Zeroed allocations: stb_image 2.27 leaves a JPEG decoder's Huffman tables uninitialised until a DHT
// segment defines them, and leaves the pixels of a short PNM or TGA file as they were (stb_image 2.28
// zeroes the decoder); with calloc, an undefined table or a missing pixel is 0, never old heap bytes.
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC(pointer, size) realloc(pointer, size)
#define STBI_FREE(pointer) free(pointer)
#if defined(__clang__)
// Known, benign undefined behaviour inside stb_image 2.27 that no check of the encoded bytes can rule
// out: shifts of a zero bit buffer by 32 or more and wrapping DC sums in damaged JPEG scans (upstream
// issues 1292 and 1293), memcpy of 0 bytes to a null buffer for an empty PNG IDAT chunk. Exempt from
// UndefinedBehaviorSanitizer in stb_image's own functions only; AddressSanitizer still checks them.
#pragma clang attribute push(__attribute__((no_sanitize("shift", "signed-integer-overflow", "nonnull-attribute"))), \
                             apply_to = function)
#endif
#include <stb_image.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
// A later #include <stb_image.h> in this file then only re-reads the (guarded) declarations.
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

namespace lanmsff::io {

// An H x W x C image, row-major, channels interleaved: element (y, x, c) is data()[(y*W + x)*C + c].
template <class T>
class BasicImage {
 public:
  using value_type = T;

  BasicImage() = default;
  BasicImage(int height, int width, int channels, T fill = T(0)) {
    if (height < 0 || width < 0 || channels < 0)
      throw std::invalid_argument("Image: negative dimension " + std::to_string(height) + "x" + std::to_string(width) +
                                  "x" + std::to_string(channels));
    h_ = height, w_ = width, c_ = channels;
    data_.assign(static_cast<std::size_t>(height) * width * channels, fill);
  }
  explicit BasicImage(Shape s, T fill = T(0)) : BasicImage(s.h, s.w, s.c, fill) {}

  int h() const { return h_; }
  int w() const { return w_; }
  int c() const { return c_; }
  Shape shape() const { return {h_, w_, c_}; }
  std::size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T* pixel(int y, int x) { return data_.data() + (static_cast<std::size_t>(y) * w_ + x) * c_; }
  const T* pixel(int y, int x) const { return data_.data() + (static_cast<std::size_t>(y) * w_ + x) * c_; }
  T& operator()(int y, int x, int ch) { return pixel(y, x)[ch]; }
  const T& operator()(int y, int x, int ch) const { return pixel(y, x)[ch]; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

  std::span<T> values() { return data_; }
  std::span<const T> values() const { return data_; }
  auto begin() { return data_.begin(); }
  auto end() { return data_.end(); }
  auto begin() const { return data_.begin(); }
  auto end() const { return data_.end(); }

  bool operator==(const BasicImage&) const = default;

 private:
  int h_ = 0, w_ = 0, c_ = 0;
  std::vector<T> data_;
};

using Image = BasicImage<float>;           // values in [0, 1]
using ImageU8 = BasicImage<std::uint8_t>;  // values 0..255

// ---- conversions ------------------------------------------------------------------------------

inline std::uint8_t to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also maps NaN to 0
  if (v >= 1.0f) return 255;
  return static_cast<std::uint8_t>(std::lround(v * 255.0f));
}

inline Image to_float(const ImageU8& in) {
  Image out(in.h(), in.w(), in.c());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = static_cast<float>(in[i]) * (1.0f / 255.0f);
  return out;
}

// Values are clamped to [0, 1] and rounded to the nearest of the 256 levels.
inline ImageU8 to_u8(const Image& in) {
  ImageU8 out(in.h(), in.w(), in.c());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = to_byte(in[i]);
  return out;
}

namespace detail {

// ITU-R BT.601 luma, the weights of PIL's convert("L"), OpenCV's COLOR_RGB2GRAY and TF's rgb_to_grayscale.
inline constexpr float luma_r = 0.299f, luma_g = 0.587f, luma_b = 0.114f;

inline void check_channels(int channels, const char* who) {
  if (channels != 1 && channels != 3)
    throw std::invalid_argument(std::string(who) + ": channels must be 1 (gray) or 3 (RGB), got " +
                                std::to_string(channels));
}

// in has 1..4 channels (gray, gray+alpha, RGB, RGBA); alpha is dropped, gray is replicated, RGB
// becomes luma. Integer images round the luma to the nearest level.
template <class T>
BasicImage<T> convert_channels_from(const T* in, int h, int w, int in_channels, int channels) {
  BasicImage<T> out(h, w, channels);
  const std::size_t pixels = static_cast<std::size_t>(h) * w;
  const bool in_gray = in_channels <= 2;
  for (std::size_t p = 0; p < pixels; ++p) {
    const T* src = in + p * in_channels;
    T* dst = out.data() + p * channels;
    if (in_gray) {
      for (int c = 0; c < channels; ++c) dst[c] = src[0];
    } else if (channels == 3) {
      dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
    } else {
      const float y = luma_r * float(src[0]) + luma_g * float(src[1]) + luma_b * float(src[2]);
      if constexpr (std::is_integral_v<T>)
        dst[0] = static_cast<T>(std::clamp(std::lround(y), 0l, 255l));
      else
        dst[0] = static_cast<T>(y);
    }
  }
  return out;
}

}  // namespace detail

// Gray <-> RGB: gray is replicated into R, G and B; RGB becomes ITU-R BT.601 luma.
template <class T>
BasicImage<T> convert_channels(const BasicImage<T>& in, int channels) {
  detail::check_channels(channels, "convert_channels");
  if (in.c() != 1 && in.c() != 3)
    throw std::invalid_argument("convert_channels: input must have 1 or 3 channels, has " + std::to_string(in.c()));
  if (in.c() == channels) return in;
  return detail::convert_channels_from(in.data(), in.h(), in.w(), in.c(), channels);
}

// ---- files ------------------------------------------------------------------------------------

// The whole file, or an exception naming it.
inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(path.string() + ": " +
                             (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(path.string() + ": cannot open for reading");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw std::runtime_error(path.string() + ": read error");
  return bytes;
}

namespace detail {

// stb_image 2.27 (Debian's) builds a JPEG Huffman table from the 16 code counts of a DHT segment
// without checking that they sum to at most 256, and writes past its tables when they do (fixed
// upstream in 2.28; fuzz_image found it). This walks the JPEG's markers the way stb_image reads them
// (junk skipped between segments, entropy-coded data up to the next marker that is not a restart)
// and refuses such a table before stb_image sees it.
inline void check_jpeg_huffman_tables(std::span<const std::uint8_t> data, const std::string& name) {
  const std::size_t size = data.size();
  const auto byte = [&](std::size_t i) -> unsigned { return i < size ? data[i] : 0u; };  // stb reads 0 past the end
  std::size_t p = 0;
  // The marker at p: 0xFF, any number of 0xFF fill bytes, the code. Returns the code, p after it.
  const auto marker_at = [&](std::size_t& at) -> int {
    if (byte(at) != 0xFF || at >= size) return -1;
    while (at < size && data[at] == 0xFF) ++at;
    return at < size ? int(data[at++]) : -1;
  };
  if (marker_at(p) != 0xD8) return;  // not a JPEG (stb_image wants SOI first)
  while (p < size) {
    if (data[p] != 0xFF) {  // junk between segments: stb_image skips to the next 0xFF
      ++p;
      continue;
    }
    const int m = marker_at(p);
    if (m < 0 || m == 0xD9) return;                                          // the end, or EOI
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) || m == 0x00) continue;  // no length
    const std::size_t start = p;
    const std::size_t length = (std::size_t(byte(p)) << 8) | byte(p + 1);
    if (m == 0xC4) {  // DHT: tables of (class/id, 16 counts, the counted symbols), read like stb_image
      std::ptrdiff_t left = std::ptrdiff_t(length) - 2;
      std::size_t q = p + 2;
      while (left > 0) {
        unsigned codes = 0;
        for (int i = 1; i <= 16; ++i) codes += byte(q + std::size_t(i));
        if (codes > 256)
          throw std::runtime_error(name + ": cannot decode image (damaged JPEG: a Huffman table of " +
                                   std::to_string(codes) + " codes, at most 256 are possible)");
        q += 17 + codes;
        left -= std::ptrdiff_t(17 + codes);
        if (q >= size) return;
      }
    }
    p = start + length;
    if (m == 0xDA) {  // SOS: the entropy-coded data follow, up to a marker other than a restart
      while (p + 1 < size) {
        if (data[p] == 0xFF) {
          std::size_t next = p;
          const int code = marker_at(next);
          if (code != 0x00 && !(code >= 0xD0 && code <= 0xD7)) break;
          p = next;
        } else {
          ++p;
        }
      }
    }
  }
}

// stb_image 2.27 reads the width, height and maximum value of a PNM header (P5, P6) into an int
// without checking for overflow (signed overflow: undefined; fixed upstream in 2.28; fuzz_image found
// it). This reads the header the way stb_image does and refuses a number past INT_MAX.
inline void check_pnm_header(std::span<const std::uint8_t> data, const std::string& name) {
  const std::size_t size = data.size();
  if (size < 2 || data[0] != 'P' || (data[1] != '5' && data[1] != '6')) return;
  std::size_t i = 2;
  const auto space = [](std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  const auto skip = [&] {  // white space and # comments up to the end of their line
    while (true) {
      while (i < size && space(data[i])) ++i;
      if (i >= size || data[i] != '#') return;
      while (i < size && data[i] != '\n' && data[i] != '\r') ++i;
    }
  };
  for (const char* what : {"width", "height", "maximum value"}) {
    skip();
    std::uint64_t value = 0;
    for (; i < size && data[i] >= '0' && data[i] <= '9'; ++i) {
      value = value * 10 + (data[i] - '0');
      if (value > std::uint64_t(std::numeric_limits<int>::max()))
        throw std::runtime_error(name + ": cannot decode image (damaged PNM header: the " + what + " is larger than " +
                                 std::to_string(std::numeric_limits<int>::max()) + ")");
    }
  }
}

// A PNG chunk whose length runs past the end of the file: stb_image 2.27 allocates what an IDAT
// chunk claims (up to 4 GiB) before reading it.
inline void check_png_chunks(std::span<const std::uint8_t> data, const std::string& name) {
  static constexpr std::uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (data.size() < 8 || !std::equal(signature, signature + 8, data.begin())) return;
  for (std::size_t p = 8; p + 8 <= data.size();) {
    const std::uint64_t length = (std::uint64_t(data[p]) << 24) | (std::uint64_t(data[p + 1]) << 16) |
                                 (std::uint64_t(data[p + 2]) << 8) | data[p + 3];
    const std::string type(reinterpret_cast<const char*>(data.data() + p + 4), 4);
    const std::uint64_t left = data.size() - p - 8;  // after the length and the type
    if (length + 4 > left)                          // the data and the CRC
      throw std::runtime_error(name + ": cannot decode image (damaged PNG: a chunk claims " + std::to_string(length) +
                               " bytes, " + std::to_string(left < 4 ? 0 : left - 4) + " are left in the file)");
    if (type == "IEND") return;
    p += 12 + std::size_t(length);
  }
}

// The largest image decoded: 2^26 pixels (67 megapixels; a 50-megapixel photograph passes). Larger
// headers are refused before anything is allocated; stb_image alone would allocate what they claim.
inline constexpr std::uint64_t max_image_pixels = std::uint64_t(1) << 26;

}  // namespace detail

// Decodes an encoded image held in memory. channels: 0 keeps the file's own (gray files give 1,
// colour files 3; alpha is always dropped), 1 or 3 converts. `name` is what errors call the data.
inline ImageU8 decode_image_u8(std::span<const std::uint8_t> encoded, int channels, const std::string& name) {
  if (channels != 0) detail::check_channels(channels, "decode_image");
  if (encoded.empty()) throw std::runtime_error(name + ": not an image (the file is empty)");
  if (encoded.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::runtime_error(name + ": image file larger than 2 GiB");
  detail::check_jpeg_huffman_tables(encoded, name);
  detail::check_pnm_header(encoded, name);
  detail::check_png_chunks(encoded, name);
  {
    int header_w = 0, header_h = 0, header_channels = 0;
    if (stbi_info_from_memory(encoded.data(), static_cast<int>(encoded.size()), &header_w, &header_h, &header_channels) &&
        std::uint64_t(std::max(header_w, 0)) * std::uint64_t(std::max(header_h, 0)) > detail::max_image_pixels)
      throw std::runtime_error(name + ": cannot decode image (" + std::to_string(header_w) + "x" + std::to_string(header_h) +
                               " pixels: more than the " + std::to_string(detail::max_image_pixels) +
                               " that lanmsff decodes)");
  }
  int w = 0, h = 0, file_channels = 0;
  stbi_uc* pixels = stbi_load_from_memory(encoded.data(), static_cast<int>(encoded.size()), &w, &h, &file_channels, 0);
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    throw std::runtime_error(name + ": cannot decode image (stb_image: " + (reason ? reason : "unknown error") +
                             "); PNG, JPEG, BMP, GIF, TGA and PNM are supported");
  }
  if (w <= 0 || h <= 0) {  // stb_image accepts a PNM header whose width or height reads as 0
    stbi_image_free(pixels);
    throw std::runtime_error(name + ": the image has no pixels (" + std::to_string(w) + "x" + std::to_string(h) + ")");
  }
  const int out_channels = channels != 0 ? channels : (file_channels <= 2 ? 1 : 3);
  ImageU8 out;
  try {
    out = detail::convert_channels_from(pixels, h, w, file_channels, out_channels);
  } catch (...) {
    stbi_image_free(pixels);
    throw;
  }
  stbi_image_free(pixels);
  return out;
}

inline ImageU8 load_image_u8(const std::filesystem::path& path, int channels = 0) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return decode_image_u8(bytes, channels, path.string());
}

// The image in `path` as floats in [0, 1]. channels: 0 = as stored (1 for gray, 3 for colour),
// 1 = gray (BT.601 luma of colour files), 3 = RGB (gray replicated).
inline Image load_image(const std::filesystem::path& path, int channels = 0) {
  return to_float(load_image_u8(path, channels));
}

// PNG, 8 bits per channel; 1, 2, 3 or 4 channels (gray, gray+alpha, RGB, RGBA).
inline void save_png(const std::filesystem::path& path, const ImageU8& image) {
  if (image.empty()) throw std::invalid_argument("save_png: " + path.string() + ": the image is empty");
  if (image.c() < 1 || image.c() > 4)
    throw std::invalid_argument("save_png: " + path.string() + ": PNG holds 1 to 4 channels, the image has " +
                                std::to_string(image.c()));
  std::vector<std::uint8_t> encoded;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  if (!stbi_write_png_to_func(append, &encoded, image.w(), image.h(), image.c(), image.data(), image.w() * image.c()))
    throw std::runtime_error("save_png: " + path.string() + ": PNG encoding failed");
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw std::runtime_error("save_png: " + path.string() + ": cannot open for writing");
  file.write(reinterpret_cast<const char*>(encoded.data()), static_cast<std::streamsize>(encoded.size()));
  file.close();
  if (!file) throw std::runtime_error("save_png: " + path.string() + ": write error");
}

// Floats are clamped to [0, 1] and rounded to 8 bits.
inline void save_png(const std::filesystem::path& path, const Image& image) { save_png(path, to_u8(image)); }

}  // namespace lanmsff::io
