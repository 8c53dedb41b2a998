// The MPI model of dist::Communicator (dist/communicator.hpp), for Open MPI and MPICH (Debian
// libopenmpi-dev / libmpich-dev; CMake target lanmsff::mpi). Run a program with mpirun / mpiexec or
// Slurm's srun.
//
// MpiCommunicator initialises MPI unless the program already did, asking for MPI_THREAD_MULTIPLE (any
// thread may call MPI at any time; Open MPI 4 and MPICH provide it), and finalises it when it was the
// one to initialise. thread_safe() says whether MPI runs at that level (a program that initialised MPI
// itself at a lower one gets false): GradientAverager then progresses its allreduces from a thread of
// its own. Errors are
// returned, not fatal (MPI_ERRORS_RETURN on its communicator), and become std::runtime_error naming
// the call and MPI's reason, so a failed rank can save its work and leave with a message. With a
// timeout set, an allreduce, a wait or a barrier that has not completed in that time (a rank hangs, or
// the network is cut without an error) throws too.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "lanmsff/dist/communicator.hpp"

namespace lanmsff::dist {

class MpiCommunicator {
 public:
  class Request {
   public:
    Request() = default;
    Request(Request&& other) noexcept : request_(other.request_) { other.request_ = MPI_REQUEST_NULL; }
    Request& operator=(Request&& other) noexcept {
      std::swap(request_, other.request_);
      return *this;
    }
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    // A request dropped unwaited is waited for here: its buffer must not be freed under MPI.
    ~Request() {
      if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
    }
    bool pending() const { return request_ != MPI_REQUEST_NULL; }

   private:
    friend class MpiCommunicator;
    MPI_Request request_ = MPI_REQUEST_NULL;
  };

  // On `communicator` (a duplicate of it: this object's messages never mix with the program's own).
  explicit MpiCommunicator(MPI_Comm communicator = MPI_COMM_WORLD) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        throw std::runtime_error("MPI_Init_thread failed");
      owns_mpi_ = true;
    }
    int level = MPI_THREAD_SINGLE;
    check(MPI_Query_thread(&level), "MPI_Query_thread");
    thread_safe_ = level == MPI_THREAD_MULTIPLE;
    check(MPI_Comm_dup(communicator, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    if (owns_mpi_) MPI_Finalize();
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  // MPI runs at MPI_THREAD_MULTIPLE: test() and start_allreduce() may be called from another thread.
  bool thread_safe() const { return thread_safe_; }

  // The longest a collective may take before it throws (0, the default: no limit).
  void set_timeout(std::chrono::duration<double> timeout) { timeout_ = timeout.count(); }
  double timeout_seconds() const { return timeout_; }

  template <class T>
  void allreduce(std::span<T> data, ReduceOp op) {
    if (size_ == 1 || data.empty()) return;
    if (timeout_ > 0) {
      Request request = start_allreduce(data, op);
      wait(request, "MPI_Allreduce");
      return;
    }
    check(MPI_Allreduce(MPI_IN_PLACE, data.data(), count(data), datatype<T>(), mpi_op(op), comm_), "MPI_Allreduce");
  }
  // Starts an allreduce of `data` in place; the result is there once wait() returns. `data` must stay
  // alive and untouched until then.
  template <class T>
  Request start_allreduce(std::span<T> data, ReduceOp op) {
    Request request;
    if (size_ == 1 || data.empty()) return request;
    check(MPI_Iallreduce(MPI_IN_PLACE, data.data(), count(data), datatype<T>(), mpi_op(op), comm_, &request.request_),
          "MPI_Iallreduce");
    return request;
  }
  void wait(Request& request) { wait(request, "MPI_Wait"); }
  // Whether the request has completed (then as after wait()); lets MPI progress it meanwhile.
  bool test(Request& request) {
    if (!request.pending()) return true;
    int done = 0;
    check(MPI_Test(&request.request_, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
  }
  // Blocking even with a timeout: a broadcast is a start-up step (rank 0's weights), and Open MPI's
  // non-blocking broadcast of large messages, polled with MPI_Test, was seen to stall.
  template <class T>
  void broadcast(std::span<T> data, int root) {
    if (size_ == 1 || data.empty()) return;
    check(MPI_Bcast(data.data(), count(data), datatype<T>(), root, comm_), "MPI_Bcast");
  }
  void barrier() {
    if (timeout_ > 0) {
      Request request;
      check(MPI_Ibarrier(comm_, &request.request_), "MPI_Ibarrier");
      wait(request, "MPI_Barrier");
      return;
    }
    check(MPI_Barrier(comm_), "MPI_Barrier");
  }
  MPI_Comm native() const { return comm_; }

 private:
  template <class T>
  static MPI_Datatype datatype() {
    if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
    else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
    else if constexpr (std::is_same_v<T, int>) return MPI_INT;
    else static_assert(sizeof(T) == 0, "MpiCommunicator: float, double, std::uint64_t or int");
  }
  static MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::sum ? MPI_SUM : op == ReduceOp::min ? MPI_MIN : MPI_MAX; }
  template <class T>
  static int count(std::span<T> data) {
    if (data.size() > std::size_t(INT32_MAX)) throw std::length_error("MpiCommunicator: more than 2^31 - 1 elements in one call");
    return int(data.size());
  }
  void wait(Request& request, const char* call) {
    if (!request.pending()) return;
    if (timeout_ <= 0) {
      check(MPI_Wait(&request.request_, MPI_STATUS_IGNORE), call);
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_);
    for (;;) {
      int done = 0;
      check(MPI_Test(&request.request_, &done, MPI_STATUS_IGNORE), call);
      if (done) return;
      if (std::chrono::steady_clock::now() > deadline) {
        // The request cannot be cancelled (collectives cannot be): leave it to MPI_Abort or exit.
        request.request_ = MPI_REQUEST_NULL;
        throw std::runtime_error(std::string(call) + ": no answer from the other ranks in " + std::to_string(int(timeout_)) +
                                 " s (a rank died, hangs, or the network failed)");
      }
    }
  }
  static void check(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char reason[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, reason, &length);
    throw std::runtime_error(std::string(call) + " failed: " + std::string(reason, std::size_t(length)));
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_ = 0;
  bool owns_mpi_ = false;
  bool thread_safe_ = false;
};
static_assert(Communicator<MpiCommunicator>);

}  // namespace lanmsff::dist
