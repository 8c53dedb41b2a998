// The face front end in the tool (built when dlib is found; video when OpenCV is too):
// `lanmsff predict` on photos and videos (detect every face, align it as the model's training data
// was, classify it) and `lanmsff prepare-faces` (a folder of photos to a folder of aligned crops).
// docs/faces.md is the guide.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include <unistd.h>

#include "lanmsff/faces/align.hpp"
#include "lanmsff/faces/detector.hpp"
#include "lanmsff/faces/draw.hpp"
#include "lanmsff/faces/track.hpp"
#include "lanmsff/io/save_image.hpp"
#if defined(LANMSFF_WITH_VIDEO)
#include "lanmsff/faces/video.hpp"
#endif
#include "predict.hpp"
#include "progress.hpp"

namespace lanmsff::tool {

inline bool has_video_extension(const std::filesystem::path& path) {
  const std::string ext = io::lower_extension(path);
  for (const char* e : {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv"})
    if (ext == e) return true;
  return false;
}

inline faces::DetectorOptions detector_options(const PredictArgs& args, int default_min_face) {
  faces::DetectorOptions options;
  options.min_face = args.min_face > 0 ? args.min_face : default_min_face;
  if (!args.landmarks.empty()) options.landmark_model = args.landmarks;
  return options;
}

template <class Model>
faces::AlignSpec align_spec(const PredictArgs& args) {
  faces::AlignSpec spec = faces::AlignSpec::for_input(Model::input_shape);
  spec.eye_line = args.eye_line, spec.eye_distance = args.eye_distance;
  spec.check();
  return spec;
}

inline nlohmann::json json_point(faces::Point p) { return nlohmann::json::array({p.x, p.y}); }
inline nlohmann::json json_box(const faces::Box& b) {
  return {{"left", b.left}, {"top", b.top}, {"width", b.width}, {"height", b.height}};
}
inline std::string csv_box(const faces::Face& f) {
  std::ostringstream s;
  s << f.box.left << "," << f.box.top << "," << f.box.width << "," << f.box.height << "," << fixed4(f.score);
  return s.str();
}

// A file name under `dir` for an output made from `input`, unique within this run.
inline std::filesystem::path output_name(const std::filesystem::path& dir, const std::filesystem::path& input,
                                         const std::string& extension, std::map<std::string, int>& used) {
  const std::string stem = input.stem().string();
  const int n = ++used[stem];
  return dir / (stem + (n > 1 ? "_" + std::to_string(n) : "") + extension);
}

// After a batch of photos: unreadable files are an error (exit status 1) that also lists the photos
// without a face; otherwise photos without a face end the command with exit status 3.
inline void throw_if_photos_failed(const std::vector<io::SkippedFile>& failed, const std::vector<std::string>& faceless,
                                   const std::string& what_was_done) {
  std::string no_faces;
  for (const auto& f : faceless) no_faces += "\n  " + f;
  const std::string photos = std::to_string(faceless.size()) + (faceless.size() == 1 ? " photo" : " photos");
  if (!failed.empty()) {
    if (!faceless.empty()) std::fprintf(stderr, "lanmsff: no face was found in %s:%s\n", photos.c_str(), no_faces.c_str());
    throw_if_files_failed(failed, what_was_done);
  }
  if (!faceless.empty()) throw NoFaceFound("no face was found in " + photos + " (" + what_was_done + "):" + no_faces);
}

template <class Model, class Loss>
void predict_photos(const PredictArgs& args, Predictor<Model, Loss>& predictor, const std::vector<std::string>& photos) {
  namespace fs = std::filesystem;
  if (!args.explain.empty() && photos.size() != 1)
    throw std::invalid_argument("--explain writes one picture (a row per face): give exactly one photo");
  // --annotate: the file for one photo; a folder (created) for several.
  const bool annotate_folder = !args.annotate.empty() && photos.size() > 1;
  if (!args.annotate.empty()) {
    if (annotate_folder) {
      if (!io::lower_extension(args.annotate).empty())
        throw std::invalid_argument("--annotate " + args.annotate + ": with several photos, give a folder (no extension)");
      fs::create_directories(args.annotate);
    } else {
      const std::string ext = io::lower_extension(args.annotate);
      if (ext != ".png" && ext != ".jpg" && ext != ".jpeg")
        throw std::invalid_argument("--annotate " + args.annotate + ": write a .jpg or .png file");
    }
  }
  faces::FaceDetector detector(detector_options(args, 40));
  const faces::AlignSpec spec = align_spec<Model>(args);
  nlohmann::json results = nlohmann::json::array();
  if (args.csv) std::cout << "image,face,left,top,width,height,score,prediction" << predictor.csv_class_columns() << "\n";
  std::vector<io::SkippedFile> failed;
  std::vector<std::string> faceless;
  std::map<std::string, int> used_names;
  for (const auto& file : photos) {
    io::ImageU8 photo;
    try {
      photo = io::load_image_u8(file, 3);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "lanmsff: error: %s\n", error.what());
      failed.push_back({file, error.what()});
      if (args.json) results.push_back({{"image", file}, {"error", error.what()}});
      continue;
    }
    std::vector<faces::Face> found = detector.detect(photo);
    if (found.empty()) faceless.push_back(file);
    nlohmann::json faces_json = nlohmann::json::array();
    std::vector<std::string> labels;
    io::ImageU8 explanation;
    if (!args.json && !args.csv)
      std::cout << file << ": " << (found.empty() ? std::string("no face found")
                                                  : std::to_string(found.size()) + (found.size() == 1 ? " face" : " faces"))
                << "\n";
    if (args.csv && found.empty())
      std::cout << csv_field(file) << ",none,,,,,," << std::string(predictor.names().size(), ',') << "\n";
    for (std::size_t i = 0; i < found.size(); ++i) {
      const faces::Face& face = found[i];
      const io::Image crop = faces::align_face(photo, face, spec);
      const std::vector<float> p = predictor.classify(crop);
      const int best = predictor.best(p);
      const std::string& top = predictor.names()[std::size_t(best)];
      labels.push_back(std::to_string(i + 1) + " " + top + " " + fixed4(p[std::size_t(best)]).substr(0, 4));
      if (args.json) {
        nlohmann::json landmarks = nlohmann::json::array();
        for (const auto& q : face.landmarks) landmarks.push_back(json_point(q));
        const auto eyes = face.eyes();
        faces_json.push_back({{"face", i + 1}, {"box", json_box(face.box)}, {"score", face.score},
                              {"eyes", {json_point(eyes[0]), json_point(eyes[1])}}, {"landmarks", landmarks},
                              {"prediction", top}, {"probabilities", predictor.json_probabilities(p)}});
      } else if (args.csv) {
        std::cout << csv_field(file) << "," << i + 1 << "," << csv_box(face) << "," << csv_field(top)
                  << predictor.csv_probabilities(p) << "\n";
      } else {
        std::ostringstream box;  // shortest form: 94.5, not 94.5000
        box << face.box.left << "," << face.box.top << " " << face.box.width << "x" << face.box.height;
        std::cout << "  face " << i + 1 << ": " << top << "  (box " << box.str() << ", score " << fixed4(face.score).substr(0, 4) << ")\n";
        predictor.print_probabilities(std::cout, p, "    ");
      }
      if (!args.explain.empty()) {
        const io::ImageU8 row = explanation_image(crop, predictor.attention_maps());
        if (explanation.empty()) {
          explanation = row;
        } else {  // rows stacked top to bottom
          io::ImageU8 taller(explanation.h() + row.h(), explanation.w(), 3);
          std::copy(explanation.begin(), explanation.end(), taller.begin());
          std::copy(row.begin(), row.end(), taller.begin() + std::ptrdiff_t(explanation.size()));
          explanation = std::move(taller);
        }
      }
    }
    if (args.json) results.push_back({{"image", file}, {"faces", faces_json}});
    if (!args.annotate.empty()) {
      const fs::path out = annotate_folder ? output_name(args.annotate, file, ".jpg", used_names) : fs::path(args.annotate);
      io::save_image(out, faces::annotate(photo, found, labels));
      if (!args.json && !args.csv) std::cout << "annotated photo written to " << out.string() << "\n";
    }
    if (!args.explain.empty()) {
      if (explanation.empty()) {
        std::fprintf(stderr, "lanmsff: no face, so no attention maps: %s not written\n", args.explain.c_str());
      } else {
        io::save_png(args.explain, explanation);
        if (!args.json && !args.csv) std::cout << "attention maps (a row per face) written to " << args.explain << "\n";
      }
    }
  }
  if (args.json) std::cout << results.dump(2) << "\n";
  std::cout.flush();
  throw_if_photos_failed(failed, faceless, "the others were predicted");
}

#if defined(LANMSFF_WITH_VIDEO)
// One CSV row per frame and face: video, frame (from 0), time (s), face id (tracked across frames),
// box, score, prediction, class probabilities. A frame without a face gets a row with face "none".
template <class Model, class Loss>
void predict_video(const PredictArgs& args, Predictor<Model, Loss>& predictor, faces::VideoSource& source,
                   faces::FaceDetector& detector, const faces::AlignSpec& spec, bool header) {
  if (header) std::cout << "video,frame,time,face,left,top,width,height,score,prediction" << predictor.csv_class_columns() << "\n";
  std::unique_ptr<faces::VideoSink> sink;
  faces::FaceTracker tracker;
  io::ImageU8 frame;
  double seconds = 0;
  const long total = args.max_frames > 0 ? (source.frame_count() > 0 ? std::min(source.frame_count(), args.max_frames) : args.max_frames)
                                         : source.frame_count();
  const bool live = isatty(fileno(stderr));
  const auto start = std::chrono::steady_clock::now();
  long n = 0, with_faces = 0;
  const std::string name = csv_field(source.name());
  const std::string empty_columns(predictor.names().size(), ',');
  for (; (args.max_frames <= 0 || n < args.max_frames) && source.read(frame, seconds); ++n) {
    std::vector<faces::Face> found = detector.detect(frame);
    tracker.update(found);
    std::vector<std::string> labels;
    char time[32];
    std::snprintf(time, sizeof time, "%.3f", seconds);
    if (found.empty()) std::cout << name << "," << n << "," << time << ",none,,,,,," << empty_columns << "\n";
    else ++with_faces;
    for (const faces::Face& face : found) {
      const std::vector<float> p = predictor.classify(faces::align_face(frame, face, spec));
      const int best = predictor.best(p);
      const std::string& top = predictor.names()[std::size_t(best)];
      std::cout << name << "," << n << "," << time << "," << face.id << "," << csv_box(face) << "," << csv_field(top)
                << predictor.csv_probabilities(p) << "\n";
      labels.push_back(std::to_string(face.id) + " " + top + " " + fixed4(p[std::size_t(best)]).substr(0, 4));
    }
    if (!args.annotate.empty()) {
      if (!sink) sink = std::make_unique<faces::VideoSink>(args.annotate, source.fps(), frame.w(), frame.h());
      sink->write(faces::annotate(frame, found, labels));
    }
    if (live && (n % 5 == 0)) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double fps = elapsed > 0 ? double(n + 1) / elapsed : 0;
      if (total > 0) {
        const std::string bar = progress_bar(double(n + 1) / double(total));
        std::fprintf(stderr, "\r\033[K%s [%s] %ld/%ld frames  %.1f frames/s  ETA %s", source.name().c_str(), bar.c_str(),
                     n + 1, total, fps, format_duration(fps > 0 ? double(total - n - 1) / fps : 0).c_str());
      } else {
        std::fprintf(stderr, "\r\033[K%s: %ld frames  %.1f frames/s", source.name().c_str(), n + 1, fps);
      }
      std::fflush(stderr);
    }
  }
  std::cout.flush();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "%s%s: %ld frames (%ld with faces, %d face tracks) in %s, %.1f frames/s%s\n", live ? "\r\033[K" : "",
               source.name().c_str(), n, with_faces, tracker.next_id() - 1, format_duration(elapsed).c_str(),
               elapsed > 0 ? double(n) / elapsed : 0.0,
               args.annotate.empty() ? "" : ("; annotated video written to " + args.annotate).c_str());
  if (n == 0) throw std::runtime_error(source.name() + ": no frame could be read");
}
#endif

