// Traversals written once over the layer contract: parameter paths, layer trees, counting,
// initialisation and seeding. Composites (static constexpr bool composite = true) expose their
// children through for_each_child; everything else is a leaf.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "lanmsff/layers/layer.hpp"

namespace lanmsff {

template <class L>
concept Composite = requires { requires L::composite; };

// f(const std::string& path, Parameter<T>& p) for every parameter and moving statistic, in a stable order.
template <class L, class F>
void visit_parameters(L& layer, const std::string& prefix, F&& f) {
  if constexpr (Composite<L>) {
    layer.for_each_child(
        [&](const std::string& name, auto& child) { visit_parameters(child, join_name(prefix, name), f); });
  } else {
    layer.for_each_parameter([&](std::string_view name, auto& p) { f(join_name(prefix, std::string(name)), p); });
  }
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

template <class L>
ParameterCount count_parameters(L& layer) {
  ParameterCount count;
  visit_parameters(layer, "", [&](const std::string&, auto& p) {
    (p.trainable ? count.trainable : count.state) += p.size();
  });
  return count;
}

// Initialises every parameter from its own stream, seeded by (seed, path): adding a layer
// elsewhere in a network does not change the initial values of the others.
template <class L>
void initialize_parameters(L& layer, std::uint64_t seed) {
  visit_parameters(layer, "", [&](const std::string& path, auto& p) {
    Rng rng(hash_combine(seed, hash_name(path)));
    p.initialize(rng);
  });
}

// Gives every layer that draws random numbers its own seed derived from (seed, path).
template <class L>
void seed_layers(L& layer, std::uint64_t seed) {
  visit_layers(layer, "", [&](const std::string& path, auto& l, int) {
    if constexpr (requires { l.set_seed(std::uint64_t{}); }) l.set_seed(hash_combine(seed, hash_name(path)));
  });
}

template <class L>
void zero_gradients(L& layer) {
  visit_parameters(layer, "", [](const std::string&, auto& p) { p.zero_grad(); });
}

}  // namespace lanmsff
