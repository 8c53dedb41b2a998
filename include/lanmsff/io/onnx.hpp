// ONNX export: writes a composed network as an ONNX model (opset 13, NCHW, dynamic batch) that ONNX
// Runtime and OpenCV's dnn module run. No dependency: the protobuf wire format of the few ONNX
// messages needed (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, AttributeProto,
// field numbers from onnx.proto) is written here and checked against the real parsers by the tests
// (python3-onnx's checker, ONNX Runtime, OpenCV).
//
// Each layer says how it maps to ONNX beside its forward: a member
//   std::string to_onnx(G& graph, const std::string& input, const std::string& path)
// that adds its nodes and initializers through the Graph below and returns the name of its output.
// Composites (Sequential, Parallel) emit their children in turn, merges their own nodes; a layer
// without to_onnx stops the export at compile time (Graph::emit).
//
// The graph's tensors are NCHW, as ONNX users expect: weights are transposed from Keras' layouts
// (HWIO kernels, (in, out) dense kernels), TensorFlow 'same' padding becomes explicit pads, a
// transposed convolution's crop a Slice, Dense (per pixel over the channels) a 1x1 convolution.
// Constructs OpenCV 4.6's importer rejects are avoided: the operands of a broadcast product are first
// brought to the output's shape, exactly (Graph::multiply); asymmetric ConvTranspose pads become a
// Slice; a reduction over the channels is followed by a Reshape that restates its shape.
#pragma once

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "lanmsff/core/shape.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"
#include "lanmsff/version.hpp"

namespace lanmsff::onnx {

// ---- protobuf wire format ----------------------------------------------------------------------

class Message {
 public:
  Message& integer(int field, std::int64_t value) {
    key(field, 0);
    varint(std::uint64_t(value));
    return *this;
  }
  Message& bytes(int field, std::string_view value) {
    key(field, 2);
    varint(value.size());
    out_.append(value);
    return *this;
  }
  Message& real(int field, float value) {
    key(field, 5);
    const auto bits = std::bit_cast<std::uint32_t>(value);
    for (int i = 0; i < 4; ++i) out_.push_back(char((bits >> (8 * i)) & 0xff));
    return *this;
  }
  Message& message(int field, const Message& m) { return bytes(field, m.out_); }
  const std::string& str() const { return out_; }

 private:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(char(v | 0x80));
      v >>= 7;
    }
    out_.push_back(char(v));
  }
  void key(int field, int wire) { varint((std::uint64_t(field) << 3) | std::uint64_t(wire)); }
  std::string out_;
};

// onnx.proto's enums and field numbers used below.
namespace field {
enum Model { model_ir_version = 1, model_producer_name = 2, model_producer_version = 3, model_graph = 7, model_opset = 8 };
enum Opset { opset_domain = 1, opset_version = 2 };
enum Graph { graph_node = 1, graph_name = 2, graph_initializer = 5, graph_doc = 10, graph_input = 11, graph_output = 12 };
enum Node { node_input = 1, node_output = 2, node_name = 3, node_op_type = 4, node_attribute = 5 };
enum Attribute { attr_name = 1, attr_f = 2, attr_i = 3, attr_s = 4, attr_ints = 8, attr_type = 20 };
enum AttributeType { type_float = 1, type_int = 2, type_string = 3, type_ints = 7 };
enum Tensor { tensor_dims = 1, tensor_data_type = 2, tensor_name = 8, tensor_raw_data = 9 };
enum DataType { float32 = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7 };
enum ValueInfo { value_name = 1, value_type = 2 };
enum Type { type_tensor = 1, tensor_elem_type = 1, tensor_shape = 2, shape_dim = 1, dim_value = 1, dim_param = 2 };
}  // namespace field

// ---- graph builder ------------------------------------------------------------------------------

