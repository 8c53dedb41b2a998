// Allreduce bandwidth of dist::MpiCommunicator between the ranks of an MPI job (on one machine: through
// shared memory, "loopback"), for the gradient sizes of the two models: LANMSFF's 356,451 float
// gradients (1.4 MB) and MA-Net's 50.5 M (202 MB), and a 25 MB bucket between them. Every rank runs the
// same fixed number of calls (an adaptive benchmark loop would differ between ranks and deadlock).
// The last rows are MA-Net's gradients in 25 MB buckets: every bucket's allreduce started, then all
// waited for; and one bucket after the other, as GradientAverager runs them. Prints, per size, the time per allreduce and two bandwidths, as NCCL's tests define them: the
// algorithm bandwidth (bytes / time) and the bus bandwidth (algorithm x 2 (n - 1) / n, what each link
// carries in a ring allreduce; comparable across rank counts).
//   mpiexec -n 2 build/bench/bench_allreduce [--json] [--max-mb M]
// --max-mb M leaves out the sizes above M MB (for a slow link: bench/simulated_link.py).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lanmsff/dist/mpi.hpp"

int main(int argc, char** argv) {
  using namespace lanmsff;
  bool json = false;
  double max_mb = 1e30;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    else if (!std::strcmp(argv[i], "--max-mb") && i + 1 < argc) max_mb = std::atof(argv[++i]);
    else return std::fprintf(stderr, "usage: bench_allreduce [--json] [--max-mb M]\n"), 2;
  }
  dist::MpiCommunicator comm;
  struct Size {
    const char* what;
    std::size_t floats;
    std::size_t bucket;  // floats per started allreduce; 0: one blocking call
    bool together;       // all buckets started, then waited for (else one at a time)
  };
  const Size sizes[] = {{"LANMSFF gradients (1.4 MB)", 356451, 0, false},
                        {"a 25 MB bucket", 25u << 18, 0, false},
                        {"MA-Net gradients (202 MB)", 50547214, 0, false},
                        {"MA-Net, 25 MB buckets at once", 50547214, 25u << 18, true},
                        {"MA-Net, 25 MB buckets in turn", 50547214, 25u << 18, false}};
  if (comm.rank() == 0 && !json) std::printf("%d ranks\n%-28s %12s %14s %14s\n", comm.size(), "size", "ms/allreduce", "algbw GB/s", "busbw GB/s");
  if (comm.rank() == 0 && json) std::printf("{\"ranks\": %d, \"results\": [", comm.size());
  bool first = true;
  for (const Size& s : sizes) {
    if (double(s.floats) * sizeof(float) / 1e6 > max_mb) continue;
    std::vector<float> data(s.floats, 1.0f);
    const int calls = s.floats > (std::size_t(1) << 24) ? 5 : 30;
    const auto reduce = [&] {
      if (s.bucket == 0) return comm.allreduce(std::span<float>(data), dist::ReduceOp::sum);
      std::vector<dist::MpiCommunicator::Request> requests;
      for (std::size_t at = 0; at < data.size(); at += s.bucket) {
        requests.push_back(comm.start_allreduce(std::span<float>(data.data() + at, std::min(s.bucket, data.size() - at)),
                                                dist::ReduceOp::sum));
        if (!s.together) comm.wait(requests.back());
      }
      for (auto& r : requests) comm.wait(r);
    };
    reduce();  // warm-up
    double best = 1e30;
    for (int round = 0; round < 3; ++round) {
      comm.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < calls; ++i) reduce();
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
      // The slowest rank's time is the job's.
      comm.allreduce(std::span<double>(&seconds, 1), dist::ReduceOp::max);
      best = std::min(best, seconds);
    }
    const double bytes = double(s.floats) * sizeof(float), algbw = bytes / best / 1e9;
    const double busbw = algbw * 2.0 * (comm.size() - 1) / comm.size();
    if (comm.rank() == 0) {
      if (json)
        std::printf("%s{\"size\": \"%s\", \"bytes\": %.0f, \"ms\": %.4f, \"algbw_gbps\": %.3f, \"busbw_gbps\": %.3f}", first ? "" : ", ",
                    s.what, bytes, best * 1e3, algbw, busbw);
      else
        std::printf("%-28s %12.3f %14.2f %14.2f\n", s.what, best * 1e3, algbw, busbw);
    }
    first = false;
  }
  if (comm.rank() == 0 && json) std::printf("]}\n");
}
