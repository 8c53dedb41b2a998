// Must NOT compile: a residual Add of a 3x3 convolution with 4 filters onto a 3-channel input.
#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;

int main() {
  Network<Residual<Conv2D<4, 3>>, Shape{8, 8, 3}> net;
  return int(net.parameter_count().trainable);
}
