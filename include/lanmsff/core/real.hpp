// A real number as a template argument, for layer hyper-parameters such as BatchNorm<0.99, 1e-3> or
// Dropout<0.4>. C++20 allows `double` template parameters, but Clang accepts them only from version
// 18 (Apple Clang from 16); a class that holds the double's bits is a structural type that every
// C++20 compiler takes, and its implicit consteval constructor lets a model still write the plain
// literal. The value is exact: the bits are those of the double written.
#pragma once

#include <bit>
#include <cstdint>

namespace lanmsff {

struct Real {
  std::uint64_t bits;
  consteval Real(double v) : bits(std::bit_cast<std::uint64_t>(v)) {}  // NOLINT: implicit on purpose
  constexpr double value() const { return std::bit_cast<double>(bits); }
  constexpr operator double() const { return value(); }  // NOLINT: reads as the number it holds
  constexpr bool operator==(const Real&) const = default;
};

}  // namespace lanmsff
