// What a forward pass needs to know besides its input: training or inference, the step counter that,
// with each layer's seed, determines every random draw (dropout masks), and where the batch starts in
// the global batch of a data-parallel step.
#pragma once

#include <cstdint>

namespace lanmsff {

enum class Mode { inference, training };

struct Context {
  Mode mode = Mode::inference;
  std::uint64_t step = 0;  // advanced by the trainer once per batch; fixed => identical dropout masks
  // The index of this batch's first sample in the step's global batch: a replica of data-parallel
  // training holds samples [first_sample, first_sample + n) of it, and draws the dropout masks that
  // those samples get when one process runs the whole batch.
  std::uint64_t first_sample = 0;

  bool training() const { return mode == Mode::training; }
  static Context inference() { return {Mode::inference, 0, 0}; }
  static Context train(std::uint64_t step = 0, std::uint64_t first_sample = 0) {
    return {Mode::training, step, first_sample};
  }
};

}  // namespace lanmsff
