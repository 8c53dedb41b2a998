// Links lanmsff::faces from an installed lanmsff: dlib's detector runs on a flat gray image (no face)
// and the eye alignment maps a crop's eye targets onto given eyes.
#include <cstdio>

#include <lanmsff/faces/align.hpp>
#include <lanmsff/faces/detector.hpp>

int main() {
  using namespace lanmsff;
  faces::DetectorOptions options;
  options.landmarks = false;  // no landmark model needed for this check
  faces::FaceDetector detector(options);
  const io::ImageU8 flat(240, 320, 3, 128);
  const faces::AlignSpec spec;
  const auto t = faces::eye_alignment({faces::Point{10, 20}, faces::Point{30, 20}}, spec);
  const faces::Point p = t.to_photo(spec.eye_targets()[1]);
  std::printf("faces %zu eye %.1f %.1f\n", detector.detect(flat).size(), p.x, p.y);
}
