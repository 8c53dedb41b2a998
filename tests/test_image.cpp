// Image I/O and resizing: decoding fixtures written by independent encoders (Python's PNG/BMP
// writers, libjpeg's cjpeg; tools/make_dataset_fixtures.py), channel conversion, PNG round trips,
// error messages, and bilinear resizing against PyTorch's F.interpolate.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <lanmsff/io/image.hpp>
#include <lanmsff/io/resize.hpp>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifndef LANMSFF_TEST_DATA_DIR
#define LANMSFF_TEST_DATA_DIR "."
#endif

namespace fs = std::filesystem;
using lanmsff::Shape;
using lanmsff::io::Image;
using lanmsff::io::ImageU8;

namespace {

const fs::path data_dir = fs::path(LANMSFF_TEST_DATA_DIR) / "data" / "datasets";
const fs::path images_dir = data_dir / "images";

// The pattern every 3x5 fixture is built from (make_images in tools/make_dataset_fixtures.py).
const int gray_3x5[3][5] = {{0, 10, 20, 30, 40}, {50, 60, 70, 80, 90}, {100, 110, 120, 130, 255}};
int red(int y, int x) { return gray_3x5[y][x]; }
int green(int y, int x) { return 255 - gray_3x5[y][x]; }
int blue(int y, int x) { return (gray_3x5[y][x] * 3) % 256; }

void check_rgb_pattern(const ImageU8& image) {
  REQUIRE(image.shape() == Shape{3, 5, 3});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) {
      CHECK(int(image(y, x, 0)) == red(y, x));
      CHECK(int(image(y, x, 1)) == green(y, x));
      CHECK(int(image(y, x, 2)) == blue(y, x));
    }
}

// A fresh directory for files a test writes, removed when the test ends.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("lanmsff_test_image_" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("8-bit gray PNG decodes to the exact bytes; load_image scales them to [0, 1]") {
  const ImageU8 image = lanmsff::io::load_image_u8(images_dir / "gray_3x5.png");
  REQUIRE(image.shape() == Shape{3, 5, 1});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) CHECK(int(image(y, x, 0)) == gray_3x5[y][x]);
  const Image f = lanmsff::io::load_image(images_dir / "gray_3x5.png");
  CHECK(f(2, 4, 0) == 1.0f);
  CHECK(f(0, 0, 0) == 0.0f);
  CHECK(f(1, 2, 0) == doctest::Approx(70.0 / 255.0).epsilon(1e-7));
}

TEST_CASE("RGB PNG, RGBA PNG (alpha dropped) and 24-bit BMP (padded rows) decode exactly") {
  check_rgb_pattern(lanmsff::io::load_image_u8(images_dir / "rgb_3x5.png"));
  check_rgb_pattern(lanmsff::io::load_image_u8(images_dir / "rgba_3x5.png"));
  check_rgb_pattern(lanmsff::io::load_image_u8(images_dir / "rgb_3x5.bmp"));
}

TEST_CASE("16-bit PNG keeps the high byte of each sample") {
  const ImageU8 image = lanmsff::io::load_image_u8(images_dir / "gray16_3x5.png");
  REQUIRE(image.shape() == Shape{3, 5, 1});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) CHECK(int(image(y, x, 0)) == gray_3x5[y][x]);
}

TEST_CASE("channels: colour to gray is rounded BT.601 luma; gray to RGB replicates") {
  const ImageU8 gray = lanmsff::io::load_image_u8(images_dir / "rgb_3x5.png", 1);
  REQUIRE(gray.shape() == Shape{3, 5, 1});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x)
      CHECK(int(gray(y, x, 0)) == std::lround(0.299 * red(y, x) + 0.587 * green(y, x) + 0.114 * blue(y, x)));
  CHECK(int(gray(0, 0, 0)) == 150);  // (0, 255, 0): 0.587 * 255 = 149.685
  CHECK(int(gray(1, 2, 0)) == 153);  // (70, 185, 210): 20.93 + 108.595 + 23.94 = 153.465
  CHECK(int(gray(2, 4, 0)) == 105);  // (255, 0, 253): 76.245 + 28.842 = 105.087

  const ImageU8 rgb = lanmsff::io::load_image_u8(images_dir / "gray_3x5.png", 3);
  REQUIRE(rgb.shape() == Shape{3, 5, 3});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) CHECK(int(rgb(y, x, c)) == gray_3x5[y][x]);

  // The float conversion uses the same weights, unrounded.
  Image pixel(1, 1, 3);
  pixel(0, 0, 0) = 1.0f, pixel(0, 0, 1) = 0.5f, pixel(0, 0, 2) = 0.25f;
  CHECK(lanmsff::io::convert_channels(pixel, 1)(0, 0, 0) ==
        doctest::Approx(0.299 + 0.587 * 0.5 + 0.114 * 0.25).epsilon(1e-6));
  CHECK_THROWS_AS(lanmsff::io::convert_channels(pixel, 2), std::invalid_argument);
}

