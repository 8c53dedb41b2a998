// Data-parallel training steps with dist/ over MPI, as the tool will run them: every rank holds the
// model (rank 0's weights, broadcast), takes its shard of each global batch, runs forward, loss and
// backward, averages the gradients over the ranks (GradientAverager, 25 MB buckets, each queued by the
// backward pass as soon as its layers are done, or with --no-overlap all after it), and applies the same
// optimizer step. Prints images/s of the
// global batch (the slowest rank's step time decides) and the share of the step spent waiting for
// the allreduce, so that 1 rank x 2 threads and 2 ranks x 1 thread can be compared side by side:
//   OMP_NUM_THREADS=2 mpiexec -n 1 build/bench/bench_data_parallel --model manet
//   OMP_NUM_THREADS=1 mpiexec -n 2 build/bench/bench_data_parallel --model manet
// Options: --model manet|lanmsff (MA-Net: SGD and the two-head loss, global batch 16; LANMSFF: Adam,
// global batch 32), --batch N (global), --steps N (timed, after one warm-up step), --bucket-mb N
// (GradientAverager's bucket size, default 25), --progress calls|thread (who moves the allreduces on:
// the averager's calls from the backward pass, the default, or its progress thread; --poll-us N its interval), --timeout S (MpiCommunicator::set_timeout), --no-overlap,
// --no-average (no averaging at all: what the ranks' compute alone costs when they run side by side; the
// weights then differ between the ranks and the program says so and exits 1). "backward" is the backward
// pass with the buckets started inside it; "allreduce wait" the rest of the averaging after it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/dist/data_parallel.hpp"
#include "lanmsff/dist/mpi.hpp"
#include "lanmsff/models/lanmsff.hpp"
#include "lanmsff/models/manet.hpp"
#include "lanmsff/train/adam.hpp"
#include "lanmsff/train/loss.hpp"
#include "lanmsff/train/sgd.hpp"
#include "lanmsff/train/two_head_loss.hpp"

