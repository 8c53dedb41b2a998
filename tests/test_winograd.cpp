// The Winograd F(4x4, 3x3) convolution (kernels/winograd.hpp) against the convolution's definition in
// double: forward (with bias and the fused BatchNorm/ReLU epilogue), the weight and bias gradients
// (accumulated into what is there), and the stride-1 input gradient that runs through it, on the active
// instruction set (ctest runs this test once per path the CPU has, LANMSFF_ISA=...). Shapes cover partial tiles at the bottom/right edge, maps smaller than one tile,
// every padding rule, dilations 2 and 3 (tiles on each dilation phase), channel tails past a multiple of
// the vector width and more tiles than one work item.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "lanmsff/core/cache.hpp"
#include "lanmsff/core/random.hpp"
#include "lanmsff/kernels/conv.hpp"

using namespace lanmsff;
using namespace lanmsff::kernels;

namespace {
std::vector<float> random_values(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  for (auto& x : v) x = float(rng.uniform(-1, 1));
  return v;
}

std::size_t at(const ConvGeometry& g, int n, int y, int x, int c, bool input) {
  return input ? ((std::size_t(n) * g.in_h + y) * g.in_w + x) * g.in_c + c
               : ((std::size_t(n) * g.out_h + y) * g.out_w + x) * g.out_c + c;
}

// Calls f(n, oy, ox, iy, ix, tap) for every (output pixel, tap) pair that reads inside the input.
template <class F>
void for_each_pair(const ConvGeometry& g, int batch, F&& f) {
  for (int n = 0; n < batch; ++n)
    for (int oy = 0; oy < g.out_h; ++oy)
      for (int ox = 0; ox < g.out_w; ++ox)
        for (int ky = 0; ky < g.k_h; ++ky)
          for (int kx = 0; kx < g.k_w; ++kx) {
            const int iy = oy * g.stride - g.pad_top + ky * g.dilation, ix = ox * g.stride - g.pad_left + kx * g.dilation;
            if (iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w) f(n, oy, ox, iy, ix, ky * g.k_w + kx);
          }
}

// Runs Winograd wherever it can run while in scope (the automatic choice skips small problems), in
// the layout the kernel's size calls for or, with by_position, always position by position.
struct ForceWinograd {
  explicit ForceWinograd(bool by_position = false) {
    set_conv_algorithm(by_position ? ConvAlgorithm::winograd_by_position : ConvAlgorithm::winograd);
  }
  ~ForceWinograd() { set_conv_algorithm(ConvAlgorithm::automatic); }
};

struct Case {
  Shape in;
  int out_c, dilation;
  Padding pad;
  int batch;
};

void check_case(const Case& c) {
  const ConvGeometry g = make_conv_geometry(c.in, c.out_c, 3, 1, c.dilation, c.pad);
  const std::string input = to_string(c.in);
  CAPTURE(input);
  CAPTURE(c.out_c);
  CAPTURE(c.dilation);
  CAPTURE(c.batch);
  CAPTURE(g.pad_top);
  REQUIRE(winograd::supports<float>(g));
  const int Ci = g.in_c, Co = g.out_c, batch = c.batch;
  const std::size_t in_size = std::size_t(batch) * g.in_h * g.in_w * Ci;
  const std::size_t out_size = std::size_t(batch) * g.out_h * g.out_w * Co, w_size = std::size_t(9) * Ci * Co;
  const auto x = random_values(in_size, 11), w = random_values(w_size, 12), bias = random_values(Co, 13);
  const auto gy = random_values(out_size, 14), scale = random_values(Co, 15), shift = random_values(Co, 16);
  const auto wt = [&](int tap, int ci, int co) { return double(w[(std::size_t(tap) * Ci + ci) * Co + co]); };

  // The definitions in double, with the sums of magnitudes that bound float rounding.
  std::vector<double> y(out_size, 0.0), y_mag(out_size, 0.0), gx(in_size, 0.0), gx_mag(in_size, 0.0);
  std::vector<double> gw(w_size, 0.0), gw_mag(w_size, 0.0), gb(Co, 0.0), gb_mag(Co, 0.0);
  for_each_pair(g, batch, [&](int n, int oy, int ox, int iy, int ix, int tap) {
    for (int ci = 0; ci < Ci; ++ci) {
      const double xv = x[at(g, n, iy, ix, ci, true)];
      for (int co = 0; co < Co; ++co) {
        const double gyv = gy[at(g, n, oy, ox, co, false)], wv = wt(tap, ci, co);
        y[at(g, n, oy, ox, co, false)] += xv * wv;
        y_mag[at(g, n, oy, ox, co, false)] += std::abs(xv * wv);
        gx[at(g, n, iy, ix, ci, true)] += gyv * wv;
        gx_mag[at(g, n, iy, ix, ci, true)] += std::abs(gyv * wv);
        gw[(std::size_t(tap) * Ci + ci) * Co + co] += xv * gyv;
        gw_mag[(std::size_t(tap) * Ci + ci) * Co + co] += std::abs(xv * gyv);
      }
    }
  });
  for (std::size_t i = 0; i < out_size; ++i) gb[i % Co] += gy[i], gb_mag[i % Co] += std::abs(gy[i]);

  // Rounding bound: the transforms scale values by up to ~100 before the products are summed, so
  // Winograd's error is a few 1e-6 of the magnitude sum (im2col's is ~1e-7). A wrong tap or tile would
  // be off by about |x w|, a 1/(9 Ci) share of that sum: far above the bound.
  const auto check = [](const char* what, const std::vector<float>& got, const std::vector<double>& want,
                        const std::vector<double>& magnitude, const std::vector<double>* before = nullptr) {
    const std::string name = what;
    CAPTURE(name);
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double expected = want[i] + (before ? (*before)[i] : 0.0);
      worst = std::max(worst, std::abs(double(got[i]) - expected) / (magnitude[i] + 1e-3));
    }
    CHECK(worst <= 3e-5);
  };

