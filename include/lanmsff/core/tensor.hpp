// Tensor: a batch of NHWC samples (batch, height, width, channels), channels contiguous.
// Storage is aligned to a cache line and keeps its capacity on resize, so a
// network that sees the same batch size every step does not reallocate its activations.
#pragma once

#include "lanmsff/core/eigen.hpp"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lanmsff/core/shape.hpp"

namespace lanmsff {

// Storage aligned to a cache line (64 bytes), whatever the compile flags: the kernels pick AVX-512
// or AVX2 at run time, and a vector load that straddles two lines costs a second access. (Eigen's
// own aligned_allocator aligns to what the flags let Eigen use: 16 bytes in a plain x86-64 build.)
inline constexpr std::size_t storage_alignment = 64;

template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = CacheAlignedAllocator<U>;
  };
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(storage_alignment)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(storage_alignment)); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const noexcept {
    return true;
  }
};

template <class T>
using AlignedVector = std::vector<T, CacheAlignedAllocator<T>>;

// The aligned allocator whose default construction leaves a trivial value uninitialised, so that
// a vector's resize() does not clear what it grows into. Tensor storage uses it: a network's buffers
// (the gradients between layers in particular) are resized up and down every step, and clearing
// them on each growth wrote megabytes per layer for values about to be overwritten.
template <class T>
struct UninitializedAllocator : CacheAlignedAllocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<RowMatrix<T>, Eigen::Aligned>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>, Eigen::Aligned>;
template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class T = float>
class Tensor {
 public:
  using scalar = T;

  Tensor() = default;
  // Zero-filled.
  Tensor(int n, int h, int w, int c) {
    resize(n, h, w, c);
    set_zero();
  }
  Tensor(int n, Shape s) : Tensor(n, s.h, s.w, s.c) {}

  // Contents are unspecified after a resize that changes the size (values past the old size are not
  // initialised); call set_zero() if needed.
  void resize(int n, int h, int w, int c) {
    if (n < 0 || h < 0 || w < 0 || c < 0)
      throw std::invalid_argument("Tensor::resize: negative dimension");
    n_ = n, h_ = h, w_ = w, c_ = c;
    data_.resize(static_cast<std::size_t>(n) * h * w * c);
  }
  void resize(int n, Shape s) { resize(n, s.h, s.w, s.c); }

  void set_zero() { std::fill(data_.begin(), data_.end(), T(0)); }
  void fill(T value) { std::fill(data_.begin(), data_.end(), value); }

  int n() const { return n_; }
  int h() const { return h_; }
  int w() const { return w_; }
  int c() const { return c_; }
  Shape shape() const { return {h_, w_, c_}; }
  std::size_t size() const { return data_.size(); }
  std::size_t sample_size() const { return static_cast<std::size_t>(h_) * w_ * c_; }
  bool empty() const { return data_.empty(); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T* sample(int n) { return data_.data() + n * sample_size(); }
  const T* sample(int n) const { return data_.data() + n * sample_size(); }
  // The channel vector of one pixel.
  T* pixel(int n, int y, int x) { return data_.data() + ((static_cast<std::size_t>(n) * h_ + y) * w_ + x) * c_; }
  const T* pixel(int n, int y, int x) const {
    return data_.data() + ((static_cast<std::size_t>(n) * h_ + y) * w_ + x) * c_;
  }

  T& operator()(int n, int y, int x, int ch) { return pixel(n, y, x)[ch]; }
  const T& operator()(int n, int y, int x, int ch) const { return pixel(n, y, x)[ch]; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

  // (n*h*w) x c row-major view: one row per pixel, the GEMM operand of 1x1 convolutions and BN.
  MatrixMap<T> matrix() { return MatrixMap<T>(data(), Eigen::Index(n_) * h_ * w_, c_); }
  ConstMatrixMap<T> matrix() const { return ConstMatrixMap<T>(data(), Eigen::Index(n_) * h_ * w_, c_); }
  ArrayMap<T> array() { return ArrayMap<T>(data(), Eigen::Index(size())); }
  ConstArrayMap<T> array() const { return ConstArrayMap<T>(data(), Eigen::Index(size())); }

  auto begin() { return data_.begin(); }
  auto end() { return data_.end(); }
  auto begin() const { return data_.begin(); }
  auto end() const { return data_.end(); }

 private:
  int n_ = 0, h_ = 0, w_ = 0, c_ = 0;
  std::vector<T, UninitializedAllocator<T>> data_;
};

inline std::string shape_string(int n, Shape s) { return std::to_string(n) + "x" + to_string(s); }

// Throws when a tensor handed to a layer does not have the layer's static sample shape.
template <class T>
void expect_shape(const Tensor<T>& t, Shape expected, const char* who) {
  if (t.shape() != expected)
    throw std::invalid_argument(std::string(who) + ": expected input samples of shape " + to_string(expected) +
                                ", got " + to_string(t.shape()));
}

}  // namespace lanmsff
