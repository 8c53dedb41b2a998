// dist/ over MPI, run by ctest as `mpiexec -n 2 test_mpi` (test_mpi_2ranks): the allreduces, started
// ones included, broadcast, the weights' broadcast and checksum, and the key identity of data-parallel
// training: the gradients of two half batches, averaged over the ranks by GradientAverager in several
// buckets, equal the gradient of the whole batch on one process (a network without BatchNorm, whose
// batch statistics would differ per shard). Also SingleProcess, the one-process model.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "lanmsff/dist/data_parallel.hpp"
#include "lanmsff/dist/mpi.hpp"
#include "lanmsff/lanmsff.hpp"
#include "lanmsff/train/bn_reestimate.hpp"
#include "lanmsff/train/sgd.hpp"
#include "lanmsff/train/trainer.hpp"

using namespace lanmsff;
using dist::ReduceOp;

namespace {

constexpr Shape input{8, 8, 1};
using Net = Network<Sequential<Named<"conv", Conv2D<4, 3>>, Named<"relu", ReLU>, Named<"pool", MaxPool<2>>,
                               Named<"conv2", Conv2D<6, 3>>, Named<"gap", GlobalAvgPool>, Named<"fc", Dense<3>>>,
                    input>;

dist::MpiCommunicator& comm() {
  static dist::MpiCommunicator c;
  return c;
}

void batch(Tensor<float>& x, std::vector<int>& labels, int first, int count) {
  x.resize(count, input);
  labels.resize(std::size_t(count));
  for (int n = 0; n < count; ++n) {
    const int id = first + n;
    for (int i = 0; i < input.h * input.w; ++i) x.sample(n)[i] = float(std::sin(0.37 * id + 0.11 * i) + 0.05 * (i % 7));
    labels[std::size_t(n)] = id % 3;
  }
}

template <class N>
std::vector<std::vector<float>> gradients(N& net) {
  std::vector<std::vector<float>> g;
  net.for_each_parameter([&](const std::string&, Parameter<float>& p) {
    if (p.trainable) g.emplace_back(p.grad.begin(), p.grad.end());
  });
  return g;
}

}  // namespace

TEST_CASE("the job has two ranks") {
  REQUIRE(comm().size() == 2);
  CHECK(comm().rank() >= 0);
  CHECK(comm().rank() < 2);
}

TEST_CASE("allreduce: sum, min, max, blocking and started; broadcast; barrier") {
  const int r = comm().rank();
  std::vector<float> f{float(r + 1), float(10 * (r + 1))};
  comm().allreduce(std::span<float>(f), ReduceOp::sum);
  CHECK(f == std::vector<float>{3, 30});
  std::vector<double> d{double(r), -double(r)};
  comm().allreduce(std::span<double>(d), ReduceOp::max);
  CHECK(d == std::vector<double>{1, 0});
  std::vector<std::uint64_t> u{std::uint64_t(5 + r)};
  comm().allreduce(std::span<std::uint64_t>(u), ReduceOp::min);
  CHECK(u[0] == 5);
  std::vector<float> big(100000, float(r + 1));
  auto request = comm().start_allreduce(std::span<float>(big), ReduceOp::sum);
  comm().wait(request);
  CHECK(big.front() == 3);
  CHECK(big.back() == 3);
  std::vector<double> b{r == 1 ? 42.0 : 0.0, r == 1 ? -1.0 : 0.0};
  comm().broadcast(std::span<double>(b), 1);
  CHECK(b == std::vector<double>{42, -1});
  comm().barrier();
}

TEST_CASE("broadcast_parameters gives every rank the root's weights; parameters_agree tells") {
  Net net(std::uint64_t(100 + comm().rank()));  // different weights per rank
  CHECK_FALSE(dist::parameters_agree(net, comm()));
  dist::broadcast_parameters(net, comm());
  CHECK(dist::parameters_agree(net, comm()));
  Net root(100);
  CHECK(dist::parameter_checksum(net) == dist::parameter_checksum(root));  // rank 0's seed
  // One bit of one weight on one rank.
  if (comm().rank() == 1)
    net.for_each_parameter([](const std::string& name, Parameter<float>& p) {
      if (name == "fc.bias") p.value[0] = std::nextafter(p.value[0], 1.0f);
    });
  CHECK_FALSE(dist::parameters_agree(net, comm()));
}

