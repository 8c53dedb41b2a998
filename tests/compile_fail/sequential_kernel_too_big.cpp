// Must NOT compile: a 'valid' 5x5 convolution on a 4x4 input.
#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;

int main() {
  Network<Sequential<Conv2D<4, 3>, Conv2D<2, 5, 1, 1, valid>>, Shape{4, 4, 1}> net;
  return int(net.parameter_count().trainable);
}
