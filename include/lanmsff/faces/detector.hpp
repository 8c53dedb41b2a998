// Face detection and landmarks through dlib (Debian libdlib-dev, and libdlib-data for the landmark
// model): dlib's HOG frontal face detector (5 HOG filters over an image pyramid that shrinks by 5/6
// per level, faces of 80x80 pixels and larger at the photo's own scale) and its 68-point shape
// predictor (an ensemble of regression trees, Kazemi and Sullivan 2014). docs/faces.md says why these
// (measured against OpenCV's cascades) and what the landmark model's data licence is.
//
// FaceDetector::detect(photo) returns every face with its box, score and landmarks, in the order of
// the detector's confidence. DetectorOptions::min_face sets the smallest face to find: below 80
// pixels the photo is first upsampled by 2 (40..79) or 4 (20..39), which costs 4x or 16x the time.
// With two or more threads the pyramid is split between two threads (its first two levels, and the
// rest from the photo shrunk twice), which finds the same faces as one scan of the whole pyramid.
//
// A FaceDetector is not safe to call from two threads at once; give each thread its own (the
// landmark model, about 100 MB, is shared between copies).
#pragma once

// dlib's headers, when not found as system headers, warn under -Wall -Wextra in GCC.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wdeprecated-copy"
#endif
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms/image_pyramid.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/faces/face.hpp"
#include "lanmsff/io/image.hpp"

namespace lanmsff::faces {

// Where the 68-point landmark model is looked for, in order: the environment variable
// LANMSFF_FACE_LANDMARKS, then dlib's data directories (Debian libdlib-data installs
// /usr/share/dlib/shape_predictor_68_face_landmarks.dat).
inline std::vector<std::filesystem::path> landmark_model_candidates() {
  std::vector<std::filesystem::path> paths;
  if (const char* env = std::getenv("LANMSFF_FACE_LANDMARKS"); env && *env) paths.emplace_back(env);
  for (const char* dir : {"/usr/share/dlib", "/usr/local/share/dlib"})
    paths.push_back(std::filesystem::path(dir) / "shape_predictor_68_face_landmarks.dat");
  return paths;
}

inline std::filesystem::path find_landmark_model() {
  const auto candidates = landmark_model_candidates();
  std::string tried;
  for (const auto& path : candidates) {
    std::error_code error;
    if (std::filesystem::is_regular_file(path, error)) return path;
    tried += "\n  " + path.string();
  }
  throw std::runtime_error("the face landmark model shape_predictor_68_face_landmarks.dat was not found (Debian: "
                           "apt-get install libdlib-data; or set LANMSFF_FACE_LANDMARKS to its path); looked at:" +
                           tried);
}

struct DetectorOptions {
  int min_face = 40;         // smallest face side to find, in pixels (20..; 80 and up need no upsampling)
  int threads = 0;           // 0: lanmsff::max_threads(); 1: one scan; 2+: the pyramid split in two
  double threshold = 0.0;    // added to the detector's threshold: > 0 fewer false faces, < 0 more faces
  bool landmarks = true;     // locate the 68 landmarks (needed for alignment)
  std::filesystem::path landmark_model;  // empty: find_landmark_model()
  // Upsampling stops where the upsampled photo would exceed this many pixels (a large photo's faces
  // are rarely tiny, and a 4x upsampled 12-megapixel photo would take seconds).
  long max_upsampled_pixels = 16l << 20;
};

class FaceDetector {
 public:
  using Detector = dlib::frontal_face_detector;
  using GrayImage = dlib::array2d<unsigned char>;

  explicit FaceDetector(DetectorOptions options = {}) : options_(std::move(options)) {
    if (options_.min_face < 20)
      throw std::invalid_argument("FaceDetector: min_face must be at least 20 pixels, got " + std::to_string(options_.min_face));
    if (options_.threads < 0) throw std::invalid_argument("FaceDetector: threads must be >= 0");
    whole_ = dlib::get_frontal_face_detector();
    // The first two pyramid levels: the same filters with the scanner stopped after level 2.
    typename Detector::image_scanner_type scanner;
    scanner.copy_configuration(whole_.get_scanner());
    scanner.set_max_pyramid_levels(2);
    std::vector<typename Detector::feature_vector_type> weights;
    for (unsigned long i = 0; i < whole_.num_detectors(); ++i) weights.push_back(whole_.get_w(i));
    top_ = Detector(scanner, whole_.get_overlap_tester(), weights);
    if (options_.landmarks) shapes_ = shared_landmark_model(options_.landmark_model);
  }

  const DetectorOptions& options() const { return options_; }

  // How many times a photo of this size is upsampled by 2 before the scan.
  int upsampling(int height, int width) const {
    int up = 0;
    while ((80 >> up) > options_.min_face && up < 2 &&
           long(height) * width * (4l << (2 * up)) <= options_.max_upsampled_pixels)
      ++up;
    return up;
  }

  // Every face in the photo (gray or RGB), the most confident first.
  std::vector<Face> detect(const io::ImageU8& photo) {
    if (photo.empty()) throw std::invalid_argument("FaceDetector::detect: the photo is empty");
    const GrayImage gray = to_gray(photo);
    std::vector<Face> faces = detect_boxes(gray, upsampling(photo.h(), photo.w()));
    if (options_.landmarks)
      for (Face& face : faces) face.landmarks = locate(gray, face.box);
    return faces;
  }