TEST_CASE("parameters_agree looks at the trainable weights; broadcast_state equalises the moving statistics") {
  using BnNet = Network<Sequential<Named<"conv", Conv2D<4, 3>>, Named<"bn", BatchNorm<>>, Named<"gap", GlobalAvgPool>,
                                   Named<"fc", Dense<3>>>, input>;
  BnNet net(5);
  // Each rank's own batch moves its moving statistics its own way.
  Tensor<float> x;
  std::vector<int> labels;
  batch(x, labels, 10 * comm().rank(), 4);
  net.forward(x, Context::train(1));
  CHECK(dist::parameters_agree(net, comm()));  // trainable: equal
  CHECK_FALSE(dist::parameters_agree(net, comm(), dist::Which::all));
  dist::broadcast_state(net, comm());
  CHECK(dist::parameters_agree(net, comm(), dist::Which::all));
}

TEST_CASE("two half batches' gradients, averaged in buckets, are the whole batch's gradient") {
  SoftmaxCrossEntropy<float> loss;
  Tensor<float> x, grad_logits;
  std::vector<int> labels;
  // The whole batch of 8 on this process alone.
  Net whole(7);
  batch(x, labels, 0, 8);
  loss(whole.forward(x, Context::train(1)), labels, &grad_logits);
  whole.zero_grad();
  whole.backward(grad_logits);
  const auto expected = gradients(whole);
  // This rank's half, then the average over the ranks.
  Net half(7);
  batch(x, labels, 4 * comm().rank(), 4);
  loss(half.forward(x, Context::train(1)), labels, &grad_logits);
  half.zero_grad();
  half.backward(grad_logits);
  // Moved on by the averager's calls, or by a thread of its own (MPI_THREAD_MULTIPLE, which Open MPI
  // and MPICH provide).
  CHECK(comm().thread_safe());
  dist::Progress progress = dist::Progress::calls;
  SUBCASE("the allreduces moved on by the averager's calls") {}
  SUBCASE("the allreduces moved on by a progress thread") { progress = dist::Progress::thread; }
  dist::GradientAverager<float, dist::MpiCommunicator> averager(half, comm(), 256, progress);  // small buckets: several
  CHECK(averager.progress_thread() == (progress == dist::Progress::thread));
  CHECK(averager.buckets() > 2);
  std::vector<Parameter<float>*> backward_order;
  half.for_each_parameter([&](const std::string&, Parameter<float>& p) {
    if (p.trainable) backward_order.insert(backward_order.begin(), &p);
  });
  for (Parameter<float>* p : backward_order) averager.ready(*p);  // as a backward pass finishes them
  averager.finish();
  const auto averaged = gradients(half);
  REQUIRE(averaged.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i)
    for (std::size_t k = 0; k < expected[i].size(); ++k)
      CHECK(averaged[i][k] == doctest::Approx(expected[i][k]).epsilon(1e-5).scale(1e-6));
  // all_ready() (no per-layer hooks) gives the same, and a second step reuses the buckets.
  half.zero_grad();
  loss(half.forward(x, Context::train(1)), labels, &grad_logits);
  half.backward(grad_logits);
  averager.all_ready();
  averager.finish();
  CHECK(gradients(half) == averaged);
  // A gradient left unmarked is an error, not a silently stale average.
  averager.ready(*backward_order.front());
  CHECK_THROWS_WITH_AS(averager.finish(), doctest::Contains("was not marked ready"), std::logic_error);
}

TEST_CASE("the backward pass starts the buckets layer by layer (a GradientReadyHook)") {
  SoftmaxCrossEntropy<float> loss;
  Tensor<float> x, grad_logits;
  std::vector<int> labels;
  Net whole(9), half(9);
  batch(x, labels, 0, 8);
  loss(whole.forward(x, Context::train(1)), labels, &grad_logits);
  whole.zero_grad();
  whole.backward(grad_logits);
  batch(x, labels, 4 * comm().rank(), 4);
  dist::Progress progress = dist::Progress::calls;
  SUBCASE("moved on by the calls") {}
  SUBCASE("moved on by a progress thread") { progress = dist::Progress::thread; }
  dist::GradientAverager<float, dist::MpiCommunicator> averager(half, comm(), 256, progress);
  loss(half.forward(x, Context::train(1)), labels, &grad_logits);
  half.zero_grad();
  {
    const ScopedGradientReadyHook<float> hook(&averager);
    half.backward(grad_logits);
  }
  CHECK(gradient_ready_hook<float>() == nullptr);  // the scope restored "none"
  CHECK(averager.buckets_filled() == averager.buckets());  // every bucket queued by backward itself
  averager.all_ready();  // nothing left: repeats are ignored
  averager.finish();
  const auto expected = gradients(whole), averaged = gradients(half);
  for (std::size_t i = 0; i < expected.size(); ++i)
    for (std::size_t k = 0; k < expected[i].size(); ++k)
      CHECK(averaged[i][k] == doctest::Approx(expected[i][k]).epsilon(1e-4).scale(1e-3));
}

