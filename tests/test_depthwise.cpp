// The depthwise convolution kernels (kernels/depthwise.hpp) in float and in double against a naive
// double-precision reference, over channel counts around the register width (1, 5, 16, 17, 66),
// 3x3 stride-1 windows (the fast path, dilated or not) and others (the general path), strides and
// paddings. The float runs exercise the active instruction set's lanes with their masked (or copied)
// channel tail (ctest runs this test once per path the CPU has, LANMSFF_ISA=...); double always runs
// the baseline's portable lanes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/depthwise.hpp"

using namespace lanmsff;
using namespace lanmsff::kernels;

namespace {
std::vector<double> random_values(std::size_t n, std::uint64_t seed) {
  std::vector<double> v(n);
  Rng rng(seed);
  // Exactly representable in float, so that float and double runs see the same numbers.
  for (auto& x : v) x = double(float(rng.uniform(-1, 1)));
  return v;
}

// The naive definitions in double: every (output pixel, tap) pair whose input pixel lies inside the
// image, visited one at a time. The data gradient is a scatter, unlike the kernels' gathers.
struct Reference {
  std::vector<double> y, grad_in, grad_w, grad_b;
};

Reference naive(const ConvGeometry& g, int batch, const std::vector<double>& x, const std::vector<double>& w,
                const std::vector<double>* bias, const std::vector<double>& gy) {
  const int C = g.in_c;
  Reference r;
  r.y.assign(std::size_t(batch) * g.out_h * g.out_w * C, 0.0);
  r.grad_in.assign(x.size(), 0.0);
  r.grad_w.assign(w.size(), 0.0);
  r.grad_b.assign(std::size_t(C), 0.0);
  for (int n = 0; n < batch; ++n)
    for (int oy = 0; oy < g.out_h; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox)
        for (int c = 0; c < C; ++c) {
          const std::size_t o = ((std::size_t(n) * g.out_h + oy) * g.out_w + ox) * C + c;
          r.y[o] = bias ? (*bias)[std::size_t(c)] : 0.0;
          r.grad_b[std::size_t(c)] += gy[o];
          for (int ky = 0; ky < g.k_h; ++ky)
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int iy = oy * g.stride - g.pad_top + ky * g.dilation, ix = ox * g.stride - g.pad_left + kx * g.dilation;
              if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
              const std::size_t i = ((std::size_t(n) * g.in_h + iy) * g.in_w + ix) * C + c;
              const std::size_t t = (std::size_t(ky) * g.k_w + kx) * C + c;
              r.y[o] += x[i] * w[t];
              r.grad_in[i] += gy[o] * w[t];
              r.grad_w[t] += gy[o] * x[i];
            }
        }
  return r;
}

// Kernel outputs with `guard` sentinel values past each buffer's end, which no kernel may touch.
constexpr std::size_t guard = 37;
constexpr double sentinel = 1234.5;

template <class T>
struct Outputs {
  std::vector<T> y, grad_in, grad_w, grad_b;
};

template <class T>
std::vector<T> converted(const std::vector<double>& v, std::size_t extra = 0, T fill = T(0)) {
  std::vector<T> out(v.size() + extra, fill);
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = T(v[i]);
  return out;
}

// grad_in starts as NaN (backward_data overwrites it); grad_w and grad_b start at `w0` and `b0`
// (backward_weights adds to them).
template <class T>
Outputs<T> run_kernels(const ConvGeometry& g, int batch, const std::vector<double>& x, const std::vector<double>& w,
                       const std::vector<double>* bias, const std::vector<double>& gy, const std::vector<double>& w0,
                       const std::vector<double>& b0) {
  const auto xt = converted<T>(x), wt = converted<T>(w), gyt = converted<T>(gy);
  const auto bt = bias ? converted<T>(*bias) : std::vector<T>();
  Outputs<T> o;
  o.y.assign(gy.size() + guard, T(sentinel));
  o.grad_in.assign(x.size() + guard, T(sentinel));
  std::fill(o.grad_in.begin(), o.grad_in.begin() + std::ptrdiff_t(x.size()), std::numeric_limits<T>::quiet_NaN());
  o.grad_w = converted<T>(w0, guard, T(sentinel));
  o.grad_b = converted<T>(b0, guard, T(sentinel));
  depthwise_forward(g, batch, xt.data(), wt.data(), bias ? bt.data() : nullptr, o.y.data());
  depthwise_backward_data(g, batch, gyt.data(), wt.data(), o.grad_in.data());
  depthwise_backward_weights(g, batch, xt.data(), gyt.data(), o.grad_w.data(), bias ? o.grad_b.data() : nullptr);
  return o;
}

// Largest |a - b| over the first b.size() values (expected + offset), and whether the guard survived.
template <class T>
double worst(const std::vector<T>& a, const std::vector<double>& b, const std::vector<double>* offset = nullptr) {
  double m = 0;
  for (std::size_t i = 0; i < b.size(); ++i)
    m = std::max(m, std::abs(double(a[i]) - (b[i] + (offset ? (*offset)[i] : 0.0))));
  return std::isnan(m) ? std::numeric_limits<double>::infinity() : m;
}
template <class T>
bool guard_intact(const std::vector<T>& a, std::size_t size) {
  for (std::size_t i = size; i < a.size(); ++i)
    if (a[i] != T(sentinel)) return false;
  return true;
}

