// Tensor: NHWC layout, capacity kept across resizes, Eigen views, alignment, shape errors.
#include <doctest/doctest.h>

#include <lanmsff/core/tensor.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

using lanmsff::Shape;
using lanmsff::Tensor;

TEST_CASE("resize keeps capacity: shrinking then growing back does not reallocate") {
  Tensor<float> t(4, 8, 8, 3);
  const float* storage = t.data();
  t.resize(1, 2, 2, 3);
  CHECK(t.size() == 12);
  CHECK(t.data() == storage);
  t.resize(4, 8, 8, 3);
  CHECK(t.size() == 4 * 8 * 8 * 3);
  CHECK(t.data() == storage);
  t.resize(2, Shape{4, 4, 6});
  CHECK(t.shape() == Shape{4, 4, 6});
  CHECK(t.data() == storage);
}

TEST_CASE("NHWC indexing: t(n,y,x,c) is data()[((n*H+y)*W+x)*C+c]") {
  const int N = 2, H = 3, W = 4, C = 5;
  Tensor<double> t(N, H, W, C);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<double>(i);
  CHECK(t.n() == N);
  CHECK(t.h() == H);
  CHECK(t.w() == W);
  CHECK(t.c() == C);
  CHECK(t.sample_size() == static_cast<std::size_t>(H * W * C));
  for (int n = 0; n < N; ++n)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const std::size_t pixel = ((static_cast<std::size_t>(n) * H + y) * W + x) * C;
        CHECK(t.pixel(n, y, x) == t.data() + pixel);
        for (int c = 0; c < C; ++c) CHECK(t(n, y, x, c) == t.data()[pixel + c]);
      }
  CHECK(t.sample(1) == t.data() + H * W * C);
  t(1, 2, 3, 4) = -1.0;
  CHECK(t.data()[t.size() - 1] == -1.0);
}

TEST_CASE("matrix() is a (N*H*W) x C row-major view; array() covers every element") {
  Tensor<float> t(2, 3, 4, 5);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  auto m = t.matrix();
  CHECK(m.rows() == 2 * 3 * 4);
  CHECK(m.cols() == 5);
  CHECK(m(0, 1) == t(0, 0, 0, 1));
  CHECK(m(7, 3) == t(0, 1, 3, 3));  // row 7 = pixel (n 0, y 1, x 3)
  CHECK(m(23, 4) == t(1, 2, 3, 4));
  m(5, 2) = 100.0f;
  CHECK(t(0, 1, 1, 2) == 100.0f);

  const Tensor<float>& ct = t;
  CHECK(ct.matrix().rows() == 24);
  CHECK(ct.array().size() == static_cast<Eigen::Index>(t.size()));

  t.fill(1.5f);
  CHECK(t.array().sum() == doctest::Approx(1.5 * 120));
  t.set_zero();
  CHECK(t.array().abs().maxCoeff() == 0.0f);
}

TEST_CASE("storage is aligned for Eigen's widest packets") {
  Tensor<float> t(1, 3, 3, 1);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % EIGEN_MAX_ALIGN_BYTES == 0);
  t.resize(3, 17, 5, 7);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % EIGEN_MAX_ALIGN_BYTES == 0);
}

TEST_CASE("bad sizes and shapes throw with a message that names them") {
  Tensor<float> t;
  CHECK(t.empty());
  CHECK_THROWS_AS(t.resize(1, -2, 3, 4), std::invalid_argument);

  t.resize(2, 4, 4, 3);
  CHECK_NOTHROW(lanmsff::expect_shape(t, Shape{4, 4, 3}, "Conv2D"));
  try {
    lanmsff::expect_shape(t, Shape{8, 8, 3}, "Conv2D");
    FAIL("expect_shape did not throw");
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    CHECK(message.find("Conv2D") != std::string::npos);
    CHECK(message.find("8x8x3") != std::string::npos);  // expected
    CHECK(message.find("4x4x3") != std::string::npos);  // got
  }
  CHECK(lanmsff::shape_string(2, Shape{4, 4, 3}) == "2x4x4x3");
}
