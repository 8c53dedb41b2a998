// What a forward pass needs to know besides its input: training or inference, and the
// step counter that, with each layer's seed, determines every random draw (dropout masks).
#pragma once

#include <cstdint>

namespace lanmsff {

enum class Mode { inference, training };

struct Context {
  Mode mode = Mode::inference;
  std::uint64_t step = 0;  // advanced by the trainer once per batch; fixed => identical dropout masks

  bool training() const { return mode == Mode::training; }
  static Context inference() { return {Mode::inference, 0}; }
  static Context train(std::uint64_t step = 0) { return {Mode::training, step}; }
};

}  // namespace lanmsff