TEST_CASE("baseline JPEG (libjpeg-encoded, quality 100) decodes within 2 levels of its colours") {
  const ImageU8 image = lanmsff::io::load_image_u8(images_dir / "two_colours_8x8.jpg");
  REQUIRE(image.shape() == Shape{8, 8, 3});
  const int left[3] = {200, 40, 40}, right[3] = {30, 160, 90};
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c) CHECK(std::abs(int(image(y, x, c)) - (x < 4 ? left[c] : right[c])) <= 2);
  const ImageU8 gray = lanmsff::io::load_image_u8(images_dir / "two_colours_8x8.jpg", 1);
  CHECK(std::abs(int(gray(3, 1, 0)) - 88) <= 2);   // luma(200, 40, 40) = 87.84
  CHECK(std::abs(int(gray(3, 6, 0)) - 113) <= 2);  // luma(30, 160, 90) = 112.99
}

TEST_CASE("progressive JPEG: Huffman tables between scans, the same pixels as the baseline file") {
  // The JPEG marker walk that guards stb_image (check_jpeg_huffman_tables) must let valid files through.
  const ImageU8 baseline = lanmsff::io::load_image_u8(images_dir / "two_colours_8x8.jpg");
  const ImageU8 progressive = lanmsff::io::load_image_u8(images_dir / "two_colours_8x8_progressive.jpg");
  REQUIRE(progressive.shape() == baseline.shape());
  for (std::size_t i = 0; i < baseline.size(); ++i) CHECK(std::abs(int(progressive[i]) - int(baseline[i])) <= 2);
}

