// The execution plan of a chain of layers, apart from the chain that runs it (Sequential). Built at
// compile time from the list of concrete layers and the contract's rules (layers/layer.hpp), it says
//   - buffers: which layers run in place, and so which buffer holds each layer's output;
//   - fusions: which runs of layers execute as one step, in training and in inference;
//   - workspace: where backward's gradients between the layers live.
// Sequential (sequential.hpp) executes it and knows no layer by name.
//
// A fusion is one rule: a struct listed in fusion_rules below, that says which layers it takes (from
// their traits, never from their names, so a new layer joins a fusion by its traits) and how it runs
// them. A rule R provides
//   static constexpr bool training;  // runs in training too (else in inference only)
//   template <class Layers, std::size_t I, std::size_t N>
//   static constexpr std::size_t span(const std::array<bool, N>& in_place);
//       how many layers, from layer I of the chain, it runs as one step (0 where it does not apply);
//       in_place[J] says whether layer J runs in place
//   template <std::size_t I, std::size_t Span, class Run> static void forward(Run& run);
//       runs layers I .. I + Span - 1: run.template layer<J>() is layer J, run.template input<J>() its
//       input, run.template output<J>() the buffer that holds its output, run.context() the context;
// a training rule also
//   template <std::size_t I, std::size_t Span, class Run, class T>
//   static void backward(Run& run, const Tensor<T>& grad_output, Tensor<T>* grad_input);
//       the step's backward: from the gradient of layer I + Span - 1's output to that of layer I's input;
// an inference-only rule also
//   template <std::size_t I, std::size_t Span, class Run> static void restore(Run& run);
//       stores what the fused step did not and a backward reads (run.template own<J>() is layer J's own
//       output buffer): a backward after an inference forward (gradients of a model in inference
//       mode) then gives the unfused chain's gradients; training runs the training steps.
// At each layer the first rule of the list that applies in the phase wins.
#pragma once

#include <array>
#include <cstddef>
#include <deque>
#include <tuple>
#include <type_traits>
#include <utility>

#include "lanmsff/kernels/epilogue.hpp"
#include "lanmsff/layers/activations.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

