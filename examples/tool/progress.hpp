// Progress output of the tool: a live bar (batches, ETA, running loss and accuracy, images/s)
// when stderr is a terminal, one plain line per epoch otherwise (logs, CI).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "lanmsff/train/trainer.hpp"

namespace lanmsff::tool {

inline std::string format_duration(double seconds) {
  const long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", s / 60, s % 60);
  return buf;
}

// "====>      ": a bar of `width` characters filled to `fraction` (0..1).
inline std::string progress_bar(double fraction, int width = 28) {
  const int done = int(double(width) * std::clamp(fraction, 0.0, 1.0));
  std::string bar(std::size_t(done), '=');
  if (done < width) bar += '>', bar += std::string(std::size_t(width - done - 1), ' ');
  return bar;
}

class Progress {
 public:
  explicit Progress(bool live = isatty(fileno(stderr))) : live_(live) {}

  void batch(const BatchEnd& b) {
    if (!live_) return;
    const std::string bar = progress_bar(double(b.batch) / double(b.batches));
    std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %zu/%zu  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s", b.epoch + 1,
                 b.epochs, bar.c_str(), b.batch, b.batches, b.loss, 100 * b.accuracy, b.images_per_second,
                 format_duration(b.eta_seconds).c_str());
    std::fflush(stderr);
  }

  void epoch(const EpochEnd& e) {
    if (live_) std::fprintf(stderr, "\r\033[K");
    std::string val;
    if (e.val_loss) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "  val_loss %.4f  val_acc %.2f%%", *e.val_loss, 100 * *e.val_accuracy);
      val = buf;
    }
    std::fprintf(stderr, "epoch %d/%d  loss %.4f  acc %.2f%%%s  lr %.3g  %.0f img/s  %s%s%s\n", e.epoch + 1, e.epochs,
                 e.train_loss, 100 * e.train_accuracy, val.c_str(), e.learning_rate, e.images_per_second,
                 format_duration(e.seconds).c_str(), e.best ? "  (best)" : "", e.stop ? "  early stop" : "");
    std::fflush(stderr);
  }

 private:
  bool live_;
};

}  // namespace lanmsff::tool
