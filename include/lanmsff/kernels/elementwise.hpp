// Elementwise kernels on flat tensors, in chunks of 32,768 values spread over the threads: the ReLU
// and its gradient.
#ifndef LANMSFF_KERNELS_ELEMENTWISE_HPP
#define LANMSFF_KERNELS_ELEMENTWISE_HPP

#include <algorithm>
#include <cstddef>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/kernels/simd/dispatch.hpp"

#define LANMSFF_ISA_BODY "lanmsff/kernels/elementwise.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// y = max(x, 0) over n values (x == y allowed).
template <class T>
void relu_forward(std::size_t n, const T* x, T* y) {
  LANMSFF_DISPATCH(T, relu_forward<T>(n, x, y));
}
LANMSFF_KERNEL_ENTRY(relu_forward);

// dx = dy where y > 0, else 0 (the gradient at exactly 0 is 0, as in TensorFlow and PyTorch; NaN y
// gives 0) over n values (dy == dx allowed).
template <class T>
void relu_backward(std::size_t n, const T* y, const T* dy, T* dx) {
  LANMSFF_DISPATCH(T, relu_backward<T>(n, y, dy, dx));
}
LANMSFF_KERNEL_ENTRY(relu_backward);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

// f(offset) for the whole vectors of [0, n), f(offset, mask) for a partial last one of a chunk, in
// chunks spread over the threads.
template <class T, class F>
void for_each_vector_of(std::size_t n, F&& f) {
  using L = Lanes<T>;
  parallel_chunks(n, [&](std::size_t begin, std::size_t count) {
    std::size_t i = 0;
    for (; i + L::width <= count; i += L::width) f(begin + i);
    if (i < count) f(begin + i, L::mask(int(count - i)));
  });
}

template <class T>
void relu_forward(std::size_t n, const T* x, T* y) {
  using L = Lanes<T>;
  for_each_vector_of<T>(n, [&](std::size_t at, auto... mask) {
    L::store(y + at, L::max(L::load(x + at, mask...), L::zero()), mask...);
  });
}

template <class T>
void relu_backward(std::size_t n, const T* y, const T* dy, T* dx) {
  using L = Lanes<T>;
  for_each_vector_of<T>(n, [&](std::size_t at, auto... mask) {
    L::store(dx + at, L::positive_or_zero(L::load(y + at, mask...), L::load(dy + at, mask...)), mask...);
  });
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
