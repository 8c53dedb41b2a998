// Sequential<Specs...>: a chain of layers whose shapes are derived one from the next at compile
// time. Intermediate activations live in the chain and are reused from step to step. A layer that
// can run in place (ReLU, Sigmoid, Dropout: forward_in_place, a backward without the input; layer.hpp)
// overwrites its input when the layer before it does not take its own output in backward (a
// convolution, BatchNorm, MaxPool: their backward takes the input only),
// so that Conv-BN-ReLU keeps two activations instead of three, and Dropout also after a ReLU (whose
// backward only needs to know where its output is positive, which Dropout keeps wherever a
// gradient flows); this is planned at compile time.
//
// In inference a BatchNorm is a per-channel affine map, so a convolution followed by a BatchNorm
// (and an in-place ReLU after it) runs as one step: the convolution applies the map and the ReLU to
// each output tile right after computing it, while it is in cache, and writes the result where the
// ReLU's (or BatchNorm's) output would be; the BatchNorm and ReLU then do not run, saving two passes
// over the activation. A 2x2 MaxPool after the BatchNorm (and an in-place ReLU after the pool) is
// absorbed the same way by a Conv2D, which then writes only the pooled map (LANMSFF's Conv BN
// MaxPool ReLU). Also planned at compile time (fused_layers); training runs every layer.
// After a fused forward the convolution's own output is not stored: a backward in inference mode
// recomputes it first (see backward), so gradients are those of the unfused chain.
// A BatchNorm and the in-place ReLU after it also run as one layer, in training too (forward_relu,
// backward_relu): one pass over the activation fewer each way (batch_norm_with_relu).
#pragma once

#include <array>
#include <deque>
#include <tuple>
#include <type_traits>
#include <utility>

#include "lanmsff/compose/visit.hpp"
#include "lanmsff/core/gradient_hook.hpp"
#include "lanmsff/core/profiler.hpp"
#include "lanmsff/kernels/epilogue.hpp"
#include "lanmsff/layers/activations.hpp"
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

// Backward gradients between the layers of a chain live in a per-thread workspace with two buffers
// per nesting depth of Sequential::backward, shared by every chain at that depth: backward calls nest
// strictly (a chain's inner gradients are dead once it returns), so a network needs the largest
// gradient per depth rather than two buffers per chain. Buffers keep their capacity from step to
// step (no allocation in steady state); release_gradient_workspace<T>() frees them.
template <class T>
class GradientWorkspace {
 public:
  static GradientWorkspace& local() {
    thread_local GradientWorkspace workspace;
    return workspace;
  }
  // The two buffers of the next depth, for the lifetime of the returned guard.
  class Level {
   public:
    explicit Level(GradientWorkspace& w) : workspace_(w) {
      if (w.levels_.size() <= w.depth_) w.levels_.emplace_back();  // deque: existing levels stay put
      buffers_ = &w.levels_[w.depth_++];
    }
    ~Level() { --workspace_.depth_; }
    Level(const Level&) = delete;
    Level& operator=(const Level&) = delete;
    Tensor<T>& operator[](std::size_t i) { return (*buffers_)[i]; }

   private:
    GradientWorkspace& workspace_;
    std::array<Tensor<T>, 2>* buffers_;
  };
  void release() {
    if (depth_ == 0) levels_.clear();
  }

 private:
  std::deque<std::array<Tensor<T>, 2>> levels_;
  std::size_t depth_ = 0;
};

// A stand-in for the chain's output where the last layer's backward does not take it (never read).
template <class T>
const Tensor<T>& unread_tensor() {
  static const Tensor<T> none;
  return none;
}

template <class L>
inline constexpr bool is_relu = std::is_same_v<L, ReLU::layer<L::input_shape, typename L::scalar>>;

// Layer I runs in place: it can, it is not first (the chain's input belongs to the caller), and the
// layer before it does not read its own output in backward, or is a ReLU that layer I keeps valid
// (keeps_relu_mask: Dropout after ReLU).
template <class Layers, std::size_t I>
constexpr bool can_run_in_place() {
  if constexpr (I == 0) {
    return false;
  } else {
    using L = std::tuple_element_t<I, Layers>;
    using Before = std::tuple_element_t<I - 1, Layers>;
    return runs_in_place<L> && (!backward_reads_output<Before> || (is_relu<Before> && keeps_relu_mask<L>));
  }
}
template <class Layers, std::size_t... I>
constexpr std::array<bool, sizeof...(I)> plan_in_place(std::index_sequence<I...>) {
  return {can_run_in_place<Layers, I>()...};
}

