// A recorded program (quant/program.hpp) run in int8: calibration and execution.
//
//   quant::Program program = quant::record(net);          // the trained float network
//   quant::Calibrator calibrator(program);
//   for (batch : calibration data) calibrator.observe(batch.data(), batch.n());
//   quant::Int8Model model(program, calibrator.params());   // Calibration::mse by default
//   model.run(x, batch, y);                                 // float in, float out
//
// Calibrator runs the program in float and keeps a histogram of every value (HistogramObserver); its
// params() are each value's uint8 quantisation. Int8Model then lowers the program into steps:
// - Every convolution (dense, depthwise, 1x1, the classifier) runs in int8 (Int8Convolution): weights per
//   output channel, with the BatchNorm that follows it, its bias and a ReLU after that folded in. Its
//   output is uint8 when any reader can take uint8, float otherwise.
// - Operations that only move or select values keep uint8 with their input's quantisation: 2x2 max
//   pooling, slices, channel shuffles, ReLU (at the zero point), flatten. A concatenation takes its own
//   calibrated quantisation: a convolution read only by it writes in that quantisation directly, any
//   other input is mapped through a 256-entry table.
// - Products whose first factor is uint8 (MassAtt's), means and maxima over channels or pixels, and
//   PWFS's selection (with its global average pool) read uint8 directly.
// - Everything else (sigmoid, sums, transposed convolutions, BatchNorms not after a convolution) runs in
//   float on dequantised inputs, and its output is quantised again where an int8 step reads it.
// The float and uint8 forms of a value are made when first needed and kept for the rest of the run.
// Slices and concatenations along the channels are done without copies where their readers allow it
// (place_values).
// run() reuses its buffers between calls: one Int8Model runs one batch at a time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "lanmsff/core/context.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/int8.hpp"
#include "lanmsff/quant/calibration.hpp"
#include "lanmsff/quant/convolution.hpp"
#include "lanmsff/quant/program.hpp"

namespace lanmsff::quant {

// Histograms of every value of a program over the calibration batches.
class Calibrator {
 public:
  explicit Calibrator(const Program& program) : program_(&program), observers_(program.size()) {}

  // Runs the program in float on `batch` samples (NHWC, the program's input shape) and records every value.
  void observe(const float* input, int batch) {
    run_float(*program_, input, batch, [&](int v, const float* x, std::size_t n) { observers_[std::size_t(v)].observe(x, n); });
    samples_ += std::size_t(batch);
  }
  std::size_t samples() const { return samples_; }

  // Each value's quantisation by `method` (see HistogramObserver).
  std::vector<QuantParams> params(Calibration method = Calibration::mse, double percentile = 0.9999) const {
    if (samples_ == 0) throw std::logic_error("Calibrator: no calibration batch observed");
    std::vector<QuantParams> p;
    for (const auto& o : observers_) p.push_back(o.params(method, percentile));
    return p;
  }

 private:
  const Program* program_;
  std::vector<HistogramObserver> observers_;
  std::size_t samples_ = 0;
};

class Int8Model {
 public:
  // conv: an int8 convolution. max_pool .. flatten: uint8 moves. scale: a product whose first factor is
  // uint8 (the others float, broadcast). reduce: a mean or max over channels or pixels of a uint8 map.
  // select: PWFS's (max + median) / 2 of uint8 maps of one quantisation (with the global average pool
  // after it, when that is its only reader). float_op: the float program's.
  enum class StepKind { conv, max_pool, slice, concat, shuffle, relu, flatten, scale, reduce, select, float_op };

  struct Step {
    StepKind kind = StepKind::float_op;
    int node = 0;               // the program node it runs (a fused convolution: the convolution)
    int value = 0;              // the value it writes (a fused convolution: the last fused node's)
    std::vector<int> fused;     // the nodes folded into a convolution (BatchNorm, ReLU) or a selection (its pool)
    bool uint8_out = false;     // its output is uint8 (else float)
    std::size_t conv = 0;       // index into convolutions_
    std::vector<std::vector<std::uint8_t>> remap;  // concat: per input, a table (empty: same quantisation)
    // Without copies (place_values): a slice or concatenation with nothing to do (in_place); a reader of
    // a slice reads its input from a channel on (views: per input, {value, first channel}, or empty); a
    // convolution writes its channels of a concatenation (into, from channel into_channel), whose
    // placed[k] says input k is written so.
    bool in_place = false;
    std::vector<std::pair<int, int>> views;
    int into = -1, into_channel = 0;
    std::vector<char> placed;
  };

