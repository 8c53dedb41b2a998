// Smallest program using lanmsff: shared by the install, pkg-config, add_subdirectory and
// FetchContent checks. Prints the version and the sum of a filled tensor (expected: 18).
#include <lanmsff/core/tensor.hpp>
#include <lanmsff/version.hpp>

#include <iostream>

int main() {
  lanmsff::Tensor<float> t(1, 2, 2, 3);
  t.fill(1.5f);
  std::cout << "lanmsff " << lanmsff::version_string << "\n";
  std::cout << "sum " << t.array().sum() << "\n";
}
