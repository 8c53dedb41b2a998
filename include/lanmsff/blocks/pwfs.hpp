// PWFS (point-wise feature selection, LANMSFF): split C channels into three equal contiguous
// groups a, b, c and keep, per element, (max + median) / 2 -> C/3 channels. No parameters.
// Gradient goes half to the max and half to the median input; ties are broken by the rule in
// compose/merges.hpp (MaxMedian), documented in docs/layers.md.
#pragma once

#include "lanmsff/compose/merges.hpp"
#include "lanmsff/compose/parallel.hpp"
#include "lanmsff/layers/channel_gather.hpp"

namespace lanmsff::blocks {

struct PWFS {
  using body = Parallel<MaxMedian, Split<0, 3>, Split<1, 3>, Split<2, 3>>;
  template <Shape In, class T>
  struct layer : body::template layer<In, T> {
    static_assert(In.c % 3 == 0, "PWFS: the channel count must be divisible by 3");
    static constexpr std::string_view kind = "PWFS";
  };
};

}  // namespace lanmsff::blocks
