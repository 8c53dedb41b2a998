// The layer contract, written once. A *layer spec* is what a user writes in a network type
// (`Conv2D<66, 3>`); it has a nested template `layer<Shape In, class T>` that is the concrete
// layer for that input shape and scalar type. A concrete layer provides:
//
//   using scalar = T;
//   static constexpr Shape input_shape = In;
//   static constexpr Shape output_shape = ...;            // derived at compile time
//   static constexpr std::string_view kind = "Conv2D";    // for summaries
//   void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx);
//       Resizes `output` to (input.n(), output_shape) and fills it. May keep what backward needs.
//   void backward(const Tensor<T>& input, const Tensor<T>& output,
//                 const Tensor<T>& grad_output, Tensor<T>* grad_input);
//       Called after forward with the same input/output. ADDS dLoss/dParameter into every
//       parameter's gradient, and, when grad_input is not null, resizes and OVERWRITES it with
//       dLoss/dInput.
//   template <class F> void for_each_parameter(F&& f);   // f(std::string_view name, Parameter<T>&)
//
// Optional: `void set_seed(std::uint64_t)` (layers that draw random numbers), and for composites
// `template <class F> void for_each_child(F&& f)` (f(std::string name, auto& child)). Everything
// else (parameter paths, counting, initialisation, summaries) is derived from these by visit.hpp.
//
// Optional memory traits, read by Sequential to run layers in place (see sequential.hpp):
//   static constexpr bool in_place = true;
//       forward works with &input == &output, and backward reads `output` but never `input`
//       (ReLU, Sigmoid, Dropout).
//   static constexpr bool backward_reads_output = false;
//       backward never reads `output`, so a following in-place layer may overwrite it
//       (convolutions, BatchNorm, Dense, MaxPool, ...). Without it a layer is assumed to read it.
//   static constexpr bool keeps_relu_mask = true;
//       an in-place layer that may also overwrite a ReLU's output, although the ReLU's backward reads
//       it: it scales each value by a non-negative factor, and its backward zeroes the gradient
//       wherever the factor is zero, so "output > 0" still holds wherever a gradient reaches the ReLU
//       (Dropout).
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
//       forward_relu / backward_relu (same arguments as forward / backward): itself followed by a
//       ReLU, as one layer (BatchNorm).
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
concept Layer = requires(L layer, const Tensor<typename L::scalar>& x, Tensor<typename L::scalar>& y,
                         Tensor<typename L::scalar>* gx, const Context& ctx) {
  typename L::scalar;
  { L::input_shape } -> std::convertible_to<Shape>;
  { L::output_shape } -> std::convertible_to<Shape>;
  { L::kind } -> std::convertible_to<std::string_view>;
  layer.forward(x, y, ctx);
  layer.backward(x, x, x, gx);
};

template <class L>
inline constexpr bool runs_in_place = requires { requires L::in_place; };
template <class L>
inline constexpr bool backward_reads_output = !requires { requires !L::backward_reads_output; };
template <class L>
inline constexpr bool keeps_relu_mask = requires { requires L::keeps_relu_mask; };

template <class L>
inline constexpr bool accepts_epilogue = requires { requires L::accepts_epilogue; };
template <class L>
inline constexpr bool accepts_pool_epilogue = requires { requires L::accepts_pool_epilogue; };
template <class L>
inline constexpr bool is_max_pool_2x2 = requires { requires L::is_max_pool_2x2; };
template <class L>
inline constexpr bool is_batch_norm = requires { requires L::is_batch_norm; };

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
