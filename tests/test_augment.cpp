// Augmentation: exact geometry (flips, multiples of 90 degrees, crops, padding), hand-computed
// bilinear rotation values for both border modes, torchvision's RandomResizedCrop box rules, the
// offline x4 scheme, batches with online augmentation, and determinism: one seed, one result.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <lanmsff/io/augment.hpp>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

using lanmsff::Rng;
using lanmsff::Shape;
using lanmsff::io::BorderMode;
using lanmsff::io::CropBox;
using lanmsff::io::Dataset;
using lanmsff::io::Image;

namespace {

// Every value distinct: value(y, x, c) = 100y + 10x + c + 1.
Image numbered(int h, int w, int c) {
  Image image(h, w, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) image(y, x, ch) = float(100 * y + 10 * x + ch + 1);
  return image;
}

Image random_image(int h, int w, int c, std::uint64_t seed) {
  Rng rng(seed);
  Image image(h, w, c);
  for (float& v : image) v = static_cast<float>(rng.uniform());
  return image;
}

}  // namespace

TEST_CASE("flip_horizontal mirrors columns and keeps channel order") {
  const Image in = numbered(2, 3, 2);
  const Image out = lanmsff::io::flip_horizontal(in);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 2; ++c) CHECK(out(y, x, c) == in(y, 2 - x, c));
  CHECK(out(0, 0, 1) == 22.0f);
  CHECK(lanmsff::io::flip_horizontal(out) == in);
}

TEST_CASE("rotate by multiples of 90 degrees moves pixels exactly (counter-clockwise is positive)") {
  for (int n : {3, 4}) {
    CAPTURE(n);
    const Image in = numbered(n, n, 3);
    for (BorderMode border : {BorderMode::replicate, BorderMode::zero}) {
      const Image ccw = lanmsff::io::rotate(in, 90.0, border);
      const Image cw = lanmsff::io::rotate(in, -90.0, border);
      const Image half = lanmsff::io::rotate(in, 180.0, border);
      const Image full = lanmsff::io::rotate(in, 360.0, border);
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x)
          for (int c = 0; c < 3; ++c) {
            CHECK(ccw(y, x, c) == in(x, n - 1 - y, c));  // numpy.rot90: transpose, then flip vertically
            CHECK(cw(y, x, c) == in(n - 1 - x, y, c));
            CHECK(half(y, x, c) == in(n - 1 - y, n - 1 - x, c));
            CHECK(full(y, x, c) == in(y, x, c));
          }
      // The top-right corner goes to the top-left under a counter-clockwise quarter turn.
      CHECK(ccw(0, 0, 0) == in(0, n - 1, 0));
    }
  }
  const Image in = numbered(3, 5, 1);
  CHECK(lanmsff::io::rotate(in, 0.0) == in);
}

TEST_CASE("rotate 45 degrees, hand-computed: bilinear inside, replicate or zero outside") {
  Image in(3, 3, 1);
  for (int i = 0; i < 9; ++i) in[i] = float(i + 1);  // 1 2 3 / 4 5 6 / 7 8 9
  const double r = std::sqrt(0.5);
  const Image rep = lanmsff::io::rotate(in, 45.0, BorderMode::replicate);
  const Image zero = lanmsff::io::rotate(in, 45.0, BorderMode::zero);
  CHECK(rep(1, 1, 0) == doctest::Approx(5.0));  // the centre stays
  // Output (0, 1) samples (x, y) = (1 + r, 1 - r): inside, so both modes agree.
  const double top = 2 + r * (3 - 2), bottom = 5 + r * (6 - 5);
  CHECK(rep(0, 1, 0) == doctest::Approx(top + (1 - r) * (bottom - top)));
  CHECK(zero(0, 1, 0) == doctest::Approx(rep(0, 1, 0)));
  // Output (0, 0) samples (1, 1 - 2r) = (1, -0.414): above the image. Row -1 is row 0 again when
  // replicating (value 2); it is 0 with zero fill: 0 + (1 - 2r + 1) * (2 - 0).
  CHECK(rep(0, 0, 0) == doctest::Approx(2.0));
  CHECK(zero(0, 0, 0) == doctest::Approx((2 - 2 * r) * 2.0));
  // A uniform image keeps its value everywhere when replicating; zero fill darkens the corners.
  const Image ones(9, 9, 1, 1.0f);
  const Image rep_ones = lanmsff::io::rotate(ones, 30.0, BorderMode::replicate);
  for (float v : rep_ones) CHECK(v == doctest::Approx(1.0));
  const Image zero_ones = lanmsff::io::rotate(ones, 45.0, BorderMode::zero);
  CHECK(zero_ones(0, 0, 0) == 0.0f);
  CHECK(zero_ones(4, 4, 0) == doctest::Approx(1.0));
}

