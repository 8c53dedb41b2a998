// The image decoder path of every loader and of predict: stb_image (PNG, JPEG, BMP, GIF, TGA, PNM) from
// memory, as gray, RGB and the file's own channels, then the resize to a model's input.
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "fuzz.hpp"
#include "lanmsff/io/image.hpp"
#include "lanmsff/io/resize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
  // Headers of more than 2^22 pixels are left out: a few hundred bytes can claim tens of megapixels,
  // which decode (three times, under AddressSanitizer) for longer than a run's timeout. Above that size
  // nothing changes but the time: up to io's cap of 2^26 pixels stb_image's int sizes cannot overflow
  // (2^26 x 4 channels x 2 bytes < 2^31), and the cap itself is checked here on every input.
  // (stb_image reads the header only after io's checks of the encoded bytes, as decode_image_u8 does.)
  bool checked = size <= std::size_t(std::numeric_limits<int>::max());
  try {
    io::detail::check_jpeg_huffman_tables({data, size}, "");
    io::detail::check_pnm_header({data, size}, "");
    io::detail::check_png_chunks({data, size}, "");
  } catch (const std::runtime_error&) {
    checked = false;  // decode_image_u8 refuses it below
  }
  int w = 0, h = 0, c = 0;
  if (checked && stbi_info_from_memory(data, int(size), &w, &h, &c) &&
      std::int64_t(w) * h > (std::int64_t(1) << 22) && std::uint64_t(w) * std::uint64_t(h) <= io::detail::max_image_pixels)
    return 0;
  for (const int channels : {0, 1, 3})
    fuzz::refusal_is_fine([&] {
      const io::ImageU8 image = io::decode_image_u8({data, size}, channels, "fuzz input");
      if (image.h() <= 0 || image.w() <= 0 || (channels != 0 && image.c() != channels))
        fuzz::broken("decoded image has a bad shape");
      if (channels == 1) {
        const io::Image resized = io::resize_bilinear(io::to_float(image), 16, 16);
        if (resized.h() != 16 || resized.w() != 16) fuzz::broken("resize gives another size");
      }
    });
  return 0;
}
