// Must NOT compile: the ONNX export of a network with a layer that says nothing about ONNX (no
// to_onnx member) is stopped at compile time, not written as a wrong graph.
#include <string>

#include "lanmsff/io/onnx.hpp"
#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;

// A user's layer with a forward and a backward but no ONNX mapping.
struct Doubler {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = In;
    static constexpr std::string_view kind = "Doubler";
    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) { output = input, output.array() *= T(2); }
    void backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (grad_input) *grad_input = grad_output, grad_input->array() *= T(2);
    }
  };
};

int main() {
  Network<Sequential<Conv2D<4, 3>, Doubler>, Shape{8, 8, 3}> net;
  return int(onnx::export_model(net).size());
}
