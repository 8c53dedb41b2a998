// The face front end (include/lanmsff/faces/): detection against hand-annotated boxes on real photos,
// the two-thread pyramid split against one scan, alignment (the eye line level within 2 degrees when
// the aligned crop is searched again, on a photo rotated by 12 degrees), the crop geometry, the
// tracker, and clear errors. Photos: tests/data/faces (PASCAL VOC photos from dlib's examples, with
// dlib's hand-annotated boxes in boxes.txt) and Debian's facedetect package (grace_hopper_512x512.jpg,
// a portrait; 640px-IceBlockNearJoekullsarlon.jpg, a landscape without a face).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "lanmsff/faces/align.hpp"
#include "lanmsff/faces/detector.hpp"
#include "lanmsff/faces/draw.hpp"
#include "lanmsff/faces/track.hpp"
#include "lanmsff/io/save_image.hpp"

using namespace lanmsff;
using faces::Box;
using faces::Point;

namespace {

const std::filesystem::path data_dir = "data/faces";
const std::filesystem::path facedetect_dir = "/usr/share/doc/facedetect/examples";

std::filesystem::path photo(const std::string& name) {
  const auto here = data_dir / name;
  if (std::filesystem::exists(here)) return here;
  const auto there = facedetect_dir / name;
  REQUIRE_MESSAGE(std::filesystem::exists(there), there.string() << " is missing (Debian: apt-get install facedetect)");
  return there;
}

std::map<std::string, std::vector<Box>> annotated_boxes() {
  std::ifstream in(data_dir / "boxes.txt");
  REQUIRE(in);
  std::map<std::string, std::vector<Box>> boxes;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name;
    Box b;
    fields >> name >> b.left >> b.top >> b.width >> b.height;
    REQUIRE(fields);
    boxes[name].push_back(b);
  }
  return boxes;
}

// A detector per thread count, built once (loading the landmark model takes about a second).
faces::FaceDetector& detector(int threads) {
  static std::map<int, faces::FaceDetector> detectors;
  auto it = detectors.find(threads);
  if (it == detectors.end()) {
    faces::DetectorOptions options;
    options.threads = threads;
    it = detectors.emplace(threads, faces::FaceDetector(options)).first;
  }
  return it->second;
}

// photo rotated by `degrees` about its centre (bilinear, edges repeated), the same size.
io::ImageU8 rotated(const io::ImageU8& in, double degrees) {
  const double a = degrees * 3.141592653589793 / 180, c = std::cos(a), s = std::sin(a);
  io::ImageU8 out(in.h(), in.w(), in.c());
  const double cx = in.w() / 2.0, cy = in.h() / 2.0;
  for (int y = 0; y < in.h(); ++y)
    for (int x = 0; x < in.w(); ++x) {
      const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      const double sx = std::clamp(cx + c * dx + s * dy - 0.5, 0.0, in.w() - 1.0), sy = std::clamp(cy - s * dx + c * dy - 0.5, 0.0, in.h() - 1.0);
      const int x0 = int(sx), y0 = int(sy), x1 = std::min(x0 + 1, in.w() - 1), y1 = std::min(y0 + 1, in.h() - 1);
      const double wx = sx - x0, wy = sy - y0;
      for (int k = 0; k < in.c(); ++k)
        out(y, x, k) = std::uint8_t(std::lround((1 - wy) * ((1 - wx) * in(y0, x0, k) + wx * in(y0, x1, k)) +
                                                wy * ((1 - wx) * in(y1, x0, k) + wx * in(y1, x1, k))));
    }
  return out;
}

}  // namespace

