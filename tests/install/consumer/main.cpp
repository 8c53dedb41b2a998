// Smallest program using lanmsff: shared by the install, pkg-config, add_subdirectory and
// FetchContent checks. Prints the version, the sum of a filled tensor and of its ReLU (expected: 18 and
// 18; the ReLU runs a kernel, compiled here or, with LANMSFF_EXTERN_KERNELS, in lanmsff::kernels), and
// how the kernels were compiled.
#include <lanmsff/core/tensor.hpp>
#include <lanmsff/kernels/elementwise.hpp>
#include <lanmsff/version.hpp>

#include <iostream>

int main() {
  lanmsff::Tensor<float> t(1, 2, 2, 3), relu(1, 2, 2, 3);
  t.fill(1.5f);
  lanmsff::kernels::relu_forward(t.size(), t.data(), relu.data());
  std::cout << "lanmsff " << lanmsff::version_string << "\n";
  std::cout << "sum " << t.array().sum() << "\n";
  std::cout << "relu sum " << relu.array().sum() << "\n";
#if defined(LANMSFF_EXTERN_KERNELS)
  std::cout << "kernels compiled once\n";
#else
  std::cout << "kernels header-only\n";
#endif
}
