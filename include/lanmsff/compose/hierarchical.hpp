// Hierarchical<Order, Feedback, Stages...>: the hierarchical channel-group chain of Res2Net and
// MA-Net's multi-scale block. The input's channels are split into N equal contiguous groups
// x_1..x_N (N = number of stages); the stages run one after the other, each on its group plus the
// Feedback of the previous stage's output, and their outputs are concatenated in group order:
//
//   ascending:  y_1 = S_1(x_1),  y_i = S_i(x_i + F(y_{i-1})),  i = 2..N
//   descending: y_N = S_N(x_N),  y_i = S_i(x_i + F(y_{i+1})),  i = N-1..1
//   output = concat(y_1, ..., y_N)
//
// Stage i always processes group i (whatever the order), so parameter names follow the groups.
// Each link has its own Feedback layer, named "<name>1", "<name>2", ... in the order the links
// run (<name>: the Feedback's Named name, default "feedback"). This is not expressible with Parallel: every y_i is both an
// output and the input of the next stage.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

enum class ChainOrder { ascending, descending };

namespace detail {
template <class S>
struct link_name {
  static std::string get() { return "feedback"; }
};
template <fixed_string Name, class Spec>
struct link_name<Named<Name, Spec>> {
  static std::string get() { return std::string(Name.view()); }
};
}  // namespace detail

template <ChainOrder Order, class Feedback, class... Stages>
struct Hierarchical {
  static constexpr std::size_t count = sizeof...(Stages);
  static_assert(count >= 1, "Hierarchical: needs at least one stage");

  template <Shape In, class T>
  class layer {
    static_assert(In.c % int(count) == 0, "Hierarchical: the channel count must be divisible by the number of stages");
    static constexpr int G = In.c / int(count);  // channels per group
    static constexpr Shape group{In.h, In.w, G};
    static constexpr bool same_as_group() {
      return ((Stages::template layer<group, T>::output_shape == group) && ...);
    }
    static_assert(same_as_group(), "Hierarchical: every stage must map its group (H x W x C/N) to the same shape");
    using feedback_type = typename Feedback::template layer<group, T>;
    static_assert(feedback_type::output_shape == group, "Hierarchical: the feedback must keep the group's shape");
    static_assert((Layer<typename Stages::template layer<group, T>> && ...) && Layer<feedback_type>,
                  "Hierarchical: a stage or the feedback does not meet the layer contract (layers/layer.hpp)");

    // The group processed at step k.
    static constexpr std::size_t group_of(std::size_t k) { return Order == ChainOrder::ascending ? k : count - 1 - k; }

   public:
    using scalar = T;
    using stages_type = std::tuple<typename Stages::template layer<group, T>...>;
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = In;
    static constexpr std::string_view kind = "Hierarchical";
    static constexpr bool composite = true;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      expect_shape(input, In, "Hierarchical");
      forward_steps(input, ctx, std::make_index_sequence<count>{});
      output.resize(input.n(), In);
      for (std::size_t g = 0; g < count; ++g) copy_group(outputs_[g], output, g, true);
    }

