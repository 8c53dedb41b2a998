// Max pooling kernels against a direct implementation, on values from a coarse grid so that ties
// are common: the maximum, and the gradient going to the first tap in row-major window order that
// equals it (TensorFlow's and PyTorch's rule). Even sizes take the 2x2 fast path, odd sizes, other
// windows and padding the general one.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/pooling.hpp"

using namespace lanmsff;
using namespace lanmsff::kernels;

namespace {
void check_pool(Shape in, int k, int stride, Padding pad, int batch = 2) {
  const ConvGeometry g = make_conv_geometry(in, in.c, k, stride, 1, pad);
  CAPTURE(in.h);
  CAPTURE(in.w);
  CAPTURE(in.c);
  CAPTURE(k);
  const std::size_t in_size = std::size_t(batch) * in.size(), out_size = std::size_t(batch) * g.out_h * g.out_w * in.c;
  std::vector<float> x(in_size), gy(out_size), y(out_size), gx(in_size, std::numeric_limits<float>::quiet_NaN());
  Rng rng(7);
  for (auto& v : x) v = float(int(rng.uniform(0, 3)));  // 0, 1 or 2: many ties
  for (auto& v : gy) v = float(rng.uniform(-1, 1));
  maxpool_forward(g, batch, x.data(), y.data());
  maxpool_backward(g, batch, x.data(), gy.data(), gx.data());
  std::vector<float> want_y(out_size), want_gx(in_size, 0.0f);
  for (int n = 0; n < batch; ++n)
    for (int oy = 0; oy < g.out_h; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox)
        for (int c = 0; c < in.c; ++c) {
          float best = -std::numeric_limits<float>::infinity();
          std::size_t at = 0;
          bool found = false;
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = oy * stride - g.pad_top + ky, ix = ox * stride - g.pad_left + kx;
              if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
              const std::size_t i = ((std::size_t(n) * in.h + iy) * in.w + ix) * in.c + c;
              if (!found || x[i] > best) best = x[i], at = i, found = true;
            }
          const std::size_t o = ((std::size_t(n) * g.out_h + oy) * g.out_w + ox) * in.c + c;
          want_y[o] = best;
          want_gx[at] += gy[o];
        }
  for (std::size_t i = 0; i < out_size; ++i) REQUIRE(y[i] == want_y[i]);
  for (std::size_t i = 0; i < in_size; ++i) REQUIRE(gx[i] == doctest::Approx(want_gx[i]).epsilon(1e-6));
}
}  // namespace

TEST_CASE("max pooling: maximum and first-tie gradient, fast and general paths") {
  check_pool({8, 6, 5}, 2, 2, valid);     // 2x2 windows tiling the input: the fast path
  check_pool({4, 4, 66}, 2, 2, valid);    // LANMSFF's channel count
  check_pool({7, 9, 3}, 2, 2, valid);     // odd: the last row and column are in no window
  check_pool({9, 8, 4}, 3, 2, pad(1));    // overlapping windows with padding
  check_pool({6, 6, 2}, 2, 1, valid, 3);  // stride 1: overlapping 2x2 windows
}