TEST_CASE("synchronised BatchNorm: two half batches normalise, and back-propagate, as the whole batch") {
  using BnNet = Network<Sequential<Named<"conv", Conv2D<4, 3>>, Named<"bn", BatchNorm<0.9>>, Named<"relu", ReLU>,
                                   Named<"gap", GlobalAvgPool>, Named<"fc", Dense<3>>>, input>;
  SoftmaxCrossEntropy<float> loss;
  Tensor<float> x, grad_logits;
  std::vector<int> labels;
  BnNet whole(11), half(11);
  batch(x, labels, 0, 8);
  const Tensor<float> whole_logits = whole.forward(x, Context::train(1));
  loss(whole_logits, labels, &grad_logits);
  whole.zero_grad();
  whole.backward(grad_logits);
  CHECK(set_bn_cross_replica_sum(half, [](std::span<double> s) { comm().allreduce(s, ReduceOp::sum); }) == 1);
  batch(x, labels, 4 * comm().rank(), 4);
  const Tensor<float>& logits = half.forward(x, Context::train(1));
  for (int n = 0; n < 4; ++n)
    for (int k = 0; k < 3; ++k)
      CHECK(logits.sample(n)[k] == doctest::Approx(whole_logits.sample(4 * comm().rank() + n)[k]).epsilon(1e-5));
  loss(logits, labels, &grad_logits);
  half.zero_grad();
  half.backward(grad_logits);
  dist::GradientAverager<float, dist::MpiCommunicator> averager(half, comm());
  averager.all_ready();
  averager.finish();
  const auto expected = gradients(whole), averaged = gradients(half);
  for (std::size_t i = 0; i < expected.size(); ++i)
    for (std::size_t k = 0; k < expected[i].size(); ++k)
      CHECK(averaged[i][k] == doctest::Approx(expected[i][k]).epsilon(1e-4).scale(1e-3));
  // The moving statistics too: those of the whole batch, on both ranks.
  std::vector<float> whole_state, half_state;
  whole.for_each_parameter([&](const std::string&, Parameter<float>& p) {
    if (!p.trainable) whole_state.insert(whole_state.end(), p.value.begin(), p.value.end());
  });
  half.for_each_parameter([&](const std::string&, Parameter<float>& p) {
    if (!p.trainable) half_state.insert(half_state.end(), p.value.begin(), p.value.end());
  });
  REQUIRE(whole_state.size() == half_state.size());
  for (std::size_t i = 0; i < whole_state.size(); ++i) CHECK(half_state[i] == doctest::Approx(whole_state[i]).epsilon(1e-5));
  CHECK(dist::parameters_agree(half, comm(), dist::Which::all));
}

TEST_CASE("Trainer with synchronised BatchNorm: 2 ranks x batch 16 give the weights of 1 process x batch 32") {
  // Four SGD steps with momentum (two epochs of 64 samples) on a network with BatchNorm: every rank
  // trains on its 16 of each global batch of 32, one process on all 32. Relative to the weights' norm,
  // within 1e-5 (float; what differs is only the order of the sums).
  using BnNet = Network<Sequential<Named<"conv", Conv2D<4, 3>>, Named<"bn", BatchNorm<0.9>>, Named<"relu", ReLU>,
                                   Named<"pool", MaxPool<2>>, Named<"conv2", Conv2D<6, 3>>, Named<"bn2", BatchNorm<0.9>>,
                                   Named<"gap", GlobalAvgPool>, Named<"fc", Dense<3>>>, input>;
  io::Dataset data(input, {"a", "b", "c"});
  std::vector<std::uint8_t> pixels(std::size_t(input.h * input.w));
  for (int id = 0; id < 64; ++id) {
    for (std::size_t i = 0; i < pixels.size(); ++i)
      pixels[i] = std::uint8_t(40 + 60 * (1 + std::sin(0.37 * id + 0.11 * double(i))) + 10 * double(i % 7) - 30 * (id % 3 == 0));
    data.add(pixels, id % 3);
  }
  const TrainerOptions options{.epochs = 2, .batch_size = 32, .seed = 3};
  const SGDOptions sgd{.learning_rate = 0.05, .momentum = 0.9};
  BnNet alone(13), replica(13 + comm().rank());  // rank 1's own initial weights: distribute() broadcasts rank 0's
  SGD<float> alone_sgd(alone, sgd), replica_sgd(replica, sgd);
  Trainer<BnNet> one(alone, alone_sgd, options), two(replica, replica_sgd, options);
  const auto history = one.fit(data);
  dist::MpiCommunicator gradients_comm;
  dist::AnyCommunicator any(comm()), any_gradients(gradients_comm);
  two.distribute(any, any_gradients, {.sync_batch_norm = true, .check_every = 1});
  const auto distributed = two.fit(data);
  REQUIRE(distributed.size() == history.size());
  for (std::size_t e = 0; e < history.size(); ++e) {
    CHECK(distributed[e].train_loss == doctest::Approx(history[e].train_loss).epsilon(1e-5));
    CHECK(distributed[e].train_accuracy == history[e].train_accuracy);
  }
  CHECK(two.step() == 4);
  std::vector<float> expected;
  alone.for_each_parameter([&](const std::string&, Parameter<float>& p) { expected.insert(expected.end(), p.value.begin(), p.value.end()); });
  const auto relative_difference = [&](BnNet& net) {
    double difference = 0, norm = 0;
    std::size_t at = 0;
    net.for_each_parameter([&](const std::string&, Parameter<float>& p) {
      for (float v : p.value) {
        difference += (double(v) - expected[at]) * (double(v) - expected[at]);
        norm += double(expected[at]) * expected[at];
        ++at;
      }
    });
    REQUIRE(at == expected.size());
    return std::sqrt(difference / norm);
  };
  const double synchronised = relative_difference(replica);
  CHECK(synchronised < 1e-5);
  CHECK(dist::parameters_agree(replica, comm(), dist::Which::all));
  // Per-rank statistics (the default) train another network: the comparison can tell.
  BnNet per_rank(13);
  SGD<float> per_rank_sgd(per_rank, sgd);
  Trainer<BnNet> three(per_rank, per_rank_sgd, options);
  three.distribute(any, any_gradients, {.check_every = 1});
  three.fit(data);
  CHECK(relative_difference(per_rank) > 100 * std::max(synchronised, 1e-7));
}

