// Writing images by file name: .png (lossless) or .jpg / .jpeg (baseline JPEG, quality 92), through
// the same private stb_image_write copy as io/image.hpp.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "lanmsff/io/image.hpp"

namespace lanmsff::io {

inline std::string lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

inline void save_jpeg(const std::filesystem::path& path, const ImageU8& image, int quality = 92) {
  if (image.empty()) throw std::invalid_argument("save_jpeg: " + path.string() + ": the image is empty");
  if (image.c() != 1 && image.c() != 3)
    throw std::invalid_argument("save_jpeg: " + path.string() + ": JPEG holds gray or RGB, the image has " +
                                std::to_string(image.c()) + " channels");
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw std::runtime_error("save_jpeg: " + path.string() + ": cannot open for writing");
  const auto write = [](void* context, void* data, int size) {
    static_cast<std::ofstream*>(context)->write(static_cast<const char*>(data), std::streamsize(size));
  };
  if (!stbi_write_jpg_to_func(write, &file, image.w(), image.h(), image.c(), image.data(), quality))
    throw std::runtime_error("save_jpeg: " + path.string() + ": JPEG encoding failed");
  file.flush();
  if (!file) throw std::runtime_error("save_jpeg: " + path.string() + ": write error");
}

// PNG or JPEG by the file's extension; any other extension is an error that names it.
inline void save_image(const std::filesystem::path& path, const ImageU8& image) {
  const std::string ext = lower_extension(path);
  if (ext == ".png") return save_png(path, image);
  if (ext == ".jpg" || ext == ".jpeg") return save_jpeg(path, image);
  throw std::invalid_argument(path.string() + ": write a .png, .jpg or .jpeg file (the extension picks the format)");
}

}  // namespace lanmsff::io