struct Attribute {
  std::string name;
  enum Kind { integer, real, integers, text } kind = integer;
  std::int64_t i = 0;
  float f = 0;
  std::vector<std::int64_t> ints;
  std::string s;
};
inline Attribute attr(std::string name, std::int64_t v) { return {std::move(name), Attribute::integer, v, 0, {}, {}}; }
inline Attribute attr(std::string name, int v) { return attr(std::move(name), std::int64_t(v)); }
inline Attribute attr(std::string name, float v) { return {std::move(name), Attribute::real, 0, v, {}, {}}; }
inline Attribute attr(std::string name, std::vector<std::int64_t> v) {
  return {std::move(name), Attribute::integers, 0, 0, std::move(v), {}};
}
inline Attribute attr_string(std::string name, std::string v) {
  return {std::move(name), Attribute::text, 0, 0, {}, std::move(v)};
}

template <class L>
inline constexpr bool no_mapping = false;

// A layer's mapping onto graph G (onnx::Graph, or quant::Recorder, which records the same calls as an
// int8 program): its to_onnx, or a compile-time error naming the layer type.
template <class G, class L>
std::string emit_layer(G& graph, L& layer, const std::string& input, const std::string& path) {
  if constexpr (requires { { layer.to_onnx(graph, input, path) } -> std::convertible_to<std::string>; })
    return layer.to_onnx(graph, input, path);
  else
    static_assert(no_mapping<L>, "ONNX export: this layer has no to_onnx mapping (see docs/deployment.md)");
}

// The graph being built: nodes in order, initializers (weights), unique value names. Layers add to it
// through the helpers, which take NHWC/Keras-layout data and write NCHW/ONNX-layout tensors.
class Graph {
 public:
  explicit Graph(std::string name = "lanmsff") : name_(std::move(name)) { names_.insert_unique("input"); }

  // The layer's mapping (emit_layer below).
  template <class L>
  std::string emit(L& layer, const std::string& input, const std::string& path) {
    return emit_layer(*this, layer, input, path);
  }

  // A value name not used before, made from the layer path and a suffix (ONNX names are free text;
  // the paths make the graph readable in Netron and its errors traceable to a layer).
  std::string fresh(const std::string& path, std::string_view suffix = {}) {
    std::string base = path.empty() ? std::string("value") : path;
    if (!suffix.empty()) base += "/" + std::string(suffix);
    std::string name = base;
    for (int k = 1; !names_.insert_unique(name); ++k) name = base + "_" + std::to_string(k);
    return name;
  }

