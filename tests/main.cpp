// doctest's main(), compiled once into an object library that every test executable links. It
// first settles the instruction set the kernels use: ctest runs the kernel, golden and gradient tests
// once per path (LANMSFF_ISA=avx512|avx2|baseline|neon); a path this CPU does not have is reported
// as skipped (exit status 77, which ctest's SKIP_RETURN_CODE turns into "Skipped").
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "lanmsff/core/isa.hpp"

int main(int argc, char** argv) {
  if (const char* forced = std::getenv("LANMSFF_ISA"); forced && *forced) {
    try {
      const lanmsff::Isa isa = lanmsff::detail::parse_isa(forced, "LANMSFF_ISA");
      if (!lanmsff::detail::is_supported(isa)) {
        std::printf("skipped: this CPU has no %s path (it has %s)\n", forced,
                    lanmsff::detail::isa_list(lanmsff::supported_isas()).c_str());
        return 77;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    }
  }
  std::printf("kernels: %s\n", std::string(lanmsff::isa_name(lanmsff::active_isa())).c_str());
  doctest::Context context(argc, argv);
  return context.run();
}