  // Both layouts of the tiles: tile by tile (kernels that fit in L2) and position by position (larger
  // ones, forced here for every shape), the latter also in groups of 5 tiles.
  for (const int layout : {0, 1, 2}) {
  const char* const layouts[] = {"by size", "by position", "by position, groups of 5 tiles"};
  const std::string layout_name = layouts[layout];
  CAPTURE(layout_name);
  const ForceWinograd force(layout > 0);
  winograd::tile_group_limit() = layout == 2 ? 5 : 0;
  // Forward: plain, with bias, with bias + BatchNorm's affine map + ReLU.
  std::vector<float> out(out_size);
  conv2d_forward(g, batch, x.data(), w.data(), static_cast<const float*>(nullptr), out.data());
  check("forward", out, y, y_mag);
  conv2d_forward(g, batch, x.data(), w.data(), bias.data(), out.data());
  std::vector<double> with_bias(out_size), fused(out_size), fused_mag(out_size);
  for (std::size_t i = 0; i < out_size; ++i) {
    const int co = int(i % Co);
    with_bias[i] = y[i] + bias[co];
    fused[i] = std::max(0.0, with_bias[i] * scale[co] + shift[co]);
    fused_mag[i] = (y_mag[i] + std::abs(bias[co])) * std::abs(scale[co]) + std::abs(shift[co]);
  }
  check("forward + bias", out, with_bias, y_mag);
  const ChannelAffine<float> post{scale.data(), shift.data(), true};
  conv2d_forward(g, batch, x.data(), w.data(), bias.data(), out.data(), &post);
  check("forward + bias + BatchNorm + ReLU", out, fused, fused_mag);

  // Weight and bias gradients add onto what the buffers hold.
  const auto w_before = random_values(w_size, 17), b_before = random_values(Co, 18);
  std::vector<float> grad_w = w_before, grad_b = b_before;
  conv2d_backward_weights(g, batch, x.data(), gy.data(), grad_w.data(), grad_b.data());
  const std::vector<double> wb(w_before.begin(), w_before.end()), bb(b_before.begin(), b_before.end());
  check("weight gradient", grad_w, gw, gw_mag, &wb);
  check("bias gradient", grad_b, gb, gb_mag, &bb);

  // The input gradient (stride 1: a forward convolution on the flipped kernel).
  std::vector<float> grad_x(in_size, 7.0f);
  conv2d_backward_data(g, batch, gy.data(), w.data(), grad_x.data());
  check("input gradient", grad_x, gx, gx_mag);
  winograd::tile_group_limit() = 0;
  }
}
}  // namespace

