// The int8 model (quant/int8_model.hpp) as a QDQ ONNX model: the float graph with QuantizeLinear /
// DequantizeLinear pairs where the int8 model holds a value in uint8, and every convolution's weights
// stored in int8 per output channel, as ONNX Runtime's own quantiser writes them. ONNX Runtime fuses
// each DequantizeLinear -> Conv -> QuantizeLinear into an int8 convolution (QLinearConv) and runs the
// rest as the graph says.
//
//   quant::Int8Model model(quant::record(net), params);
//   onnx::write_model(quant::export_qdq(model, options), "model.int8.onnx");
//
// The graph computes what Int8Model::run computes, step by step:
// - A value the int8 model makes in uint8 (an int8 convolution's output, a pool's, a slice's, a
//   concatenation's, ...) is quantised right after it is made, with the value's calibrated scale and
//   zero point; every reader takes it dequantised (one DequantizeLinear per reader, as ONNX Runtime's
//   fusions expect). A float value that an int8 step reads is quantised where it is read.
// - A convolution: its weights with the BatchNorm after it folded in, as the int8 model quantises them
//   (the same int8 values, with the BatchNorm's factor moved into the per-channel scale and its sign
//   into the values), an int32 bias at scale input scale x weight scale, then the ReLU if one is fused
//   (a uint8 output with zero point 0 clamps the same; ONNX Runtime drops it then).
// - The rest is the float graph of the same operations (the layers' ONNX export, io/onnx.hpp).
// The only differences from the int8 model are roundings: the bias rounded to int32, and how an engine
// rounds a requantised sum. The outputs are those of onnx::export_model (logits, probabilities).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "lanmsff/io/onnx.hpp"
#include "lanmsff/quant/calibration.hpp"
#include "lanmsff/quant/int8_model.hpp"
#include "lanmsff/quant/program.hpp"

namespace lanmsff::quant {

namespace detail {

class QdqWriter {
 public:
  QdqWriter(const Int8Model& model, onnx::Graph& graph)
      : model_(model), program_(model.program()), params_(model.params()), graph_(graph), float_(program_.size()),
        quantized_(program_.size()), scale_(program_.size()), zero_(program_.size()), made_uint8_(program_.size(), 0) {
    float_[0] = "input";
  }

  // Emits every step; returns the name of the program's output (float).
  std::string write() {
    for (const auto& step : model_.steps()) {
      const Node& node = program_.nodes[std::size_t(step.node)];
      const std::vector<int> uint8 = model_.uint8_inputs(step);
      std::vector<std::string> in;
      for (int v : node.inputs) {
        const bool reads_uint8 = std::find(uint8.begin(), uint8.end(), v) != uint8.end();
        in.push_back(reads_uint8 || made_uint8_[std::size_t(v)] ? dequantized(v, path(step.node)) : float_[std::size_t(v)]);
      }
      std::string y = step.kind == Int8Model::StepKind::conv ? convolution(step, in[0]) : operation(node, in);
      if (step.kind != Int8Model::StepKind::conv)  // (a convolution's fused nodes are folded into it)
        for (int f : step.fused) y = operation(program_.nodes[std::size_t(f)], {y});
      float_[std::size_t(step.value)] = y;
      if (step.uint8_out) {
        made_uint8_[std::size_t(step.value)] = 1;
        quantized(step.value);
      }
    }
    const int out = program_.output;
    return made_uint8_[std::size_t(out)] ? dequantized(out, "output") : float_[std::size_t(out)];
  }

 private:
  std::string path(int v) const {
    const std::string& name = program_.nodes[std::size_t(v)].name;
    return name.empty() ? "value" + std::to_string(v) : name;
  }