TEST_CASE("crop, center_crop and pad place windows exactly") {
  const Image in = numbered(5, 6, 2);
  const Image window = lanmsff::io::crop(in, 1, 2, 3, 2);
  REQUIRE(window.shape() == Shape{3, 2, 2});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 2; ++x)
      for (int c = 0; c < 2; ++c) CHECK(window(y, x, c) == in(1 + y, 2 + x, c));
  CHECK_THROWS_WITH_AS(lanmsff::io::crop(in, 3, 0, 3, 2), doctest::Contains("does not fit in a 5x6 image"),
                       std::invalid_argument);
  CHECK_THROWS_AS(lanmsff::io::crop(in, -1, 0, 1, 1), std::invalid_argument);

  // 72 -> 64: the paper's centre crop starts at 4. Odd margins round half to even, like torchvision.
  const Image big = numbered(72, 72, 1);
  CHECK(lanmsff::io::center_crop(big, 64, 64)(0, 0, 0) == big(4, 4, 0));
  CHECK(lanmsff::io::center_crop(in, 2, 3)(0, 0, 0) == in(2, 2, 0));  // (5-2)/2 = 1.5 -> 2; (6-3)/2 = 1.5 -> 2
  CHECK(lanmsff::io::center_crop(in, 4, 1)(0, 0, 0) == in(0, 2, 0));  // 0.5 -> 0; 2.5 -> 2

  const Image padded = lanmsff::io::pad(in, 2, -1.0f);
  REQUIRE(padded.shape() == Shape{9, 10, 2});
  CHECK(padded(0, 0, 0) == -1.0f);
  CHECK(padded(2, 2, 1) == in(0, 0, 1));
  CHECK(padded(6, 7, 0) == in(4, 5, 0));
  CHECK(padded(8, 9, 1) == -1.0f);
}

TEST_CASE("random_crop with padding: every window of the zero-padded image, uniformly") {
  const Image in = numbered(4, 4, 1);
  const Image padded = lanmsff::io::pad(in, 1);
  Rng rng(3);
  std::set<std::pair<int, int>> seen;
  for (int draw = 0; draw < 300; ++draw) {
    const Image out = lanmsff::io::random_crop(in, rng, 4, 4, 1);
    int matches = 0;
    for (int top = 0; top <= 2; ++top)
      for (int left = 0; left <= 2; ++left)
        if (out == lanmsff::io::crop(padded, top, left, 4, 4)) {
          ++matches;
          seen.insert({top, left});
        }
    CHECK(matches == 1);
  }
  CHECK(seen.size() == 9);
  CHECK_THROWS_AS(lanmsff::io::random_crop(in, rng, 7, 4, 1), std::invalid_argument);
}