    // Backward reads the stages' stored outputs, not this layer's output (layer.hpp's forms).
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      if (grad_input) grad_input->resize(input.n(), In);
      backward_step<count - 1>(grad_output, grad_input);
    }

    template <class F>
    void for_each_child(F&& f) {
      each_stage(f, std::make_index_sequence<count>{});
      const std::string base = detail::link_name<Feedback>::get();
      for (std::size_t k = 0; k + 1 < count; ++k) f(base + std::to_string(k + 1), feedback_[k]);
    }

    template <std::size_t I>
    auto& stage() { return std::get<I>(stages_); }

    // ONNX: each step's channel group sliced out, the feedback added, the stage; the stages' outputs
    // concatenated in group order (io/onnx.hpp).
    template <class Graph>
    std::string to_onnx(Graph& graph, const std::string& input, const std::string& path) {
      std::array<std::string, count> out;
      std::string feedback;
      [&]<std::size_t... K>(std::index_sequence<K...>) {
        (([&] {
           constexpr std::size_t g = group_of(K);
           std::string x = graph.slice(path, input, {1}, {std::int64_t(g) * G}, {std::int64_t(g + 1) * G});
           if constexpr (K > 0) x = graph.node("Add", {x, feedback}, path);
           out[g] = graph.emit(std::get<g>(stages_), x,
                               join_name(path, detail::child_name<std::tuple_element_t<g, specs>>::get(g)));
           if constexpr (K + 1 < count)
             feedback = graph.emit(feedback_[K], out[g],
                                   join_name(path, detail::link_name<Feedback>::get() + std::to_string(K + 1)));
         }()),
         ...);
      }(std::make_index_sequence<count>{});
      return count == 1 ? out[0] : graph.concat(path, {out.begin(), out.end()}, 1);
    }

   private:
    using specs = std::tuple<Stages...>;

    // Copies group g between a full tensor (In.c channels) and a group tensor (G channels).
    static void copy_group(const Tensor<T>& from, Tensor<T>& to, std::size_t g, bool into_full) {
      const std::ptrdiff_t pixels = std::ptrdiff_t(from.n()) * In.h * In.w;
      const std::ptrdiff_t offset = std::ptrdiff_t(g) * G;
      parallel_for(0, pixels, [&](std::ptrdiff_t p) {
        if (into_full) std::memcpy(to.data() + p * In.c + offset, from.data() + p * G, sizeof(T) * G);
        else std::memcpy(to.data() + p * G, from.data() + p * In.c + offset, sizeof(T) * G);
      });
    }
    static void extract_group(const Tensor<T>& full, Tensor<T>& part, std::size_t g) {
      part.resize(full.n(), group);
      copy_group(full, part, g, false);
    }

    template <std::size_t... K>
    void forward_steps(const Tensor<T>& input, const Context& ctx, std::index_sequence<K...>) {
      (forward_step<K>(input, ctx), ...);
    }
    template <std::size_t K>
    void forward_step(const Tensor<T>& input, const Context& ctx) {
      constexpr std::size_t g = group_of(K);
      extract_group(input, stage_in_[K], g);
      if constexpr (K > 0) stage_in_[K].array() += feedback_out_[K - 1].array();
      run_forward(std::get<g>(stages_), stage_in_[K], outputs_[g], ctx);
      if constexpr (K + 1 < count) run_forward(feedback_[K], outputs_[g], feedback_out_[K], ctx);
    }

    // Steps run backwards: step K's output gradient is its slice of grad_output plus what flows
    // back through the feedback into step K+1's input.
    template <std::size_t K>
    void backward_step(const Tensor<T>& grad_output, Tensor<T>* grad_input) {
      constexpr std::size_t g = group_of(K);
      extract_group(grad_output, grad_stage_out_, g);
      if constexpr (K + 1 < count) {
        run_backward(feedback_[K], outputs_[g], feedback_out_[K], grad_stage_in_[K + 1], &grad_feedback_);
        grad_stage_out_.array() += grad_feedback_.array();
      }
      Tensor<T>* target = (K > 0 || grad_input) ? &grad_stage_in_[K] : nullptr;
      run_backward(std::get<g>(stages_), stage_in_[K], outputs_[g], grad_stage_out_, target);
      // stage_in = x_g + feedback: the input group's gradient is the stage input's gradient.
      if (grad_input) copy_group(grad_stage_in_[K], *grad_input, g, true);
      if constexpr (K > 0) backward_step<K - 1>(grad_output, grad_input);
    }

    template <class F, std::size_t... I>
    void each_stage(F& f, std::index_sequence<I...>) {
      (f(detail::child_name<std::tuple_element_t<I, specs>>::get(I), std::get<I>(stages_)), ...);
    }

    stages_type stages_;
    std::array<feedback_type, count - 1> feedback_;
    std::array<Tensor<T>, count> stage_in_, outputs_, grad_stage_in_;  // stage_in_ and grad_stage_in_ by step
    std::array<Tensor<T>, count - 1> feedback_out_;                   // by step
    Tensor<T> grad_stage_out_, grad_feedback_;
  };
};

}  // namespace lanmsff