TEST_CASE("average_state: the mean of the ranks' moving statistics") {
  using BnNet = Network<Sequential<Named<"conv", Conv2D<4, 3>>, Named<"bn", BatchNorm<>>, Named<"gap", GlobalAvgPool>,
                                   Named<"fc", Dense<3>>>, input>;
  BnNet net(5);
  float mine = 0, theirs = 0;
  net.for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    if (name == "bn.moving_mean") p.value[0] = mine = float(comm().rank() + 1), theirs = float(2 - comm().rank());
  });
  dist::average_state(net, comm());
  net.for_each_parameter([&](const std::string& name, Parameter<float>& p) {
    if (name == "bn.moving_mean") CHECK(p.value[0] == (mine + theirs) / 2);
  });
  CHECK(dist::parameters_agree(net, comm(), dist::Which::all));
}

TEST_CASE("a collective that waits past the timeout throws on the waiting rank") {
  dist::MpiCommunicator own;  // its own communicator: the late rank joins the abandoned barrier later
  own.set_timeout(std::chrono::milliseconds(300));
  if (own.rank() == 0) {
    CHECK_THROWS_WITH_AS(own.barrier(), doctest::Contains("no answer from the other ranks"), std::runtime_error);
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    own.barrier();
  }
  comm().barrier();
}

TEST_CASE("AnyCommunicator: one type over any communicator") {
  dist::AnyCommunicator any(comm());
  CHECK(any.size() == 2);
  CHECK(any.rank() == comm().rank());
  std::vector<float> f{float(any.rank() + 1)};
  auto request = any.start_allreduce(std::span<float>(f), ReduceOp::sum);
  while (!any.test(request)) {
  }
  CHECK(f[0] == 3);
  std::vector<std::uint64_t> u{std::uint64_t(any.rank())};
  any.allreduce(std::span<std::uint64_t>(u), ReduceOp::max);
  CHECK(u[0] == 1);
  dist::SingleProcess single;
  dist::AnyCommunicator alone(single);
  CHECK(alone.size() == 1);
  alone.allreduce(std::span<float>(f), ReduceOp::sum);
  CHECK(f[0] == 3);
}

TEST_CASE("SingleProcess: rank 0 of 1, every operation the identity") {
  dist::SingleProcess one;
  CHECK(one.rank() == 0);
  CHECK(one.size() == 1);
  Net net(3);
  net.zero_grad();
  net.for_each_parameter([](const std::string&, Parameter<float>& p) {
    for (auto& g : p.grad) g = 0.5f;
  });
  const auto before = gradients(net);
  dist::GradientAverager<float, dist::SingleProcess> averager(net, one);
  averager.all_ready();
  averager.finish();
  CHECK(gradients(net) == before);
  CHECK(dist::parameters_agree(net, one));
}