void check_depthwise(Shape in, int k, int stride, int dilation, Padding pad, bool with_bias, int batch = 2) {
  const ConvGeometry g = make_conv_geometry(in, in.c, k, stride, dilation, pad);
  const std::string input = to_string(in);
  CAPTURE(input);
  CAPTURE(k);
  CAPTURE(stride);
  CAPTURE(dilation);
  CAPTURE(g.pad_top);
  CAPTURE(with_bias);
  const std::size_t C = std::size_t(in.c), out_size = std::size_t(batch) * g.out_h * g.out_w * C;
  const auto x = random_values(std::size_t(batch) * in.size(), 11), w = random_values(std::size_t(k) * k * C, 12);
  const auto bias = random_values(C, 13), gy = random_values(out_size, 14);
  const auto w0 = random_values(w.size(), 15), b0 = random_values(C, 16);
  const auto* b = with_bias ? &bias : nullptr;
  const Reference ref = naive(g, batch, x, w, b, gy);
  const auto f = run_kernels<float>(g, batch, x, w, b, gy, w0, b0);
  const auto d = run_kernels<double>(g, batch, x, w, b, gy, w0, b0);

  // Sums of up to k*k terms of magnitude <= 1 (outputs, input gradients) or of one term per output
  // pixel (weight gradients): float rounding stays well inside these bounds, double far inside.
  const double taps = double(k) * k, pixels = double(batch) * g.out_h * g.out_w;
  CHECK(worst(f.y, ref.y) <= 1e-6 * taps);
  CHECK(worst(f.grad_in, ref.grad_in) <= 1e-6 * taps);
  CHECK(worst(f.grad_w, ref.grad_w, &w0) <= 1e-6 * (pixels + 1));
  CHECK(worst(d.y, ref.y) <= 1e-13 * taps);
  CHECK(worst(d.grad_in, ref.grad_in) <= 1e-13 * taps);
  CHECK(worst(d.grad_w, ref.grad_w, &w0) <= 1e-13 * (pixels + 1));
  if (with_bias) {
    CHECK(worst(f.grad_b, ref.grad_b, &b0) <= 1e-6 * (pixels + 1));
    CHECK(worst(d.grad_b, ref.grad_b, &b0) <= 1e-13 * (pixels + 1));
  } else {  // a null bias gradient is not written: the buffer keeps its values
    CHECK(worst(f.grad_b, b0) == 0);
    CHECK(worst(d.grad_b, b0) == 0);
  }
  CHECK(guard_intact(f.y, out_size));
  CHECK(guard_intact(f.grad_in, x.size()));
  CHECK(guard_intact(f.grad_w, w.size()));
  CHECK(guard_intact(f.grad_b, C));
  CHECK(guard_intact(d.y, out_size));
  CHECK(guard_intact(d.grad_in, x.size()));
  CHECK(guard_intact(d.grad_w, w.size()));
  CHECK(guard_intact(d.grad_b, C));
}
}  // namespace

TEST_CASE("depthwise kernels in float and double match the naive definition") {
  // Widths beyond one group of 8 outputs (21), and narrower than the dilated 5x5 window (4).
  for (const int channels : {1, 5, 16, 17, 66})
    for (const int k : {3, 5})
      for (const int stride : {1, 2})
        for (const int dilation : {1, 2})
          for (const Padding pad : {same, valid}) {
            const Shape in{7, 21, channels};
            if (conv_output_size(in.h, k, stride, dilation, pad) <= 0) continue;
            check_depthwise(in, k, stride, dilation, pad, (channels + k + stride) % 2 == 0);
          }
  check_depthwise({6, 4, 17}, 5, 1, 2, same, true);
  check_depthwise({3, 4, 16}, 5, 1, 1, same, false);
  check_depthwise({1, 1, 66}, 3, 1, 1, same, true);
}

TEST_CASE("depthwise kernels: other windows and paddings take the general path or a shifted window") {
  check_depthwise({8, 9, 17}, 1, 1, 1, same, true);    // pointwise
  check_depthwise({8, 9, 17}, 4, 1, 1, same, false);   // even: TensorFlow puts the extra row after
  check_depthwise({8, 9, 17}, 7, 2, 1, pad(3), true);  // MA-Net-like stem shape
  // Explicit padding within and beyond the window's reach: the data gradient's shifted window has
  // padding 2 - p, negative for p = 3.
  check_depthwise({7, 10, 18}, 3, 1, 1, pad(1), true);
  check_depthwise({7, 10, 18}, 3, 1, 1, pad(3), true);
  check_depthwise({7, 10, 18}, 3, 1, 2, pad(1), false);
  check_depthwise({9, 33, 66}, 3, 1, 1, same, true, 3);  // LANMSFF's 66 channels, several groups per row
}

TEST_CASE("depthwise weight gradient is deterministic for a thread count") {
  const ConvGeometry g = make_conv_geometry({16, 16, 66}, 66, 3, 1, 2, same);
  const int batch = 4;
  const auto x = converted<float>(random_values(std::size_t(batch) * 16 * 16 * 66, 21));
  const auto gy = converted<float>(random_values(std::size_t(batch) * g.out_h * g.out_w * 66, 22));
  std::vector<float> first(9 * 66, 0.f), first_b(66, 0.f), second(9 * 66, 0.f), second_b(66, 0.f);
  depthwise_backward_weights(g, batch, x.data(), gy.data(), first.data(), first_b.data());
  depthwise_backward_weights(g, batch, x.data(), gy.data(), second.data(), second_b.data());
  CHECK(first == second);
  CHECK(first_b == second_b);
}