// Layer I's inference forward can also absorb the 2x2 MaxPool after its BatchNorm.
template <class Layers, std::size_t I, std::size_t Count>
constexpr bool pool_follows() {
  if constexpr (I + 2 >= Count) {
    return false;
  } else {
    return accepts_pool_epilogue<std::tuple_element_t<I, Layers>> &&
           is_batch_norm<std::tuple_element_t<I + 1, Layers>> && is_max_pool_2x2<std::tuple_element_t<I + 2, Layers>>;
  }
}

// How many of the layers after layer I its inference forward absorbs: a BatchNorm right after a
// layer that accepts an epilogue (1), and an in-place ReLU after that BatchNorm too (2); or, for a
// layer that accepts a pooled epilogue, the BatchNorm and a 2x2 MaxPool after it (2) and an in-place
// ReLU after the pool too (3); else 0. The ReLU must run in place, so that its output is the buffer
// (the BatchNorm's, the pool's) that the fused step writes.
template <class Layers, std::size_t I, std::size_t Count>
constexpr std::size_t fusion_span(const std::array<bool, Count>& in_place) {
  if constexpr (I + 1 >= Count) {
    return 0;
  } else if constexpr (!accepts_epilogue<std::tuple_element_t<I, Layers>> ||
                       !is_batch_norm<std::tuple_element_t<I + 1, Layers>>) {
    return 0;
  } else if constexpr (pool_follows<Layers, I, Count>()) {
    if constexpr (I + 3 < Count) return is_relu<std::tuple_element_t<I + 3, Layers>> && in_place[I + 3] ? 3 : 2;
    else return 2;
  } else if constexpr (I + 2 < Count) {
    return is_relu<std::tuple_element_t<I + 2, Layers>> && in_place[I + 2] ? 2 : 1;
  } else {
    return 1;
  }
}
template <class Layers, std::size_t Count, std::size_t... I>
constexpr std::array<bool, Count> plan_pool_fusion(std::index_sequence<I...>) {
  return {pool_follows<Layers, I, Count>()...};
}
// Layer I is a BatchNorm followed by a ReLU that runs in place on its output: the two run as one
// (BatchNorm's forward_relu / backward_relu), in training as in inference.
template <class Layers, std::size_t I, std::size_t Count>
constexpr bool batch_norm_relu(const std::array<bool, Count>& in_place) {
  if constexpr (I + 1 >= Count) return false;
  else
    return is_batch_norm<std::tuple_element_t<I, Layers>> && is_relu<std::tuple_element_t<I + 1, Layers>> &&
           in_place[I + 1];
}
template <class Layers, std::size_t Count, std::size_t... I>
constexpr std::array<bool, Count> plan_batch_norm_relu(const std::array<bool, Count>& in_place,
                                                       std::index_sequence<I...>) {
  return {batch_norm_relu<Layers, I, Count>(in_place)...};
}
template <class Layers, std::size_t Count, std::size_t... I>
constexpr std::array<std::size_t, Count> plan_fusion(const std::array<bool, Count>& in_place,
                                                     std::index_sequence<I...>) {
  return {fusion_span<Layers, I, Count>(in_place)...};
}
}  // namespace detail

