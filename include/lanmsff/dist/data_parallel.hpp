// The trainer's side of data-parallel training, written once against dist::Communicator:
//   broadcast_parameters   every rank starts from the root's weights (and BatchNorm statistics);
//   GradientAverager       the gradients averaged over the ranks in buckets, each bucket's allreduce
//                          started as soon as its last gradient is ready, so that communication runs
//                          while the backward pass computes the layers before (as PyTorch's DDP does);
//   broadcast_state        the root's BatchNorm moving statistics to every rank (each rank's batches
//                          move its own; PyTorch's DDP broadcasts them from rank 0 before each forward);
//   parameters_agree       a checksum of every rank's weights compared: data-parallel ranks apply the
//                          same averaged step and must stay bit-identical.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lanmsff/core/gradient_hook.hpp"
#include "lanmsff/core/parameter.hpp"
#include "lanmsff/dist/communicator.hpp"

namespace lanmsff::dist {

// Every parameter's values (trainable or state) from rank `root` to all ranks.
template <class Net, Communicator C>
void broadcast_parameters(Net& net, C& comm, int root = 0) {
  net.for_each_parameter([&](const std::string&, auto& p) { comm.broadcast(std::span(p.value.data(), p.value.size()), root); });
}

// The state (not trainable) parameters only, BatchNorm's moving statistics, from rank `root`.
template <class Net, Communicator C>
void broadcast_state(Net& net, C& comm, int root = 0) {
  net.for_each_parameter([&](const std::string&, auto& p) {
    if (!p.trainable) comm.broadcast(std::span(p.value.data(), p.value.size()), root);
  });
}

// The state parameters (BatchNorm's moving statistics) averaged over the ranks. With per-rank batch
// statistics each rank's moving averages follow its own shards; their mean is what one process
// normalising each shard separately (ghost batches) keeps. Averaging is linear in the moving averages,
// so doing it at any time (an epoch's end, a checkpoint) gives the same later means.
template <class Net, Communicator C>
void average_state(Net& net, C& comm) {
  if (comm.size() == 1) return;
  std::vector<double> sum;  // every state value, in one allreduce
  net.for_each_parameter([&](const std::string&, auto& p) {
    if (!p.trainable) sum.insert(sum.end(), p.value.begin(), p.value.end());
  });
  comm.allreduce(std::span<double>(sum), ReduceOp::sum);
  std::size_t at = 0;
  net.for_each_parameter([&](const std::string&, auto& p) {
    if (p.trainable) return;
    using T = std::remove_cvref_t<decltype(p.value[0])>;
    for (auto& v : p.value) v = T(sum[at++] / double(comm.size()));
  });
}

enum class Which { trainable, all };

// FNV-1a over the bytes of the parameters' values (the trainable ones, or all with the state), in
// visiting order.
template <class Net>
std::uint64_t parameter_checksum(Net& net, Which which = Which::trainable) {
  std::uint64_t hash = 1469598103934665603ull;
  net.for_each_parameter([&](const std::string&, auto& p) {
    if (which == Which::trainable && !p.trainable) return;
    const auto* bytes = reinterpret_cast<const unsigned char*>(p.value.data());
    for (std::size_t i = 0; i < p.value.size() * sizeof(p.value[0]); ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  });
  return hash;
}

// True on every rank when all ranks hold bit-identical parameters (one allreduce of two numbers). The
// trainable ones by default: the moving statistics differ per rank unless broadcast_state() or
// synchronised BatchNorm keeps them equal.
template <class Net, Communicator C>
bool parameters_agree(Net& net, C& comm, Which which = Which::trainable) {
  const std::uint64_t mine = parameter_checksum(net, which);
  std::uint64_t low_high[2] = {~mine, mine};  // max(~h) = ~min(h)
  comm.allreduce(std::span<std::uint64_t>(low_high, 2), ReduceOp::max);
  return ~low_high[0] == low_high[1];
}

// Averages the trainable parameters' gradients over the ranks. Parameters are put in buckets of about
// bucket_bytes in the reverse of the visiting order, which is the order in which a backward pass
// finishes them. Per step: ready(p) for each parameter as its gradient is final (or all_ready() after
// the backward pass), then finish() before the optimizer's step. The averager is a GradientReadyHook:
// set it for the backward pass (ScopedGradientReadyHook) and Sequential calls ready() layer by layer,
// so that buckets are averaged while the backward pass computes the layers before them.
//
// A parameter of at least direct_bytes (1 MB) is its own bucket, reduced in place in its gradient: no
// copy in and out of a bucket buffer for the large tensors that hold most of the bytes.
//
// The buckets' allreduces run one at a time, in the order the buckets fill: the next starts when the
// one before has completed. MPI libraries progress several concurrent large non-blocking collectives
// badly: measured with Open MPI 4.1 on 2 ranks, MA-Net's 202 MB of gradients as eight 25 MB allreduces
// started together took 740 ms, one after the other 30 ms.
//
// Who moves them on (Progress): an MPI library moves a non-blocking collective on only inside its
// calls. With Progress::calls (the default) the queue moves at every ready() call and in finish():
// the allreduces overlap the backward pass only as far as these calls let them. With Progress::thread
// (where the communicator is thread_safe()), a thread of the averager's own tests the allreduce under way
// every poll interval while one is in flight, and sleeps otherwise. That keeps a slow link busy during
// the backward pass, but the communication's own CPU work (copies, sums, TCP) then runs beside the
// compute threads. Measured on 2 ranks of a 2-core machine, MA-Net (202 MB of gradients a step): over
// TCP limited to 0.12-0.46 GB/s, the thread made a step 6-22 % shorter (though once 9 % longer at 0.49
// GB/s); over shared memory, 5-10 % longer (no core was idle for it). Use it where the link, not the
// CPU, is what the allreduces wait for (docs/distributed.md).
enum class Progress { calls, thread };

template <class T, Communicator C>
class GradientAverager final : public GradientReadyHook<T> {
 public:
  // PyTorch's DistributedDataParallel uses 25 MB buckets too.
  static constexpr std::size_t default_bucket_bytes = std::size_t(25) << 20;
  static constexpr std::size_t direct_bytes = std::size_t(1) << 20;
  // How often the progress thread tests the allreduce under way (set_poll_interval).
  static constexpr std::chrono::microseconds default_poll_interval{250};

  template <class Net>
  GradientAverager(Net& net, C& comm, std::size_t bucket_bytes = default_bucket_bytes,
                   Progress progress = Progress::calls)
      : comm_(comm) {
    if (bucket_bytes < sizeof(T)) throw std::invalid_argument("GradientAverager: bucket_bytes is smaller than one gradient");
    std::vector<Parameter<T>*> order;
    net.for_each_parameter([&](const std::string&, Parameter<T>& p) {
      if (p.trainable && !p.grad.empty()) order.push_back(&p);
    });
    std::reverse(order.begin(), order.end());
    for (Parameter<T>* p : order) {
      const bool direct = p->grad.size() * sizeof(T) >= direct_bytes;
      if (buckets_.empty() || direct || buckets_.back().direct ||
          (buckets_.back().size > 0 && (buckets_.back().size + p->grad.size()) * sizeof(T) > bucket_bytes))
        buckets_.emplace_back();
      buckets_.back().direct = direct;
      Bucket& b = buckets_.back();
      const std::size_t index = where_.size();
      where_[p] = {int(buckets_.size() - 1), b.size, index};
      b.members.push_back(p);
      b.size += p->grad.size();
    }
    for (Bucket& b : buckets_)
      if (!b.direct) b.buffer.resize(b.size);
    marked_.assign(where_.size(), false);
    filled_.reserve(buckets_.size());
    if (comm_.size() > 1 && progress == Progress::thread && communicator_thread_safe(comm_))
      progress_ = std::thread([this] { progress_loop(); });
  }
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;
  ~GradientAverager() {
    if (!progress_.joinable()) return;
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    progress_.join();
  }

  int buckets() const { return int(buckets_.size()); }
  // The buckets of this step whose gradients are all ready (their allreduce started, done, or queued).
  int buckets_filled() const {
    const std::lock_guard lock(mutex_);
    return int(filled_.size());
  }
  // Whether a thread of the averager's moves the allreduces on (Progress above).
  bool progress_thread() const { return progress_.joinable(); }
  void set_poll_interval(std::chrono::microseconds interval) {
    const std::lock_guard lock(mutex_);
    poll_interval_ = interval;
  }

  // p's gradient is final for this step: copied into its bucket, which is queued for its allreduce when
  // full. Repeats within a step are ignored. Without a progress thread the allreduce under way is given
  // a chance to progress here, and the next one starts when it is done. With one rank the gradients are
  // their own average: nothing is copied.
  void ready(const Parameter<T>& p) override {
    if (comm_.size() == 1) {
      if (!where_.contains(&p)) throw std::logic_error("GradientAverager::ready: not a trainable parameter of this network");
      return;
    }
    mark(p);
    move_on();
  }
  // Every gradient not yet marked is final (a trainer calls this after backward, for the parameters
  // no hook told of).
  void all_ready() {
    if (comm_.size() == 1) return;
    for (Bucket& b : buckets_)
      for (Parameter<T>* p : b.members) mark(*p);
    move_on();
  }
  // Runs the remaining allreduces and writes the averages back into the gradients.
  void finish() {
    if (comm_.size() == 1) return;
    const std::lock_guard lock(mutex_);  // the progress thread waits meanwhile
    if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
    if (filled_.size() != buckets_.size())
      throw std::logic_error("GradientAverager::finish: a gradient of this step was not marked ready");
    pump(true);
    const T scale = T(1) / T(comm_.size());
    for (Bucket& b : buckets_) {
      b.ready = 0;
      if (b.direct) {
        for (T& g : b.members.front()->grad) g *= scale;
        continue;
      }
      for (Parameter<T>* p : b.members) {
        const auto& w = where_.at(p);
        const T* src = b.buffer.data() + w.offset;
        for (std::size_t i = 0; i < p->grad.size(); ++i) p->grad[i] = src[i] * scale;
      }
    }
    filled_.clear();
    started_ = 0;
    std::fill(marked_.begin(), marked_.end(), false);
  }

 private:
  struct Bucket {
    std::vector<Parameter<T>*> members;
    std::size_t size = 0;
    std::vector<T> buffer;  // empty when direct: the member's gradient is reduced in place
    bool direct = false;
    int ready = 0;
    typename C::Request request{};
  };
  struct Place {
    int bucket;
    std::size_t offset;
    std::size_t index;  // in marked_
  };
  void mark(const Parameter<T>& p) {
    const auto it = where_.find(&p);
    if (it == where_.end()) throw std::logic_error("GradientAverager::ready: not a trainable parameter of this network");
    if (marked_[it->second.index]) return;
    marked_[it->second.index] = true;
    Bucket& b = buckets_[std::size_t(it->second.bucket)];
    // The bucket is not started before it is full: its buffer is this thread's until then.
    if (!b.direct) std::copy(p.grad.begin(), p.grad.end(), b.buffer.begin() + std::ptrdiff_t(it->second.offset));
    if (++b.ready == int(b.members.size())) {
      const std::lock_guard lock(mutex_);
      filled_.push_back(it->second.bucket);
    }
  }
  // A bucket that filled is started now (or handed to the progress thread).
  void move_on() {
    if (progress_.joinable()) {
      wake_.notify_one();
      return;
    }
    const std::lock_guard lock(mutex_);
    pump(false);
  }
  // The progress thread: while an allreduce is under way or queued, moves the queue on every
  // poll_interval; otherwise sleeps until a bucket fills. An error (MPI's) is kept for finish().
  void progress_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stop_ || (!failure_ && (in_flight_ || started_ < filled_.size())); });
      if (stop_) return;
      try {
        pump(false);
      } catch (...) {
        failure_ = std::current_exception();
        continue;
      }
      if (in_flight_) {
        lock.unlock();
        std::this_thread::sleep_for(poll_interval_);
        lock.lock();
      }
    }
  }
  // Whether the allreduce under way is done; without the communicator's test(), waits for it.
  bool done(typename C::Request& request) {
    if constexpr (requires(C& c, typename C::Request& r) { c.test(r); }) {
      return comm_.test(request);
    } else {
      comm_.wait(request);
      return true;
    }
  }
  // Moves the queue on: the allreduce under way (filled_[started_ - 1]) checked, and when done, the next
  // filled bucket's started. With `block`, until every filled bucket is done.
  // Called with mutex_ held.
  void pump(bool block) {
    for (;;) {
      if (in_flight_) {
        typename C::Request& under_way = buckets_[std::size_t(filled_[started_ - 1])].request;
        if (block) comm_.wait(under_way);
        else if (!done(under_way)) return;
        in_flight_ = false;
      }
      if (started_ == filled_.size()) return;
      Bucket& next = buckets_[std::size_t(filled_[started_++])];
      const std::span<T> data = next.direct ? std::span<T>(next.members.front()->grad) : std::span<T>(next.buffer);
      next.request = comm_.start_allreduce(data, ReduceOp::sum);
      in_flight_ = true;
    }
  }
  C& comm_;
  std::vector<Bucket> buckets_;
  std::vector<bool> marked_;
  std::unordered_map<const Parameter<T>*, Place> where_;
  // Shared with the progress thread, under mutex_:
  mutable std::mutex mutex_;
  std::vector<int> filled_;  // the buckets in the order they filled this step
  std::size_t started_ = 0;  // filled_[0, started_) have been started; all but the last are done
  bool in_flight_ = false;   // filled_[started_ - 1]'s allreduce is under way
  bool stop_ = false;
  std::chrono::microseconds poll_interval_ = default_poll_interval;
  std::exception_ptr failure_;
  std::condition_variable wake_;
  std::thread progress_;  // last: started when everything above is ready
};

}  // namespace lanmsff::dist
