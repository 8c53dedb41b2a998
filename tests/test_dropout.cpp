// Dropout's mask is the documented pure function of (seed, step, element index): element e is kept
// when unit_float(hash_combine(hash_combine(seed, step), e)) < 1 - rate, and scaled by 1 / (1 - rate).
#include <doctest/doctest.h>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/dropout.hpp"

using namespace lanmsff;

namespace {
template <class T, Real Rate>
void check_mask(std::uint64_t seed, std::uint64_t step) {
  constexpr Shape shape{7, 9, 13};
  typename Dropout<Rate>::template layer<shape, T> dropout;
  dropout.set_seed(seed);
  Tensor<T> x(3, shape), y;
  for (std::size_t e = 0; e < x.size(); ++e) x[e] = T(1) + T(e % 17);
  run_forward(dropout, x, y, Context::train(step));
  const std::uint64_t stream = hash_combine(seed, step);
  const float keep = float(1.0 - Rate);
  const T scale = T(1.0 / (1.0 - Rate));
  std::size_t kept = 0, mismatches = 0;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const bool expected_keep = unit_float(hash_combine(stream, e)) < keep;
    kept += expected_keep;
    mismatches += y[e] != (expected_keep ? x[e] * scale : T(0));
  }
  CHECK(mismatches == 0);
  // The kept fraction is 1 - rate within 4 standard deviations.
  const double n = double(x.size()), p = 1.0 - Rate;
  CHECK(std::abs(double(kept) / n - p) < 4 * std::sqrt(p * (1 - p) / n));

  // Backward passes the gradient through the same mask.
  Tensor<T> gy(3, shape), gx;
  gy.fill(T(2));
  run_backward(dropout, x, y, gy, &gx);
  for (std::size_t e = 0; e < x.size(); ++e) mismatches += gx[e] != (y[e] != T(0) ? T(2) * scale : T(0));
  CHECK(mismatches == 0);
}
}  // namespace

TEST_CASE("Dropout keeps exactly the elements its hash formula keeps, in float and double") {
  check_mask<float, 0.4>(3, 0);
  check_mask<float, 0.5>(11, 7);
  check_mask<double, 0.1>(5, 12345);
  check_mask<double, 0.75>(0, 1);
}

TEST_CASE("Dropout's mask does not depend on the thread count") {
  constexpr Shape shape{16, 16, 8};
  Dropout<0.3>::layer<shape, float> dropout;
  dropout.set_seed(9);
  Tensor<float> x(4, shape), y1, y2;
  x.fill(1.0f);
  const int threads = max_threads();
  set_num_threads(1);
  run_forward(dropout, x, y1, Context::train(3));
  set_num_threads(std::max(2, threads));
  run_forward(dropout, x, y2, Context::train(3));
  set_num_threads(threads);
  for (std::size_t e = 0; e < x.size(); ++e) REQUIRE(y1[e] == y2[e]);
}

TEST_CASE("A shard of a batch (Context::first_sample) draws the masks of those samples in the whole batch") {
  constexpr Shape shape{5, 7, 3};
  Dropout<0.5>::layer<shape, float> dropout;
  dropout.set_seed(21);
  Tensor<float> whole(6, shape), shard(2, shape), y_whole, y_shard;
  for (std::size_t e = 0; e < whole.size(); ++e) whole[e] = 1.0f + float(e % 13);
  std::copy(whole.sample(3), whole.sample(5), shard.data());
  run_forward(dropout, whole, y_whole, Context::train(8));
  run_forward(dropout, shard, y_shard, Context::train(8, 3));  // samples 3 and 4 of the batch
  CHECK(std::equal(y_shard.begin(), y_shard.end(), y_whole.sample(3)));
  run_forward(dropout, shard, y_shard, Context::train(8));  // as samples 0 and 1: other masks
  CHECK_FALSE(std::equal(y_shard.begin(), y_shard.end(), y_whole.sample(3)));
}