// Frees this thread's backward workspace (see GradientWorkspace): after training, to return the
// memory of the largest gradients to the system. The next backward allocates it again.
template <class T = float>
void release_gradient_workspace() {
  detail::GradientWorkspace<T>::local().release();
}

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
    // Which layers run in place, overwriting the output of the layer before them.
    static constexpr std::array<bool, count> in_place_layers =
        detail::plan_in_place<layers_type>(std::make_index_sequence<count>{});
    // The last layer writes the caller's output: the chain's backward takes it (the four-argument
    // form) when that layer's backward does, or when that layer runs in place (its input is then the
    // output); else the chain takes the input form, so a following in-place layer may overwrite it.
    static constexpr bool takes_output = lanmsff::backward_reads_output<std::tuple_element_t<count - 1, layers_type>> ||
                                         runs_in_place<std::tuple_element_t<count - 1, layers_type>>;
    // For each layer, how many of the layers after it its inference forward absorbs (0, 1: the
    // BatchNorm after it, 2: that BatchNorm and the ReLU after it); see the header comment.
    static constexpr std::array<std::size_t, count> fused_layers =
        detail::plan_fusion<layers_type>(in_place_layers, std::make_index_sequence<count>{});
    // Which fused layers also absorb the 2x2 MaxPool after their BatchNorm (fused_layers[I] 2 or 3).
    static constexpr std::array<bool, count> fused_pools =
        detail::plan_pool_fusion<layers_type, count>(std::make_index_sequence<count>{});
    // Which layers are a BatchNorm that runs together with the in-place ReLU after it (always).
    static constexpr std::array<bool, count> batch_norm_with_relu =
        detail::plan_batch_norm_relu<layers_type>(in_place_layers, std::make_index_sequence<count>{});
    // A following BatchNorm can be fused into this chain when it can be fused into the last layer.
    static constexpr bool accepts_epilogue = lanmsff::accepts_epilogue<std::tuple_element_t<count - 1, layers_type>>;

    void forward(const Tensor<T>& input, Tensor<T>& output, const Context& ctx) {
      fused_forward_ = false;
      forward_from<0>(input, output, ctx, nullptr);
    }
    // Inference forward with `post` applied by the last layer (see layer.hpp's accepts_epilogue).
    void forward_fused(const Tensor<T>& input, Tensor<T>& output, const kernels::ChannelAffine<T>& post)
      requires accepts_epilogue
    {
      fused_forward_ = false;
      forward_from<0>(input, output, Context::inference(), &post);
    }

    void backward(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                  Tensor<T>* grad_input)
      requires takes_output
    {
      backward_chain(input, output, grad_output, grad_input);
    }
    void backward(const Tensor<T>& input, const Tensor<T>& grad_output, Tensor<T>* grad_input)
      requires(!takes_output)
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
    // follow it have overwritten it. An inference forward does not store the output of a layer fused
    // with the BatchNorm after it (fused_layers[I] > 0), nor that BatchNorm's when a pool is fused
    // too (fused_pools[I]); a backward after it does.
    template <std::size_t I>
    const Tensor<T>& activation() const {
      static_assert(owner(I) + 1 < count, "Sequential::activation: this output is the chain's own output");
      return activations_[owner(I)];
    }

   private:
    using specs = std::tuple<Specs...>;

    // The layer whose buffer holds layer i's output: the last of the in-place run that follows i.
    static constexpr std::size_t owner(std::size_t i) {
      while (i + 1 < count && in_place_layers[i + 1]) ++i;
      return i;
    }

    template <std::size_t I, class Out>
    Out& out_of(Out& output) {
      if constexpr (owner(I) + 1 == count) return output;
      else return activations_[owner(I)];
    }
    template <std::size_t I, class Out>
    const Tensor<T>& in_of(const Tensor<T>& input, Out& output) {
      if constexpr (I == 0) return input;
      else return out_of<I - 1>(output);
    }

    // Runs layers I.. of the chain; `post` (only given when the chain accepts an epilogue) goes to
    // the last layer. A fused step runs layer I with the BatchNorm's (and ReLU's) map and jumps past
    // them, profiled under layer I's name (the absorbed layers record nothing for that pass).
    template <std::size_t I>
    void forward_from(const Tensor<T>& input, Tensor<T>& output, const Context& ctx,
                      const kernels::ChannelAffine<T>* post) {
      if constexpr (I < count) {
        constexpr std::size_t span = fused_layers[I];
        if constexpr (I + 1 == count && accepts_epilogue) {
          if (post) {
            lanmsff::profiled(Profiler::Phase::forward, [] { return child_name<I>(); }, [&] {
              std::get<I>(layers_).forward_fused(in_of<I>(input, output), output, *post);
            });
            return;
          }
        }
        if constexpr (span > 0) {
          static_assert(!(accepts_epilogue && I + span + 1 == count), "Sequential: an epilogue would be dropped");
          if (!ctx.training()) {
            fused_forward_ = true;
            lanmsff::profiled(Profiler::Phase::forward, [] { return child_name<I>(); }, [&] {
              constexpr bool pool = fused_pools[I], relu = pool ? span == 3 : span == 2;
              auto affine = std::get<I + 1>(layers_).inference_affine(relu);
              affine.max_pool = pool;
              std::get<I>(layers_).forward_fused(in_of<I>(input, output), out_of<I + span>(output), affine);
            });
            forward_from<I + 1 + span>(input, output, ctx, post);
            return;
          }
        }
        // A ReLU is never the last layer of a chain that accepts an epilogue, so none is dropped here.
        if constexpr (batch_norm_with_relu[I]) {
          lanmsff::profiled(Profiler::Phase::forward, [] { return child_name<I>(); }, [&] {
            std::get<I>(layers_).forward_relu(in_of<I>(input, output), out_of<I + 1>(output), ctx);
          });
          forward_from<I + 2>(input, output, ctx, post);
        } else {
          lanmsff::profiled(Profiler::Phase::forward, [] { return child_name<I>(); },
                            [&] { run_forward(std::get<I>(layers_), in_of<I>(input, output), out_of<I>(output), ctx); });
          forward_from<I + 1>(input, output, ctx, post);
        }
      }
    }
    // A fused layer is never last and the BatchNorm after it never runs in place, so its output
    // has its own buffer. A fused pool's input is the BatchNorm's output, which its backward reads:
    // computed too (the pool's own output, maybe with the ReLU's, is what the fused step wrote).
    template <std::size_t... I>
    void store_fused_outputs(const Tensor<T>& input, const Tensor<T>& output, std::index_sequence<I...>) {
      const auto store = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        if constexpr (fused_layers[J] > 0) {
          static_assert(owner(J) == J && J + 1 < count);
          run_forward(std::get<J>(layers_), in_of<J>(input, output), activations_[J], Context::inference());
          if constexpr (fused_pools[J]) {
            static_assert(owner(J + 1) == J + 1 && J + 2 < count);
            run_forward(std::get<J + 1>(layers_), activations_[J], activations_[J + 1], Context::inference());
          }
        }
      };
      (store(std::integral_constant<std::size_t, I>{}), ...);
    }
    template <std::size_t I>
    static std::string child_name() { return detail::child_name<std::tuple_element_t<I, specs>>::get(I); }

    void backward_chain(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                        Tensor<T>* grad_input) {
      // After a fused (inference) forward the fused layers' own outputs were never stored, and the
      // BatchNorms' backward reads them: compute them now. Rare (gradients of a model in inference
      // mode), so the forward pays nothing for it.
      if (fused_forward_) {
        store_fused_outputs(input, output, std::make_index_sequence<count>{});
        fused_forward_ = false;
      }
      typename detail::GradientWorkspace<T>::Level buffers(detail::GradientWorkspace<T>::local());
      backward_from<count - 1>(input, output, grad_output, grad_input, buffers);
    }

    template <std::size_t I, class Buffers>
    void backward_from(const Tensor<T>& input, const Tensor<T>& output, const Tensor<T>& grad_output,
                       Tensor<T>* grad_input, Buffers& buffers) {
      if constexpr (I > 0 && batch_norm_with_relu[I > 0 ? I - 1 : 0]) {
        // The ReLU's backward is part of the BatchNorm's before it (backward_relu).
        backward_from<I - 1>(input, output, grad_output, grad_input, buffers);
      } else {
        // Gradients ping-pong between the two buffers of this depth (the one not holding grad_output);
        // layer 0 writes the caller's grad_input.
        Tensor<T>* target = I == 0 ? grad_input : &grad_output == &buffers[0] ? &buffers[1] : &buffers[0];
        lanmsff::profiled(Profiler::Phase::backward, [] { return child_name<I>(); }, [&] {
          if constexpr (batch_norm_with_relu[I])
            std::get<I>(layers_).backward_relu(in_of<I>(input, output), out_of<I>(output), grad_output, target);
          else
            run_backward(std::get<I>(layers_), in_of<I>(input, output), out_of<I>(output), grad_output, target);
        });
        if (GradientReadyHook<T>* hook = gradient_ready_hook<T>())  // this layer's gradients are final
          visit_parameters(std::get<I>(layers_), "", detail::ReadyNotifier<T>{hook});
        if constexpr (I > 0) backward_from<I - 1>(input, output, *target, grad_input, buffers);
      }
    }

    template <class F, std::size_t... I>
    void each_child(F& f, std::index_sequence<I...>) {
      (f(child_name<I>(), std::get<I>(layers_)), ...);
    }

    layers_type layers_;
    std::array<Tensor<T>, count - 1> activations_;  // those of in-place layers stay empty
    bool fused_forward_ = false;                    // the last forward fused some layers (see backward)
  };
};

}  // namespace lanmsff