namespace plan {

template <class Layers, std::size_t I>
using layer_at = std::tuple_element_t<I, Layers>;

template <class L>
inline constexpr bool is_relu = std::is_same_v<L, ReLU::layer<L::input_shape, typename L::scalar>>;

// ---- fusion rules ---------------------------------------------------------------------------------

namespace detail {
// Layer K exists and is a ReLU that runs in place: an epilogue can take it along.
template <class Layers, std::size_t K, std::size_t N>
constexpr bool in_place_relu_at(const std::array<bool, N>& in_place) {
  if constexpr (K >= N) return false;
  else return is_relu<layer_at<Layers, K>> && in_place[K];
}
// Recomputes layer I's output where it lives (the epilogue rules skip writing it).
template <std::size_t I, class Run>
void recompute(Run& run) {
  run_forward(run.template layer<I>(), run.template input<I>(), run.template own<I>(), Context::inference());
}
}  // namespace detail

// Inference: Conv -> BatchNorm -> 2x2 MaxPool (-> in-place ReLU). The convolution applies the
// BatchNorm's affine map (and the ReLU) to each output tile and pools it while it is in cache, writing
// only the pooled map where the pool's (or ReLU's) output lives.
struct ConvBatchNormPool {
  static constexpr bool training = false;
  template <class Layers, std::size_t I, std::size_t N>
  static constexpr std::size_t span(const std::array<bool, N>& in_place) {
    if constexpr (I + 2 >= N) {
      return 0;
    } else if constexpr (!accepts_epilogue<layer_at<Layers, I>> || !accepts_pool_epilogue<layer_at<Layers, I>> ||
                         !is_batch_norm<layer_at<Layers, I + 1>> ||
                         !is_max_pool_2x2<layer_at<Layers, I + 2>>) {
      return 0;
    } else {
      return detail::in_place_relu_at<Layers, I + 3>(in_place) ? 4 : 3;
    }
  }
  template <std::size_t I, std::size_t Span, class Run>
  static void forward(Run& run) {
    auto post = run.template layer<I + 1>().inference_affine(/*relu=*/Span == 4);
    post.max_pool = true;
    run.template layer<I>().forward_fused(run.template input<I>(), run.template output<I + Span - 1>(), post);
  }
  // The convolution's output and the BatchNorm's (the pool's input, which its backward reads).
  template <std::size_t I, std::size_t Span, class Run>
  static void restore(Run& run) {
    detail::recompute<I>(run);
    detail::recompute<I + 1>(run);
  }
};

// Inference: a layer that accepts an epilogue (Conv2D, a chain ending in one) -> BatchNorm (-> in-place
// ReLU). The layer applies the BatchNorm's affine map (and the ReLU) to each output tile right after
// computing it, writing where the BatchNorm's (or ReLU's) output lives: two passes fewer.
struct ConvBatchNorm {
  static constexpr bool training = false;
  template <class Layers, std::size_t I, std::size_t N>
  static constexpr std::size_t span(const std::array<bool, N>& in_place) {
    if constexpr (I + 1 >= N) {
      return 0;
    } else if constexpr (!accepts_epilogue<layer_at<Layers, I>> || !is_batch_norm<layer_at<Layers, I + 1>>) {
      return 0;
    } else {
      return detail::in_place_relu_at<Layers, I + 2>(in_place) ? 3 : 2;
    }
  }
  template <std::size_t I, std::size_t Span, class Run>
  static void forward(Run& run) {
    const auto post = run.template layer<I + 1>().inference_affine(/*relu=*/Span == 3);
    run.template layer<I>().forward_fused(run.template input<I>(), run.template output<I + Span - 1>(), post);
  }
  // The convolution's output (the BatchNorm's input, which its backward reads).
  template <std::size_t I, std::size_t Span, class Run>
  static void restore(Run& run) {
    detail::recompute<I>(run);
  }
};

// Always: BatchNorm -> in-place ReLU as one layer (forward_relu, backward_relu): one pass over the
// activation fewer each way.
struct BatchNormRelu {
  static constexpr bool training = true;
  template <class Layers, std::size_t I, std::size_t N>
  static constexpr std::size_t span(const std::array<bool, N>& in_place) {
    if constexpr (I + 1 >= N) return 0;
    else if constexpr (!is_batch_norm<layer_at<Layers, I>> || !is_relu<layer_at<Layers, I + 1>>) return 0;
    else return in_place[I + 1] ? 2 : 0;
  }
  template <std::size_t I, std::size_t Span, class Run>
  static void forward(Run& run) {
    run.template layer<I>().forward_relu(run.template input<I>(), run.template output<I + 1>(), run.context());
  }
  template <std::size_t I, std::size_t Span, class Run, class T>
  static void backward(Run& run, const Tensor<T>& grad_output, Tensor<T>* grad_input) {
    run.template layer<I>().backward_relu(run.template input<I>(), run.template output<I + 1>(), grad_output, grad_input);
  }
};

// The rules, in the order they are tried at each layer.
using fusion_rules = std::tuple<ConvBatchNormPool, ConvBatchNorm, BatchNormRelu>;

template <int R>
using rule_at = std::tuple_element_t<std::size_t(R), fusion_rules>;
// The index of rule R in fusion_rules (what a Step records).
template <class R>
inline constexpr int rule_index = []<std::size_t... I>(std::index_sequence<I...>) {
  int index = -1;
  ((std::is_same_v<R, std::tuple_element_t<I, fusion_rules>> ? index = int(I) : 0), ...);
  return index;
}(std::make_index_sequence<std::tuple_size_v<fusion_rules>>{});

// ---- the plan -------------------------------------------------------------------------------------

// One step of a pass: `span` layers from the step's first layer, run by fusion rule `rule` (-1: the
// layer alone, span 1).
struct Step {
  int rule = -1;
  std::size_t span = 1;
  constexpr bool operator==(const Step&) const = default;
};

namespace detail {
// Layer I can run in place: it is not first (the chain's input belongs to the caller), and the layer
// before it does not take its own output in backward, or is a ReLU whose mask layer I keeps.
template <class Layers, std::size_t I>
constexpr bool can_run_in_place() {
  if constexpr (I == 0) {
    return false;
  } else {
    using L = layer_at<Layers, I>;
    using Before = layer_at<Layers, I - 1>;
    return runs_in_place<L> && (!backward_reads_output<Before> || (is_relu<Before> && keeps_relu_mask<L>));
  }
}
template <class Layers, std::size_t... I>
constexpr std::array<bool, sizeof...(I)> in_place_plan(std::index_sequence<I...>) {
  return {can_run_in_place<Layers, I>()...};
}
// The step that begins at layer I: the first rule (from R on) that applies in the phase, else the layer alone.
template <class Layers, std::size_t I, bool Training, std::size_t R = 0, std::size_t N>
constexpr Step step_at(const std::array<bool, N>& in_place) {
  if constexpr (R == std::tuple_size_v<fusion_rules>) {
    return {};
  } else {
    using Rule = rule_at<int(R)>;
    if constexpr (!Training || Rule::training) {
      if (const std::size_t span = Rule::template span<Layers, I, N>(in_place); span > 0) return {int(R), span};
    }
    return step_at<Layers, I, Training, R + 1>(in_place);
  }
}
template <class Layers, bool Training, std::size_t N, std::size_t... I>
constexpr std::array<Step, N> steps_plan(const std::array<bool, N>& in_place, std::index_sequence<I...>) {
  return {step_at<Layers, I, Training>(in_place)...};
}
// Which layers begin a step of the pass, walking from layer 0.
template <std::size_t N>
constexpr std::array<bool, N> step_starts(const std::array<Step, N>& steps) {
  std::array<bool, N> starts{};
  for (std::size_t i = 0; i < N; i += steps[i].span) starts[i] = true;
  return starts;
}
}  // namespace detail

template <class Layers>
struct Plan {
  static constexpr std::size_t count = std::tuple_size_v<Layers>;

