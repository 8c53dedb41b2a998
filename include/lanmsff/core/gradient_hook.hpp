// A hook told, during a backward pass, that parameters' gradients are final: data-parallel training
// (dist/data_parallel.hpp's GradientAverager) starts averaging them over the replicas while the
// backward pass goes on through the layers before. Sequential tells it after each of its layers'
// backward, for every trainable parameter of that layer (a parameter of a nested layer may be told
// more than once, by each enclosing Sequential: a hook must ignore the repeats). Set per thread, for
// the backward passes that thread runs; none by default, at the cost of one thread-local read per layer.
#pragma once

#include "lanmsff/core/parameter.hpp"

namespace lanmsff {

template <class T>
class GradientReadyHook {
 public:
  virtual void ready(const Parameter<T>& parameter) = 0;

 protected:
  ~GradientReadyHook() = default;
};

// This thread's hook (null: none).
template <class T>
GradientReadyHook<T>*& gradient_ready_hook() {
  thread_local GradientReadyHook<T>* hook = nullptr;
  return hook;
}

// Sets this thread's hook for the lifetime of the object.
template <class T>
class ScopedGradientReadyHook {
 public:
  explicit ScopedGradientReadyHook(GradientReadyHook<T>* hook) : previous_(gradient_ready_hook<T>()) {
    gradient_ready_hook<T>() = hook;
  }
  ~ScopedGradientReadyHook() { gradient_ready_hook<T>() = previous_; }
  ScopedGradientReadyHook(const ScopedGradientReadyHook&) = delete;
  ScopedGradientReadyHook& operator=(const ScopedGradientReadyHook&) = delete;

 private:
  GradientReadyHook<T>* previous_;
};

}  // namespace lanmsff
