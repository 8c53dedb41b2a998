// Sequential<Specs...>: a chain of layers whose shapes are derived one from the next at compile
// time. How the chain runs (which layers run in place on the buffer of the layer before them, which
// runs of layers execute as one fused step in training and in inference, where backward's gradients
// live) is its plan, built at compile time apart from it (plan.hpp) from the layers' signatures and
// traits; the chain keeps the activations the plan asks for and executes the plan's steps.
// After a fused inference forward some layers' own outputs are not stored: a backward in inference
// mode restores them first (each fusion rule's restore), so gradients are those of the unfused chain.
#pragma once

#include <array>
#include <tuple>
#include <type_traits>
#include <utility>

#include "lanmsff/compose/plan.hpp"
#include "lanmsff/compose/visit.hpp"
#include "lanmsff/core/gradient_hook.hpp"
#include "lanmsff/core/profiler.hpp"
#include "lanmsff/kernels/epilogue.hpp"
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
  static_assert(Layer<head>, "Sequential: this element does not meet the layer contract (layers/layer.hpp): "
                             "the shapes, kind, one forward, one backward and its parameters");
  using tail = chain<head::output_shape, T, Rest...>;
  using type = decltype(std::tuple_cat(std::declval<std::tuple<head>>(), std::declval<typename tail::type>()));
  static constexpr Shape out = tail::out;
};