  // Value v quantised with its parameters (once), and dequantised for one reader.
  const std::string& quantized(int v) {
    std::string& q = quantized_[std::size_t(v)];
    if (q.empty()) {
      const QuantParams p = params_[std::size_t(v)];
      scale_[std::size_t(v)] = graph_.initializer(path(v), "scale", {}, std::vector<float>{p.scale});
      zero_[std::size_t(v)] = graph_.initializer(path(v), "zero_point", {}, std::vector<std::uint8_t>{std::uint8_t(p.zero)});
      q = graph_.node("QuantizeLinear", {float_[std::size_t(v)], scale_[std::size_t(v)], zero_[std::size_t(v)]}, path(v));
    }
    return q;
  }
  std::string dequantized(int v, const std::string& reader) {
    const std::string& q = quantized(v);
    return graph_.node("DequantizeLinear", {q, scale_[std::size_t(v)], zero_[std::size_t(v)]}, reader);
  }

  // An int8 convolution (the BatchNorm and ReLU fused into it) on the dequantised input x.
  std::string convolution(const Int8Model::Step& step, const std::string& x) {
    const Node& node = program_.nodes[std::size_t(step.node)];
    const Node* bn = nullptr;
    bool relu = false;
    for (int f : step.fused) {
      const Node& n = program_.nodes[std::size_t(f)];
      if (n.kind == OpKind::batch_norm) bn = &n;
      if (n.kind == OpKind::relu) relu = true;
    }
    const ConvGeometry& g = node.geometry;
    const bool depthwise = node.kind == OpKind::depthwise;
    const int co = g.out_c;
    const std::size_t rows = std::size_t(g.k_h) * g.k_w * (depthwise ? 1 : g.in_c);
    // The int8 model's quantisation of the weights (Int8Convolution), the BatchNorm folded per channel.
    ChannelWeights w = quantize_per_channel(node.kernel.data(), rows, co);
    const float input_scale = params_[std::size_t(node.inputs[0])].scale;
    const std::size_t channels = std::size_t(co);
    std::vector<float> weight_scale(channels), bias_scale(channels);
    std::vector<std::int32_t> bias(channels);
    for (int c = 0; c < co; ++c) {
      const float a = bn ? bn->scale[std::size_t(c)] : 1.0f, b = bn ? bn->shift[std::size_t(c)] : 0.0f;
      if (a <= 0)
        for (std::size_t r = 0; r < rows; ++r) {
          std::int8_t& q = w.values[r * std::size_t(co) + std::size_t(c)];
          q = a == 0 ? std::int8_t(0) : std::int8_t(-q);
        }
      const float s = w.scales[std::size_t(c)] * (a == 0 ? 1.0f : std::abs(a));
      weight_scale[std::size_t(c)] = s;
      bias_scale[std::size_t(c)] = input_scale * s;
      const double shift = double(node.bias.empty() ? 0.0f : node.bias[std::size_t(c)]) * a + b;
      const double q = std::nearbyint(shift / double(bias_scale[std::size_t(c)]));
      constexpr double limit = double(std::numeric_limits<std::int32_t>::max());
      bias[std::size_t(c)] = std::int32_t(std::clamp(q, -limit, limit));
    }
    const std::string p = path(step.node);
    const std::vector<Attribute> per_channel{onnx::attr("axis", 0)};
    const std::string kernel =
        graph_.node("DequantizeLinear",
                    {graph_.initializer(p, "kernel", onnx::Graph::conv_kernel_dims(g, depthwise),
                                        onnx::Graph::conv_kernel<std::int8_t>(g, w.values.data(), depthwise)),
                     graph_.initializer(p, "kernel_scale", {co}, weight_scale),
                     graph_.initializer(p, "kernel_zero_point", {co}, std::vector<std::int8_t>(std::size_t(co), 0))},
                    p, per_channel);
    const std::string shift = graph_.node("DequantizeLinear",
                                          {graph_.initializer(p, "bias", {co}, bias), graph_.initializer(p, "bias_scale", {co}, bias_scale),
                                           graph_.initializer(p, "bias_zero_point", {co}, std::vector<std::int32_t>(std::size_t(co), 0))},
                                          p, per_channel);
    const std::string y = graph_.node("Conv", {x, kernel, shift}, p, onnx::Graph::conv_attributes(g, depthwise));
    return relu ? graph_.node("Relu", {y}, p) : y;
  }

