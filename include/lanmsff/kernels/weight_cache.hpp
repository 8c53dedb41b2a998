// Forms that a kernel derives from a layer's weights (Winograd's transformed kernel, packed for the
// GEMM), kept from one call to the next for weights used again unchanged: a model run for inference
// transforms each kernel once instead of at every forward. At batch 1 that transform was more than
// half of a Winograd convolution's time on LANMSFF's 8x8 to 32x32 maps (kernels/winograd.hpp).
//
// The caller says whether the weights will come again (WeightUse: Conv2D's forward says `repeated`
// in inference mode, `once` in training, where every step changes them). An entry keeps a copy of
// the weights it was made from and is used only while the weights at its address still equal that
// copy, compared value by value at every call: an optimiser step, a checkpoint loaded into the same
// model or a test perturbing one weight can never meet a stale form, and a form never depends on
// which calls came before (a result is the same on the first call as on the hundredth).
//
// One cache per calling thread (the worker threads of a call read the caller's) and per instruction
// set (their packed layouts differ), holding at most weight_cache_limit() bytes (default 64 MB;
// LANMSFF's kernels take about 8 MB), the least recently used entries leaving first.
// set_weight_cache_limit(0) turns caching off: forms are then made at every call, with the same
// results.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "lanmsff/core/tensor.hpp"

namespace lanmsff {

// Whether a kernel's weights will be passed again unchanged (inference) or not (training).
enum class WeightUse { once, repeated };

namespace detail {
inline std::atomic<std::size_t>& weight_cache_limit_setting() {
  static std::atomic<std::size_t> bytes{std::size_t(64) << 20};
  return bytes;
}
}  // namespace detail

// The most bytes each thread's cache of derived weight forms holds (0: none). Process-wide; a cache
// shrinks to a new limit at its next use.
inline void set_weight_cache_limit(std::size_t bytes) { detail::weight_cache_limit_setting().store(bytes); }
inline std::size_t weight_cache_limit() { return detail::weight_cache_limit_setting().load(); }

}  // namespace lanmsff

namespace lanmsff::kernels {

// Forms of type Form made from float weights, keyed by the weights' address and `key` (whatever else
// the form depends on, such as the channel counts).
template <class Form>
class WeightCache {
 public:
  struct Entry {
    const float* source = nullptr;
    std::uint64_t key = 0;
    AlignedVector<float> copy;  // the weights `form` was made from
    Form form{};
    std::size_t form_bytes = 0;
    bool made = false;  // form is current: made from `copy`, which equals the weights
    std::uint64_t last_use = 0;
  };

  // The entry for the `count` weights at `source` under `key`: made when its form was made from
  // these very values, else not made (new or changed weights, or caching off), for the caller to
  // make its form and call made().
  Entry& at(const float* source, std::size_t count, std::uint64_t key) {
    const std::size_t limit = weight_cache_limit();
    if (limit == 0) {
      entries_.clear();
      scratch_.made = false;
      return scratch_;
    }
    ++clock_;
    for (auto& entry : entries_)
      if (entry->source == source && entry->key == key && entry->copy.size() == count) {
        entry->last_use = clock_;
        if (!entry->made || std::memcmp(entry->copy.data(), source, count * sizeof(float)) != 0) {
          entry->copy.assign(source, source + count);
          entry->made = false;
        }
        return *entry;
      }
    auto entry = std::make_unique<Entry>();
    entry->source = source, entry->key = key, entry->last_use = clock_;
    entry->copy.assign(source, source + count);
    entries_.push_back(std::move(entry));
    trim(limit);
    return *entries_.back();
  }

  // The caller has made `entry`'s form, `bytes` large.
  void made(Entry& entry, std::size_t bytes) {
    entry.made = true;
    entry.form_bytes = bytes;
    if (&entry != &scratch_) trim(weight_cache_limit());
  }

  std::size_t size() const { return entries_.size(); }

 private:
  static std::size_t bytes_of(const Entry& e) { return e.copy.size() * sizeof(float) + e.form_bytes; }
  // Least recently used entries out until the rest fit in `limit`; the newest entry always stays.
  void trim(std::size_t limit) {
    std::size_t total = 0;
    for (const auto& e : entries_) total += bytes_of(*e);
    while (total > limit && entries_.size() > 1) {
      auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                     [](const auto& x, const auto& y) { return x->last_use < y->last_use; });
      if ((*oldest)->last_use == clock_) break;
      total -= bytes_of(**oldest);
      entries_.erase(oldest);
    }
  }

  std::vector<std::unique_ptr<Entry>> entries_;
  Entry scratch_;
  std::uint64_t clock_ = 0;
};

}  // namespace lanmsff::kernels