TEST_CASE("unreadable files throw naming the file and the reason") {
  std::string message = error_of([] { lanmsff::io::load_image(images_dir / "missing.png"); });
  CHECK_MESSAGE(message.find("missing.png: no such file") != std::string::npos, message);

  message = error_of([] { lanmsff::io::load_image(images_dir / "corrupt.png"); });
  CHECK_MESSAGE(message.find("corrupt.png: cannot decode image (stb_image: ") != std::string::npos, message);

  message = error_of([] { lanmsff::io::load_image(images_dir / "not_an_image.png"); });
  CHECK_MESSAGE(message.find("not_an_image.png: cannot decode image (stb_image: ") != std::string::npos, message);

  message = error_of([] { lanmsff::io::load_image(images_dir / "empty.png"); });
  CHECK_MESSAGE(message.find("empty.png: not an image (the file is empty)") != std::string::npos, message);

  message = error_of([] { lanmsff::io::load_image(images_dir); });
  CHECK_MESSAGE(message.find("not a regular file") != std::string::npos, message);

  // A PNG whose header claims 60000 x 60000 pixels (3.6 GB): refused before anything is allocated.
  const auto chunk = [](const std::string& type, const std::string& body) {
    const auto be32 = [](std::uint32_t v) {
      return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    };
    std::uint32_t crc = 0xffffffffu;  // CRC-32 of type + body, as PNG defines it
    for (const char ch : type + body) {
      crc ^= std::uint8_t(ch);
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return be32(std::uint32_t(body.size())) + type + body + be32(~crc);
  };
  const std::string ihdr = std::string("\0\0\xea\x60\0\0\xea\x60", 8) + std::string("\x08\0\0\0\0", 5);
  const std::string huge = "\x89PNG\r\n\x1a\n" + chunk("IHDR", ihdr) + chunk("IDAT", std::string("\x78\x9c\x03\0\0\0\0\x01", 8)) +
                           chunk("IEND", "");
  const fs::path huge_png = fs::temp_directory_path() / ("lanmsff-huge-" + std::to_string(::getpid()) + ".png");
  std::ofstream(huge_png, std::ios::binary) << huge;
  message = error_of([&] { lanmsff::io::load_image(huge_png); });
  fs::remove(huge_png);
  CHECK_MESSAGE(message.find(huge_png.filename().string() + ": cannot decode image (stb_image: too large)") !=
                    std::string::npos,
                message);
  // A header within stb_image's own limits but over lanmsff's 2^26 pixels: refused from the header,
  // before anything is allocated (20 bytes claim 10000 x 10000 gray pixels).
  const std::string big_pnm = "P5 10000 10000 255\n\x01";
  message = error_of([&] {
    lanmsff::io::decode_image_u8(std::span(reinterpret_cast<const std::uint8_t*>(big_pnm.data()), big_pnm.size()), 0,
                                 "big.pgm");
  });
  CHECK_MESSAGE(message.find("big.pgm: cannot decode image (10000x10000 pixels: more than the 67108864 that lanmsff "
                             "decodes)") != std::string::npos,
                message);

  // A PGM header whose height reads as 0 ("2 :2"): stb_image decodes it to no pixels (fuzz_image found
  // it; the input is in tests/fuzz/corpus/image/).
  const std::string no_rows = "P5\n2 :2\n245\n";
  const auto no_rows_bytes = std::span(reinterpret_cast<const std::uint8_t*>(no_rows.data()), no_rows.size());
  message = error_of([&] { lanmsff::io::decode_image_u8(no_rows_bytes, 0, "no_rows.pgm"); });
  CHECK_MESSAGE(message.find("no_rows.pgm: the image has no pixels (2x0)") != std::string::npos, message);

  // PNM header numbers past INT_MAX: stb_image 2.27 would overflow an int reading them (fuzz_image).
  for (const auto& [header, what] : {std::pair<std::string, std::string>{"P5 2147483648 1 255\n", "width"},
                                     {"P6\n# comment\n1 99999999999 255\n", "height"},
                                     {"P5 1 1 2147483648\n\x01", "maximum value"}}) {
    const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(header.data()), header.size());
    message = error_of([&] { lanmsff::io::decode_image_u8(bytes, 0, "big.pnm"); });
    CHECK_MESSAGE(message.find("big.pnm: cannot decode image (damaged PNM header: the " + what +
                               " is larger than 2147483647)") != std::string::npos,
                  message);
  }
  // INT_MAX itself passes the check; stb_image then refuses the maximum value for what it is.
  const std::string int_max = "P5 1 1 2147483647\n\x01";
  message = error_of([&] {
    lanmsff::io::decode_image_u8(std::span(reinterpret_cast<const std::uint8_t*>(int_max.data()), int_max.size()), 0,
                                 "int_max.pnm");
  });
  CHECK_MESSAGE(message.find("int_max.pnm: cannot decode image (stb_image: max value > 65535)") != std::string::npos,
                message);

  // A JPEG whose Huffman table counts 783 codes (256 at most): stb_image 2.27 would write past its
  // tables (fuzz_image found it); refused before stb_image reads it.
  message = error_of([] {
    lanmsff::io::load_image(fs::path(LANMSFF_TEST_DATA_DIR) / "fuzz" / "corpus" / "image" / "crash-jpeg-dht-overflow.jpg");
  });
  CHECK_MESSAGE(message.find("crash-jpeg-dht-overflow.jpg: cannot decode image (damaged JPEG: a Huffman table of 783 "
                             "codes, at most 256 are possible)") != std::string::npos,
                message);

  CHECK_THROWS_WITH_AS(lanmsff::io::load_image(images_dir / "gray_3x5.png", 2),
                       doctest::Contains("channels must be 1 (gray) or 3 (RGB), got 2"), std::invalid_argument);
}