  // `params[v]`: the quantisation of value v (Calibrator::params). Throws if the sizes disagree or a
  // convolution cannot run in int8.
  Int8Model(const Program& program, std::vector<QuantParams> params) : program_(program), params_(std::move(params)) {
    if (params_.size() != program_.size())
      throw std::invalid_argument("Int8Model: " + std::to_string(params_.size()) + " quantisations for a program of " +
                                  std::to_string(program_.size()) + " values");
    lower();
    const std::size_t n = program_.size();
    u8_.resize(n), f32_.resize(n), has_u8_.assign(n, 0), has_f32_.assign(n, 0);
  }

  Shape input_shape() const { return program_.input_shape; }
  Shape output_shape() const { return program_.nodes[std::size_t(program_.output)].shape; }
  const Program& program() const { return program_; }
  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<QuantParams>& params() const { return params_; }

  // output (batch x output shape) = the model on `batch` samples of input (batch x input shape).
  void run(const float* input, int batch, float* output) {
    if (batch < 1) throw std::invalid_argument("Int8Model: the batch must hold at least one sample");
    std::fill(has_u8_.begin(), has_u8_.end(), 0);
    std::fill(has_f32_.begin(), has_f32_.end(), 0);
    batch_ = batch;
    f32_[0].assign(input, input + std::size_t(batch) * program_.input_shape.size());
    has_f32_[0] = 1;
    if (profiling && seconds_.size() != steps_.size()) seconds_.assign(steps_.size(), 0.0);
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (!profiling) {
        execute(steps_[i]);
        continue;
      }
      const auto start = std::chrono::steady_clock::now();
      execute(steps_[i]);
      seconds_[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    runs_ += profiling;
    const float* y = as_f32(program_.output);
    std::copy_n(y, std::size_t(batch) * output_shape().size(), output);
  }

  // The values step `s` reads as uint8 (the others it reads in float).
  std::vector<int> uint8_inputs(const Step& s) const {
    const Node& node = program_.nodes[std::size_t(s.node)];
    switch (s.kind) {
      case StepKind::conv:
      case StepKind::scale:
      case StepKind::reduce: return {node.inputs[0]};
      case StepKind::float_op: return {};
      default: return node.inputs;
    }
  }

  // When set, run() times every step (its conversions of inputs included) for profile().
  bool profiling = false;

  // The `top` slowest steps, in milliseconds per run, and the time by kind of step.
  std::string profile(std::size_t top = 15) const {
    if (runs_ == 0) return "no profiled run (set profiling before run)\n";
    std::vector<std::size_t> order(seconds_.size());
    double total = 0, by_kind[3] = {0, 0, 0};
    for (std::size_t i = 0; i < order.size(); ++i) {
      order[i] = i, total += seconds_[i];
      by_kind[steps_[i].kind == StepKind::conv ? 0 : steps_[i].kind == StepKind::float_op ? 2 : 1] += seconds_[i];
    }
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return seconds_[a] > seconds_[b]; });
    const auto ms = [&](double s) { return 1e3 * s / double(runs_); };
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "%-44s %-16s %10s %7s\n", "step", "kind", "ms", "share");
    out += line;
    for (std::size_t k = 0; k < std::min(top, order.size()); ++k) {
      const Step& s = steps_[order[k]];
      const Node& n = program_.nodes[std::size_t(s.node)];
      const std::string kind = s.kind == StepKind::conv ? "int8 " + std::string(op_name(n.kind))
                               : s.kind == StepKind::float_op ? "float " + std::string(op_name(n.kind))
                                                              : "uint8 " + std::string(op_name(n.kind));
      std::snprintf(line, sizeof line, "%-44s %-16s %10.3f %6.1f%%\n", n.name.c_str(), kind.c_str(), ms(seconds_[order[k]]),
                    100 * seconds_[order[k]] / total);
      out += line;
    }
    std::snprintf(line, sizeof line, "total %.3f ms: int8 convolutions %.3f, uint8 moves %.3f, float operations %.3f\n", ms(total),
                  ms(by_kind[0]), ms(by_kind[1]), ms(by_kind[2]));
    return out + line;
  }

  // How many steps of each kind: "12 int8 convolutions, 9 uint8 moves, 30 float operations".
  std::string describe() const {
    int convs = 0, moves = 0, floats = 0;
    for (const Step& s : steps_) (s.kind == StepKind::conv ? convs : s.kind == StepKind::float_op ? floats : moves)++;
    return std::to_string(convs) + " int8 convolutions, " + std::to_string(moves) + " uint8 moves, " + std::to_string(floats) +
           " float operations";
  }

 private:
  static bool moves_values(const Node& n) {  // runs on uint8 with its input's quantisation
    switch (n.kind) {
      case OpKind::slice:
      case OpKind::shuffle:
      case OpKind::relu:
      case OpKind::flatten:
      case OpKind::concat: return true;
      case OpKind::max_pool: return pools_uint8(n.geometry);
      default: return false;
    }
  }
  static bool pools_uint8(const ConvGeometry& g) {
    return g.k_h == g.k_w && g.stride == g.k_h && g.dilation == 1 && g.pad_top == 0 && g.pad_left == 0 &&
           g.out_h == g.in_h / g.k_h && g.out_w == g.in_w / g.k_w;
  }
  static bool is_conv(const Node& n) { return n.kind == OpKind::conv || n.kind == OpKind::depthwise; }
  // Whether value v is best made uint8: some reader takes it as uint8 (as a reader does when it can; a
  // product, as its first factor).
  bool read_as_uint8(int v, const std::vector<int>& readers) const {
    for (int c : readers) {
      const Node& r = program_.nodes[std::size_t(c)];
      if (is_conv(r) || moves_values(r) || r.kind == OpKind::channel_mean || r.kind == OpKind::global_avg_pool ||
          r.kind == OpKind::global_max_pool || r.kind == OpKind::max_median || (r.kind == OpKind::multiply && r.inputs[0] == v))
        return true;
    }
    return false;
  }

  void lower() {
    const auto consumers = program_.consumers();
    const std::size_t n = program_.size();
    std::vector<char> uint8(n, 0), skip(n, 0);
    const auto sole = [&](int v, OpKind kind) {
      const auto& c = consumers[std::size_t(v)];
      return v != program_.output && c.size() == 1 && program_.nodes[std::size_t(c[0])].kind == kind ? c[0] : -1;
    };
    for (std::size_t i = 1; i < n; ++i) {
      if (skip[i]) continue;
      const Node& node = program_.nodes[i];
      Step step;
      step.node = step.value = int(i);
      if (is_conv(node)) {
        step.kind = StepKind::conv;
        const Node* bn = nullptr;
        if (int b = sole(step.value, OpKind::batch_norm); b >= 0) bn = &program_.nodes[std::size_t(b)], step.fused.push_back(b), step.value = b;
        bool relu = false;
        if (int r = sole(step.value, OpKind::relu); r >= 0) relu = true, step.fused.push_back(r), step.value = r;
        for (int f : step.fused) skip[std::size_t(f)] = 1;
        step.uint8_out = read_as_uint8(step.value, consumers[std::size_t(step.value)]);
        // A convolution read only by a concatenation writes in the concatenation's quantisation.
        if (const int c = sole(step.value, OpKind::concat); c >= 0) params_[std::size_t(step.value)] = params_[std::size_t(c)];
        const QuantParams in = params_[std::size_t(node.inputs[0])];
        const Affine affine = bn ? Affine{bn->scale.data(), bn->shift.data()} : Affine{};
        auto conv = std::make_unique<Int8Convolution>(node.geometry, node.kernel.data(), node.bias.empty() ? nullptr : node.bias.data(),
                                                      in.scale, affine, relu, node.kind == OpKind::depthwise);
        if (step.uint8_out) conv->set_output(params_[std::size_t(step.value)]);
        step.conv = convolutions_.size();
        convolutions_.push_back(std::move(conv));
      } else if (moves_values(node) && std::all_of(node.inputs.begin(), node.inputs.end(), [&](int v) { return uint8[std::size_t(v)] != 0; })) {
        step.uint8_out = true;
        switch (node.kind) {
          case OpKind::slice: step.kind = StepKind::slice; break;
          case OpKind::shuffle: step.kind = StepKind::shuffle; break;
          case OpKind::relu: step.kind = StepKind::relu; break;
          case OpKind::flatten: step.kind = StepKind::flatten; break;
          case OpKind::max_pool: step.kind = StepKind::max_pool; break;
          default: step.kind = StepKind::concat; break;
        }
        if (step.kind == StepKind::concat) {
          const QuantParams out = params_[i];
          for (int v : node.inputs) {
            const QuantParams q = params_[std::size_t(v)];
            std::vector<std::uint8_t> table;
            if (q.scale != out.scale || q.zero != out.zero)
              for (int k = 0; k < 256; ++k) table.push_back(std::uint8_t(out.quantize(float(k - q.zero) * q.scale)));
            step.remap.push_back(std::move(table));
          }
        } else {
          params_[i] = params_[std::size_t(node.inputs[0])];
        }
      } else if (node.kind == OpKind::multiply && uint8[std::size_t(node.inputs[0])] &&
                 program_.nodes[std::size_t(node.inputs[0])].shape == node.shape &&
                 std::all_of(node.inputs.begin() + 1, node.inputs.end(), [&](int v) {
                   const Shape t = program_.nodes[std::size_t(v)].shape;
                   return (t.h == 1 && t.w == 1) || (t.c == 1 && t.h == node.shape.h && t.w == node.shape.w);
                 })) {
        step.kind = StepKind::scale;
        step.uint8_out = read_as_uint8(int(i), consumers[i]);
      } else if ((node.kind == OpKind::channel_mean || node.kind == OpKind::global_avg_pool || node.kind == OpKind::global_max_pool) &&
                 uint8[std::size_t(node.inputs[0])]) {
        step.kind = StepKind::reduce;
      } else if (node.kind == OpKind::max_median && std::all_of(node.inputs.begin(), node.inputs.end(), [&](int v) {
                   const QuantParams a = params_[std::size_t(v)], b = params_[std::size_t(node.inputs[0])];
                   return uint8[std::size_t(v)] && a.scale == b.scale && a.zero == b.zero;
                 })) {
        step.kind = StepKind::select;
        // Read only by a global average pool (PWFS's pooled features): both in one pass, summed over the
        // pixels in integers without writing the map.
        if (const int pool = sole(step.value, OpKind::global_avg_pool); pool >= 0)
          step.fused.push_back(pool), step.value = pool, skip[std::size_t(pool)] = 1;
      } else {
        step.kind = StepKind::float_op;
      }
      uint8[std::size_t(step.value)] = step.uint8_out;
      steps_.push_back(std::move(step));
    }
    place_values(consumers);
  }

  // Slices and concatenations along the channels without copies, where every reader allows it: a slice
  // read only by dense convolutions (int8_conv reads a channel range) and PWFS's selections is not made;
  // its readers read its input from its first channel. A uint8 convolution read only by a concatenation
  // (in the concatenation's quantisation, as lower() arranged) writes its channels of it in place.
  void place_values(const std::vector<std::vector<int>>& consumers) {
    std::vector<int> step_of(program_.size(), -1);
    for (std::size_t k = 0; k < steps_.size(); ++k) step_of[std::size_t(steps_[k].node)] = int(k);
    const auto channel_box = [&](const Node& n) {
      const Shape in = program_.nodes[std::size_t(n.inputs[0])].shape;
      return n.begin.h == 0 && n.begin.w == 0 && n.end.h == in.h && n.end.w == in.w;
    };
    for (Step& s : steps_) {
      const Node& node = program_.nodes[std::size_t(s.node)];
      if (s.kind != StepKind::slice || s.value == program_.output || !channel_box(node)) continue;
      const int source = node.inputs[0];
      if (const int k = step_of[std::size_t(source)]; k >= 0 && steps_[std::size_t(k)].in_place) continue;
      const auto& readers = consumers[std::size_t(s.value)];
      const bool viewable = std::all_of(readers.begin(), readers.end(), [&](int r) {
        const int k = step_of[std::size_t(r)];
        if (k < 0) return false;
        const Step& reader = steps_[std::size_t(k)];
        return (reader.kind == StepKind::conv && program_.nodes[std::size_t(r)].kind == OpKind::conv) || reader.kind == StepKind::select;
      });
      if (!viewable || readers.empty()) continue;
      s.in_place = true;
      for (int r : readers) {
        Step& reader = steps_[std::size_t(step_of[std::size_t(r)])];
        const auto& inputs = program_.nodes[std::size_t(r)].inputs;
        if (reader.views.empty()) reader.views.assign(inputs.size(), {-1, 0});
        for (std::size_t i = 0; i < inputs.size(); ++i)
          if (inputs[i] == s.value) reader.views[i] = {source, node.begin.c};
      }
    }
    std::vector<int> writer_of(program_.size(), -1);  // (a fused convolution writes its last fused node's value)
    for (std::size_t k = 0; k < steps_.size(); ++k) writer_of[std::size_t(steps_[k].value)] = int(k);
    for (Step& s : steps_) {
      const Node& node = program_.nodes[std::size_t(s.node)];
      if (s.kind != StepKind::concat || node.axis != 2) continue;
      s.placed.assign(node.inputs.size(), 0);
      int offset = 0;
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        const int v = node.inputs[i];
        Step* writer = writer_of[std::size_t(v)] >= 0 ? &steps_[std::size_t(writer_of[std::size_t(v)])] : nullptr;
        if (writer && writer->kind == StepKind::conv && writer->uint8_out && writer->into < 0 && v != program_.output &&
            consumers[std::size_t(v)].size() == 1 && s.remap[i].empty()) {
          writer->into = s.value, writer->into_channel = offset;
          s.placed[i] = 1;
        }
        offset += program_.nodes[std::size_t(v)].shape.c;
      }
      s.in_place = std::all_of(s.placed.begin(), s.placed.end(), [](char c) { return c != 0; });
    }
  }

  const kernels::QuantizedBatch& as_u8(int v) {
    auto& q = u8_[std::size_t(v)];
    if (!has_u8_[std::size_t(v)]) {
      if (!has_f32_[std::size_t(v)]) throw std::logic_error("Int8Model: value " + std::to_string(v) + " read before it is made");
      quantize_batch(f32_[std::size_t(v)].data(), batch_, program_.nodes[std::size_t(v)].shape, params_[std::size_t(v)], q);
      has_u8_[std::size_t(v)] = 1;
    }
    return q;
  }
  const float* as_f32(int v) {
    auto& x = f32_[std::size_t(v)];
    if (!has_f32_[std::size_t(v)]) {
      if (!has_u8_[std::size_t(v)]) throw std::logic_error("Int8Model: value " + std::to_string(v) + " read before it is made");
      x.resize(u8_[std::size_t(v)].size());
      kernels::dequantize(u8_[std::size_t(v)], x.data());
      has_f32_[std::size_t(v)] = 1;
    }
    return x.data();
  }
  kernels::QuantizedBatch& u8_output(const Step& s) {
    auto& q = u8_[std::size_t(s.value)];
    q.resize(batch_, program_.nodes[std::size_t(s.value)].shape);
    q.scale = params_[std::size_t(s.value)].scale, q.zero = params_[std::size_t(s.value)].zero;
    has_u8_[std::size_t(s.value)] = 1;
    return q;
  }

  // The uint8 buffer of value v, made (sized, with its quantisation) if this run has not made it yet.
  kernels::QuantizedBatch& u8_buffer(int v) {
    auto& q = u8_[std::size_t(v)];
    if (!has_u8_[std::size_t(v)]) {
      q.resize(batch_, program_.nodes[std::size_t(v)].shape);
      q.scale = params_[std::size_t(v)].scale, q.zero = params_[std::size_t(v)].zero;
      has_u8_[std::size_t(v)] = 1;
    }
    return q;
  }

  void execute(const Step& s) {
    if (s.in_place) return;
    const Node& node = program_.nodes[std::size_t(s.node)];
    const int first = node.inputs[0];
    switch (s.kind) {
      case StepKind::conv: {
        const bool view = !s.views.empty() && s.views[0].first >= 0;
        const auto& in = as_u8(view ? s.views[0].first : first);
        const int first_channel = view ? s.views[0].second : 0;
        const Int8Convolution& conv = *convolutions_[s.conv];
        if (s.into >= 0) {
          auto& y = u8_buffer(s.into);
          conv.run(in, y.values() + s.into_channel, y.shape.c, first_channel);
        } else if (s.uint8_out) {
          auto& y = u8_output(s);
          conv.run(in, y.values(), y.shape.c, first_channel);
        } else {
          auto& y = f32_[std::size_t(s.value)];
          y.resize(std::size_t(batch_) * node.shape.size());
          conv.run(in, y.data(), first_channel);
          has_f32_[std::size_t(s.value)] = 1;
        }
        return;
      }
      case StepKind::max_pool: {
        const auto& in = as_u8(first);
        kernels::int8_max_pool(in, node.geometry.k_h, u8_output(s));
        return;
      }
      case StepKind::relu: {
        const auto& in = as_u8(first);
        auto& out = u8_output(s);
        const auto zero = std::uint8_t(in.zero);
        const std::uint8_t* x = in.values();
        std::uint8_t* y = out.values();
        parallel_chunks(in.size(), [&](std::size_t b, std::size_t m) {
          for (std::size_t i = b; i < b + m; ++i) y[i] = std::max(x[i], zero);
        });
        return;
      }
      case StepKind::flatten: {
        const auto& in = as_u8(first);
        std::copy_n(in.values(), in.size(), u8_output(s).values());
        return;
      }
      case StepKind::slice:
      case StepKind::shuffle:
      case StepKind::concat: {
        std::vector<const std::uint8_t*> in;
        std::vector<const Shape*> shapes;
        for (std::size_t i = 0; i < node.inputs.size(); ++i) {
          const int v = node.inputs[i];
          in.push_back(!s.placed.empty() && s.placed[i] ? nullptr : as_u8(v).values());
          shapes.push_back(&program_.nodes[std::size_t(v)].shape);
        }
        auto& out = u8_buffer(s.value);
        detail::move_values(node, shapes, in, batch_, out.values(), s.remap);
        return;
      }
      case StepKind::scale: scale(s, node); return;
      case StepKind::reduce: reduce(s, node); return;
      case StepKind::select: select(s, node); return;
      case StepKind::float_op: {
        std::vector<const float*> in;
        std::vector<const Shape*> shapes;
        for (int v : node.inputs) in.push_back(as_f32(v)), shapes.push_back(&program_.nodes[std::size_t(v)].shape);
        auto& y = f32_[std::size_t(s.value)];
        y.resize(std::size_t(batch_) * node.shape.size());
        detail::run_node(node, shapes, in, batch_, y.data());
        has_f32_[std::size_t(s.value)] = 1;
        return;
      }
    }
  }

  float* f32_output(const Step& s) {
    auto& y = f32_[std::size_t(s.value)];
    y.resize(std::size_t(batch_) * program_.nodes[std::size_t(s.value)].shape.size());
    has_f32_[std::size_t(s.value)] = 1;
    return y.data();
  }

  // y = x * f1 * f2 ..., x uint8 of the output's shape, each f float, per channel (1 x 1 x C or 1 x 1 x 1)
  // or per pixel (H x W x 1): the factors multiplied out per sample and channel and per pixel, then one
  // pass over x (kernels::int8_scale_channels).
  void scale(const Step& s, const Node& node) {
    const auto& x = as_u8(node.inputs[0]);
    const Shape o = node.shape;
    const std::size_t pixels = std::size_t(o.h) * std::size_t(o.w), C = std::size_t(o.c);
    channel_factors_.assign(std::size_t(batch_) * C, 1.0f);
    pixel_factors_.clear();
    for (std::size_t k = 1; k < node.inputs.size(); ++k) {
      const float* f = as_f32(node.inputs[k]);
      const Shape t = program_.nodes[std::size_t(node.inputs[k])].shape;
      if (t.h == 1 && t.w == 1) {
        for (std::size_t b = 0; b < std::size_t(batch_); ++b)
          for (std::size_t c = 0; c < C; ++c) channel_factors_[b * C + c] *= f[b * std::size_t(t.c) + (t.c == 1 ? 0 : c)];
      } else {
        if (pixel_factors_.empty()) pixel_factors_.assign(std::size_t(batch_) * pixels, 1.0f);
        for (std::size_t p = 0; p < pixel_factors_.size(); ++p) pixel_factors_[p] *= f[p];
      }
    }
    const float* f = pixel_factors_.empty() ? nullptr : pixel_factors_.data();
    if (s.uint8_out) {
      const QuantParams out = params_[std::size_t(s.value)];
      kernels::int8_scale_channels(x, channel_factors_.data(), f, u8_output(s).values(), out.scale, out.zero);
    } else {
      kernels::int8_scale_channels(x, channel_factors_.data(), f, f32_output(s));
    }
  }

  // The mean or max over channels (-> H x W x 1) or pixels (-> 1 x 1 x C) of a uint8 map, in integers,
  // then in float.
  void reduce(const Step& s, const Node& node) {
    const auto& x = as_u8(node.inputs[0]);
    const Shape in = x.shape;
    float* y = f32_output(s);
    const float scale = x.scale;
    const int zero = x.zero;
    if (node.kind == OpKind::channel_mean) {
      const std::size_t pixels = std::size_t(batch_) * std::size_t(in.h) * std::size_t(in.w);
      sums_.resize(pixels);
      kernels::int8_channel_sums(x, sums_.data());
      for (std::size_t p = 0; p < pixels; ++p) y[p] = float(sums_[p] - in.c * zero) * scale / float(in.c);
      return;
    }
    const bool mean = node.kind == OpKind::global_avg_pool;
    const std::int64_t pixels = std::int64_t(in.h) * in.w;
    sums_.resize(std::size_t(batch_) * std::size_t(in.c));
    kernels::int8_pixel_reduce(x, !mean, sums_.data());
    for (std::size_t i = 0; i < sums_.size(); ++i)
      y[i] = mean ? float(double(sums_[i] - pixels * zero) * scale / double(pixels)) : float(sums_[i] - zero) * scale;
  }

  // PWFS's (max + median) / 2 of three uint8 maps of one quantisation: max and median commute with
  // the quantisation's increasing map, so y = (q_max + q_median - 2 zero) scale / 2.
  void select(const Step& s, const Node& node) {
    const std::uint8_t* in[3];
    std::size_t stride[3];
    for (std::size_t i = 0; i < 3; ++i) {
      const bool view = !s.views.empty() && s.views[i].first >= 0;
      const auto& q = as_u8(view ? s.views[i].first : node.inputs[i]);
      in[i] = q.values() + (view ? s.views[i].second : 0), stride[i] = std::size_t(q.shape.c);
    }
    const QuantParams q = params_[std::size_t(node.inputs[0])];
    const std::size_t pixels = std::size_t(node.shape.h) * std::size_t(node.shape.w);
    if (s.fused.empty())
      kernels::int8_select_max_median(in, stride, std::size_t(batch_) * pixels, node.shape.c, q.scale, q.zero, f32_output(s));
    else  // and its global average pool
      kernels::int8_select_max_median_mean(in, stride, batch_, pixels, node.shape.c, q.scale, q.zero, f32_output(s));
  }

  Program program_;
  std::vector<QuantParams> params_;
  std::vector<Step> steps_;
  std::vector<std::unique_ptr<Int8Convolution>> convolutions_;
  int batch_ = 0;
  std::vector<double> seconds_;
  std::size_t runs_ = 0;
  std::vector<kernels::QuantizedBatch> u8_;
  std::vector<AlignedVector<float>> f32_;
  std::vector<char> has_u8_, has_f32_;
  std::vector<float> channel_factors_, pixel_factors_;  // scale()'s
  std::vector<std::int32_t> sums_;                      // reduce()'s
};

