// The layer contract, written once: what a layer provides, the memory rules derived from its
// signatures, and the one concept (Layer) that checks it. A *layer spec* is what a user writes in a
// network type (`Conv2D<66, 3>`); it has a nested template `layer<Shape In, class T>` that is the
// concrete layer for that input shape and scalar type. A concrete layer provides:
//
//   using scalar = T;
//   static constexpr Shape input_shape = In;
//   static constexpr Shape output_shape = ...;            // derived at compile time
//   static constexpr std::string_view kind = "Conv2D";    // for summaries
//   template <class F> void for_each_parameter(F&& f);   // f(std::string_view name, Parameter<T>&)
//       (a composite instead: static constexpr bool composite = true; and
//        template <class F> void for_each_child(F&& f);  // f(std::string name, auto& child))
//
// one forward, of two forms:
//   void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx);
//       Resizes `output` to (input.n(), output_shape) and fills it. May keep what backward needs.
//   void forward_in_place(const Tensor<T>& input, Tensor<T>& output, const Context& ctx);
//       The same, and also correct when &input == &output (elementwise: ReLU, Sigmoid, Dropout).
//
// and one backward, which takes exactly the buffers it reads. It is called after forward with the
// same tensors; it ADDS dLoss/dParameter into every parameter's gradient and, when grad_input is not
// null, resizes and OVERWRITES it with dLoss/dInput:
//   void backward(const Tensor<T>& input, const Tensor<T>& output,
//                 const Tensor<T>& grad_output, Tensor<T>* grad_input);   // reads input and output
//   void backward(const Tensor<T>& input, const Tensor<T>& grad_output,
//                 Tensor<T>* grad_input);                                // reads the input only
//   void backward_from_output(const Tensor<T>& output, const Tensor<T>& grad_output,
//                             Tensor<T>* grad_input);                    // reads the output only
//   void backward(const Tensor<T>& grad_output, Tensor<T>* grad_input);  // reads neither (a stored mask)
//
// The memory rules Sequential plans with are derived from those signatures (memory_rules below):
//   - a layer whose backward does not take its output lets the next layer overwrite that output;
//   - a layer runs in place (on the buffer of the layer before it) when its forward is
//     forward_in_place and its backward does not take its input, which in place is overwritten;
//   - a layer that declares nothing special gets the safe rules: its buffers are its own.
// A forward or backward that kept a pointer to a buffer its signature does not take, and read it
// later, would break these rules: a layer reads what it is given, when it is given it.
// One rule is semantic and declared: static constexpr bool keeps_relu_mask = true; an in-place
// layer that may also overwrite a ReLU's output, although the ReLU's backward reads it, because it
// scales each value by a non-negative factor and its backward zeroes the gradient wherever the
// factor is zero, so "output > 0" still holds wherever a gradient reaches the ReLU (Dropout).
//
// Callers (composites, tests, tools) run any layer through run_forward(layer, input, output, ctx)
// and run_backward(layer, input, output, grad_output, grad_input), which pass each form what it takes.
// Optional: `void set_seed(std::uint64_t)` (layers that draw random numbers) and `to_onnx` (io/onnx.hpp).
// Everything else (parameter paths, counting, initialisation, summaries) is derived from these by
// compose/visit.hpp.
//
// Optional fusion traits, read by Sequential to fuse Conv -> BatchNorm (-> ReLU) in inference:
//   static constexpr bool accepts_epilogue = true;
//       the layer has forward_fused(input, output, const kernels::ChannelAffine<T>& post): an
//       inference forward whose output goes through `post` (per-channel affine, then maybe ReLU)
//       before it is stored (Conv2D; a Sequential whose last layer accepts one).
//   static constexpr bool accepts_pool_epilogue = true;
//       forward_fused also takes post.max_pool: a 2x2 max pool (stride 2, no padding) after the map,
//       output then being the pooled map (Conv2D).
//   static constexpr bool is_max_pool_2x2 = true;
//       the layer is that pool (MaxPool<2>), which Sequential then fuses too: Conv -> BatchNorm ->
//       MaxPool (-> in-place ReLU).
//   static constexpr bool is_batch_norm = true;
//       the layer has kernels::ChannelAffine<T> inference_affine(bool relu): its inference forward
//       as that affine map, leaving the layer ready for backward as its own forward would; and
//       forward_relu / backward_relu (the arguments of forward / the four-argument backward):
//       itself followed by a ReLU, as one layer (BatchNorm).
//   static constexpr bool is_identity = true;
//       the layer passes its input through (Identity): a Parallel branch then costs no copy.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lanmsff/core/context.hpp"
#include "lanmsff/core/parameter.hpp"
#include "lanmsff/core/shape.hpp"
#include "lanmsff/core/tensor.hpp"