  // The 68 landmarks of the face inside `box` (a detector's box, or a tracked one).
  std::vector<Point> landmarks(const io::ImageU8& photo, const Box& box) const { return locate(to_gray(photo), box); }

  // The scan alone, on a gray image, upsampled `upsample` times by 2 first.
  std::vector<Face> detect_boxes(const GrayImage& gray, int upsample) {
    const GrayImage* scanned = &gray;
    GrayImage larger;
    if (upsample > 0) {
      dlib::assign_image(larger, gray);
      for (int i = 0; i < upsample; ++i) dlib::pyramid_up(larger);
      scanned = &larger;
    }
    std::vector<dlib::rect_detection> found;
    const auto by_confidence = [](const dlib::rect_detection& a, const dlib::rect_detection& b) {
      return a.detection_confidence > b.detection_confidence;
    };
    const int threads = options_.threads > 0 ? options_.threads : max_threads();
    if (threads >= 2 && scanned->nr() >= 160 && scanned->nc() >= 160) {
      // Levels 0 and 1 on this thread; levels 2.. on another, from the image shrunk twice exactly as
      // the scanner shrinks it (pyramid_down<6>). Each scan suppresses its own overlaps; the union is
      // then suppressed again with the detector's own overlap test.
      std::vector<dlib::rect_detection> rest;
      std::exception_ptr failure;
      std::thread worker([&] {
        try {
          dlib::pyramid_down<6> shrink;
          GrayImage level1, level2;
          shrink(*scanned, level1);
          shrink(level1, level2);
          whole_(level2, rest, options_.threshold);
          for (auto& d : rest) d.rect = dlib::rectangle(shrink.rect_up(dlib::drectangle(d.rect), 2));
        } catch (...) {
          failure = std::current_exception();
        }
      });
      try {
        top_(*scanned, found, options_.threshold);
      } catch (...) {
        worker.join();
        throw;
      }
      worker.join();
      if (failure) std::rethrow_exception(failure);
      found.insert(found.end(), rest.begin(), rest.end());
      std::stable_sort(found.begin(), found.end(), by_confidence);
      std::vector<dlib::rect_detection> kept;
      const auto& overlaps = whole_.get_overlap_tester();
      for (const auto& d : found)
        if (std::none_of(kept.begin(), kept.end(), [&](const auto& k) { return overlaps(d.rect, k.rect); })) kept.push_back(d);
      found = std::move(kept);
    } else {
      whole_(*scanned, found, options_.threshold);
      std::stable_sort(found.begin(), found.end(), by_confidence);
    }
    std::vector<Face> faces;
    const float scale = 1.0f / float(1 << upsample);
    for (const auto& d : found) {
      Face face;
      // dlib's rectangles are inclusive of their right and bottom pixels.
      face.box = {d.rect.left() * scale, d.rect.top() * scale, (d.rect.right() + 1 - d.rect.left()) * scale,
                  (d.rect.bottom() + 1 - d.rect.top()) * scale};
      face.score = float(d.detection_confidence);
      faces.push_back(face);
    }
    return faces;
  }

  static GrayImage to_gray(const io::ImageU8& photo) {
    const io::ImageU8 gray = photo.c() == 1 ? photo : io::convert_channels(photo, 1);
    GrayImage out(gray.h(), gray.w());
    std::copy(gray.begin(), gray.end(), &out[0][0]);
    return out;
  }

 private:
  using ShapeModel = dlib::shape_predictor;

  // One landmark model per path for the whole program: loading it takes a while and 100 MB.
  static std::shared_ptr<const ShapeModel> shared_landmark_model(std::filesystem::path path) {
    if (path.empty()) path = find_landmark_model();
    static std::mutex mutex;
    static std::vector<std::pair<std::filesystem::path, std::weak_ptr<const ShapeModel>>> loaded;
    std::lock_guard lock(mutex);
    for (auto& [p, model] : loaded)
      if (p == path)
        if (auto shared = model.lock()) return shared;
    auto model = std::make_shared<ShapeModel>();
    try {
      dlib::deserialize(path.string()) >> *model;
    } catch (const std::exception& error) {
      throw std::runtime_error(path.string() + ": not a dlib shape predictor (" + std::string(error.what()) + ")");
    }
    if (model->num_parts() != unsigned(landmark_count))
      throw std::runtime_error(path.string() + ": a landmark model of " + std::to_string(model->num_parts()) +
                               " points; the face front end needs the 68-point model");
    loaded.emplace_back(path, model);
    return model;
  }

  std::vector<Point> locate(const GrayImage& gray, const Box& box) const {
    if (!shapes_) throw std::logic_error("FaceDetector: landmarks were turned off (DetectorOptions::landmarks)");
    const dlib::rectangle r(long(std::lround(box.left)), long(std::lround(box.top)), long(std::lround(box.right())) - 1,
                            long(std::lround(box.bottom())) - 1);
    const dlib::full_object_detection shape = (*shapes_)(gray, r);
    std::vector<Point> points(shape.num_parts());
    // dlib's points are pixel indices; +0.5 puts them in the photo's continuous coordinates.
    for (unsigned long i = 0; i < shape.num_parts(); ++i)
      points[i] = {float(shape.part(i).x()) + 0.5f, float(shape.part(i).y()) + 0.5f};
    return points;
  }

  DetectorOptions options_;
  Detector whole_, top_;
  std::shared_ptr<const ShapeModel> shapes_;
};

}  // namespace lanmsff::faces