TEST_CASE("every hand-annotated face of the photos is found, and nothing else") {
  for (const auto& entry : annotated_boxes()) {
    const std::string& name = entry.first;  // (not a structured binding: Clang cannot capture one under OpenMP)
    const std::vector<Box>& truth = entry.second;
    CAPTURE(name);
    const io::ImageU8 picture = io::load_image_u8(photo(name), 3);
    const auto found = detector(0).detect(picture);
    CHECK(found.size() == truth.size());
    std::vector<bool> matched(found.size());
    for (const Box& t : truth) {
      float best = 0;
      std::size_t at = 0;
      for (std::size_t i = 0; i < found.size(); ++i)
        if (!matched[i] && faces::iou(t, found[i].box) > best) best = faces::iou(t, found[i].box), at = i;
      CAPTURE(t.left);
      CAPTURE(t.top);
      CHECK(best >= 0.5f);
      if (best >= 0.5f) matched[at] = true;
    }
    for (std::size_t i = 1; i < found.size(); ++i) CHECK(found[i - 1].score >= found[i].score);  // most confident first
    for (const auto& face : found) {
      REQUIRE(face.has_landmarks());
      // Landmarks sit on the face: their mean lies inside the box, the eyes in its upper half.
      Point mean;
      for (const auto& p : face.landmarks) mean.x += p.x / 68, mean.y += p.y / 68;
      CHECK(mean.x > face.box.left);
      CHECK(mean.x < face.box.right());
      CHECK(mean.y > face.box.top);
      CHECK(mean.y < face.box.bottom());
      for (const auto& eye : face.eyes()) CHECK(eye.y < face.box.top + 0.6f * face.box.height);
      CHECK(face.eyes()[0].x < face.eyes()[1].x);
    }
  }
}

TEST_CASE("a landscape without a face gives no face") {
  const io::ImageU8 picture = io::load_image_u8(photo("640px-IceBlockNearJoekullsarlon.jpg"), 3);
  CHECK(detector(0).detect(picture).empty());
  const io::ImageU8 flat(480, 640, 3, 128);  // and a flat gray frame
  CHECK(detector(0).detect(flat).empty());
}

TEST_CASE("the pyramid split over two threads finds what one scan finds") {
  for (const char* name : {"2007_007763.jpg", "2008_001322.jpg", "grace_hopper_512x512.jpg"}) {
    CAPTURE(name);
    const io::ImageU8 picture = io::load_image_u8(photo(name), 3);
    const auto one = detector(1).detect(picture), two = detector(2).detect(picture);
    REQUIRE(one.size() == two.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
      CHECK(faces::iou(one[i].box, two[i].box) > 0.9f);  // the same face (boxes may differ by a pixel of rounding)
      CHECK(one[i].score == doctest::Approx(two[i].score).epsilon(1e-4));
    }
  }
}

TEST_CASE("min_face sets the upsampling; small faces need it") {
  faces::DetectorOptions options;
  options.landmarks = false;
  options.min_face = 80;
  faces::FaceDetector coarse(options);
  CHECK(coarse.upsampling(375, 500) == 0);
  options.min_face = 40;
  CHECK(faces::FaceDetector(options).upsampling(375, 500) == 1);
  options.min_face = 20;
  CHECK(faces::FaceDetector(options).upsampling(375, 500) == 2);
  CHECK(faces::FaceDetector(options).upsampling(3000, 4000) == 0);  // 4x of 12 megapixels is past the cap
  // The group photo's faces are 37-45 pixels: without upsampling most are missed.
  const io::ImageU8 group = io::load_image_u8(photo("2007_007763.jpg"), 3);
  CHECK(coarse.detect(group).size() < 7);
  CHECK_THROWS_WITH_AS(coarse.landmarks(group, Box{10, 10, 40, 40}), doctest::Contains("landmarks were turned off"), std::logic_error);
  options.min_face = 10;
  CHECK_THROWS_WITH_AS(faces::FaceDetector{options}, doctest::Contains("at least 20"), std::invalid_argument);
}