TEST_CASE("random_resized_crop_box follows torchvision: scale, ratio, bounds, fallback") {
  Rng rng(11);
  std::set<std::pair<int, int>> sizes;
  for (int draw = 0; draw < 2000; ++draw) {
    const CropBox box = lanmsff::io::random_resized_crop_box(100, 120, rng);
    CHECK(box.top >= 0);
    CHECK(box.left >= 0);
    CHECK(box.top + box.height <= 100);
    CHECK(box.left + box.width <= 120);
    const double area = double(box.height) * box.width / (100.0 * 120.0);
    const double ratio = double(box.width) / box.height;
    CHECK(area >= 0.08 * 0.9);
    CHECK(area <= 1.0);
    CHECK(ratio >= 0.75 * 0.95);
    CHECK(ratio <= 4.0 / 3.0 * 1.05);
    sizes.insert({box.height, box.width});
  }
  CHECK(sizes.size() > 500);

  Rng fixed(1);
  CHECK(lanmsff::io::random_resized_crop_box(10, 10, fixed, 1.0, 1.0, 1.0, 1.0) == CropBox{0, 0, 10, 10});
  // A scale no box can reach falls back to the largest centred box with a ratio in range.
  CHECK(lanmsff::io::random_resized_crop_box(10, 10, fixed, 4.0, 5.0) == CropBox{0, 0, 10, 10});
  CHECK(lanmsff::io::random_resized_crop_box(10, 40, fixed, 4.0, 5.0) == CropBox{0, 13, 10, 13});
  CHECK(lanmsff::io::random_resized_crop_box(40, 10, fixed, 4.0, 5.0) == CropBox{13, 0, 13, 10});
  CHECK_THROWS_AS(lanmsff::io::random_resized_crop_box(10, 10, fixed, 0.5, 0.1), std::invalid_argument);

  const Image in = random_image(20, 30, 3, 5);
  Rng a(9), b(9);
  const Image out = lanmsff::io::random_resized_crop(in, a, 8, 8);
  const CropBox box = lanmsff::io::random_resized_crop_box(20, 30, b);
  CHECK(out == lanmsff::io::resized_crop(in, box, 8, 8));
  CHECK(out.shape() == Shape{8, 8, 3});
}

TEST_CASE("random flip and rotation: probability, range, and one seed one result") {
  const Image in = numbered(4, 5, 1);
  Rng rng(21);
  CHECK(lanmsff::io::random_horizontal_flip(in, rng, 1.0) == lanmsff::io::flip_horizontal(in));
  CHECK(lanmsff::io::random_horizontal_flip(in, rng, 0.0) == in);
  int flips = 0;
  for (int i = 0; i < 1000; ++i) flips += lanmsff::io::random_horizontal_flip(in, rng) != in;
  CHECK(flips > 430);
  CHECK(flips < 570);
  CHECK(lanmsff::io::random_rotation(in, rng, 0.0) == in);

  const auto pipeline = lanmsff::io::compose(lanmsff::io::RandomRotation{15.0}, lanmsff::io::RandomHorizontalFlip{},
                                             lanmsff::io::RandomCrop{3, 3, 1});
  const Image image = random_image(6, 6, 1, 8);
  Rng first(77), second(77), other(78);
  const Image a = pipeline(image, first);
  CHECK(a.shape() == Shape{3, 3, 1});
  CHECK(pipeline(image, second) == a);
  CHECK(pipeline(image, other) != a);
}

