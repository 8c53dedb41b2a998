// FunctionRef<R(Args...)>: a non-owning reference to a callable, like C++26's std::function_ref.
// The tree traversals pass visitors through it so that each layer type's traversal code is
// instantiated once, not once per visitor lambda: that keeps compile times of programs that
// visit large models in many places (the command-line tool) in check.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace lanmsff {

template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f)  // NOLINT: implicit, like std::function_ref
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace lanmsff
