// The whole LANMSFF network's gradients against finite differences, in double precision (32x32x1 input,
// batch 2, 3 classes; every parameter tensor probed at a few random elements). Double takes the baseline's
// code on every instruction-set path, so this runs once, not once per path (under qemu it took 9 minutes of
// the aarch64 suite). Each path's float network is checked against PyTorch's gradients by
// test_golden_lanmsff.cpp, and its blocks against double by test_lanmsff_model.cpp.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "lanmsff/models/lanmsff.hpp"

using namespace lanmsff;

TEST_CASE("whole LANMSFF gradient (32x32x1, batch 2, double)") {
  models::LANMSFFSpec<3>::layer<Shape{32, 32, 1}, double> net;
  // Over 100 parameter tensors, two probes each, and the input's.
  lanmsff::testing::check_gradients(net, {.batch = 2, .seed = 5, .rtol = 1e-4, .max_checks_per_tensor = 2});
}