  // Buffers: which layers run in place, overwriting the output of the layer before them.
  static constexpr std::array<bool, count> in_place =
      detail::in_place_plan<Layers>(std::make_index_sequence<count>{});
  // The layer whose buffer holds layer i's output: the last of the in-place run that follows i. The
  // last layer's buffer is the caller's output; the others are the chain's own.
  static constexpr std::size_t owner(std::size_t i) {
    while (i + 1 < count && in_place[i + 1]) ++i;
    return i;
  }
  // The chain's backward takes its output (the four-argument form) when its last layer's backward
  // does, or when the last layer runs in place (its input is then the output).
  static constexpr bool takes_output =
      backward_reads_output<layer_at<Layers, count - 1>> || runs_in_place<layer_at<Layers, count - 1>>;

  // Fusions: the step that begins at each layer, in inference and in training (training runs the
  // training rules only; backward walks the training steps).
  static constexpr std::array<Step, count> inference =
      detail::steps_plan<Layers, false>(in_place, std::make_index_sequence<count>{});
  static constexpr std::array<Step, count> training =
      detail::steps_plan<Layers, true>(in_place, std::make_index_sequence<count>{});
  static constexpr std::array<bool, count> inference_starts = detail::step_starts(inference);
  static constexpr std::array<bool, count> training_starts = detail::step_starts(training);
  // The first layer of the training step that ends with layer i (where backward resumes).
  static constexpr std::size_t training_step_start(std::size_t i) {
    std::size_t start = 0;
    for (std::size_t j = 0; j <= i; j += training[j].span) start = j;
    return start;
  }
};

// ---- workspace ------------------------------------------------------------------------------------

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

}  // namespace plan

// Frees this thread's backward workspace (see plan::GradientWorkspace): after training, to return the
// memory of the largest gradients to the system. The next backward allocates it again.
template <class T = float>
void release_gradient_workspace() {
  plan::GradientWorkspace<T>::local().release();
}

}  // namespace lanmsff
