// Traversals written once over the layer contract: parameter paths, layer trees, counting,
// initialisation and seeding. Composites (static constexpr bool composite = true) expose their
// children through for_each_child; everything else is a leaf.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "lanmsff/core/function_ref.hpp"
#include "lanmsff/core/gradient_hook.hpp"
#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <class T>
using ParameterVisitor = FunctionRef<void(const std::string&, Parameter<T>&)>;

namespace detail {
// One instantiation per layer type, whatever the visitor (see function_ref.hpp).
template <class L>
void visit_parameters_erased(L& layer, const std::string& prefix, ParameterVisitor<typename L::scalar> f) {
  if constexpr (Composite<L>) {
    layer.for_each_child(
        [&](const std::string& name, auto& child) { visit_parameters_erased(child, join_name(prefix, name), f); });
  } else {
    layer.for_each_parameter([&](std::string_view name, auto& p) { f(join_name(prefix, std::string(name)), p); });
  }
}
}  // namespace detail

// f(const std::string& path, Parameter<T>& p) for every parameter and moving statistic, in a stable order.
template <class L, class F>
void visit_parameters(L& layer, const std::string& prefix, F&& f) {
  detail::visit_parameters_erased(layer, prefix, ParameterVisitor<typename L::scalar>(f));
}

// f(const std::string& path, auto& layer, int depth) for the layer and every descendant, parents first.
template <class L, class F>
void visit_layers(L& layer, const std::string& path, F&& f, int depth = 0) {
  f(path, layer, depth);
  if constexpr (Composite<L>) {
    layer.for_each_child(
        [&](const std::string& name, auto& child) { visit_layers(child, join_name(path, name), f, depth + 1); });
  }
}

struct ParameterCount {
  std::size_t trainable = 0;
  std::size_t state = 0;  // BN moving statistics
  std::size_t total() const { return trainable + state; }
};

// The helpers below use named visitor types rather than lambdas, so that their traversal code is
// shared by every model that contains the same layer types.
namespace detail {
template <class T>
struct Counter {
  ParameterCount* count;
  void operator()(const std::string&, Parameter<T>& p) const { (p.trainable ? count->trainable : count->state) += p.size(); }
};
template <class T>
struct Initializer {
  std::uint64_t seed;
  void operator()(const std::string& path, Parameter<T>& p) const {
    Rng rng(hash_combine(seed, hash_name(path)));
    p.initialize(rng);
  }
};
template <class T>
struct GradientZeroer {
  void operator()(const std::string&, Parameter<T>& p) const { p.zero_grad(); }
};
template <class T>
struct ReadyNotifier {  // tells a GradientReadyHook (core/gradient_hook.hpp) of trainable parameters
  GradientReadyHook<T>* hook;
  void operator()(const std::string&, Parameter<T>& p) const {
    if (p.trainable) hook->ready(p);
  }
};
struct Seeder {
  std::uint64_t seed;
  template <class L>
  void operator()(const std::string& path, L& layer, int) const {
    if constexpr (requires { layer.set_seed(std::uint64_t{}); }) layer.set_seed(hash_combine(seed, hash_name(path)));
  }
};
}  // namespace detail

template <class L>
ParameterCount count_parameters(L& layer) {
  ParameterCount count;
  visit_parameters(layer, "", detail::Counter<typename L::scalar>{&count});
  return count;
}

// Initialises every parameter from its own stream, seeded by (seed, path): adding a layer
// elsewhere in a network does not change the initial values of the others.
template <class L>
void initialize_parameters(L& layer, std::uint64_t seed) {
  visit_parameters(layer, "", detail::Initializer<typename L::scalar>{seed});
}

// Gives every layer that draws random numbers its own seed derived from (seed, path).
template <class L>
void seed_layers(L& layer, std::uint64_t seed) {
  visit_layers(layer, "", detail::Seeder{seed});
}

template <class L>
void zero_gradients(L& layer) {
  visit_parameters(layer, "", detail::GradientZeroer<typename L::scalar>{});
}

}  // namespace lanmsff