TEST_CASE("alignment: the aligned crop of a tilted face has its eyes level, where the spec puts them") {
  const io::ImageU8 portrait = io::load_image_u8(photo("grace_hopper_512x512.jpg"), 3);
  const io::ImageU8 tilted = rotated(portrait, 12);
  const auto found = detector(0).detect(tilted);
  REQUIRE(found.size() == 1);
  const auto eyes = found[0].eyes();
  CHECK(std::abs(faces::eye_line_degrees(eyes[0], eyes[1])) > 8);  // the photo is tilted
  // A large RGB crop, searched again from scratch: its eyes are level and at the spec's positions.
  faces::AlignSpec spec = faces::AlignSpec::for_input({256, 256, 3});
  const io::Image crop = faces::align_face(tilted, found[0], spec);
  CHECK(crop.shape() == Shape{256, 256, 3});
  const io::ImageU8 crop8 = io::to_u8(crop);
  const auto again = detector(0).detect(crop8);
  REQUIRE(again.size() == 1);
  const auto crop_eyes = again[0].eyes();
  CHECK(std::abs(faces::eye_line_degrees(crop_eyes[0], crop_eyes[1])) < 2.0);
  const auto targets = spec.eye_targets();
  // Where the spec puts them, up to the landmarks' own scatter between the photo and the crop (a few
  // pixels of the 256).
  for (int e = 0; e < 2; ++e) {
    CAPTURE(e);
    CHECK(std::abs(crop_eyes[e].x - targets[e].x) < 0.05 * 256);
    CHECK(std::abs(crop_eyes[e].y - targets[e].y) < 0.05 * 256);
  }
  // The model-sized crops: LANMSFF 64x64 gray, MA-Net 224x224 RGB.
  CHECK(faces::align_face(tilted, found[0], faces::AlignSpec::for_input({64, 64, 1})).shape() == Shape{64, 64, 1});
  CHECK(faces::align_face(tilted, found[0], faces::AlignSpec::for_input({224, 224, 3})).shape() == Shape{224, 224, 3});
}

TEST_CASE("eye_alignment maps the crop's eye targets onto the eyes, and to_crop inverts it") {
  faces::AlignSpec spec;  // 64x64, eyes at 0.40 height, 0.36 width apart
  const std::array<Point, 2> eyes{Point{100, 120}, Point{140, 150}};
  const faces::Similarity t = faces::eye_alignment(eyes, spec);
  const auto targets = spec.eye_targets();
  CHECK(targets[0].x == doctest::Approx(32 - 0.18 * 64));
  CHECK(targets[0].y == doctest::Approx(0.40 * 64));
  for (int e = 0; e < 2; ++e) {
    const Point p = t.to_photo(targets[e]);
    CHECK(p.x == doctest::Approx(eyes[e].x));
    CHECK(p.y == doctest::Approx(eyes[e].y));
  }
  const Point q = t.to_crop(t.to_photo({3, 50}));
  CHECK(q.x == doctest::Approx(3));
  CHECK(q.y == doctest::Approx(50));
  CHECK(t.scale() == doctest::Approx(50.0 / (0.36 * 64)));  // eye distance 50 px onto 23.04 px
  CHECK_THROWS_WITH_AS(faces::eye_alignment({Point{5, 5}, Point{5, 5}}, spec), doctest::Contains("coincide"), std::invalid_argument);
  spec.eye_line = 1.5f;
  CHECK_THROWS_WITH_AS(spec.check(), doctest::Contains("eye_line"), std::invalid_argument);
}

