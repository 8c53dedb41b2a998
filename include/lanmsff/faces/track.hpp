// Face ids across the frames of a video: each frame's faces are matched to the tracks of the frames
// before by box overlap (intersection over union), the best-overlapping pairs first; a face that
// matches no track starts a new one, and a track unseen for `max_missed` frames ends. The ids count
// up from 1 and are never reused.
#pragma once

#include <algorithm>
#include <tuple>
#include <vector>

#include "lanmsff/faces/face.hpp"

namespace lanmsff::faces {

class FaceTracker {
 public:
  explicit FaceTracker(float min_iou = 0.3f, int max_missed = 15) : min_iou_(min_iou), max_missed_(max_missed) {}

  // Sets faces[i].id for this frame's faces.
  void update(std::vector<Face>& faces) {
    std::vector<std::tuple<float, int, int>> pairs;  // (overlap, track, face)
    for (int t = 0; t < int(tracks_.size()); ++t)
      for (int f = 0; f < int(faces.size()); ++f)
        if (const float o = iou(tracks_[t].box, faces[f].box); o >= min_iou_) pairs.emplace_back(o, t, f);
    std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
    std::vector<char> track_used(tracks_.size(), 0);
    for (Face& face : faces) face.id = -1;
    for (const auto& [overlap, t, f] : pairs) {
      if (track_used[t] || faces[f].id >= 0) continue;
      track_used[t] = 1;
      faces[f].id = tracks_[t].id;
      tracks_[t].box = faces[f].box;
      tracks_[t].missed = 0;
    }
    for (int t = 0; t < int(tracks_.size()); ++t)
      if (!track_used[t]) ++tracks_[t].missed;
    std::erase_if(tracks_, [&](const Track& track) { return track.missed > max_missed_; });
    for (Face& face : faces)
      if (face.id < 0) {
        face.id = next_id_++;
        tracks_.push_back({face.id, face.box, 0});
      }
  }
  int tracks() const { return int(tracks_.size()); }  // the tracks alive now
  int next_id() const { return next_id_; }           // one more than the last id handed out

 private:
  struct Track {
    int id;
    Box box;
    int missed;
  };
  float min_iou_;
  int max_missed_;
  int next_id_ = 1;
  std::vector<Track> tracks_;
};

}  // namespace lanmsff::faces
