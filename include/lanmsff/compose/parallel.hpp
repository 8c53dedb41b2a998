// Parallel<Merge, Branches...>: every branch sees the same input; their outputs are combined by a
// merge (Concat, Add, Multiply, MaxMedian, TileGrid, see merges.hpp). Residual blocks, attention
// (x * A(x)), TwoPath stages and MA-Net's patch branches are all Parallel compositions.
#pragma once

#include <array>
#include <tuple>
#include <utility>

#include "lanmsff/core/profiler.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

// The identity layer: a Parallel branch that is Identity passes its input through without a copy.
struct Identity {
  template <Shape In, class T>
  struct layer : NoParameters {
    using scalar = T;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = In;
    static constexpr std::string_view kind = "Identity";
    static constexpr bool is_identity = true;
    // Declares the full backward although it reads neither buffer: the safe rules, so that an
    // Identity between two layers blocks every memory plan (tests/test_memory_plans.cpp relies on it).
    void forward(const Tensor<T>& input, Tensor<T>& output, const Context&) { output = input; }
    template <class G>
    std::string to_onnx(G&, const std::string& input, const std::string&) {
      return input;
    }
    void backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (grad_input) *grad_input = grad_output;
    }
  };
};

template <class Merge, class... Branches>
struct Parallel {
  static_assert(sizeof...(Branches) > 0, "Parallel needs at least one branch");

  template <Shape In, class T>
  class layer {
    static constexpr std::size_t count = sizeof...(Branches);
    static_assert((Layer<typename Branches::template layer<In, T>> && ...),
                  "Parallel: a branch does not meet the layer contract (layers/layer.hpp)");
    using merge_type = typename Merge::template merge<T, Branches::template layer<In, T>::output_shape...>;

   public:
    using scalar = T;
    using branches_type = std::tuple<typename Branches::template layer<In, T>...>;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = merge_type::output_shape;
    static constexpr std::string_view kind = "Parallel";
    static constexpr bool composite = true;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      forward_branches(input, ctx, std::make_index_sequence<count>{});
      Profiler::Scope scope(Profiler::active(), "merge", Profiler::Phase::forward);
      merge_.forward(branch_outputs_, output);
    }

    void backward(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                  Tensor<T>* grad_input) {
      std::array<Tensor<T>*, count> grads;
      for (std::size_t i = 0; i < count; ++i) grads[i] = &branch_grads_[i];
      {
        Profiler::Scope scope(Profiler::active(), "merge", Profiler::Phase::backward);
        merge_.backward(branch_outputs_, output, grad_output, grads);
      }
      backward_branches(input, grad_input, std::make_index_sequence<count>{});
    }

    template <class F>
    void for_each_child(F&& f) {
      each_child(f, std::make_index_sequence<count>{});
    }

    // ONNX: every branch on the same input, then the merge's nodes (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      std::array<std::string, count> outputs;
      std::size_t i = 0;
      for_each_child([&](const std::string& name, auto& child) {
        outputs[i++] = graph.emit(child, input, join_name(path, name));
      });
      return merge_.to_onnx(graph, outputs, path);
    }

    template <std::size_t I>
    auto& branch() { return std::get<I>(branches_); }
    template <std::size_t I>
    const Tensor<T>& branch_output() const { return *branch_outputs_[I]; }

   private:
    using specs = std::tuple<Branches...>;

    template <std::size_t I>
    static std::string child_name() { return detail::child_name<std::tuple_element_t<I, specs>>::get(I); }

    template <std::size_t... I>
    void forward_branches(const Tensor<T>& input, const Context& ctx, std::index_sequence<I...>) {
      (forward_branch<I>(input, ctx), ...);
    }
    template <std::size_t I>
    void forward_branch(const Tensor<T>& input, const Context& ctx) {
      using B = std::tuple_element_t<I, branches_type>;
      if constexpr (IdentityLayer<B>) {
        branch_outputs_[I] = &input;
      } else {
        lanmsff::profiled(Profiler::Phase::forward, [] { return child_name<I>(); },
                          [&] { run_forward(std::get<I>(branches_), input, outputs_[I], ctx); });
        branch_outputs_[I] = &outputs_[I];
      }
    }

    template <std::size_t... I>
    void backward_branches(const Tensor<T>& input, Tensor<T>* grad_input, std::index_sequence<I...>) {
      (backward_branch<I>(input, grad_input), ...);
    }
    // The input gradient is the sum over branches: the first branch writes grad_input, the others add.
    template <std::size_t I>
    void backward_branch(const Tensor<T>& input, Tensor<T>* grad_input) {
      using B = std::tuple_element_t<I, branches_type>;
      if constexpr (IdentityLayer<B>) {
        if (!grad_input) return;
        if constexpr (I == 0) *grad_input = branch_grads_[I];
        else grad_input->array() += branch_grads_[I].array();
      } else {
        Tensor<T>* target = grad_input ? (I == 0 ? grad_input : &scratch_) : nullptr;
        lanmsff::profiled(Profiler::Phase::backward, [] { return child_name<I>(); },
                          [&] { run_backward(std::get<I>(branches_), input, outputs_[I], branch_grads_[I], target); });
        if constexpr (I > 0)
          if (grad_input) grad_input->array() += scratch_.array();
      }
    }

    template <class F, std::size_t... I>
    void each_child(F& f, std::index_sequence<I...>) {
      (f(child_name<I>(), std::get<I>(branches_)), ...);
    }

    branches_type branches_;
    merge_type merge_;
    std::array<Tensor<T>, count> outputs_;
    std::array<const Tensor<T>*, count> branch_outputs_{};
    std::array<Tensor<T>, count> branch_grads_;
    Tensor<T> scratch_;
  };
};

// Residual<Body, Shortcut = Identity>: Body(x) + Shortcut(x).
struct Add;
template <class Body, class Shortcut = Identity>
using Residual = Parallel<Add, Body, Shortcut>;

}  // namespace lanmsff