  template <class T>
  std::string initializer(const std::string& path, std::string_view suffix, std::vector<std::int64_t> dims,
                          const std::vector<T>& values) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::int32_t> ||
                  std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t>);
    std::size_t count = 1;
    for (auto d : dims) count *= std::size_t(d);
    if (count != values.size()) throw std::logic_error("ONNX export: initializer " + std::string(suffix) + " size mismatch");
    const std::string name = fresh(path, suffix);
    Message t;
    for (auto d : dims) t.integer(field::tensor_dims, d);
    t.integer(field::tensor_data_type, data_type<T>());
    t.bytes(field::tensor_name, name);
    std::string raw(values.size() * sizeof(T), '\0');  // little-endian, as ONNX's raw_data is
    for (std::size_t i = 0; i < values.size(); ++i) {
      using U = std::conditional_t<sizeof(T) == 1, std::uint8_t, std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>;
      const U bits = std::bit_cast<U>(values[i]);
      for (std::size_t b = 0; b < sizeof(T); ++b) raw[i * sizeof(T) + b] = char((bits >> (8 * b)) & 0xff);
    }
    t.bytes(field::tensor_raw_data, raw);
    graph_.message(field::graph_initializer, t);
    return name;
  }
  std::string int64s(const std::string& path, std::string_view suffix, std::vector<std::int64_t> values) {
    const std::int64_t n = std::int64_t(values.size());
    return initializer<std::int64_t>(path, suffix, {n}, values);
  }

  // One node; returns its (single) output's name.
  std::string node(std::string_view op, const std::vector<std::string>& inputs, const std::string& path,
                   const std::vector<Attribute>& attributes = {}) {
    return add_node(op, inputs, fresh(path, op), attributes);
  }
  // A node whose output has exactly this name (the graph's outputs).
  std::string named_node(std::string_view op, const std::vector<std::string>& inputs, const std::string& output,
                         const std::vector<Attribute>& attributes = {}) {
    if (!names_.insert_unique(output)) throw std::logic_error("ONNX export: the name " + output + " is taken");
    return add_node(op, inputs, output, attributes);
  }

 private:
  std::string add_node(std::string_view op, const std::vector<std::string>& inputs, const std::string& output,
                       const std::vector<Attribute>& attributes) {
    Message n;
    for (const auto& in : inputs) n.bytes(field::node_input, in);
    n.bytes(field::node_output, output);
    n.bytes(field::node_name, output);
    n.bytes(field::node_op_type, op);
    for (const auto& a : attributes) {
      Message m;
      m.bytes(field::attr_name, a.name);
      switch (a.kind) {
        case Attribute::integer: m.integer(field::attr_i, a.i).integer(field::attr_type, field::type_int); break;
        case Attribute::real: m.real(field::attr_f, a.f).integer(field::attr_type, field::type_float); break;
        case Attribute::integers:
          for (auto v : a.ints) m.integer(field::attr_ints, v);
          m.integer(field::attr_type, field::type_ints);
          break;
        case Attribute::text: m.bytes(field::attr_s, a.s).integer(field::attr_type, field::type_string); break;
      }
      n.message(field::node_attribute, m);
    }
    graph_.message(field::graph_node, n);
    ++nodes_;
    return output;
  }

 public:
  // ---- helpers for the layers' mappings (data in the library's layouts) ------------------------

  // A convolution of geometry g: kernel HWIO (k, k, Ci, Co), or (k, k, C) for a depthwise one.
  template <class T>
  std::string conv(const std::string& path, const std::string& x, const ConvGeometry& g, const T* kernel,
                   const T* bias, bool depthwise = false) {
    const int co = depthwise ? g.in_c : g.out_c;
    return node("Conv", weighted(path, x, conv_kernel_dims(g, depthwise), conv_kernel<float>(g, kernel, depthwise), bias, co),
                path, conv_attributes(g, depthwise));
  }

  // A convolution's ONNX kernel (out, in / group, k_h, k_w), as U, from the library's HWIO (or, depthwise,
  // HWC) layout; its dims; the Conv node's attributes.
  template <class U, class T>
  static std::vector<U> conv_kernel(const ConvGeometry& g, const T* kernel, bool depthwise) {
    const int co = depthwise ? g.in_c : g.out_c, ci = depthwise ? 1 : g.in_c;
    return reorder<U>(g, co, ci, kernel, [&](int o, int i, int y, int xx) {
      const std::size_t pixel = std::size_t(y) * g.k_w + xx;
      return depthwise ? pixel * g.in_c + o : (pixel * g.in_c + i) * g.out_c + o;
    });
  }
  static std::vector<std::int64_t> conv_kernel_dims(const ConvGeometry& g, bool depthwise) {
    return {depthwise ? g.in_c : g.out_c, depthwise ? 1 : g.in_c, g.k_h, g.k_w};
  }
  static std::vector<Attribute> conv_attributes(const ConvGeometry& g, bool depthwise) {
    std::vector<Attribute> attributes = window(g);
    attributes.push_back(attr("pads", pads(g)));
    attributes.push_back(attr("group", depthwise ? g.in_c : 1));
    return attributes;
  }

  // ONNX pads (top, left, bottom, right) of geometry g: TensorFlow's 'same' puts the odd one after;
  // after the input, what makes the last output's window end inside it (none where the division
  // floors the rest away).
  static std::vector<std::int64_t> pads(const ConvGeometry& g) {
    const auto after = [&](int in, int out, int k, int before) {
      const int need = (out - 1) * g.stride + (k - 1) * g.dilation + 1 - in - before;
      return need > 0 ? need : 0;
    };
    return {g.pad_top, g.pad_left, after(g.in_h, g.out_h, g.k_h, g.pad_top), after(g.in_w, g.out_w, g.k_w, g.pad_left)};
  }

  // The transpose of the convolution g (output_shape -> In): kernel (k, k, out, in) as Keras stores it.
  // ONNX Runtime and OpenCV differ on asymmetric pads of ConvTranspose, so the full output is
  // computed and the rows and columns g's padding adds are sliced off.
  template <class T>
  std::string conv_transpose(const std::string& path, const std::string& x, const ConvGeometry& g, const T* kernel,
                             const T* bias) {
    // Here g.in_* is the layer's output and g.out_* its input; ONNX's weight is (in, out, k, k).
    const int ci = g.out_c, co = g.in_c;
    const auto at = [&](int i, int o, int y, int xx) { return ((std::size_t(y) * g.k_w + xx) * co + o) * ci + i; };
    std::string y =
        node("ConvTranspose", weighted(path, x, {ci, co, g.k_h, g.k_w}, reorder<float>(g, ci, co, kernel, at), bias, co),
             path, window(g));
    const int full_h = (g.out_h - 1) * g.stride + (g.k_h - 1) * g.dilation + 1;
    const int full_w = (g.out_w - 1) * g.stride + (g.k_w - 1) * g.dilation + 1;
    if (full_h == g.in_h && full_w == g.in_w && g.pad_top == 0 && g.pad_left == 0) return y;
    return slice(path, y, {2, 3}, {g.pad_top, g.pad_left}, {g.pad_top + g.in_h, g.pad_left + g.in_w});
  }

  // Inference BatchNorm: y = gamma (x - mean) / sqrt(var + epsilon) + beta.
  template <class T>
  std::string batch_norm(const std::string& path, const std::string& x, int C, const T* gamma, const T* beta,
                         const T* mean, const T* variance, double epsilon) {
    const auto vec = [&](const T* p) { return std::vector<float>(p, p + C); };
    return node("BatchNormalization",
                {x, initializer(path, "gamma", {C}, vec(gamma)), initializer(path, "beta", {C}, vec(beta)),
                 initializer(path, "moving_mean", {C}, vec(mean)), initializer(path, "moving_variance", {C}, vec(variance))},
                path, {attr("epsilon", float(epsilon))});
  }

  // Dense (kernel (C, units)) applied to every pixel of an (H, W, C) map, as a 1x1 convolution.
  template <class T>
  std::string dense(const std::string& path, const std::string& x, Shape in, int units, const T* kernel, const T* bias) {
    return conv(path, x, make_conv_geometry(in, units, 1, 1, 1, valid), kernel, bias);
  }

  // An (H, W, C) map flattened in NHWC order (Keras' Flatten on channels-last data) as (H W C, 1, 1).
  std::string flatten_nhwc(const std::string& path, const std::string& x, Shape in) {
    if (in.h == 1 && in.w == 1) return x;
    const std::string nhwc = node("Transpose", {x}, path, {attr("perm", std::vector<std::int64_t>{0, 2, 3, 1})});
    return node("Reshape", {nhwc, int64s(path, "shape", {-1, std::int64_t(in.h) * in.w * in.c, 1, 1})}, path);
  }

  // MaxPool / AveragePool of geometry g (window k_h x k_w, stride, TensorFlow padding as explicit pads).
  std::string pool(std::string_view op, const std::string& path, const std::string& x, const ConvGeometry& g) {
    return node(op, {x}, path,
                {attr("kernel_shape", std::vector<std::int64_t>{g.k_h, g.k_w}),
                 attr("strides", std::vector<std::int64_t>{g.stride, g.stride}), attr("pads", pads(g))});
  }

  // A reduction over the channels of an (H, W, C) map, keeping a 1-channel map (ReduceMean,
  // ReduceMax). The Reshape after it restates the shape, which OpenCV 4.6's importer gets wrong (a
  // 5-D blob) after a reduction over the channels.
  std::string reduce_channels(std::string_view op, const std::string& path, const std::string& x, Shape in) {
    const std::string r = node(op, {x}, path, {attr("axes", std::vector<std::int64_t>{1}), attr("keepdims", 1)});
    return node("Reshape", {r, int64s(path, "shape", {-1, 1, in.h, in.w})}, path);
  }

  std::string slice(const std::string& path, const std::string& x, std::vector<std::int64_t> axes,
                    std::vector<std::int64_t> starts, std::vector<std::int64_t> ends) {
    return node("Slice", {x, int64s(path, "starts", std::move(starts)), int64s(path, "ends", std::move(ends)),
                          int64s(path, "axes", std::move(axes))},
                path);
  }

  // ShuffleNet's channel shuffle of a (C, H, W) map in G groups: reshape (G, C/G), transpose, flatten.
  std::string channel_shuffle(const std::string& path, const std::string& x, Shape s, int groups) {
    const std::string grouped = node("Reshape", {x, int64s(path, "grouped", {-1, groups, s.c / groups, s.h, s.w})}, path);
    const std::string swapped = node("Transpose", {grouped}, path, {attr("perm", std::vector<std::int64_t>{0, 2, 1, 3, 4})});
    return node("Reshape", {swapped, int64s(path, "shape", {-1, s.c, s.h, s.w})}, path);
  }

  // A (1, H, W) map widened to (C, H, W) by a 1x1 convolution with weights 1 (each output is one
  // product by 1: exact).
  std::string widen_channels(const std::string& path, const std::string& x, int C) {
    return node("Conv", {x, initializer(path, "ones", {C, 1, 1, 1}, std::vector<float>(std::size_t(C), 1.0f))}, path,
                {attr("kernel_shape", std::vector<std::int64_t>{1, 1})});
  }

  std::string concat(const std::string& path, const std::vector<std::string>& inputs, int axis) {
    return node("Concat", inputs, path, {attr("axis", axis)});
  }

  // The product of maps of these (H, W, C) shapes, broadcast, multiplied left to right. Every map
  // smaller than the output is first brought to its shape, exactly: a 1x1 map by a nearest Resize, a
  // 1-channel map by a 1x1 convolution with weights 1 (OpenCV 4.6's importer fails on a Mul whose
  // operands differ in shape when the batch is dynamic).
  std::string multiply(const std::string& path, const std::vector<std::string>& inputs, const std::vector<Shape>& shapes) {
    Shape u{1, 1, 1};
    for (auto s : shapes) u = {std::max(u.h, s.h), std::max(u.w, s.w), std::max(u.c, s.c)};
    std::string product;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      std::string factor = inputs[i];
      const Shape t = shapes[i];
      if (t.h == 1 && t.w == 1 && (u.h > 1 || u.w > 1))
        factor = node("Resize", {factor, "", initializer(path, "scales", {4}, std::vector<float>{1, 1, float(u.h), float(u.w)})},
                      path, {attr_string("mode", "nearest")});
      if (t.c == 1 && u.c > 1) factor = widen_channels(path, factor, u.c);
      product = i == 0 ? factor : node("Mul", {product, factor}, path);
    }
    return product;
  }

  // PWFS's selection of three maps: (max + (a + b + c - max - min)) / 2, in MaxMedian's order.
  std::string max_median(const std::string& path, const std::string& a, const std::string& b, const std::string& c) {
    const std::string hi = node("Max", {a, b, c}, path), lo = node("Min", {a, b, c}, path);
    const std::string sum = node("Add", {node("Add", {a, b}, path), c}, path);
    const std::string median = node("Sub", {node("Sub", {sum, hi}, path), lo}, path);
    return node("Mul", {node("Add", {hi, median}, path), initializer(path, "half", {}, std::vector<float>{0.5f})}, path);
  }

  std::size_t nodes() const { return nodes_; }

  // The whole model: the graph input (N, C, H, W) with a dynamic batch, `outputs` (name, shape of
  // one sample), opset 13.
  std::string model(const std::string& input, Shape in, const std::vector<std::pair<std::string, std::vector<int>>>& outputs,
                    const std::string& doc = {}) const {
    Message g = graph_;
    g.bytes(field::graph_name, name_);
    if (!doc.empty()) g.bytes(field::graph_doc, doc);
    g.message(field::graph_input, value_info(input, {in.c, in.h, in.w}));
    for (const auto& [name, dims] : outputs) g.message(field::graph_output, value_info(name, dims));
    Message opset;
    opset.bytes(field::opset_domain, "").integer(field::opset_version, 13);
    Message m;
    m.integer(field::model_ir_version, 7)
        .bytes(field::model_producer_name, "lanmsff")
        .bytes(field::model_producer_version, version_string)
        .message(field::model_graph, g)
        .message(field::model_opset, opset);
    return m.str();
  }

 private:
  // kernel_shape, strides and dilations of geometry g.
  static std::vector<Attribute> window(const ConvGeometry& g) {
    return {attr("kernel_shape", std::vector<std::int64_t>{g.k_h, g.k_w}),
            attr("strides", std::vector<std::int64_t>{g.stride, g.stride}),
            attr("dilations", std::vector<std::int64_t>{g.dilation, g.dilation})};
  }

  // A weighted node's inputs: x, the kernel initializer, and the bias initializer (co values) if any.
  template <class T>
  std::vector<std::string> weighted(const std::string& path, const std::string& x, std::vector<std::int64_t> dims,
                                    std::vector<float> kernel, const T* bias, int co) {
    std::vector<std::string> inputs{x, initializer(path, "kernel", std::move(dims), std::move(kernel))};
    if (bias) inputs.push_back(initializer(path, "bias", {co}, std::vector<float>(bias, bias + co)));
    return inputs;
  }

  // A kernel as an (a, b, k_h, k_w) array whose element (p, q, y, x) is kernel[at(p, q, y, x)].
  template <class U, class T, class At>
  static std::vector<U> reorder(const ConvGeometry& g, int a, int b, const T* kernel, At at) {
    std::vector<U> w(std::size_t(a) * b * g.k_h * g.k_w);
    for (int p = 0; p < a; ++p)
      for (int q = 0; q < b; ++q)
        for (int y = 0; y < g.k_h; ++y)
          for (int xx = 0; xx < g.k_w; ++xx) w[((std::size_t(p) * b + q) * g.k_h + y) * g.k_w + xx] = U(kernel[at(p, q, y, xx)]);
    return w;
  }

  template <class T>
  static constexpr int data_type() {
    if constexpr (std::is_same_v<T, float>) return field::float32;
    else if constexpr (std::is_same_v<T, std::int64_t>) return field::int64;
    else if constexpr (std::is_same_v<T, std::int32_t>) return field::int32;
    else if constexpr (std::is_same_v<T, std::int8_t>) return field::int8;
    else return field::uint8;
  }

  // A float tensor's name and shape: a dynamic batch ("N"), then `dims`.
  static Message value_info(const std::string& name, const std::vector<int>& dims) {
    Message shape;
    shape.message(field::shape_dim, Message().bytes(field::dim_param, "N"));
    for (int d : dims) shape.message(field::shape_dim, Message().integer(field::dim_value, d));
    Message tensor;
    tensor.integer(field::tensor_elem_type, field::float32).message(field::tensor_shape, shape);
    Message type;
    type.message(field::type_tensor, tensor);
    Message v;
    v.bytes(field::value_name, name).message(field::value_type, type);
    return v;
  }

  struct NameSet {
    std::vector<std::string> sorted;
    bool insert_unique(const std::string& s) {
      auto it = std::lower_bound(sorted.begin(), sorted.end(), s);
      if (it != sorted.end() && *it == s) return false;
      sorted.insert(it, s);
      return true;
    }
  };

  std::string name_;
  Message graph_;
  NameSet names_;
  std::size_t nodes_ = 0;
};

