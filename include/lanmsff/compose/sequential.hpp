// Sequential<Specs...>: a chain of layers whose shapes are derived one from the next at compile
// time. Intermediate activations live in the chain and are reused from step to step.
#pragma once

#include <array>
#include <tuple>
#include <utility>

#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

namespace detail {
template <Shape In, class T, class... Specs>
struct chain {
  using type = std::tuple<>;
  static constexpr Shape out = In;
};
template <Shape In, class T, class First, class... Rest>
struct chain<In, T, First, Rest...> {
  static_assert(LayerSpec<First>, "Sequential: every element must be a layer spec (a type with layer<Shape, T>)");
  using head = typename First::template layer<In, T>;
  using tail = chain<head::output_shape, T, Rest...>;
  using type = decltype(std::tuple_cat(std::declval<std::tuple<head>>(), std::declval<typename tail::type>()));
  static constexpr Shape out = tail::out;
};
}  // namespace detail

template <class... Specs>
struct Sequential {
  static_assert(sizeof...(Specs) > 0, "Sequential needs at least one layer");

  template <Shape In, class T>
  class layer {
    using chain = detail::chain<In, T, Specs...>;
    static constexpr std::size_t count = sizeof...(Specs);

   public:
    using scalar = T;
    using layers_type = typename chain::type;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = chain::out;
    static constexpr std::string_view kind = "Sequential";
    static constexpr bool composite = true;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      forward_all(input, output, ctx, std::make_index_sequence<count>{});
    }

    void backward(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                  Tensor<T>* grad_input) {
      backward_from<count - 1>(input, output, grad_output, grad_input);
    }

    template <class F>
    void for_each_child(F&& f) {
      each_child(f, std::make_index_sequence<count>{});
    }

    template <std::size_t I>
    auto& get() { return std::get<I>(layers_); }
    // The output of layer I from the last forward (I < count - 1).
    template <std::size_t I>
    const Tensor<T>& activation() const { return activations_[I]; }

   private:
    using specs = std::tuple<Specs...>;

    template <std::size_t I>
    const Tensor<T>& in_of(const Tensor<T>& input) const {
      if constexpr (I == 0) return input;
      else return activations_[I - 1];
    }
    template <std::size_t I, class Out>
    Out& out_of(Out& output) {
      if constexpr (I + 1 == count) return output;
      else return activations_[I];
    }

    template <std::size_t... I>
    void forward_all(const Tensor<T>& input, Tensor<T>& output, const Context& ctx, std::index_sequence<I...>) {
      (std::get<I>(layers_).forward(in_of<I>(input), out_of<I>(output), ctx), ...);
    }

    template <std::size_t I>
    void backward_from(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                       Tensor<T>* grad_input) {
      // Gradients ping-pong between two buffers; layer 0 writes the caller's grad_input.
      Tensor<T>* target = I == 0 ? grad_input : &gradients_[I % 2];
      std::get<I>(layers_).backward(in_of<I>(input), out_of<I>(output), grad_output, target);
      if constexpr (I > 0) backward_from<I - 1>(input, output, *target, grad_input);
    }

    template <class F, std::size_t... I>
    void each_child(F& f, std::index_sequence<I...>) {
      (f(detail::child_name<std::tuple_element_t<I, specs>>::get(I), std::get<I>(layers_)), ...);
    }

    layers_type layers_;
    std::array<Tensor<T>, count - 1> activations_;
    std::array<Tensor<T>, 2> gradients_;
  };
};

}  // namespace lanmsff