TEST_CASE("augment_offline_x4: original, flip, rotate-enlarge-centre-crop, enlarge-random-crop") {
  Dataset in({16, 16, 1}, {"a", "b"});
  for (int i = 0; i < 3; ++i) in.add(lanmsff::io::to_u8(random_image(16, 16, 1, 100 + i)), i % 2);
  lanmsff::io::OfflineAugmentOptions options;
  options.seed = 5;
  const Dataset out = lanmsff::io::augment_offline_x4(in, options);
  REQUIRE(out.size() == 12);
  CHECK(out.image_shape() == Shape{16, 16, 1});
  CHECK(out.labels() == std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0});
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    const Image original = in.image(i);
    CHECK(out.image_u8(4 * i) == in.image_u8(i));
    CHECK(out.image_u8(4 * i + 1) == lanmsff::io::to_u8(lanmsff::io::flip_horizontal(original)));
    // Enlarged to 18x18 (16 * 72/64), cropped back at one of the 3x3 offsets.
    const Image enlarged = lanmsff::io::resize_bilinear(original, 18, 18);
    int matches = 0;
    for (int top = 0; top <= 2; ++top)
      for (int left = 0; left <= 2; ++left)
        matches += out.image_u8(4 * i + 3) == lanmsff::io::to_u8(lanmsff::io::crop(enlarged, top, left, 16, 16));
    CHECK(matches == 1);
    // A random rotation: not the unrotated centre crop (a random image is not symmetric).
    CHECK(out.image_u8(4 * i + 2) != lanmsff::io::to_u8(lanmsff::io::center_crop(enlarged, 16, 16)));
  }
  // With no rotation the third copy is exactly the centre crop of the enlarged image.
  options.max_degrees = 0.0;
  const Dataset still = lanmsff::io::augment_offline_x4(in, options);
  CHECK(still.image_u8(2) ==
        lanmsff::io::to_u8(lanmsff::io::center_crop(lanmsff::io::resize_bilinear(in.image(0), 18, 18), 16, 16)));

  // Same seed, same data set; another seed, another.
  options.max_degrees = 15.0;
  CHECK(lanmsff::io::augment_offline_x4(in, options).image_u8(6) == out.image_u8(6));
  options.seed = 6;
  const Dataset reseeded = lanmsff::io::augment_offline_x4(in, options);
  bool any_difference = false;
  for (std::size_t i = 0; i < 12; ++i) any_difference |= reseeded.image_u8(i) != out.image_u8(i);
  CHECK(any_difference);
}

TEST_CASE("make_batch with online augmentation: shapes, labels, determinism, shape errors") {
  Dataset d({8, 8, 1}, {"a", "b", "c"});
  const int source_labels[4] = {2, 2, 1, 0};
  for (int i = 0; i < 4; ++i) d.add(lanmsff::io::to_u8(random_image(8, 8, 1, 200 + i)), source_labels[i]);
  const std::vector<std::size_t> indices{3, 1, 0};
  const auto augment = lanmsff::io::compose(lanmsff::io::RandomCrop{6, 6, 0}, lanmsff::io::RandomHorizontalFlip{});
  lanmsff::Tensor<float> batch, again;
  std::vector<int> labels, labels_again;
  Rng rng(4), rng_again(4);
  lanmsff::io::make_batch(d, indices, batch, labels, augment, rng);
  lanmsff::io::make_batch(d, indices, again, labels_again, augment, rng_again);
  CHECK(batch.n() == 3);
  CHECK(batch.shape() == Shape{6, 6, 1});
  CHECK(labels == std::vector<int>{0, 2, 2});
  CHECK(labels_again == labels);
  CHECK(std::equal(batch.begin(), batch.end(), again.begin()));

  // Each sample is a 6x6 window of its source image, possibly mirrored.
  for (int k = 0; k < 3; ++k) {
    const Image source = d.image(indices[k]);
    Image sample(6, 6, 1);
    std::copy(batch.sample(k), batch.sample(k) + 36, sample.data());
    bool found = false;
    for (int top = 0; top <= 2; ++top)
      for (int left = 0; left <= 2; ++left) {
        const Image window = lanmsff::io::crop(source, top, left, 6, 6);
        found |= sample == window || sample == lanmsff::io::flip_horizontal(window);
      }
    CHECK(found);
  }

  int calls = 0;
  auto inconsistent = [&](const Image& in, Rng&) { return ++calls == 2 ? lanmsff::io::crop(in, 0, 0, 4, 4) : in; };
  CHECK_THROWS_WITH_AS(lanmsff::io::make_batch(d, indices, batch, labels, inconsistent, rng),
                       doctest::Contains("sample 1 shape 4x4x1 but sample 0 shape 8x8x1"), std::invalid_argument);
}