namespace lanmsff {

template <class L>
concept Composite = requires { requires L::composite; };

namespace detail {
// The forms of forward and backward (see the header comment), each detected by its call.
template <class L, class T = typename L::scalar>
concept forward_out_of_place = requires(L l, const Tensor<T>& x, Tensor<T>& y, const Context& ctx) { l.forward(x, y, ctx); };
template <class L, class T = typename L::scalar>
concept forward_may_alias =
    requires(L l, const Tensor<T>& x, Tensor<T>& y, const Context& ctx) { l.forward_in_place(x, y, ctx); };
template <class L, class T = typename L::scalar>
concept backward_input_output =
    requires(L l, const Tensor<T>& x, Tensor<T>* gx) { l.backward(x, x, x, gx); };
template <class L, class T = typename L::scalar>
concept backward_input = requires(L l, const Tensor<T>& x, Tensor<T>* gx) { l.backward(x, x, gx); };
template <class L, class T = typename L::scalar>
concept backward_output = requires(L l, const Tensor<T>& x, Tensor<T>* gx) { l.backward_from_output(x, x, gx); };
template <class L, class T = typename L::scalar>
concept backward_neither = requires(L l, const Tensor<T>& x, Tensor<T>* gx) { l.backward(x, gx); };

// An in-place forward needs a backward that does not take the input (in place, it is overwritten).
template <class L>
concept consistent_memory_forms = (!forward_may_alias<L>) || backward_output<L> || backward_neither<L>;

template <class L>
inline constexpr int forward_forms = int(forward_out_of_place<L>) + int(forward_may_alias<L>);
template <class L>
inline constexpr int backward_forms =
    int(backward_input_output<L>) + int(backward_input<L>) + int(backward_output<L>) + int(backward_neither<L>);

template <class L>
concept lists_children = Composite<L> && requires(L l) { l.for_each_child([](const std::string&, auto&) {}); };
template <class L>
concept lists_parameters = (!Composite<L>) && requires(L l) {
  l.for_each_parameter([](std::string_view, Parameter<typename L::scalar>&) {});
};
}  // namespace detail

// The contract (header comment): the shapes, the kind, one forward and one backward (consistent: an
// in-place forward with a backward that does not take the input), the parameters.
template <class L>
concept Layer = requires {
  typename L::scalar;
  { L::input_shape } -> std::convertible_to<Shape>;
  { L::output_shape } -> std::convertible_to<Shape>;
  { L::kind } -> std::convertible_to<std::string_view>;
} && detail::forward_forms<L> == 1 && detail::backward_forms<L> == 1 && detail::consistent_memory_forms<L> &&
                    (detail::lists_children<L> || detail::lists_parameters<L>);

// The memory rules of a layer, derived from its signatures (header comment).
template <class L>
struct memory_rules {
  // backward takes `output` (or declares nothing else): whoever overwrites it corrupts the gradient.
  static constexpr bool backward_reads_output = !detail::backward_input<L> && !detail::backward_neither<L>;
  // backward takes `input`: in place it would be gone.
  static constexpr bool backward_reads_input = !detail::backward_output<L> && !detail::backward_neither<L>;
  static constexpr bool in_place = detail::forward_may_alias<L> && !backward_reads_input;
  static constexpr bool keeps_relu_mask = in_place && requires { requires L::keeps_relu_mask; };
  static_assert(detail::consistent_memory_forms<L>,
                "a layer whose forward may run in place (forward_in_place) cannot take its input in backward: "
                "in place, the input is overwritten by the output");
};

template <class L>
inline constexpr bool runs_in_place = memory_rules<L>::in_place;
template <class L>
inline constexpr bool backward_reads_output = memory_rules<L>::backward_reads_output;
template <class L>
inline constexpr bool keeps_relu_mask = memory_rules<L>::keeps_relu_mask;

// Runs a layer's forward, whichever form it has (`output` may be `input` only when runs_in_place).
template <class L>
void run_forward(L& layer, const Tensor<typename L::scalar>& input, Tensor<typename L::scalar>& output,
                 const Context& ctx) {
  static_assert(detail::forward_forms<L> == 1, "run_forward: a layer has one forward: forward or forward_in_place (layer.hpp)");
  if constexpr (detail::forward_may_alias<L>) layer.forward_in_place(input, output, ctx);
  else layer.forward(input, output, ctx);
}

// Runs a layer's backward with the buffers its form takes; the others are not touched (a caller
// may pass any tensor for a buffer the layer's rules say it does not read).
template <class L>
void run_backward(L& layer, const Tensor<typename L::scalar>& input, const Tensor<typename L::scalar>& output,
                  const Tensor<typename L::scalar>& grad_output, Tensor<typename L::scalar>* grad_input) {
  if constexpr (detail::backward_input_output<L>) layer.backward(input, output, grad_output, grad_input);
  else if constexpr (detail::backward_input<L>) layer.backward(input, grad_output, grad_input);
  else if constexpr (detail::backward_output<L>) layer.backward_from_output(output, grad_output, grad_input);
  else if constexpr (detail::backward_neither<L>) layer.backward(grad_output, grad_input);
  else static_assert(detail::backward_forms<L> == 1, "run_backward: the layer has no backward of the contract's forms (layer.hpp)");
}

template <class L>
inline constexpr bool accepts_epilogue = requires { requires L::accepts_epilogue; };
template <class L>
inline constexpr bool accepts_pool_epilogue = requires { requires L::accepts_pool_epilogue; };
template <class L>
inline constexpr bool is_max_pool_2x2 = requires { requires L::is_max_pool_2x2; };
template <class L>
inline constexpr bool is_batch_norm = requires { requires L::is_batch_norm; };
template <class L>
concept IdentityLayer = requires { requires L::is_identity; };

template <class S>
concept LayerSpec = requires { typename S::template layer<Shape{1, 1, 1}, float>; };

// Base for layers without parameters.
struct NoParameters {
  template <class F>
  void for_each_parameter(F&&) {}
};

// A string usable as a template argument: Named<"conv1", Conv2D<66, 3>>.
template <std::size_t N>
struct fixed_string {
  char value[N]{};
  constexpr fixed_string(const char (&s)[N]) { std::copy_n(s, N, value); }
  constexpr std::string_view view() const { return {value, N - 1}; }
};

// Gives a child of a composite a stable name for parameter paths (default: its index).
template <fixed_string Name, class Spec>
struct Named {
  static constexpr std::string_view name = Name.view();
  using spec = Spec;
  template <Shape In, class T>
  using layer = typename Spec::template layer<In, T>;
};

// A composite that adds no level to parameter paths: its children's names continue its parent's
// (Named<"block", Sequential<A, Flat<Sequential<Named<"conv", ...>>>>>: "block.conv", not "block.1.conv").
// For composites only; a flat leaf layer's parameters would take its parent's path.
template <class Spec>
using Flat = Named<"", Spec>;

namespace detail {
template <class S>
struct child_name {
  static std::string get(std::size_t index) { return std::to_string(index); }
};
template <fixed_string Name, class Spec>
struct child_name<Named<Name, Spec>> {
  static std::string get(std::size_t) { return std::string(Name.view()); }
};

template <class L>
void resize_like_output(Tensor<typename L::scalar>& out, int batch) {
  out.resize(batch, L::output_shape);
}
}  // namespace detail

}  // namespace lanmsff