template <class Model, class Loss>
void predict_detected(const PredictArgs& args, Predictor<Model, Loss>& predictor, const std::vector<std::string>& inputs) {
  const auto accept = [](const std::filesystem::path& p) { return is_image_file(p) || has_video_extension(p); };
  const std::vector<std::string> files = expand_inputs(inputs, accept);
  std::size_t videos = 0;
  for (const auto& f : files) videos += has_video_extension(f);
  if (videos == 0 && args.camera < 0) return predict_photos(args, predictor, files);
  if (videos != files.size())
    throw std::invalid_argument("photos and videos in one call: predict them in two calls (video output is CSV)");
#if defined(LANMSFF_WITH_VIDEO)
  if (args.json) throw std::invalid_argument("--json: video output is CSV, a row per frame and face (leave --json out)");
  if (!args.explain.empty()) throw std::invalid_argument("--explain is for photos, not video");
  const std::size_t sources = files.size() + (args.camera >= 0);
  if (!args.annotate.empty() && sources != 1) throw std::invalid_argument("--annotate writes one video: give one video");
  faces::FaceDetector detector(detector_options(args, 80));
  const faces::AlignSpec spec = align_spec<Model>(args);
  bool header = true;
  for (const auto& file : files) {
    faces::VideoSource source{std::filesystem::path(file)};
    predict_video(args, predictor, source, detector, spec, header);
    header = false;
  }
  if (args.camera >= 0) {
    faces::VideoSource source(args.camera);
    predict_video(args, predictor, source, detector, spec, header);
  }
#else
  throw std::invalid_argument("this lanmsff was built without video (OpenCV; Debian libopencv-dev): predict photos, "
                              "or rebuild with OpenCV installed");
#endif
}