  // A float operation of the program (NHWC axes to the graph's NCHW: c 1, h 2, w 3).
  std::string operation(const Node& node, const std::vector<std::string>& in) {
    const std::string p = node.name.empty() ? "value" : node.name;
    const Shape s = node.inputs.empty() ? Shape{} : program_.nodes[std::size_t(node.inputs[0])].shape;
    const auto chain = [&](std::string_view op) {
      std::string y = in[0];
      for (std::size_t i = 1; i < in.size(); ++i) y = graph_.node(op, {y, in[i]}, p);
      return y;
    };
    switch (node.kind) {
      case OpKind::conv_transpose:
        return graph_.conv_transpose(p, in[0], node.geometry, node.kernel.data(), node.bias.empty() ? nullptr : node.bias.data());
      case OpKind::batch_norm: {
        const std::vector<std::int64_t> dims{s.c, 1, 1};
        const std::string scaled = graph_.node("Mul", {in[0], graph_.initializer(p, "scale", dims, node.scale)}, p);
        return graph_.node("Add", {scaled, graph_.initializer(p, "shift", dims, node.shift)}, p);
      }
      case OpKind::relu: return graph_.node("Relu", in, p);
      case OpKind::sigmoid: return graph_.node("Sigmoid", in, p);
      case OpKind::add: return chain("Add");
      case OpKind::multiply: return chain("Mul");  // ONNX broadcasts an axis of size 1
      case OpKind::max_median: return graph_.max_median(p, in[0], in[1], in[2]);
      case OpKind::slice: {
        std::vector<std::int64_t> axes, starts, ends;
        const auto axis = [&](int onnx_axis, int begin, int end, int size) {
          if (begin == 0 && end == size) return;
          axes.push_back(onnx_axis), starts.push_back(begin), ends.push_back(end);
        };
        axis(1, node.begin.c, node.end.c, s.c);
        axis(2, node.begin.h, node.end.h, s.h);
        axis(3, node.begin.w, node.end.w, s.w);
        return axes.empty() ? graph_.node("Identity", in, p) : graph_.slice(p, in[0], axes, starts, ends);
      }
      case OpKind::concat: return graph_.concat(p, in, node.axis == 0 ? 2 : node.axis == 1 ? 3 : 1);
      case OpKind::shuffle: return graph_.channel_shuffle(p, in[0], s, node.groups);
      case OpKind::max_pool: return graph_.pool("MaxPool", p, in[0], node.geometry);
      case OpKind::global_avg_pool: return graph_.node("GlobalAveragePool", in, p);
      case OpKind::global_max_pool: return graph_.node("GlobalMaxPool", in, p);
      case OpKind::channel_mean: return graph_.reduce_channels("ReduceMean", p, in[0], s);
      case OpKind::channel_max: return graph_.reduce_channels("ReduceMax", p, in[0], s);
      case OpKind::flatten: return graph_.flatten_nhwc(p, in[0], s);
      case OpKind::input:
      case OpKind::conv:
      case OpKind::depthwise: break;
    }
    throw std::logic_error("QDQ export: '" + p + "' (" + std::string(op_name(node.kind)) + ") is not an int8 model's float step");
  }

  using Attribute = onnx::Attribute;

  const Int8Model& model_;
  const Program& program_;
  const std::vector<QuantParams>& params_;
  onnx::Graph& graph_;
  std::vector<std::string> float_;      // each value as its operation makes it (float)
  std::vector<std::string> quantized_;  // its QuantizeLinear's output, once made
  std::vector<std::string> scale_, zero_;
  std::vector<char> made_uint8_;        // the int8 model makes it in uint8: every reader dequantises
};

}  // namespace detail

// The int8 model as a serialized QDQ ONNX model (opset 13): input "input" (N, C, H, W) float, the outputs
// of onnx::export_model for the same options.
inline std::string export_qdq(const Int8Model& model, const onnx::ExportOptions& options = {}) {
  onnx::Graph graph(options.graph_name);
  const std::string y = detail::QdqWriter(model, graph).write();
  const onnx::Outputs outputs = onnx::model_outputs(graph, y, model.output_shape(), options);
  return graph.model("input", model.input_shape(), outputs, options.doc);
}

}  // namespace lanmsff::quant