struct ExportOptions {
  std::string graph_name = "lanmsff";
  std::string doc;            // free text stored in the graph (the model, its classes)
  bool probabilities = true;  // a second output: the class probabilities
  // 2 for a model whose output is two heads' logits side by side (MA-Net: 2K values for K classes):
  // the probabilities are then the softmax of beta * head 1 + (1 - beta) * head 2, as
  // TwoHeadLoss predicts (train/two_head_loss.hpp).
  int heads = 1;
  double beta = 0.6;
};

using Outputs = std::vector<std::pair<std::string, std::vector<int>>>;

// The graph's outputs after the network's output y (of shape `out` per sample). A network whose output
// is 1 x 1 x K has the outputs "logits" (N, K) and, unless turned off, "probabilities" (N, K / heads),
// the softmax of the logits (see ExportOptions::heads); any other output shape is one output "output"
// (N, C, H, W).
inline Outputs model_outputs(Graph& graph, const std::string& y, Shape out, const ExportOptions& options) {
  Outputs outputs;
  if (out.h != 1 || out.w != 1) {
    outputs.push_back({graph.named_node("Identity", {y}, "output"), {out.c, out.h, out.w}});
    return outputs;
  }
  const std::string flat = graph.node("Flatten", {y}, "head", {attr("axis", 1)});
  outputs.push_back({graph.named_node("Identity", {flat}, "logits"), {out.c}});
  if (options.heads != 1 && (options.heads != 2 || out.c % 2 != 0))
    throw std::invalid_argument("ONNX export: heads must be 1, or 2 for an even number of logits");
  std::string scores = flat;
  const int K = out.c / options.heads;
  if (options.heads == 2) {
    const auto weighted = [&](int first, double w) {
      const std::string head = graph.slice("heads", flat, {1}, {first}, {first + K});
      return graph.node("Mul", {head, graph.initializer("heads", "weight", {}, std::vector<float>{float(w)})}, "heads");
    };
    scores = graph.node("Add", {weighted(0, options.beta), weighted(K, 1 - options.beta)}, "heads");
  }
  if (options.probabilities) outputs.push_back({graph.named_node("Softmax", {scores}, "probabilities", {attr("axis", 1)}), {K}});
  return outputs;
}

// The ONNX model of `net` (a Network, or a layer), serialized: input "input" (N, C, H, W) float, the
// outputs of model_outputs.
template <class Net>
std::string export_model(Net& net, const ExportOptions& options = {}) {
  Graph graph(options.graph_name);
  std::string y;
  if constexpr (requires { net.root(); }) y = graph.emit(net.root(), "input", "");
  else y = graph.emit(net, "input", "");
  const Outputs outputs = model_outputs(graph, y, Net::output_shape, options);
  return graph.model("input", Net::input_shape, outputs, options.doc);
}

// Writes `bytes` (a serialized model) to `path`.
inline void write_model(const std::string& bytes, const std::string& path) {
  std::ofstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(path + ": cannot be opened for writing");
  file.write(bytes.data(), std::streamsize(bytes.size()));
  if (!file.flush()) throw std::runtime_error(path + ": write failed");
}

// Writes export_model(net) to `path`.
template <class Net>
void export_model(Net& net, const std::string& path, const ExportOptions& options = {}) {
  write_model(export_model(net, options), path);
}

}  // namespace lanmsff::onnx
