// The training loop any user can call from C++: epochs of shuffled (or class-balanced) batches
// with optional online augmentation, forward / loss / backward / optimizer step, an optional BN
// statistics re-estimation before every evaluation, validation, learning-rate schedule, early
// stopping, and callbacks per batch and per epoch. Deterministic for a given seed and thread count.
//
// Data-parallel training: Trainer::distribute(communicator) makes this process one of several replicas
// (processes started by mpirun / srun, dist/mpi.hpp), each running the same loop on the same sample
// order. Every replica takes its own shard of every global batch (options.batch_size samples, split
// evenly), the gradients are averaged over the replicas in buckets while the backward pass runs, and
// every replica applies the same step, so that all hold the same weights; validation is sharded too.
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <vector>

#include "lanmsff/core/gradient_hook.hpp"
#include "lanmsff/dist/data_parallel.hpp"
#include "lanmsff/io/dataset.hpp"
#include "lanmsff/train/bn_reestimate.hpp"
#include "lanmsff/train/early_stopping.hpp"
#include "lanmsff/train/loss.hpp"
#include "lanmsff/train/metrics.hpp"
#include "lanmsff/train/optimizer.hpp"
#include "lanmsff/train/schedule.hpp"

namespace lanmsff {

using Augmentation = std::function<io::Image(const io::Image&, Rng&)>;

// A loss the trainer can use: loss(logits, labels, grad*, scores*) returns the mean loss, writes
// dLoss/dlogits into grad and per-class scores (whose arg-max is the prediction) into scores.
// SoftmaxCrossEntropy (scores = probabilities) and TwoHeadLoss (scores = the heads combined) are
// such losses. `heads` (default 1) says how many logits per class the model outputs.
template <class Loss>
constexpr int loss_heads() {
  if constexpr (requires { Loss::heads; }) return Loss::heads;
  else return 1;
}
template <class Model, class Loss>
constexpr int model_classes() {
  return int(Model::output_shape.size()) / loss_heads<Loss>();
}

struct TrainerOptions {
  int epochs = 10;
  int batch_size = 32;
  bool shuffle = true;
  // Draw every batch with equal probability per class (with replacement), for imbalanced sets.
  bool balanced_sampling = false;
  std::uint64_t seed = 0;
  // Re-estimate BatchNorm moving statistics over this many training batches before each
  // evaluation (0 = never). See bn_reestimate.hpp for why short runs need it.
  std::size_t bn_reestimate_batches = 0;
  int evaluation_batch_size = 64;
};

// Where a fit() stands: the 0-based epoch, the batches of it done, and the running sums behind that
// epoch's loss and accuracy so far. With the weights, the optimizer state and Trainer::step() it is
// everything a mid-epoch checkpoint needs: fit(train, validation, position) continues from it exactly
// as if never interrupted (same batches, augmentation and dropout streams, same epoch metrics).
struct TrainPosition {
  int epoch = 0;
  std::size_t batch = 0;       // batches of `epoch` done (0: at the start of the epoch)
  double loss_sum = 0;         // sum of batch losses weighted by batch size, over those batches
  double accuracy_sum = 0;     // the same for batch accuracies
  double samples = 0;          // the samples in those batches (the weight of both sums)
};

struct BatchEnd {
  int epoch = 0, epochs = 0;
  std::size_t batch = 0, batches = 0;  // batch is 1-based: batches done so far in the epoch
  double loss = 0, accuracy = 0;       // running means over the epoch so far
  double images_per_second = 0;
  double elapsed_seconds = 0, eta_seconds = 0;  // within the epoch
};

struct EpochEnd {
  int epoch = 0, epochs = 0;  // 0-based epoch index
  double train_loss = 0, train_accuracy = 0;
  std::optional<double> val_loss, val_accuracy;
  double learning_rate = 0;  // the rate used during this epoch
  double seconds = 0;
  double images_per_second = 0;
  bool best = false;  // the monitored metric improved (val loss, else train loss)
  bool stop = false;  // early stopping ends training after this epoch
};

struct Evaluation {
  double loss = 0;
  ConfusionMatrix confusion;
  double accuracy() const { return confusion.accuracy(); }
};

struct DataParallelOptions {
  // BatchNorm statistics of the global batch (synchronised BatchNorm); else each replica normalises
  // its own shard, as PyTorch's DistributedDataParallel does by default.
  bool sync_batch_norm = false;
  // Steps between checks that every replica holds bit-identical weights (0: at the end of each epoch
  // only); each check is one allreduce of two numbers.
  int check_every = 100;
  // The gradients are averaged in buckets of about this many bytes, each queued as soon as the
  // backward pass has finished its parameters (dist::GradientAverager).
  std::size_t bucket_bytes = std::size_t(25) << 20;
  // Who moves the buckets' allreduces on: the backward pass's calls, or a thread of their own (for a
  // link slower than the CPU; dist::Progress says when each pays).
  dist::Progress progress = dist::Progress::calls;
};

// Replica `rank` of `replicas`'s shard of a batch of `count`: `samples` from index `first`. The shards
// differ by at most one sample; the first count % replicas replicas take one more.
struct Shard {
  std::size_t first = 0, samples = 0;
};
inline Shard shard_of(std::size_t count, int replicas, int rank) {
  const std::size_t base = count / std::size_t(replicas), extra = count % std::size_t(replicas), r = std::size_t(rank);
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

// A float batch as the model's scalar type (no copy for float models).
template <class T>
const Tensor<T>& batch_as(const Tensor<float>& batch, Tensor<T>& storage) {
  if constexpr (std::is_same_v<T, float>) {
    return batch;
  } else {
    storage.resize(batch.n(), batch.shape());
    for (std::size_t i = 0; i < batch.size(); ++i) storage[i] = T(batch[i]);
    return storage;
  }
}

namespace detail {
// Loss (summed over samples, and the samples) and confusion matrix over samples [first, end) of data.
template <class Model, class Loss>
Evaluation evaluate_range(Model& model, const io::Dataset& data, std::size_t first, std::size_t end, int batch_size,
                          const Loss& loss, RunningMean& mean_loss) {
  using T = typename Model::scalar;
  if (data.empty()) throw std::invalid_argument("evaluate: the data set is empty");
  if (data.num_classes() != model_classes<Model, Loss>())
    throw std::invalid_argument("evaluate: the data set has " + std::to_string(data.num_classes()) +
                                " classes, the model " + std::to_string(model_classes<Model, Loss>()));
  Evaluation result{0, ConfusionMatrix(data.class_names())};
  Tensor<float> batch;
  Tensor<T> input, scores;
  std::vector<int> labels;
  std::vector<std::size_t> indices;
  for (std::size_t begin = first; begin < end; begin += std::size_t(batch_size)) {
    indices.resize(std::min(std::size_t(batch_size), end - begin));
    std::iota(indices.begin(), indices.end(), begin);
    io::make_batch(data, indices, batch, labels);
    const auto& logits = model.forward(batch_as<T>(batch, input), Context::inference());
    mean_loss.add(loss(logits, labels, nullptr, &scores), double(labels.size()));
    result.confusion.add_batch(scores, labels);
  }
  result.loss = mean_loss.mean();
  return result;
}
}  // namespace detail

// Loss and confusion matrix of `model` on `data` in inference mode.
template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
Evaluation evaluate(Model& model, const io::Dataset& data, int batch_size = 64, const Loss& loss = {}) {
  RunningMean mean_loss;
  return detail::evaluate_range(model, data, 0, data.size(), batch_size, loss, mean_loss);
}

// The same over the replicas of a data-parallel job: each evaluates its contiguous share of `data`,
// and every replica returns the whole set's loss and confusion matrix.
template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>, dist::Communicator C>
Evaluation evaluate(Model& model, const io::Dataset& data, int batch_size, const Loss& loss, C& comm) {
  if (comm.size() == 1) return evaluate(model, data, batch_size, loss);
  const Shard mine = shard_of(data.size(), comm.size(), comm.rank());
  RunningMean mean_loss;
  Evaluation result =
      detail::evaluate_range(model, data, mine.first, mine.first + mine.samples, batch_size, loss, mean_loss);
  double sums[2] = {mean_loss.weighted_sum(), mean_loss.total_weight()};
  comm.allreduce(std::span<double>(sums, 2), dist::ReduceOp::sum);
  comm.allreduce(result.confusion.counts(), dist::ReduceOp::sum);
  result.loss = sums[0] / sums[1];
  return result;
}

template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
class Trainer {
 public:
  using T = typename Model::scalar;
  static constexpr int classes = model_classes<Model, Loss>();

  Trainer(Model& model, Optimizer<T>& optimizer, TrainerOptions options = {})
      : model_(model), optimizer_(optimizer), options_(options) {
    if (options.epochs < 0) throw std::invalid_argument("Trainer: epochs must be >= 0");
    if (options.batch_size < 1) throw std::invalid_argument("Trainer: batch size must be >= 1");
    if (options.evaluation_batch_size < 1) throw std::invalid_argument("Trainer: evaluation batch size must be >= 1");
  }

  Loss loss;
  LearningRateSchedule* schedule = nullptr;  // stepped after every epoch with the monitored metric
  EarlyStopping<T>* early_stopping = nullptr;
  Augmentation augment;                      // online augmentation of training samples, optional
  std::function<void(const BatchEnd&)> on_batch_end;
  std::function<void(const EpochEnd&)> on_epoch_end;

  // Makes this process one replica of data-parallel training over `comm`'s processes (see the header
  // comment); call it after the weights and the optimizer state are loaded, on every replica. Every
  // replica then starts from rank 0's weights. options.batch_size is the global batch, and must split
  // evenly over the replicas (an epoch's last, shorter batch is split as evenly as it goes, its
  // gradient weighted exactly; a last batch with fewer samples than replicas is skipped).
  //
  // `gradients` is a second communicator over the same processes (another duplicate of the same MPI
  // communicator), for the gradients' allreduces alone: they start when the backward pass and the
  // bucket before allow, a moment that differs between the processes, while synchronised BatchNorm
  // makes collectives of its own during the backward pass. MPI matches the collectives of a
  // communicator in the order they are started, so the two kinds must not share one. Both must
  // outlive the trainer.
  void distribute(dist::AnyCommunicator& comm, dist::AnyCommunicator& gradients, DataParallelOptions options = {}) {
    if (gradients.size() != comm.size() || gradients.rank() != comm.rank())
      throw std::invalid_argument("Trainer::distribute: the two communicators are not over the same processes");
    if (options_.batch_size % comm.size() != 0)
      throw std::invalid_argument("Trainer: a batch of " + std::to_string(options_.batch_size) +
                                  " does not split evenly over " + std::to_string(comm.size()) +
                                  " processes (make the batch size a multiple of the process count)");
    if (options.check_every < 0) throw std::invalid_argument("Trainer: check_every must be >= 0");
    comm_ = &comm, parallel_ = options;
    if (comm.size() == 1) return;
    dist::broadcast_parameters(model_, comm);
    set_bn_cross_replica_sum(model_, options.sync_batch_norm ? std::function<void(std::span<double>)>(
                                                                   [&comm](std::span<double> s) { comm.allreduce(s, dist::ReduceOp::sum); })
                                                             : std::function<void(std::span<double>)>());
    averager_ = std::make_unique<dist::GradientAverager<T, dist::AnyCommunicator>>(model_, gradients, options.bucket_bytes,
                                                                                 options.progress);
  }
  int rank() const { return comm_ ? comm_->rank() : 0; }
  int replicas() const { return comm_ ? comm_->size() : 1; }

  // Loss and confusion matrix on `data` in inference mode (sharded over the replicas when distributed).
  Evaluation evaluate(const io::Dataset& data) {
    if (replicas() > 1) return lanmsff::evaluate<Model, Loss>(model_, data, options_.evaluation_batch_size, loss, *comm_);
    return lanmsff::evaluate<Model, Loss>(model_, data, options_.evaluation_batch_size, loss);
  }

  // Distributed with per-replica BatchNorm statistics: every replica's moving statistics become their
  // mean over the replicas (dist::average_state), as before a checkpoint; otherwise nothing to do.
  void synchronise_state() {
    if (replicas() > 1 && !parallel_.sync_batch_norm) dist::average_state(model_, *comm_);
  }

  // Epochs [first_epoch, options.epochs); first_epoch > 0 continues a resumed run (the optimizer,
  // schedule and early stopping states must have been restored by the caller).
  std::vector<EpochEnd> fit(const io::Dataset& train, const io::Dataset* validation = nullptr, int first_epoch = 0) {
    return fit(train, validation, TrainPosition{.epoch = first_epoch});
  }

  // Continues from `from` (a position() saved by a checkpoint, with step(), the weights and the
  // optimizer state restored): the rest of epoch from.epoch, then the epochs after it.
  std::vector<EpochEnd> fit(const io::Dataset& train, const io::Dataset* validation, const TrainPosition& from) {
    check_data(train, "training");
    if (validation) check_data(*validation, "validation");
    if (from.epoch < 0) throw std::invalid_argument("Trainer: cannot start at epoch " + std::to_string(from.epoch));
    std::vector<EpochEnd> history;
    position_ = from;
    for (int epoch = from.epoch; epoch < options_.epochs; ++epoch) {
      EpochEnd end = run_epoch(train, epoch, epoch == from.epoch ? from : TrainPosition{.epoch = epoch});
      if (options_.bn_reestimate_batches > 0) reestimate(train, epoch);
      synchronise_state();
      check_replicas_agree(dist::Which::all, "the end of epoch " + std::to_string(epoch + 1));
      if (validation) {
        const Evaluation eval = evaluate(*validation);
        end.val_loss = eval.loss, end.val_accuracy = eval.accuracy();
      }
      const double monitored = end.val_loss ? *end.val_loss : end.train_loss;
      end.best = !best_ || monitored < *best_;
      if (end.best) best_ = monitored;
      if (schedule) optimizer_.set_learning_rate(schedule->on_epoch_end(epoch, monitored));
      if (early_stopping) end.stop = early_stopping->on_epoch_end(epoch, monitored, model_);
      history.push_back(end);
      position_ = TrainPosition{.epoch = epoch + 1};
      if (on_epoch_end) on_epoch_end(end);
      if (end.stop) break;
    }
    if (early_stopping) early_stopping->on_train_end(model_);
    return history;
  }

  // Optimizer steps taken by this trainer: the dropout stream advances with it.
  std::uint64_t step() const { return step_; }
  void set_step(std::uint64_t step) { step_ = step; }
  // The best monitored value so far (validation loss, else training loss); EpochEnd::best compares
  // with it. A resumed run sets it from its history.
  std::optional<double> best() const { return best_; }
  void set_best(std::optional<double> best) { best_ = best; }
  const TrainerOptions& options() const { return options_; }
  // Where fit() stands; inside on_batch_end, just after that batch's optimizer step; inside
  // on_epoch_end, at the start of the next epoch.
  const TrainPosition& position() const { return position_; }

 private:
  void check_data(const io::Dataset& data, const char* what) const {
    if (data.empty()) throw std::invalid_argument(std::string("Trainer: the ") + what + " set is empty");
    if (data.num_classes() != classes)
      throw std::invalid_argument(std::string("Trainer: the ") + what + " set has " +
                                  std::to_string(data.num_classes()) + " classes, the model " +
                                  std::to_string(classes));
  }

  // The sample order of an epoch: a permutation, the identity, or class-balanced draws.
  std::vector<std::size_t> epoch_order(const io::Dataset& data, int epoch, std::uint64_t salt) const {
    Rng rng(hash_combine(hash_combine(options_.seed, salt), std::uint64_t(epoch)));
    std::vector<std::size_t> order(data.size());
    if (options_.balanced_sampling) {
      std::vector<std::vector<std::size_t>> by_class(std::size_t(data.num_classes()));
      for (std::size_t i = 0; i < data.size(); ++i) by_class[std::size_t(data.label(i))].push_back(i);
      std::vector<std::size_t> present;
      for (std::size_t k = 0; k < by_class.size(); ++k)
        if (!by_class[k].empty()) present.push_back(k);
      for (auto& i : order) {
        const auto& members = by_class[present[rng.below(present.size())]];
        i = members[rng.below(members.size())];
      }
      return order;
    }
    std::iota(order.begin(), order.end(), std::size_t(0));
    if (options_.shuffle)
      lanmsff::shuffle(order.begin(), order.end(), rng);
    return order;
  }

  void fill_batch(const io::Dataset& data, std::span<const std::size_t> indices, std::uint64_t stream) {
    if (augment) {
      Rng rng(stream);
      io::make_batch(data, indices, batch_, labels_, augment, rng);
    } else {
      io::make_batch(data, indices, batch_, labels_);
    }
    if (batch_.shape() != Model::input_shape)
      throw std::invalid_argument("Trainer: samples are " + to_string(batch_.shape()) + ", the model takes " +
                                  to_string(Model::input_shape));
  }

  void check_replicas_agree(dist::Which which, const std::string& when) {
    if (replicas() > 1 && !dist::parameters_agree(model_, *comm_, which))
      throw std::runtime_error("Trainer: the processes' weights differ at " + when +
                               " (data-parallel replicas must stay identical: a different build, CPU or data on "
                               "some process?)");
  }

  // The batches of an epoch of `samples`: the last, shorter one is skipped when it has fewer samples
  // than replicas (some would have none).
  std::size_t batches_of(std::size_t samples) const {
    const std::size_t batch_size = std::size_t(options_.batch_size), rest = samples % batch_size;
    return samples / batch_size + (rest > 0 && rest >= std::size_t(replicas()) ? 1 : 0);
  }

  // The batches of `epoch` from from.batch on (with from's running sums).
  EpochEnd run_epoch(const io::Dataset& train, int epoch, const TrainPosition& from) {
    using clock = std::chrono::steady_clock;
    const auto order = epoch_order(train, epoch, 1);
    const std::size_t batch_size = std::size_t(options_.batch_size);
    const std::size_t batches = batches_of(order.size());
    if (from.batch > batches)
      throw std::invalid_argument("Trainer: cannot continue after batch " + std::to_string(from.batch) + " of epoch " +
                                  std::to_string(epoch + 1) + ": it has " + std::to_string(batches) +
                                  " batches (a different data set or batch size?)");
    EpochEnd end;
    end.epoch = epoch, end.epochs = options_.epochs, end.learning_rate = optimizer_.learning_rate();
    RunningMean mean_loss, mean_accuracy;
    mean_loss.restore(from.loss_sum, from.samples);
    mean_accuracy.restore(from.accuracy_sum, from.samples);
    const auto start = clock::now();
    std::size_t images = 0;
    for (std::size_t b = from.batch; b < batches; ++b) {
      const std::size_t begin = b * batch_size, count = std::min(batch_size, order.size() - begin);
      const Shard mine = shard_of(count, replicas(), rank());
      std::uint64_t stream = hash_combine(hash_combine(options_.seed, 2), step_);
      if (replicas() > 1) stream = hash_combine(stream, std::uint64_t(rank()));  // each replica its own draws
      fill_batch(train, std::span(order).subspan(begin + mine.first, mine.samples), stream);
      optimizer_.zero_grad();
      const auto& logits = model_.forward(batch_as<T>(batch_, input_), Context::train(step_, mine.first));
      double batch_loss = loss(logits, labels_, &grad_, &scores_);
      std::size_t correct = 0;
      for (int n = 0; n < scores_.n(); ++n) {
        const T* s = scores_.sample(n);
        correct += std::size_t(std::max_element(s, s + scores_.sample_size()) - s) == std::size_t(labels_[n]);
      }
      if (replicas() > 1) {  // the global batch's loss and accuracy, on every replica
        double sums[2] = {batch_loss * double(mine.samples), double(correct)};
        comm_->allreduce(std::span<double>(sums, 2), dist::ReduceOp::sum);
        batch_loss = sums[0] / double(count), correct = std::size_t(sums[1]);
      }
      if (!std::isfinite(batch_loss))
        throw std::runtime_error("Trainer: the loss is " + std::to_string(batch_loss) + " at epoch " +
                                 std::to_string(epoch + 1) + ", batch " + std::to_string(b + 1) +
                                 " (learning rate too high?)");
      if (replicas() > 1 && mine.samples * std::size_t(replicas()) != count) {
        // An uneven shard: its mean loss's gradient weighted by its share of the batch, so that the
        // average over the replicas is the gradient of the global batch's mean loss.
        const T weight = T(double(mine.samples) * replicas() / double(count));
        for (std::size_t i = 0; i < grad_.size(); ++i) grad_[i] *= weight;
      }
      if (averager_) {
        {
          const ScopedGradientReadyHook<T> hook(averager_.get());  // buckets start during backward
          model_.backward(grad_);
        }
        averager_->all_ready();
        averager_->finish();
      } else {
        model_.backward(grad_);
      }
      optimizer_.step();
      ++step_;
      if (parallel_.check_every > 0 && step_ % std::uint64_t(parallel_.check_every) == 0)
        check_replicas_agree(dist::Which::trainable, "step " + std::to_string(step_));
      images += count;
      mean_loss.add(batch_loss, double(count));
      mean_accuracy.add(double(correct) / double(count), double(count));
      position_ = {epoch, b + 1, mean_loss.weighted_sum(), mean_accuracy.weighted_sum(), mean_loss.total_weight()};
      if (on_batch_end) {
        const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
        const double done = double(b + 1 - from.batch);  // batches timed in this call
        on_batch_end({epoch, options_.epochs, b + 1, batches, mean_loss.mean(), mean_accuracy.mean(),
                      double(images) / std::max(elapsed, 1e-9), elapsed,
                      elapsed / done * double(batches - b - 1)});
      }
    }
    end.train_loss = mean_loss.mean(), end.train_accuracy = mean_accuracy.mean();
    end.seconds = std::chrono::duration<double>(clock::now() - start).count();
    end.images_per_second = double(images) / std::max(end.seconds, 1e-9);
    return end;
  }

  void reestimate(const io::Dataset& train, int epoch) {
    const auto order = epoch_order(train, epoch, 3);
    const std::size_t batch_size = std::size_t(options_.batch_size);
    std::size_t next = 0;
    reestimate_batch_norm(
        model_,
        [&](Tensor<T>& batch) {
          if (next >= order.size()) return false;
          const std::size_t count = std::min(batch_size, order.size() - next);
          if (count < std::size_t(replicas())) return false;  // as in training (batches_of)
          const Shard mine = shard_of(count, replicas(), rank());  // each replica its shard
          io::make_batch(train, std::span(order).subspan(next + mine.first, mine.samples), batch_, labels_);
          next += count;
          batch_as<T>(batch_, input_);
          if constexpr (std::is_same_v<T, float>) batch = batch_;
          else batch = input_;
          return true;
        },
        options_.bn_reestimate_batches);
  }

  Model& model_;
  Optimizer<T>& optimizer_;
  TrainerOptions options_;
  dist::AnyCommunicator* comm_ = nullptr;
  DataParallelOptions parallel_;
  std::unique_ptr<dist::GradientAverager<T, dist::AnyCommunicator>> averager_;
  std::uint64_t step_ = 0;
  TrainPosition position_;
  std::optional<double> best_;
  Tensor<float> batch_;
  Tensor<T> input_, grad_, scores_;
  std::vector<int> labels_;
};

}  // namespace lanmsff
