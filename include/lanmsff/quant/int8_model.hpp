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
// - Everything else (sigmoid, products, sums, PWFS's selection, global pools, transposed convolutions,
//   BatchNorms not after a convolution) runs in float on dequantised inputs, and its output is quantised
//   again where an int8 step reads it.
// The float and uint8 forms of a value are made when first needed and kept for the rest of the run.
// run() reuses its buffers between calls: one Int8Model runs one batch at a time.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

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
  enum class StepKind { conv, max_pool, slice, concat, shuffle, relu, flatten, float_op };

  struct Step {
    StepKind kind = StepKind::float_op;
    int node = 0;               // the program node it runs (a fused convolution: the convolution)
    int value = 0;              // the value it writes (a fused convolution: the last fused node's)
    std::vector<int> fused;     // the nodes folded into a convolution (BatchNorm, ReLU)
    bool uint8_out = false;     // its output is uint8 (else float)
    std::size_t conv = 0;       // index into convolutions_
    std::vector<std::vector<std::uint8_t>> remap;  // concat: per input, a table (empty: same quantisation)
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
    for (const Step& s : steps_) execute(s);
    const float* y = as_f32(program_.output);
    std::copy_n(y, std::size_t(batch) * output_shape().size(), output);
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
        for (int c : consumers[std::size_t(step.value)]) {
          const Node& reader = program_.nodes[std::size_t(c)];
          if (is_conv(reader) || moves_values(reader)) step.uint8_out = true;
        }
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
      } else {
        step.kind = StepKind::float_op;
      }
      uint8[std::size_t(step.value)] = step.uint8_out;
      steps_.push_back(std::move(step));
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

  void execute(const Step& s) {
    const Node& node = program_.nodes[std::size_t(s.node)];
    const int first = node.inputs[0];
    switch (s.kind) {
      case StepKind::conv: {
        const auto& in = as_u8(first);
        const Int8Convolution& conv = *convolutions_[s.conv];
        if (s.uint8_out) {
          conv.run(in, u8_output(s));
        } else {
          auto& y = f32_[std::size_t(s.value)];
          y.resize(std::size_t(batch_) * node.shape.size());
          conv.run(in, y.data());
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
        for (int v : node.inputs) in.push_back(as_u8(v).values()), shapes.push_back(&program_.nodes[std::size_t(v)].shape);
        auto& out = u8_output(s);
        detail::move_values(node, shapes, in, batch_, out.values(), s.remap);
        return;
      }
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

  Program program_;
  std::vector<QuantParams> params_;
  std::vector<Step> steps_;
  std::vector<std::unique_ptr<Int8Convolution>> convolutions_;
  int batch_ = 0;
  std::vector<kernels::QuantizedBatch> u8_;
  std::vector<AlignedVector<float>> f32_;
  std::vector<char> has_u8_, has_f32_;
};

}  // namespace lanmsff::quant
