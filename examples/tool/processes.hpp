// `lanmsff train` as one of several processes: started by mpirun / mpiexec (Open MPI, MPICH) or Slurm's
// srun, the tool finds the launcher in its environment, joins the job over MPI (dist/mpi.hpp) and trains
// data-parallel (Trainer::distribute). Without a launcher it is one process, as always. Rank 0 alone
// writes the run directory and prints; a failure on any rank ends the whole job (MPI_Abort).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "lanmsff/dist/communicator.hpp"
#if defined(LANMSFF_WITH_MPI)
#include "lanmsff/dist/mpi.hpp"
#endif

namespace lanmsff::tool {

// How many processes the launcher started, from its environment (0: not started by one). Open MPI's
// mpirun sets OMPI_COMM_WORLD_SIZE, MPICH's mpiexec PMI_SIZE, srun SLURM_STEP_NUM_TASKS (and PMI_SIZE
// or PMIX_RANK for the MPI library); a PMIx launch without a size counts as one of several.
inline int launched_processes() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (const char* value = std::getenv(name); value && *value) {
      const int n = std::atoi(value);
      if (n >= 1) return n;
    }
  if (std::getenv("PMIX_RANK")) return 2;  // started by a PMIx launcher: let MPI tell the size
  return 0;
}

inline bool built_with_mpi() {
#if defined(LANMSFF_WITH_MPI)
  return true;
#else
  return false;
#endif
}

// This process's place in the job; the communicator the trainer uses.
class Processes {
 public:
  // Joins the job when a launcher started several processes; `timeout`: the longest any collective may
  // take before the job is ended (a rank hangs or the network is cut).
  explicit Processes(std::chrono::seconds timeout) {
    const int launched = launched_processes();
    if (launched > 1) {
#if defined(LANMSFF_WITH_MPI)
      mpi_ = std::make_unique<dist::MpiCommunicator>();
      mpi_->set_timeout(timeout);
      any_ = std::make_unique<dist::AnyCommunicator>(*mpi_);
      gradients_mpi_ = std::make_unique<dist::MpiCommunicator>();  // a duplicate of its own
      gradients_mpi_->set_timeout(timeout);
      gradients_ = std::make_unique<dist::AnyCommunicator>(*gradients_mpi_);
#else
      static_cast<void>(timeout);
      throw std::invalid_argument("started as one of " + std::to_string(launched) +
                                  " processes (mpirun, srun), but this lanmsff was built without MPI: install "
                                  "libopenmpi-dev (or MPICH) and rebuild, or run one process");
#endif
    }
    if (!any_) {
      any_ = std::make_unique<dist::AnyCommunicator>(single_);
      gradients_ = std::make_unique<dist::AnyCommunicator>(single_);
    }
  }
  Processes(const Processes&) = delete;
  Processes& operator=(const Processes&) = delete;

  int rank() const { return any_->rank(); }
  int size() const { return any_->size(); }
  bool leader() const { return rank() == 0; }
  dist::AnyCommunicator& communicator() { return *any_; }
  // Over the same processes, for the gradients' allreduces alone (see Trainer::distribute).
  dist::AnyCommunicator& gradient_communicator() { return *gradients_; }

  // The largest of every process's value (the same on all).
  int max(int value) {
    std::uint64_t v = std::uint64_t(value);
    any_->allreduce(std::span<std::uint64_t>(&v, 1), dist::ReduceOp::max);
    return int(v);
  }

  // After an error on this process, the others may wait for it in a collective: print the error with
  // this process's rank and end every process of the job. Returns only when there is one process.
  void abort_job(const char* what) {
    if (size() == 1) return;
    std::fprintf(stderr, "lanmsff: error on process %d of %d: %s\nlanmsff: ending every process of the job\n",
                 rank(), size(), what);
    std::fflush(stderr);
#if defined(LANMSFF_WITH_MPI)
    MPI_Abort(mpi_->native(), 1);
#endif
    std::_Exit(1);
  }

 private:
  dist::SingleProcess single_;
#if defined(LANMSFF_WITH_MPI)
  std::unique_ptr<dist::MpiCommunicator> mpi_, gradients_mpi_;
#endif
  std::unique_ptr<dist::AnyCommunicator> any_, gradients_;
};

}  // namespace lanmsff::tool