TEST_CASE("save_png round trip: bytes exactly, floats to the nearest of 256 levels") {
  ScratchDir scratch;
  ImageU8 rgb(4, 7, 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>((i * 37) % 256);
  lanmsff::io::save_png(scratch.path / "rgb.png", rgb);
  CHECK(lanmsff::io::load_image_u8(scratch.path / "rgb.png") == rgb);

  Image gray(5, 3, 1);
  for (std::size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<float>(i) / 14.0f;
  gray[0] = -0.5f;  // clamped to 0
  gray[1] = 1.5f;   // clamped to 1
  lanmsff::io::save_png(scratch.path / "gray.png", gray);
  const Image back = lanmsff::io::load_image(scratch.path / "gray.png");
  REQUIRE(back.shape() == gray.shape());
  CHECK(back[0] == 0.0f);
  CHECK(back[1] == 1.0f);
  for (std::size_t i = 2; i < gray.size(); ++i) CHECK(std::abs(back[i] - gray[i]) <= 0.5f / 255.0f + 1e-7f);

  CHECK_THROWS_WITH(lanmsff::io::save_png(scratch.path / "no_such_dir" / "x.png", rgb),
                    doctest::Contains("x.png: cannot open for writing"));
  CHECK_THROWS_AS(lanmsff::io::save_png(scratch.path / "empty.png", ImageU8()), std::invalid_argument);
}

TEST_CASE("to_u8 rounds to the nearest level and clamps; to_float inverts it exactly") {
  Image f(1, 6, 1);
  const float values[6] = {-1.0f, 0.0f, 0.5f / 255.0f - 1e-6f, 127.5f / 255.0f + 1e-6f, 1.0f, 2.0f};
  for (int i = 0; i < 6; ++i) f[i] = values[i];
  const ImageU8 b = lanmsff::io::to_u8(f);
  CHECK(int(b[0]) == 0);
  CHECK(int(b[1]) == 0);
  CHECK(int(b[2]) == 0);
  CHECK(int(b[3]) == 128);
  CHECK(int(b[4]) == 255);
  CHECK(int(b[5]) == 255);
  ImageU8 all(1, 256, 1);
  for (int v = 0; v < 256; ++v) all[v] = static_cast<std::uint8_t>(v);
  CHECK(lanmsff::io::to_u8(lanmsff::io::to_float(all)) == all);
}

TEST_CASE("resize_bilinear, hand-computed: 1x2 -> 1x4 samples at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)") {
  Image in(1, 2, 1);
  in[0] = 0.0f, in[1] = 1.0f;
  const Image out = lanmsff::io::resize_bilinear(in, 1, 4);
  REQUIRE(out.shape() == Shape{1, 4, 1});
  CHECK(out[0] == 0.0f);
  CHECK(out[1] == doctest::Approx(0.25));
  CHECK(out[2] == doctest::Approx(0.75));
  CHECK(out[3] == 1.0f);
  // Halving averages pixel pairs: output 0 samples at 0.5.
  Image row(1, 4, 1);
  for (int i = 0; i < 4; ++i) row[i] = float(i * i);
  const Image half = lanmsff::io::resize_bilinear(row, 1, 2);
  CHECK(half[0] == doctest::Approx(0.5));
  CHECK(half[1] == doctest::Approx(6.5));
  // Same size is the identity; bad sizes throw.
  CHECK(lanmsff::io::resize_bilinear(row, 1, 4) == row);
  CHECK_THROWS_AS(lanmsff::io::resize_bilinear(row, 0, 4), std::invalid_argument);
  CHECK_THROWS_AS(lanmsff::io::resize_bilinear(Image(), 2, 2), std::invalid_argument);
}

TEST_CASE("resize_bilinear matches PyTorch F.interpolate(bilinear, align_corners=False, antialias=False)") {
  std::ifstream file(data_dir / "resize_bilinear_torch.txt");
  REQUIRE(file.good());
  std::string line;
  int cases = 0;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    int h = 0, w = 0, c = 0, oh = 0, ow = 0;
    std::istringstream(line) >> h >> w >> c >> oh >> ow;
    Image in(h, w, c);
    std::getline(file, line);
    std::istringstream inputs(line);
    for (float& v : in) inputs >> v;
    std::getline(file, line);
    std::istringstream outputs(line);
    const Image out = lanmsff::io::resize_bilinear(in, oh, ow);
    REQUIRE(out.shape() == Shape{oh, ow, c});
    for (std::size_t i = 0; i < out.size(); ++i) {
      float expected = 0.0f;
      outputs >> expected;
      CHECK_MESSAGE(out[i] == doctest::Approx(expected).epsilon(1e-5),
                    "case " << h << "x" << w << "x" << c << " -> " << oh << "x" << ow << ", value " << i);
    }
    CHECK(!outputs.fail());
    ++cases;
  }
  CHECK(cases == 5);
}

TEST_CASE("resize_bilinear of bytes is the float resize rounded to the nearest level") {
  ImageU8 in(3, 5, 2);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::uint8_t>((i * 53 + 7) % 256);
  const ImageU8 out = lanmsff::io::resize_bilinear(in, 7, 4);
  Image f(3, 5, 2);
  for (std::size_t i = 0; i < in.size(); ++i) f[i] = float(in[i]);
  const Image expected = lanmsff::io::resize_bilinear(f, 7, 4);
  REQUIRE(out.shape() == expected.shape());
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(int(out[i]) == std::lround(expected[i]));
}