// A stand-in for the chain's output where the last layer's backward does not take it (never read).
template <class T>
const Tensor<T>& unread_tensor() {
  static const Tensor<T> none;
  return none;
}
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
    using plan = lanmsff::plan::Plan<layers_type>;  // buffers, fusions (plan.hpp)
    static constexpr Shape input_shape = In;
    static constexpr Shape output_shape = chain::out;
    static constexpr std::string_view kind = "Sequential";
    static constexpr bool composite = true;
    // A following BatchNorm can be fused into this chain when it can be fused into the last layer.
    static constexpr bool accepts_epilogue = lanmsff::accepts_epilogue<std::tuple_element_t<count - 1, layers_type>>;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      Run<Tensor<T>> run{*this, input, output, ctx};
      fused_forward_ = false;
      forward_from<0>(run, nullptr);
    }
    // Inference forward with `post` applied by the last layer (see layer.hpp's accepts_epilogue).
    void forward_fused(const Tensor<T>& input, Tensor<T>& output, const kernels::ChannelAffine<T>& post)
      requires accepts_epilogue
    {
      Run<Tensor<T>> run{*this, input, output, Context::inference()};
      fused_forward_ = false;
      forward_from<0>(run, &post);
    }

    // The chain takes its last layer's backward form (plan::takes_output), so that the rules compose.
    void backward(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                  Tensor<T>* grad_input)
      requires plan::takes_output
    {
      backward_chain(input, output, grad_output, grad_input);
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input)
      requires(!plan::takes_output)
    {
      backward_chain(input, detail::unread_tensor<T>(), grad_output, grad_input);
    }

    template <class F>
    void for_each_child(F&& f) {
      each_child(f, std::make_index_sequence<count>{});
    }

    // ONNX: the layers' nodes in order (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::string& input, const std::string& path) {
      std::string x = input;
      for_each_child([&](const std::string& name, auto& child) { x = graph.emit(child, x, join_name(path, name)); });
      return x;
    }

    template <std::size_t I>
    auto& get() { return std::get<I>(layers_); }
    // The output of layer I from the last forward (I < count - 1), after any in-place layers that
    // follow it have overwritten it. An inference forward does not store what its fused steps absorb
    // (the convolution's output before its BatchNorm, say); a backward after it does.
    template <std::size_t I>
    const Tensor<T>& activation() const {
      static_assert(plan::owner(I) + 1 < count, "Sequential::activation: this output is the chain's own output");
      return activations_[plan::owner(I)];
    }

   private:
    using specs = std::tuple<Specs...>;

    using self_type = layer;
    // What a fusion rule (plan.hpp) sees of the chain during one pass: the layers, the buffer each
    // one reads and writes, the context. Out is Tensor<T> in forward, const Tensor<T> in backward.
    template <class Out>
    struct Run {
      self_type& self;
      const Tensor<T>& chain_input;
      Out& chain_output;
      Context ctx;

      template <std::size_t J>
      auto& layer() { return std::get<J>(self.layers_); }
      // The buffer that holds layer J's output: the chain's output for the last in-place run.
      template <std::size_t J>
      Out& output() {
        if constexpr (plan::owner(J) + 1 == count) return chain_output;
        else return self.activations_[plan::owner(J)];
      }
      template <std::size_t J>
      const Tensor<T>& input() {
        if constexpr (J == 0) return chain_input;
        else return output<J - 1>();
      }
      // Layer J's own buffer (it is not run over in place and not last): where a restore stores it.
      template <std::size_t J>
      Tensor<T>& own() {
        static_assert(plan::owner(J) == J && J + 1 < count, "a restored output needs a buffer of its own");
        return self.activations_[J];
      }
      const Context& context() const { return ctx; }
    };

    template <std::size_t I>
    static std::string child_name() { return detail::child_name<std::tuple_element_t<I, specs>>::get(I); }

    // Runs the steps from layer I on, those of the context's phase; `post` (only given when the chain
    // accepts an epilogue) goes to the last layer.
    template <std::size_t I>
    void forward_from(Run<Tensor<T>>& run, const kernels::ChannelAffine<T>* post) {
      if constexpr (I < count) {
        constexpr lanmsff::plan::Step training = plan::training[I], inference = plan::inference[I];
        if constexpr (inference != training) {
          if (!run.ctx.training()) {
            forward_step<I, inference>(run, post);
            forward_from<I + inference.span>(run, post);
            return;
          }
        }
        forward_step<I, training>(run, post);
        forward_from<I + training.span>(run, post);
      }
    }
    // One step; a fused step is profiled under its first layer's name (the layers it absorbs record
    // nothing for that pass).
    template <std::size_t I, lanmsff::plan::Step S>
    void forward_step(Run<Tensor<T>>& run, const kernels::ChannelAffine<T>* post) {
      static_assert(!(accepts_epilogue && S.span > 1 && I + S.span == count),
                    "Sequential: a fused step would drop the chain's epilogue");
      lanmsff::profiled(Profiler::Phase::forward, [] { return child_name<I>(); }, [&] {
        if constexpr (I + 1 == count && accepts_epilogue) {
          if (post) return std::get<I>(layers_).forward_fused(run.template input<I>(), run.chain_output, *post);
        }
        if constexpr (S.rule < 0) {
          run_forward(std::get<I>(layers_), run.template input<I>(), run.template output<I>(), run.ctx);
        } else {
          if constexpr (!lanmsff::plan::rule_at<S.rule>::training) fused_forward_ = true;
          lanmsff::plan::rule_at<S.rule>::template forward<I, S.span>(run);
        }
      });
    }

    void backward_chain(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                        Tensor<T>* grad_input) {
      Run<const Tensor<T>> run{*this, input, output, Context::inference()};
      // After a fused inference forward, the layers' outputs the fused steps did not store: computed
      // now. Rare (gradients of a model in inference mode), so the forward pays nothing for it.
      if (fused_forward_) {
        restore_from<0>(run);
        fused_forward_ = false;
      }
      typename lanmsff::plan::GradientWorkspace<T>::Level buffers(lanmsff::plan::GradientWorkspace<T>::local());
      backward_from<count - 1>(run, grad_output, grad_input, buffers);
    }
    template <std::size_t I>
    void restore_from(Run<const Tensor<T>>& run) {
      if constexpr (I < count) {
        constexpr lanmsff::plan::Step step = plan::inference[I];
        if constexpr (step.rule >= 0) {
          using Rule = lanmsff::plan::rule_at<step.rule>;
          if constexpr (!Rule::training) Rule::template restore<I, step.span>(run);
        }
        restore_from<I + step.span>(run);
      }
    }

    // Runs the training steps backwards, from the one that ends with layer E. Gradients ping-pong
    // between the two buffers of this depth (the one not holding grad_output); the first step writes
    // the caller's grad_input.
    template <std::size_t E, class Buffers>
    void backward_from(Run<const Tensor<T>>& run, const Tensor<T>& grad_output, Tensor<T>* grad_input,
                       Buffers& buffers) {
      constexpr std::size_t I = plan::training_step_start(E);
      constexpr lanmsff::plan::Step step = plan::training[I];
      Tensor<T>* target = I == 0 ? grad_input : &grad_output == &buffers[0] ? &buffers[1] : &buffers[0];
      lanmsff::profiled(Profiler::Phase::backward, [] { return child_name<I>(); }, [&] {
        if constexpr (step.rule < 0)
          run_backward(std::get<I>(layers_), run.template input<I>(), run.template output<I>(), grad_output, target);
        else
          lanmsff::plan::rule_at<step.rule>::template backward<I, step.span>(run, grad_output, target);
      });
      if (GradientReadyHook<T>* hook = gradient_ready_hook<T>())  // the step's gradients are final
        [&]<std::size_t... J>(std::index_sequence<J...>) {
          (visit_parameters(std::get<I + J>(layers_), "", detail::ReadyNotifier<T>{hook}), ...);
        }(std::make_index_sequence<step.span>{});
      if constexpr (I > 0) backward_from<I - 1>(run, *target, grad_input, buffers);
    }

    template <class F, std::size_t... I>
    void each_child(F& f, std::index_sequence<I...>) {
      (f(child_name<I>(), std::get<I>(layers_)), ...);
    }

    layers_type layers_;
    std::array<Tensor<T>, count - 1> activations_;  // those of in-place layers stay empty
    bool fused_forward_ = false;                    // the last forward ran inference-only fusions (see backward)
  };
};

}  // namespace lanmsff
