// The image decoder path of every loader and of predict: stb_image (PNG, JPEG, BMP, GIF, TGA, PNM) from
// memory, as gray, RGB and the file's own channels, then the resize to a model's input.
#include "fuzz.hpp"
#include "lanmsff/io/image.hpp"
#include "lanmsff/io/resize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
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