TEST_CASE("warp_crop samples the photo: the identity transform copies it, a shift moves it") {
  io::ImageU8 photo(8, 8, 1);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) photo(y, x, 0) = std::uint8_t(10 * y + x);
  faces::AlignSpec spec;
  spec.height = spec.width = 8;
  faces::Similarity identity;  // a = 1, b = 0, target = origin = (0, 0)
  const io::Image same = faces::warp_crop(photo, identity, spec);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) CHECK(same(y, x, 0) * 255 == doctest::Approx(10 * y + x).epsilon(1e-5));
  faces::Similarity shifted;
  shifted.origin = {2, 1};  // crop (u, v) reads photo (u + 2, v + 1)
  const io::Image moved = faces::warp_crop(photo, shifted, spec);
  CHECK(moved(0, 0, 0) * 255 == doctest::Approx(10 * 1 + 2).epsilon(1e-5));
  CHECK(moved(7, 7, 0) * 255 == doctest::Approx(10 * 7 + 7).epsilon(1e-5));  // past the edge: the edge repeats
  // Shrinking by 2 averages 2x2 samples: a checkerboard becomes flat gray.
  io::ImageU8 board(16, 16, 1);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) board(y, x, 0) = (x + y) % 2 ? 255 : 0;
  faces::Similarity half;
  half.a = 2;
  const io::Image gray = faces::warp_crop(board, half, spec);
  for (float v : gray) CHECK(v == doctest::Approx(0.5).epsilon(1e-5));
  // An RGB photo into a gray crop: the luma.
  io::ImageU8 red(4, 4, 3);
  for (int i = 0; i < 16; ++i) red[std::size_t(3 * i)] = 255;
  spec.height = spec.width = 4;
  CHECK(faces::warp_crop(red, identity, spec)(1, 1, 0) == doctest::Approx(76.0 / 255).epsilon(1e-5));  // round(0.299 * 255)
}

TEST_CASE("the tracker keeps a moving face's id, gives a new face a new id, and never reuses one") {
  faces::FaceTracker tracker(0.3f, 2);
  std::vector<faces::Face> frame(1);
  frame[0].box = {100, 100, 50, 50};
  tracker.update(frame);
  CHECK(frame[0].id == 1);
  frame[0].box = {110, 102, 50, 50};  // moved a little
  faces::Face other;
  other.box = {300, 100, 50, 50};
  frame.push_back(other);
  tracker.update(frame);
  CHECK(frame[0].id == 1);
  CHECK(frame[1].id == 2);
  // Listed in the other order, each keeps its id.
  std::swap(frame[0], frame[1]);
  tracker.update(frame);
  CHECK(frame[0].id == 2);
  CHECK(frame[1].id == 1);
  // Gone for more than max_missed frames: the track ends, and the face coming back is a new id.
  std::vector<faces::Face> none;
  for (int i = 0; i < 3; ++i) tracker.update(none);
  CHECK(tracker.tracks() == 0);
  tracker.update(frame);
  CHECK(frame[0].id == 3);
  CHECK(frame[1].id == 4);
}

TEST_CASE("annotate draws boxes and labels without changing the photo's size; save_image picks the format") {
  const io::ImageU8 picture = io::load_image_u8(photo("2008_001322.jpg"), 3);
  const auto found = detector(0).detect(picture);
  const io::ImageU8 drawn = faces::annotate(picture, found, {"1 happy 0.83", "2 sad 0.51", "3 fear 0.40"});
  CHECK(drawn.shape() == picture.shape());
  CHECK(drawn != picture);
  // The top-left corner of the first box has the first palette colour.
  const auto& b = found[0].box;
  const std::uint8_t* corner = drawn.pixel(int(std::lround(b.top)), int(std::lround(b.left)));
  CHECK(corner[0] == io::palette[0][0]);
  const auto dir = std::filesystem::temp_directory_path() / "lanmsff_test_faces";
  std::filesystem::create_directories(dir);
  io::save_image(dir / "a.jpg", drawn);
  io::save_image(dir / "a.png", drawn);
  CHECK(io::load_image_u8(dir / "a.png", 3) == drawn);
  const io::ImageU8 jpeg = io::load_image_u8(dir / "a.jpg", 3);
  CHECK(jpeg.shape() == drawn.shape());
  CHECK_THROWS_WITH_AS(io::save_image(dir / "a.gif", drawn), doctest::Contains(".png, .jpg or .jpeg"), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a landmark model that is missing or not a model is a clear error") {
  faces::DetectorOptions options;
  options.landmark_model = "data/faces/boxes.txt";
  CHECK_THROWS_WITH_AS(faces::FaceDetector{options}, doctest::Contains("not a dlib shape predictor"), std::runtime_error);
  CHECK(std::filesystem::exists(faces::find_landmark_model()));
}