// prepare-faces: every photo under IN (recursively) becomes OUT/<the same relative path>.png, the
// aligned crop of its most confident face; photos without a face are listed (exit status 3), photos
// with several faces are noted (the most confident is kept), unreadable files are reported and skipped.
inline void prepare_faces(const PrepareFacesArgs& args) {
  namespace fs = std::filesystem;
  faces::AlignSpec spec = args.model == "manet" ? faces::AlignSpec::for_input({224, 224, 3}) : faces::AlignSpec::for_input({64, 64, 1});
  if (args.size > 0) spec.height = spec.width = args.size;
  if (args.channels > 0) spec.channels = args.channels;
  spec.eye_line = args.eye_line, spec.eye_distance = args.eye_distance;
  spec.check();
  const fs::path in = args.input, out = args.output;
  std::error_code error;
  if (fs::exists(out, error) && fs::equivalent(in, out, error))
    throw std::invalid_argument("prepare-faces: the output folder is the input folder; write the crops elsewhere");
  const std::vector<std::string> photos = expand_inputs({args.input}, [](const fs::path& p) { return is_image_file(p); });
  faces::DetectorOptions options;
  options.min_face = args.min_face;
  if (!args.landmarks.empty()) options.landmark_model = args.landmarks;
  faces::FaceDetector detector(options);
  std::vector<io::SkippedFile> failed;
  std::vector<std::string> faceless;
  long written = 0, several = 0;
  const bool live = isatty(fileno(stderr));
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const fs::path photo_path = photos[i];
    if (live) std::fprintf(stderr, "\r\033[K%zu/%zu %s", i + 1, photos.size(), photo_path.filename().string().c_str());
    io::ImageU8 photo;
    try {
      photo = io::load_image_u8(photo_path, 3);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%slanmsff: error: %s\n", live ? "\r\033[K" : "", e.what());
      failed.push_back({photo_path.string(), e.what()});
      continue;
    }
    const std::vector<faces::Face> found = detector.detect(photo);
    if (found.empty()) {
      faceless.push_back(photo_path.string());
      continue;
    }
    several += found.size() > 1;
    fs::path target = out / fs::relative(photo_path, in);
    target.replace_extension(".png");
    fs::create_directories(target.parent_path());
    io::save_png(target, io::to_u8(faces::align_face(photo, found.front(), spec)));
    ++written;
  }
  if (live) std::fprintf(stderr, "\r\033[K");
  std::printf("prepare-faces: %ld of %zu photos written to %s as %dx%d %s crops", written, photos.size(), args.output.c_str(),
              spec.height, spec.width, spec.channels == 1 ? "gray" : "RGB");
  if (several) std::printf(" (%ld had several faces: the most confident was kept)", several);
  std::printf("\n");
  std::fflush(stdout);
  throw_if_photos_failed(failed, faceless, "the others were prepared");
}

}  // namespace lanmsff::tool
