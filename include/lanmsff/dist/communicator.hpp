// What data-parallel training needs from a communication library, as a concept: the rank of this
// process and the number of processes, sum / min / max allreduce (blocking, and started now to be
// waited for later, so that communication overlaps the backward pass), broadcast and barrier. Any
// engine that provides these is a Communicator: SingleProcess here (one process: every operation is
// the identity), MpiCommunicator in dist/mpi.hpp (Open MPI, MPICH); Gloo or NCCL would be others.
// dist/data_parallel.hpp writes the trainer's side (broadcast of the weights, gradient averaging in
// buckets, the weights' checksum) once against the concept.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

namespace lanmsff::dist {

enum class ReduceOp { sum, min, max };

// A started allreduce of a communicator C: C::Request, completed by C::wait(request).
template <class C>
concept Communicator = requires(C& c, const C& cc, std::span<float> f, std::span<double> d, std::span<std::uint64_t> u,
                                typename C::Request& request) {
  { cc.rank() } -> std::convertible_to<int>;
  { cc.size() } -> std::convertible_to<int>;
  c.allreduce(f, ReduceOp::sum);
  c.allreduce(d, ReduceOp::sum);
  c.allreduce(u, ReduceOp::max);
  { c.start_allreduce(f, ReduceOp::sum) } -> std::same_as<typename C::Request>;
  c.wait(request);
  c.broadcast(f, 0);
  c.broadcast(d, 0);
  c.broadcast(u, 0);
  c.barrier();
};

// One process: rank 0 of 1; an allreduce or a broadcast leaves the data as it is.
class SingleProcess {
 public:
  struct Request {};
  int rank() const { return 0; }
  int size() const { return 1; }
  template <class T>
  void allreduce(std::span<T>, ReduceOp) {}
  template <class T>
  Request start_allreduce(std::span<T>, ReduceOp) { return {}; }
  void wait(Request&) {}
  template <class T>
  void broadcast(std::span<T>, int) {}
  void barrier() {}
};
static_assert(Communicator<SingleProcess>);

}  // namespace lanmsff::dist