TEST_CASE("Winograd F(4x4, 3x3) matches the convolution's definition") {
  const Case cases[] = {
      {{9, 10, 66}, 66, 1, same, 2},     // LANMSFF block 1's channels; partial tiles at both edges
      {{8, 8, 33}, 36, 1, same, 3},      // TwoPath's channels, whole tiles
      {{11, 13, 17}, 20, 1, valid, 1},   // valid: 9 x 11 output
      {{7, 6, 16}, 8, 1, pad(2), 2},     // padding beyond the kernel's reach
      {{3, 2, 24}, 9, 1, same, 2},       // smaller than one tile
      {{12, 11, 33}, 36, 2, same, 2},    // dilation 2: four phases of 6 x 6 / 6 x 5
      {{13, 9, 20}, 12, 3, same, 1},     // dilation 3, phases of unequal sizes
      {{10, 10, 12}, 10, 2, valid, 2},   // dilation 2, valid
      {{32, 32, 8}, 16, 1, same, 6},     // 384 tiles: several work items per thread
      {{6, 9, 3}, 5, 1, same, 2},        // few channels (chosen only when forced)
      // A kernel larger than most L2 caches (2.4 MB transformed), as MA-Net's: input channels in more
      // than one block of the position-major layout, output channels past a whole panel.
      {{9, 7, 240}, 70, 1, same, 2},
  };
  const ForceWinograd force;
  for (const auto& c : cases) check_case(c);
}

TEST_CASE("the algorithm setting chooses Winograd where it pays, always, or never") {
  using winograd::Pass;
  const auto chosen = [](Shape in, int out_c, int dilation, int batch, Pass pass) {
    return winograd::chosen<float>(make_conv_geometry(in, out_c, 3, 1, dilation, same), batch, pass);
  };
  const bool available = winograd::supports<float>(make_conv_geometry({8, 8, 16}, 16, 3, 1, 1, same));
  CHECK(available);  // float runs Winograd on every instruction set
  // automatic: LANMSFF's 3x3 convolutions at batch 32 and block 1's at batch 1; not the small ones at
  // batch 1, not the few-channel first convolution.
  CHECK(chosen({64, 64, 66}, 66, 1, 32, Pass::forward) == available);
  CHECK(chosen({64, 64, 66}, 66, 1, 32, Pass::weight_gradient) == available);
  CHECK(chosen({64, 64, 66}, 66, 1, 1, Pass::forward) == available);
  CHECK(chosen({32, 32, 33}, 36, 2, 32, Pass::forward) == available);
  CHECK_FALSE(chosen({8, 8, 84}, 42, 1, 1, Pass::forward));
  CHECK(chosen({8, 8, 84}, 42, 1, 32, Pass::weight_gradient) == available);  // 128 tiles
  CHECK_FALSE(chosen({8, 8, 84}, 42, 1, 16, Pass::weight_gradient));            // 64
  CHECK_FALSE(chosen({64, 64, 1}, 66, 1, 32, Pass::forward));
  // Large kernels (MA-Net's 256 channels: 9 MB transformed) run position by position, wherever
  // Winograd's multiply-adds are at most 0.8 of im2col's: not on a 2x2 map (one tile for 4 pixels).
  CHECK(chosen({14, 14, 256}, 256, 1, 32, Pass::forward) == available);
  CHECK(chosen({7, 7, 512}, 512, 1, 1, Pass::forward) == available);
  CHECK(chosen({7, 7, 512}, 512, 1, 16, Pass::weight_gradient) == available);
  CHECK_FALSE(chosen({7, 7, 512}, 512, 1, 8, Pass::weight_gradient));  // 32 tiles to sum over
  CHECK_FALSE(chosen({2, 2, 256}, 256, 1, 32, Pass::forward));
  CHECK_FALSE(winograd::chosen<double>(make_conv_geometry({64, 64, 66}, 66, 3, 1, 1, same), 32, Pass::forward));
  CHECK_FALSE(winograd::chosen<float>(make_conv_geometry({64, 64, 66}, 66, 3, 2, 1, same), 32, Pass::forward));
  {
    const ForceWinograd force;
    CHECK(chosen({8, 8, 84}, 42, 1, 1, Pass::forward) == available);
    CHECK(chosen({14, 14, 256}, 256, 1, 1, Pass::weight_gradient) == available);
  }
  set_conv_algorithm(ConvAlgorithm::im2col);
  CHECK_FALSE(chosen({64, 64, 66}, 66, 1, 32, Pass::forward));
  set_conv_algorithm(ConvAlgorithm::automatic);

  // Forced and off give the same convolution up to rounding, each deterministic.
  const ConvGeometry g = make_conv_geometry({8, 8, 16}, 16, 3, 1, 1, same);
  const auto x = random_values(std::size_t(2) * 8 * 8 * 16, 21), w = random_values(std::size_t(9) * 16 * 16, 22);
  std::vector<float> a(x.size()), b(x.size()), c(x.size());
  set_conv_algorithm(ConvAlgorithm::winograd);
  conv2d_forward(g, 2, x.data(), w.data(), static_cast<const float*>(nullptr), a.data());
  conv2d_forward(g, 2, x.data(), w.data(), static_cast<const float*>(nullptr), c.data());
  set_conv_algorithm(ConvAlgorithm::im2col);
  conv2d_forward(g, 2, x.data(), w.data(), static_cast<const float*>(nullptr), b.data());
  set_conv_algorithm(ConvAlgorithm::automatic);
  CHECK(a == c);
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  CHECK(worst <= 1e-4);
  if (available) CHECK(worst > 0);  // two different algorithms: not bit-identical
}

