// A trained float convolution (dense or depthwise) made ready for int8 inference: its weights quantised
// per output channel (and packed, for a dense one), and the mapping of its int32 sums to its output with
// the input's scale, the layer's bias and a following BatchNorm folded in. The result runs on a uint8
// input quantised with the scale it was prepared for, and gives the float output or, quantised with the
// next layer's parameters, a uint8 one.
//
// The arithmetic: with x = (q - zero) s_in and w = w_q s_w[c], conv(x, w)[c] = s_in s_w[c] sum (q - zero) w_q,
// so y = sums * scale[c] + shift[c] with scale[c] = s_in s_w[c] a[c], shift[c] = bias[c] a[c] + b[c], where
// (a, b) is the BatchNorm's inference affine map (per channel y * a + b; a = 1, b = 0 without one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "lanmsff/kernels/int8.hpp"
#include "lanmsff/quant/calibration.hpp"

namespace lanmsff::quant {

// A BatchNorm's inference map, per channel: y = x * scale[c] + shift[c] (BatchNorm::inference_affine).
struct Affine {
  const float* scale = nullptr;
  const float* shift = nullptr;
};

class Int8Convolution {
 public:
  // kernel: HWIO (k_h x k_w x in_c x out_c) for a dense convolution, HWC (k_h x k_w x channels) for a
  // depthwise one; bias: out_c values or null; bn: a BatchNorm that follows, or {}; relu: a ReLU after it.
  Int8Convolution(const ConvGeometry& g, const float* kernel, const float* bias, float input_scale, Affine bn, bool relu,
                  bool depthwise = false)
      : geometry_(g), depthwise_(depthwise), relu_(relu), input_scale_(input_scale) {
    if (!(input_scale > 0)) throw std::invalid_argument("Int8Convolution: the input scale must be positive");
    if (depthwise && g.in_c != g.out_c)
      throw std::invalid_argument("Int8Convolution: a depthwise convolution has as many output channels as inputs");
    const std::size_t rows = std::size_t(g.k_h) * g.k_w * (depthwise ? 1 : g.in_c);
    ChannelWeights w = quantize_per_channel(kernel, rows, g.out_c);
    scale_.resize(std::size_t(g.out_c));
    shift_.resize(std::size_t(g.out_c));
    for (int c = 0; c < g.out_c; ++c) {
      const float a = bn.scale ? bn.scale[c] : 1.0f, b = bn.shift ? bn.shift[c] : 0.0f;
      scale_[std::size_t(c)] = input_scale * w.scales[std::size_t(c)] * a;
      shift_[std::size_t(c)] = (bias ? bias[c] : 0.0f) * a + b;
    }
    if (depthwise) values_ = std::move(w.values);
    else packed_ = kernels::pack_int8_conv(g, w.values.data());
  }

  const ConvGeometry& geometry() const { return geometry_; }
  float input_scale() const { return input_scale_; }

  // The float output (ReLU applied if asked), batch x out_h x out_w x out_c. A dense convolution may read
  // its input channels from `first_channel` of a wider map (a slice of it, without a copy).
  void run(const kernels::QuantizedBatch& in, float* y, int first_channel = 0) const {
    check(in, first_channel);
    const kernels::Int8Output out{scale_.data(), shift_.data(), 0, relu_};
    if (depthwise_) kernels::int8_depthwise(geometry_, in, values_.data(), y, out);
    else kernels::int8_conv(geometry_, in, packed_, y, out, first_channel);
  }

  // The output quantised with `params` into `out` (resized).
  void run(const kernels::QuantizedBatch& in, kernels::QuantizedBatch& out, QuantParams params) const {
    const kernels::Requantization r = kernels::requantize(geometry_.out_c, scale_.data(), shift_.data(), params.scale, params.zero);
    run(in, out, params, r);
  }

  // Fixes the quantisation of the uint8 output once, for the run below (a model's layer: the same
  // output parameters every call).
  void set_output(QuantParams params) {
    output_ = params;
    requantization_ = kernels::requantize(geometry_.out_c, scale_.data(), shift_.data(), params.scale, params.zero);
  }
  void run(const kernels::QuantizedBatch& in, kernels::QuantizedBatch& out) const {
    if (requantization_.scale.empty()) throw std::logic_error("Int8Convolution: set_output before a uint8 run");
    run(in, out, output_, requantization_);
  }
  // The same into y, output pixels y_stride values apart (a concatenation's channels, in place), reading
  // the input from `first_channel` as above. y holds the batch's output (the caller sized it).
  void run(const kernels::QuantizedBatch& in, std::uint8_t* y, std::ptrdiff_t y_stride, int first_channel = 0) const {
    if (requantization_.scale.empty()) throw std::logic_error("Int8Convolution: set_output before a uint8 run");
    check(in, first_channel);
    const kernels::Int8Output out = requantization_.output(0, relu_);
    if (depthwise_) {
      if (y_stride != geometry_.out_c) throw std::invalid_argument("Int8Convolution: a depthwise convolution writes its own map");
      kernels::int8_depthwise(geometry_, in, values_.data(), y, out);
    } else {
      kernels::int8_conv(geometry_, in, packed_, y, out, first_channel, y_stride);
    }
  }

 private:
  void run(const kernels::QuantizedBatch& in, kernels::QuantizedBatch& out, QuantParams params,
           const kernels::Requantization& r) const {
    check(in);
    out.resize(in.n, geometry_.output_shape());
    out.scale = params.scale, out.zero = params.zero;
    if (depthwise_) kernels::int8_depthwise(geometry_, in, values_.data(), out.values(), r.output(0, relu_));
    else kernels::int8_conv(geometry_, in, packed_, out.values(), r.output(0, relu_));
  }
  void check(const kernels::QuantizedBatch& in, int first_channel = 0) const {
    if (depthwise_ && first_channel != 0)
      throw std::invalid_argument("Int8Convolution: a depthwise convolution reads its whole input");
    if (in.scale != input_scale_)
      throw std::invalid_argument("Int8Convolution: prepared for an input scale of " + std::to_string(input_scale_) +
                                  ", given " + std::to_string(in.scale));
  }

  ConvGeometry geometry_;
  bool depthwise_, relu_;
  float input_scale_;
  kernels::PackedInt8 packed_;
  std::vector<std::int8_t> values_;
  std::vector<float> scale_, shift_;
  QuantParams output_;
  kernels::Requantization requantization_;
};

// x (count floats) quantised with `params` into `q` (batch x shape, resized).
inline void quantize_batch(const float* x, int batch, Shape shape, QuantParams params, kernels::QuantizedBatch& q) {
  q.resize(batch, shape);
  q.scale = params.scale, q.zero = params.zero;
  kernels::quantize(x, q.size(), params.scale, params.zero, q.values());
}

}  // namespace lanmsff::quant
