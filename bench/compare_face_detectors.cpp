// Face detectors side by side, on the 12 PASCAL VOC photos of dlib's examples/faces with their 43
// hand-annotated faces (training.xml, testing.xml), and on a 640x480 frame with one face: lanmsff's
// front end (dlib's HOG detector; at min_face 80, 40 and 20, that is no, 2x and 4x upsampling) against
// OpenCV's Haar and LBP cascades (Debian opencv-data) at their usual settings. A found face counts
// when it overlaps a hand box with intersection over union >= 0.3 (the cascades' boxes are larger
// than dlib's), each hand box at most once; the other detections are false.
// Built and run by bench/compare_face_detectors.sh, which fetches the photos.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <regex>

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "lanmsff/faces/detector.hpp"

using namespace lanmsff;
using Clock = std::chrono::steady_clock;
using Detect = std::function<std::vector<faces::Box>(const io::ImageU8&)>;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DLIB_EXAMPLES_FACES_DIR PORTRAIT.jpg\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::map<std::string, std::vector<faces::Box>> truth;
  for (const char* xml : {"training.xml", "testing.xml"}) {
    std::ifstream in(dir + "/" + xml);
    if (!in) return std::fprintf(stderr, "%s/%s: cannot read\n", dir.c_str(), xml), 1;
    std::string line, current;
    const std::regex image("file='([^']+)'"), box("top='(-?\\d+)' left='(-?\\d+)' width='(\\d+)' height='(\\d+)'");
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, image)) current = m[1];
      else if (std::regex_search(line, m, box))
        truth[current].push_back({std::stof(m[2]), std::stof(m[1]), std::stof(m[3]), std::stof(m[4])});
    }
  }
  std::map<std::string, io::ImageU8> photos;
  for (const auto& [name, boxes] : truth) photos[name] = io::load_image_u8(dir + "/" + name, 3);

  // The 640x480 frame: the portrait shrunk to 300x300 on gray (as bench/bench_faces.cpp).
  const io::ImageU8 portrait = io::load_image_u8(argv[2], 3);
  cv::Mat p(portrait.h(), portrait.w(), CV_8UC3, const_cast<std::uint8_t*>(portrait.data())), small;
  cv::resize(p, small, cv::Size(300, 300), 0, 0, cv::INTER_AREA);
  io::ImageU8 frame(480, 640, 3, 110);
  for (int y = 0; y < 300; ++y) std::copy_n(small.ptr<std::uint8_t>(y), 900, frame.pixel(90 + y, 170));

  std::vector<std::pair<std::string, Detect>> detectors;
  for (int min_face : {80, 40, 20}) {
    faces::DetectorOptions o;
    o.min_face = min_face, o.landmarks = false;
    auto d = std::make_shared<faces::FaceDetector>(o);
    detectors.emplace_back("lanmsff (dlib HOG), min_face " + std::to_string(min_face), [d](const io::ImageU8& im) {
      std::vector<faces::Box> out;
      for (const auto& f : d->detect(im)) out.push_back(f.box);
      return out;
    });
  }
  const std::string cascades = "/usr/share/opencv4/";
  const std::vector<std::pair<const char*, int>> cascade_runs{{"haarcascades/haarcascade_frontalface_default.xml", 20},
                                                               {"haarcascades/haarcascade_frontalface_default.xml", 80},
                                                               {"haarcascades/haarcascade_frontalface_alt2.xml", 20},
                                                               {"lbpcascades/lbpcascade_frontalface_improved.xml", 20}};
  for (const auto& [name, min_size] : cascade_runs) {
    auto c = std::make_shared<cv::CascadeClassifier>(cascades + name);
    if (c->empty()) return std::fprintf(stderr, "%s%s: cannot load (Debian: opencv-data)\n", cascades.c_str(), name), 1;
    const std::string label = std::string("OpenCV ") + (std::strrchr(name, '/') + 1);
    detectors.emplace_back(label.substr(0, label.size() - 4) + ", min " + std::to_string(min_size) + " px",
                           [c, min = min_size](const io::ImageU8& im) {
      cv::Mat rgb(im.h(), im.w(), CV_8UC3, const_cast<std::uint8_t*>(im.data())), gray;
      cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
      cv::equalizeHist(gray, gray);
      std::vector<cv::Rect> found;
      c->detectMultiScale(gray, found, 1.1, 3, 0, cv::Size(min, min));
      std::vector<faces::Box> out;
      for (const auto& r : found) out.push_back({float(r.x), float(r.y), float(r.width), float(r.height)});
      return out;
    });
  }

  std::printf("| detector | faces found (of 43) | false detections | ms per photo (12 photos, 500x375) | ms per 640x480 frame |\n");
  std::printf("|---|---|---|---|---|\n");
  for (auto& [name, detect] : detectors) {
    int hits = 0, false_hits = 0, total = 0;
    double ms = 0;
    for (const auto& [file, boxes] : truth) {
      const auto t0 = Clock::now();
      const auto found = detect(photos[file]);
      ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      std::vector<char> used(boxes.size());
      for (const auto& f : found) {
        bool hit = false;
        for (std::size_t i = 0; i < boxes.size() && !hit; ++i)
          if (!used[i] && faces::iou(f, boxes[i]) >= 0.3f) used[i] = 1, hit = true;
        hit ? ++hits : ++false_hits;
      }
      total += int(boxes.size());
    }
    detect(frame);
    int frames = 0;
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::seconds(2) || frames < 5) detect(frame), ++frames;
    const double frame_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / frames;
    std::printf("| %s | %d | %d | %.1f | %.1f |\n", name.c_str(), hits, false_hits, ms / double(truth.size()), frame_ms);
    (void)total;
  }
}
