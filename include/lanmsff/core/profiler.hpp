// Per-layer wall-clock profile of forward and backward passes. Off by default: composites check one
// thread-local pointer per child call. Turn it on for a scope:
//
//   Profiler profiler;
//   { Profiler::Enable on(profiler); model.forward(x); model.backward(g); }
//   std::cout << profiler.report();
//
// Times are inclusive (a block's time contains its children's) and keyed by the layer's dotted path
// ("block1.conv2"), as checkpoints name parameters; children of transparent (unnamed) nodes are
// listed under their parent.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lanmsff {

class Profiler {
 public:
  enum class Phase { forward, backward };
  struct Entry {
    std::string path;
    int depth = 0;
    double forward_seconds = 0, backward_seconds = 0;
    std::size_t forward_calls = 0, backward_calls = 0;
  };

  // The profiler that records on this thread, or null.
  static Profiler*& active() {
    thread_local Profiler* current = nullptr;
    return current;
  }

  // Records on this thread for the lifetime of the object (restoring the previous one after).
  class Enable {
   public:
    explicit Enable(Profiler& p) : previous_(active()) { active() = &p; }
    ~Enable() { active() = previous_; }
    Enable(const Enable&) = delete;
    Enable& operator=(const Enable&) = delete;

   private:
    Profiler* previous_;
  };

  // Times one call of the child `name` of the current node (an empty name is transparent).
  class Scope {
   public:
    Scope(Profiler* p, std::string_view name, Phase phase) : profiler_(name.empty() ? nullptr : p), phase_(phase) {
      if (!profiler_) return;
      profiler_->stack_.emplace_back(name);
      index_ = profiler_->entry_index();
      start_ = std::chrono::steady_clock::now();
    }
    ~Scope() {
      if (!profiler_) return;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      Entry& e = profiler_->entries_[index_];
      (phase_ == Phase::forward ? e.forward_seconds : e.backward_seconds) += s;
      ++(phase_ == Phase::forward ? e.forward_calls : e.backward_calls);
      profiler_->stack_.pop_back();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Profiler* profiler_;
    Phase phase_;
    std::size_t index_ = 0;
    std::chrono::steady_clock::time_point start_;
  };

  // Entries in the order they were first reached (a pre-order walk of the network).
  const std::vector<Entry>& entries() const { return entries_; }
  void clear() { entries_.clear(), index_.clear(); }

  // A table of milliseconds per call (forward, backward) and the share of `total_seconds`
  // (default: the sum over the top-level entries), nested to `max_depth` levels.
  std::string report(int max_depth = 3, double total_seconds = 0) const {
    if (total_seconds <= 0)
      for (const auto& e : entries_)
        if (e.depth == 0) total_seconds += e.forward_seconds + e.backward_seconds;
    std::size_t width = 5;
    for (const auto& e : entries_)
      if (e.depth < max_depth) width = std::max(width, leaf(e).size() + 2 * std::size_t(e.depth));
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "%-*s %12s %12s %7s\n", int(width), "layer", "forward ms", "backward ms", "share");
    out += line;
    for (const auto& e : entries_) {
      if (e.depth >= max_depth) continue;
      const auto per_call = [](double s, std::size_t n) { return n ? 1e3 * s / double(n) : 0.0; };
      const std::string name = std::string(2 * std::size_t(e.depth), ' ') + leaf(e);
      std::snprintf(line, sizeof line, "%-*s %12.3f %12.3f %6.1f%%\n", int(width), name.c_str(),
                    per_call(e.forward_seconds, e.forward_calls), per_call(e.backward_seconds, e.backward_calls),
                    total_seconds > 0 ? 100 * (e.forward_seconds + e.backward_seconds) / total_seconds : 0.0);
      out += line;
    }
    return out;
  }

 private:
  static std::string leaf(const Entry& e) {
    const auto dot = e.path.rfind('.');
    return dot == std::string::npos ? e.path : e.path.substr(dot + 1);
  }
  std::size_t entry_index() {
    std::string path;
    for (const auto& part : stack_) path += (path.empty() ? "" : ".") + part;
    auto it = index_.find(path);
    if (it == index_.end()) {
      it = index_.emplace(path, entries_.size()).first;
      entries_.push_back({path, int(stack_.size()) - 1});
    }
    return it->second;
  }

  std::vector<std::string> stack_;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t> index_;
};

// Runs f() timed as the child name() of the current node when a profiler records on this thread; the
// name is only computed then. What Sequential and Parallel wrap around each child's pass.
template <class Name, class F>
void profiled(Profiler::Phase phase, Name&& name, F&& f) {
  if (Profiler* profiler = Profiler::active()) {
    Profiler::Scope scope(profiler, name(), phase);
    f();
  } else {
    f();
  }
}

}  // namespace lanmsff