TEST_CASE("weights used again keep their transform: the same results, and never a stale one") {
  using winograd::Pass;
  // LANMSFF block 4's shape at batch 1: 4 tiles, too few to transform the kernel at every call, enough
  // when the transform is kept. One tile for 4 pixels is never enough.
  const ConvGeometry g = make_conv_geometry({8, 8, 84}, 42, 3, 1, 1, same);
  CHECK_FALSE(winograd::chosen<float>(g, 1, Pass::forward, WeightUse::once));
  CHECK(winograd::chosen<float>(g, 1, Pass::forward, WeightUse::repeated));
  CHECK_FALSE(winograd::chosen<float>(g, 1, Pass::weight_gradient, WeightUse::repeated));
  CHECK_FALSE(winograd::chosen<float>(make_conv_geometry({2, 2, 84}, 42, 3, 1, 1, same), 1, Pass::forward,
                                      WeightUse::repeated));
  auto x = random_values(std::size_t(2) * 8 * 8 * 84, 41), w = random_values(std::size_t(9) * 84 * 42, 42);
  const auto bias = random_values(42, 43);
  const std::size_t out_size = std::size_t(2) * 8 * 8 * 42;
  const auto run = [&](WeightUse use) {
    std::vector<float> y(out_size);
    conv2d_forward(g, 2, x.data(), w.data(), bias.data(), y.data(), nullptr, use);
    return y;
  };
  const ForceWinograd force;  // Winograd either way, so that results compare bit for bit
  const auto made = run(WeightUse::once);
  CHECK(run(WeightUse::repeated) == made);  // made and kept
  CHECK(run(WeightUse::repeated) == made);  // the kept one
  w[std::size_t(5) * 84 * 42 + 17] += 0.25f;  // one weight changed in place, at the same address
  const auto changed = run(WeightUse::once);
  CHECK(changed != made);
  CHECK(run(WeightUse::repeated) == changed);
  CHECK(run(WeightUse::repeated) == changed);
  set_weight_cache_limit(0);  // nothing kept: the same results
  CHECK(run(WeightUse::repeated) == changed);
  set_weight_cache_limit(std::size_t(64) << 20);
}

TEST_CASE("the weight cache: entries by address and key, checked against the weights, least recently used out") {
  WeightCache<int> cache;
  std::vector<float> a(1000, 1.0f), b(1000, 2.0f), c(1000, 3.0f);
  const auto make = [&](std::vector<float>& w, std::uint64_t key, int form) {
    auto& entry = cache.at(w.data(), w.size(), key);
    const bool was_made = entry.made;
    if (!was_made) entry.form = form, cache.made(entry, 4000);
    return was_made;
  };
  CHECK_FALSE(make(a, 1, 10));
  CHECK(make(a, 1, 11));
  CHECK(cache.at(a.data(), a.size(), 1).form == 10);
  CHECK_FALSE(make(a, 2, 20));  // another key (other channel counts): another entry
  a[999] = 1.5f;                // changed in place
  CHECK_FALSE(make(a, 1, 12));
  CHECK(cache.at(a.data(), a.size(), 1).form == 12);
  CHECK(cache.size() == 2);
  // 8000 bytes an entry (copy and form): a 20000-byte limit holds two, the least recently used leaves.
  set_weight_cache_limit(20000);
  CHECK(make(a, 1, 13));         // a,1 used last
  CHECK_FALSE(make(b, 1, 30));   // a,2 leaves
  CHECK(cache.size() == 2);
  CHECK(make(a, 1, 14));
  CHECK_FALSE(make(a, 2, 21));   // b leaves
  CHECK_FALSE(make(c, 1, 40));   // a,1 leaves
  CHECK(cache.size() == 2);
  CHECK(make(c, 1, 41));
  set_weight_cache_limit(0);
  CHECK_FALSE(make(c, 1, 42));
  CHECK(cache.size() == 0);
  set_weight_cache_limit(std::size_t(64) << 20);
}

