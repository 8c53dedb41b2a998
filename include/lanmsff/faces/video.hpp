// Video in and out for the face front end, through OpenCV (Debian libopencv-dev; CMake target
// lanmsff::video): frames of a file or a camera as RGB io::ImageU8, and a writer for annotated
// frames. Which containers and codecs work is OpenCV's (FFmpeg's on Debian): MP4, AVI, MKV, MOV,
// WebM and others to read; .avi (Motion JPEG) and .mp4 (MPEG-4 part 2) to write.
#pragma once

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "lanmsff/io/image.hpp"
#include "lanmsff/io/save_image.hpp"

namespace lanmsff::faces {

class VideoSource {
 public:
  // A video file.
  explicit VideoSource(const std::filesystem::path& path) : name_(path.string()) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) throw std::runtime_error(name_ + ": no such file");
    if (!capture_.open(path.string()) || !capture_.isOpened())
      throw std::runtime_error(name_ + ": OpenCV cannot open this video (unknown container or codec, or not a video)");
  }
  // A camera by its index (0 = the first, /dev/video0 on Linux).
  explicit VideoSource(int camera) : name_("camera " + std::to_string(camera)) {
    if (camera < 0) throw std::invalid_argument("VideoSource: camera index " + std::to_string(camera) + " is negative");
    if (!capture_.open(camera) || !capture_.isOpened()) throw std::runtime_error(name_ + ": cannot be opened");
    camera_ = true;
  }

  const std::string& name() const { return name_; }
  bool is_camera() const { return camera_; }
  // Frames per second as the container says (0 when unknown, as for many cameras).
  double fps() const { return capture_.get(cv::CAP_PROP_FPS); }
  // The number of frames the container announces (0 for a camera or when unknown; an estimate for some files).
  long frame_count() const { return std::max(0l, long(capture_.get(cv::CAP_PROP_FRAME_COUNT))); }

  // The next frame as RGB, and its time in seconds from the start; false at the end.
  bool read(io::ImageU8& rgb, double& seconds) {
    if (!capture_.read(bgr_) || bgr_.empty()) return false;
    seconds = capture_.get(cv::CAP_PROP_POS_MSEC) / 1000.0;
    if (bgr_.depth() != CV_8U) throw std::runtime_error(name_ + ": frames are not 8-bit");
    if (rgb.h() != bgr_.rows || rgb.w() != bgr_.cols || rgb.c() != 3) rgb = io::ImageU8(bgr_.rows, bgr_.cols, 3);
    cv::Mat out(rgb.h(), rgb.w(), CV_8UC3, rgb.data());  // converted straight into rgb's pixels
    if (bgr_.channels() == 1) cv::cvtColor(bgr_, out, cv::COLOR_GRAY2RGB);
    else if (bgr_.channels() == 4) cv::cvtColor(bgr_, out, cv::COLOR_BGRA2RGB);
    else cv::cvtColor(bgr_, out, cv::COLOR_BGR2RGB);
    return true;
  }

 private:
  std::string name_;
  bool camera_ = false;
  cv::VideoCapture capture_;
  cv::Mat bgr_;
};

class VideoSink {
 public:
  // .avi: Motion JPEG; .mp4 / .m4v / .mov: MPEG-4 part 2; other extensions are an error.
  VideoSink(const std::filesystem::path& path, double fps, int width, int height) : name_(path.string()) {
    const std::string ext = io::lower_extension(path);
    int fourcc = 0;
    if (ext == ".avi") fourcc = cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
    else if (ext == ".mp4" || ext == ".m4v" || ext == ".mov") fourcc = cv::VideoWriter::fourcc('m', 'p', '4', 'v');
    else throw std::invalid_argument(name_ + ": write an annotated video as .avi (Motion JPEG) or .mp4");
    if (!writer_.open(path.string(), fourcc, fps > 0 ? fps : 25.0, cv::Size(width, height)) || !writer_.isOpened())
      throw std::runtime_error(name_ + ": OpenCV cannot write this video");
  }
  void write(const io::ImageU8& rgb) {
    const io::ImageU8 colour = rgb.c() == 3 ? rgb : io::convert_channels(rgb, 3);
    cv::Mat frame(colour.h(), colour.w(), CV_8UC3, const_cast<std::uint8_t*>(colour.data()));
    cv::cvtColor(frame, bgr_, cv::COLOR_RGB2BGR);
    writer_.write(bgr_);
  }

 private:
  std::string name_;
  cv::VideoWriter writer_;
  cv::Mat bgr_;
};

}  // namespace lanmsff::faces
