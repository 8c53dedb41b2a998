// Cascade<Merge, Tap<Body, Head>...>: a chain of bodies where every body's output also feeds a
// head, and the heads' outputs are merged — a feature pyramid / multi-scale fusion (LANMSFF's
// head fuses blocks 1-4). It expands into nested Sequential/Parallel, with transparent names so
// parameter paths stay flat: "block2.…", "fusion1.…".
#pragma once

#include "lanmsff/compose/parallel.hpp"
#include "lanmsff/compose/sequential.hpp"

namespace lanmsff {

template <class Body, class Head>
struct Tap {
  using body = Body;
  using head = Head;
};

namespace detail {
template <class Merge, class... Taps>
struct cascade;
template <class Merge, class Last>
struct cascade<Merge, Last> {
  using type = Sequential<typename Last::body, typename Last::head>;
};
template <class Merge, class First, class Second, class... Rest>
struct cascade<Merge, First, Second, Rest...> {
  using type = Sequential<typename First::body,
                          Flat<Parallel<Merge, typename First::head,
                                        Flat<typename cascade<Merge, Second, Rest...>::type>>>>;
};
}  // namespace detail

// The merge is applied pairwise and nested: M(Head1, M(Head2, ... M(HeadN-1, HeadN))). For an
// associative merge (Concat, Add, Multiply) that equals merging Head1..HeadN in order.
template <class Merge, class... Taps>
using Cascade = typename detail::cascade<Merge, Taps...>::type;

}  // namespace lanmsff
