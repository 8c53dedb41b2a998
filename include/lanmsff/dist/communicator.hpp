// What data-parallel training needs from a communication library, as a concept: the rank of this
// process and the number of processes, sum / min / max allreduce (blocking, and started now to be
// waited for later, so that communication overlaps the backward pass), broadcast and barrier. Any
// engine that provides these is a Communicator: SingleProcess here (one process: every operation is
// the identity), MpiCommunicator in dist/mpi.hpp (Open MPI, MPICH); Gloo or NCCL would be others.
// dist/data_parallel.hpp writes the trainer's side (broadcast of the weights, gradient averaging in
// buckets, the weights' checksum) once against the concept. AnyCommunicator holds any model of it
// behind one type, for code compiled once for every engine (the Trainer).
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

namespace lanmsff::dist {

enum class ReduceOp { sum, min, max };

// A started allreduce of a communicator C: C::Request, completed by C::wait(request). Two members are
// optional: test(request), whether a started allreduce is done (letting the engine progress it), and
// thread_safe(), true when test() and start_allreduce() may be called from a second thread while the
// first makes other calls (MPI: MPI_THREAD_MULTIPLE). GradientAverager uses them to progress its
// buckets from a thread of its own; see communicator_thread_safe().
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
  bool test(Request&) { return true; }
  bool thread_safe() const { return true; }
  template <class T>
  void broadcast(std::span<T>, int) {}
  void barrier() {}
};
static_assert(Communicator<SingleProcess>);

// Whether C's test() and start_allreduce() may run on a second thread: false when C does not say, or
// has no test() (a second thread would then block in wait()).
template <Communicator C>
bool communicator_thread_safe(const C& comm) {
  if constexpr (requires(C& c, typename C::Request& r) {
                  c.test(r);
                  { comm.thread_safe() } -> std::convertible_to<bool>;
                }) {
    return comm.thread_safe();
  } else {
    return false;
  }
}

// Any Communicator behind one type (type erasure): refers to the communicator it is made from, which
// must outlive it. Itself a Communicator.
class AnyCommunicator {
  struct Pending {
    virtual ~Pending() = default;
    virtual void wait() = 0;
    virtual bool test() = 0;
  };
  struct Interface {
    virtual ~Interface() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    virtual bool thread_safe() const = 0;
    virtual void allreduce(std::span<float>, ReduceOp) = 0;
    virtual void allreduce(std::span<double>, ReduceOp) = 0;
    virtual void allreduce(std::span<std::uint64_t>, ReduceOp) = 0;
    virtual std::unique_ptr<Pending> start_allreduce(std::span<float>, ReduceOp) = 0;
    virtual void broadcast(std::span<float>, int) = 0;
    virtual void broadcast(std::span<double>, int) = 0;
    virtual void broadcast(std::span<std::uint64_t>, int) = 0;
    virtual void barrier() = 0;
  };
  template <class C>
  struct Model final : Interface {
    struct Started final : Pending {
      Started(C& c, typename C::Request r) : comm(c), request(std::move(r)) {}
      void wait() override { comm.wait(request); }
      bool test() override {
        if constexpr (requires { comm.test(request); }) {
          return comm.test(request);
        } else {
          comm.wait(request);
          return true;
        }
      }
      C& comm;
      typename C::Request request;
    };
    explicit Model(C& c) : comm(c) {}
    int rank() const override { return comm.rank(); }
    int size() const override { return comm.size(); }
    bool thread_safe() const override { return communicator_thread_safe(comm); }
    void allreduce(std::span<float> d, ReduceOp op) override { comm.allreduce(d, op); }
    void allreduce(std::span<double> d, ReduceOp op) override { comm.allreduce(d, op); }
    void allreduce(std::span<std::uint64_t> d, ReduceOp op) override { comm.allreduce(d, op); }
    std::unique_ptr<Pending> start_allreduce(std::span<float> d, ReduceOp op) override {
      return std::make_unique<Started>(comm, comm.start_allreduce(d, op));
    }
    void broadcast(std::span<float> d, int root) override { comm.broadcast(d, root); }
    void broadcast(std::span<double> d, int root) override { comm.broadcast(d, root); }
    void broadcast(std::span<std::uint64_t> d, int root) override { comm.broadcast(d, root); }
    void barrier() override { comm.barrier(); }
    C& comm;
  };

 public:
  class Request {
   public:
    Request() = default;
    bool pending() const { return started_ != nullptr; }

   private:
    friend class AnyCommunicator;
    std::unique_ptr<Pending> started_;
  };

  template <Communicator C>
    requires(!std::same_as<std::remove_cvref_t<C>, AnyCommunicator>)
  explicit AnyCommunicator(C& comm) : self_(std::make_unique<Model<C>>(comm)) {}

  int rank() const { return self_->rank(); }
  int size() const { return self_->size(); }
  bool thread_safe() const { return self_->thread_safe(); }
  template <class T>
  void allreduce(std::span<T> data, ReduceOp op) { self_->allreduce(data, op); }
  Request start_allreduce(std::span<float> data, ReduceOp op) {
    Request request;
    request.started_ = self_->start_allreduce(data, op);
    return request;
  }
  void wait(Request& request) {
    if (!request.started_) return;
    request.started_->wait();
    request.started_.reset();
  }
  bool test(Request& request) {
    if (!request.started_) return true;
    if (!request.started_->test()) return false;
    request.started_.reset();
    return true;
  }
  template <class T>
  void broadcast(std::span<T> data, int root) { self_->broadcast(data, root); }
  void barrier() { self_->barrier(); }

 private:
  std::unique_ptr<Interface> self_;
};
static_assert(Communicator<AnyCommunicator>);

}  // namespace lanmsff::dist