TEST_CASE("the kernel transform's gradient is its adjoint") {
  // <G g G^T, dU> = <g, G^T dU G> for random g, dU: transform_kernel_gradient differentiates
  // transform_kernel exactly.
  const int Ci = 3, Co = 5;
  const auto w = random_values(std::size_t(9) * Ci * Co, 31), du = random_values(std::size_t(36) * Ci * Co, 32);
  std::vector<float> u(du.size()), dw(w.size(), 0.0f);
  winograd::transform_kernel(w.data(), Ci, Co, u.data());
  winograd::transform_kernel_gradient(du.data(), Ci, Co, dw.data());
  double lhs = 0, rhs = 0;
  for (std::size_t i = 0; i < u.size(); ++i) lhs += double(u[i]) * du[i];
  for (std::size_t i = 0; i < w.size(); ++i) rhs += double(w[i]) * dw[i];
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-6));
}

TEST_CASE("the CPU's cache sizes, which size the position-major layout, are read at run time") {
  using lanmsff::detail::parse_cache_size;
  // Sizes as Linux's sysfs writes them; anything else reads as unknown (0), and the default stays.
  CHECK(parse_cache_size("48K") == std::size_t(48) << 10);
  CHECK(parse_cache_size("1024K") == std::size_t(1) << 20);
  CHECK(parse_cache_size("32M") == std::size_t(32) << 20);
  CHECK(parse_cache_size("512") == 512);
  CHECK(parse_cache_size("") == 0);
  CHECK(parse_cache_size("K") == 0);
  CHECK(parse_cache_size("unknown") == 0);
  CHECK(parse_cache_size("99999999999999999999K") == 0);  // no overflow into a small size
  const CacheSizes& sizes = cache_sizes();
  CHECK(sizes.l1d >= 4096);
  CHECK(sizes.l2 >= sizes.l1d);
  CHECK(sizes.l3 >= sizes.l2);       // a CPU without an L3 reports its L2 as the last level
  CHECK(&cache_sizes() == &sizes);   // detected once per process
}

TEST_CASE("the tile-major layout splits the tiles into equal shares for the threads") {
  using lanmsff::kernels::winograd::tiles_per_item;
  // 32x32x72 -> 36 at batch 1 (64 tiles), 12-row micro-kernel, 2 threads: two items of 36 and 28 tiles
  // (the cache alone would make 60 + 4, one thread doing nearly all of it).
  const auto g = lanmsff::make_conv_geometry({32, 32, 72}, 36, 3, 1, 1, lanmsff::same);
  CHECK(tiles_per_item(g, 12, 64, 2) == 36);
  for (int threads : {1, 2, 3, 4, 8})
    for (std::ptrdiff_t tiles : {1, 7, 64, 196, 256, 2048, 8192}) {
      CAPTURE(threads);
      CAPTURE(tiles);
      const int block = tiles_per_item(g, 12, tiles, threads);
      const std::ptrdiff_t items = (tiles + block - 1) / block;
      CHECK(block >= 1);
      CHECK(block <= 96);  // within the cache's bound (1 MB of transformed tiles)
      // The busiest thread (items handed out in turn) has at most a quarter more than an equal share,
      // and a micro-kernel's rows: 60 + 4 for two threads would be 60 against 32.
      const std::ptrdiff_t busiest = (items + threads - 1) / threads * block;
      CHECK(busiest <= (tiles + threads - 1) / threads * 5 / 4 + 12);
    }
}
