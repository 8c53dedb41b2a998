// dist/ over MPI, run by ctest as `mpiexec -n 2 test_mpi` (test_mpi_2ranks): the allreduces, started
// ones included, broadcast, the weights' broadcast and checksum, and the key identity of data-parallel
// training: the gradients of two half batches, averaged over the ranks by GradientAverager in several
// buckets, equal the gradient of the whole batch on one process (a network without BatchNorm, whose
// batch statistics would differ per shard). Also SingleProcess, the one-process model.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "lanmsff/dist/data_parallel.hpp"
#include "lanmsff/dist/mpi.hpp"
#include "lanmsff/lanmsff.hpp"

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

std::vector<std::vector<float>> gradients(Net& net) {
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
  dist::GradientAverager<float, dist::MpiCommunicator> averager(half, comm(), 256);  // small buckets: several
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