namespace {

using namespace lanmsff;
using Clock = std::chrono::steady_clock;
bool overlap = true;  // --no-overlap: every bucket started after the backward pass
double timeout_s = 0;        // --timeout S: MpiCommunicator::set_timeout, as lanmsff train sets it
std::size_t bucket_mb = 25;  // --bucket-mb N: GradientAverager's bucket size
bool average = true;  // --no-average: no gradient averaging at all (the ranks' compute alone)
dist::Progress progress = dist::Progress::calls;  // --progress calls|thread
int poll_us = 0;                                   // --poll-us N: the progress thread's interval

template <class Model, class Loss, class MakeOptimizer>
int run(dist::MpiCommunicator& comm, int global_batch, int steps, const Loss& loss, MakeOptimizer make_optimizer) {
  if (global_batch % comm.size() != 0) {
    if (comm.rank() == 0) std::fprintf(stderr, "--batch %d does not split evenly over %d ranks\n", global_batch, comm.size());
    return 2;
  }
  const int local = global_batch / comm.size();
  auto net = std::make_unique<Model>(1);
  dist::broadcast_parameters(*net, comm);
  auto optimizer = make_optimizer(*net);
  dist::GradientAverager<float, dist::MpiCommunicator> averager(*net, comm, bucket_mb << 20, progress);
  if (poll_us > 0) averager.set_poll_interval(std::chrono::microseconds(poll_us));
  Tensor<float> x(local, Model::input_shape), grad;
  Rng rng(std::uint64_t(17 + comm.rank()));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(rng.uniform(0, 1));
  std::vector<int> labels(static_cast<std::size_t>(local));
  for (int i = 0; i < local; ++i) labels[std::size_t(i)] = (i + comm.rank()) % Model::classes;
  double compute = 0, wait = 0, total = 0, backward = 0;
  for (int step = 0; step <= steps; ++step) {
    comm.barrier();
    const auto t0 = Clock::now();
    optimizer->zero_grad();
    loss(net->forward(x, Context::train(std::uint64_t(step))), labels, &grad);
    const auto tb = Clock::now();
    if (overlap && average) {
      const ScopedGradientReadyHook<float> hook(&averager);  // buckets start during backward
      net->backward(grad);
    } else {
      net->backward(grad);
    }
    const auto t1 = Clock::now();
    if (average) {
      averager.all_ready();
      averager.finish();
    }
    const auto t2 = Clock::now();
    optimizer->step();
    const auto t3 = Clock::now();
    if (step == 0) continue;  // warm-up: buffers allocated
    compute += std::chrono::duration<double>(t1 - t0).count() + std::chrono::duration<double>(t3 - t2).count();
    backward += std::chrono::duration<double>(t1 - tb).count();
    wait += std::chrono::duration<double>(t2 - t1).count();
    total += std::chrono::duration<double>(t3 - t0).count();
  }
  double slowest[4] = {total, compute, wait, backward};
  comm.allreduce(std::span<double>(slowest, 4), dist::ReduceOp::max);
  const bool agree = dist::parameters_agree(*net, comm);  // (without averaging they differ)
  if (comm.rank() == 0)
    std::printf("%s: %d rank(s) x %d thread(s)%s, global batch %d (%d per rank), %d steps: %.1f images/s, "
                "step %.1f ms (compute %.1f of which backward %.1f, allreduce wait %.1f = %.0f %%, %d buckets); "
                "weights identical on every rank: %s\n",
                std::string(Model::name).c_str(), comm.size(), max_threads(),
                average && averager.progress_thread() ? " + a progress thread" : "", global_batch, local, steps,
                global_batch * steps / slowest[0], 1e3 * slowest[0] / steps, 1e3 * slowest[1] / steps,
                1e3 * slowest[3] / steps, 1e3 * slowest[2] / steps, 100 * slowest[2] / slowest[0], averager.buckets(), agree ? "yes" : "NO");
  return agree ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "manet";
  int batch = 0, steps = 5;
  for (int i = 1; i < argc; i += 2) {
    if (!std::strcmp(argv[i], "--no-overlap") || !std::strcmp(argv[i], "--no-average")) {
      (std::strcmp(argv[i], "--no-overlap") == 0 ? overlap : average) = false, --i;
      continue;
    }
    if (i + 1 >= argc) return std::fprintf(stderr, "%s needs a value\n", argv[i]), 2;
    if (!std::strcmp(argv[i], "--model")) model = argv[i + 1];
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--timeout")) timeout_s = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--progress")) {
      if (!std::strcmp(argv[i + 1], "thread")) progress = dist::Progress::thread;
      else if (!std::strcmp(argv[i + 1], "calls")) progress = dist::Progress::calls;
      else return std::fprintf(stderr, "--progress: expected calls or thread, got %s\n", argv[i + 1]), 2;
    }
    else if (!std::strcmp(argv[i], "--poll-us")) poll_us = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--bucket-mb")) bucket_mb = std::size_t(std::max(1, std::atoi(argv[i + 1])));
    else return std::fprintf(stderr, "unknown option %s\n", argv[i]), 2;
  }
  if ((model != "manet" && model != "lanmsff") || batch < 0 || steps < 1)
    return std::fprintf(stderr, "usage: bench_data_parallel [--model manet|lanmsff] [--batch N] [--steps N] [--bucket-mb N] [--progress calls|thread] [--poll-us N] [--timeout S] [--no-overlap] [--no-average]\n"), 2;
  dist::MpiCommunicator comm;
  if (timeout_s > 0) comm.set_timeout(std::chrono::duration<double>(timeout_s));
  if (model == "manet")
    return run<models::MANet<7>>(comm, batch ? batch : 16, steps, TwoHeadLoss<float>{}, [](auto& net) {
      return std::make_unique<SGD<float>>(net, SGDOptions{.learning_rate = 0.01, .momentum = 0.9, .weight_decay = 1e-4});
    });
  return run<models::LANMSFF<8>>(comm, batch ? batch : 32, steps, SoftmaxCrossEntropy<float>{}, [](auto& net) {
    return std::make_unique<Adam<float>>(net, AdamOptions::keras());
  });
}