// A network's int8 model behind the network's own inference interface (input_shape, output_shape,
// forward), for code written against a network: the library's evaluate(), a predictor.
//
//   quant::Int8Network<models::LANMSFF<7>> int8(quant::record(net), calibrator.params());
//   const Tensor<float>& logits = int8.forward(x);
template <class Net>
class Int8Network {
 public:
  using scalar = float;
  static constexpr Shape input_shape = Net::input_shape;
  static constexpr Shape output_shape = Net::output_shape;

  Int8Network(const Program& program, std::vector<QuantParams> params) : model_(program, std::move(params)) {
    if (model_.input_shape() != input_shape || model_.output_shape() != output_shape)
      throw std::invalid_argument("Int8Network: the program maps " + to_string(model_.input_shape()) + " to " +
                                  to_string(model_.output_shape()) + ", the network " + to_string(input_shape) + " to " +
                                  to_string(output_shape));
  }

  // The output of a batch (the context is accepted for the network's signature: always inference).
  const Tensor<float>& forward(const Tensor<float>& input, const Context& = Context::inference()) {
    if (input.shape() != input_shape)
      throw std::invalid_argument("Int8Network: the input is " + to_string(input.shape()) + ", the network takes " + to_string(input_shape));
    output_.resize(input.n(), output_shape);
    model_.run(input.data(), input.n(), output_.data());
    return output_;
  }

  Int8Model& model() { return model_; }

 private:
  Int8Model model_;
  Tensor<float> output_;
};

}  // namespace lanmsff::quant
