// A composed network recorded as a flat inference program: one node per operation, in the order the
// layers run, each with its weights copied out (library layouts) and the shape of its output. The
// int8 model (quant/int8_model.hpp) calibrates and runs this program; nothing in the layers is specific
// to it.
//
// The recording reuses the layers' ONNX mappings (io/onnx.hpp): Recorder offers the same helper
// interface as onnx::Graph (conv, batch_norm, slice, concat, multiply, ...), so every layer that can be
// exported can be recorded, and a layer without a mapping stops the recording at compile time. A
// mapping that emits an ONNX operator the program does not run (anything beyond Add, Relu, Sigmoid and
// the global pools through Graph::node) is a run-time error naming the layer.
//
// Values are per sample (H, W, C) maps in the library's NHWC layout; the ONNX graph's NCHW axes (1 C,
// 2 H, 3 W) are translated as they are recorded. run_float executes the program in float with the
// library's kernels: the reference the int8 model is calibrated on, and a check that the recording is
// exact (the tests compare it with the network's own forward).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/shape.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/io/onnx.hpp"
#include "lanmsff/kernels/conv.hpp"
#include "lanmsff/kernels/conv_geometry.hpp"
#include "lanmsff/kernels/depthwise.hpp"
#include "lanmsff/kernels/elementwise.hpp"
#include "lanmsff/kernels/pooling.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lanmsff::quant {

enum class OpKind {
  input,
  conv,            // dense convolution: kernel HWIO, optional bias
  depthwise,       // depthwise convolution: kernel (k_h, k_w, C), optional bias
  conv_transpose,  // the transpose of the convolution `geometry` (its output -> its input shape)
  batch_norm,      // per channel x * scale + shift (inference BatchNorm)
  relu,
  sigmoid,
  add,             // elementwise sum of inputs of one shape
  multiply,        // product of inputs, broadcast over the axes where an input has size 1
  max_median,      // PWFS: (max + median) / 2 of three maps
  slice,           // the box [begin, end) of the input, per axis (h, w, c)
  concat,          // along `axis` (0 h, 1 w, 2 c)
  shuffle,         // channel shuffle in `groups` groups
  max_pool,        // window and padding of `geometry` (padding never wins)
  global_avg_pool,
  global_max_pool,
  channel_mean,    // mean over channels -> (H, W, 1)
  channel_max,     // max over channels -> (H, W, 1)
  flatten,         // (H, W, C) -> (1, 1, H W C), the same bytes in NHWC
};

inline constexpr std::string_view op_name(OpKind k) {
  constexpr std::string_view names[] = {"input",    "conv",      "depthwise",  "conv_transpose",  "batch_norm",
                                        "relu",     "sigmoid",   "add",        "multiply",        "max_median",
                                        "slice",    "concat",    "shuffle",    "max_pool",        "global_avg_pool",
                                        "global_max_pool", "channel_mean", "channel_max", "flatten"};
  return names[int(k)];
}

struct Node {
  OpKind kind = OpKind::input;
  std::string name;         // the layer path that emitted it
  std::vector<int> inputs;  // value (node) indices
  Shape shape;              // one sample's output
  ConvGeometry geometry;    // conv, depthwise, conv_transpose, max_pool
  std::vector<float> kernel, bias;   // convolutions (bias empty: none)
  std::vector<float> scale, shift;   // batch_norm
  Shape begin, end;                  // slice
  int axis = 0, groups = 0;          // concat, shuffle
};

// Node i produces value i; node 0 is the input. Nodes are in execution order (every input precedes).
struct Program {
  Shape input_shape;
  std::vector<Node> nodes;
  int output = 0;

  std::size_t size() const { return nodes.size(); }
  // The nodes reading each value.
  std::vector<std::vector<int>> consumers() const {
    std::vector<std::vector<int>> c(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
      for (int v : nodes[i].inputs) c[std::size_t(v)].push_back(int(i));
    return c;
  }
};

// The graph interface of io/onnx.hpp, recording nodes instead of writing ONNX. A value's name is its
// index.
class Recorder {
 public:
  explicit Recorder(Shape input) {
    Node n;
    n.name = "input", n.shape = input;
    program_.input_shape = input;
    program_.nodes.push_back(std::move(n));
  }

  template <class L>
  std::string emit(L& layer, const std::string& input, const std::string& path) {
    return onnx::emit_layer(*this, layer, input, path);
  }

  std::string node(std::string_view op, const std::vector<std::string>& inputs, const std::string& path,
                   const std::vector<onnx::Attribute>& = {}) {
    const std::vector<int> in = values(inputs);
    const Shape s = shape(in.at(0));
    if (op == "Add") {
      for (int v : in)
        if (shape(v) != s) fail(path, "adds maps of different shapes");
      return add(OpKind::add, path, in, s);
    }
    if (op == "Relu") return add(OpKind::relu, path, in, s);
    if (op == "Sigmoid") return add(OpKind::sigmoid, path, in, s);
    if (op == "GlobalAveragePool") return add(OpKind::global_avg_pool, path, in, {1, 1, s.c});
    if (op == "GlobalMaxPool") return add(OpKind::global_max_pool, path, in, {1, 1, s.c});
    fail(path, "maps to the ONNX operator " + std::string(op) + ", which the int8 program does not run");
  }

  template <class T>
  std::string conv(const std::string& path, const std::string& x, const ConvGeometry& g, const T* kernel, const T* bias,
                   bool depthwise = false) {
    const int v = value(x);
    if (shape(v) != g.input_shape()) fail(path, "convolves a map of another shape than its geometry's");
    Node n = make(depthwise ? OpKind::depthwise : OpKind::conv, path, {v}, g.output_shape());
    n.geometry = g;
    const std::size_t taps = std::size_t(g.k_h) * g.k_w;
    n.kernel.assign(kernel, kernel + (depthwise ? taps * g.in_c : taps * g.in_c * g.out_c));
    if (bias) n.bias.assign(bias, bias + g.out_c);
    return push(std::move(n));
  }

  template <class T>
  std::string conv_transpose(const std::string& path, const std::string& x, const ConvGeometry& g, const T* kernel,
                             const T* bias) {
    const int v = value(x);
    if (shape(v) != g.output_shape()) fail(path, "transposes a convolution of another output shape");
    Node n = make(OpKind::conv_transpose, path, {v}, g.input_shape());
    n.geometry = g;
    n.kernel.assign(kernel, kernel + std::size_t(g.k_h) * g.k_w * g.in_c * g.out_c);
    if (bias) n.bias.assign(bias, bias + g.in_c);
    return push(std::move(n));
  }

  template <class T>
  std::string batch_norm(const std::string& path, const std::string& x, int C, const T* gamma, const T* beta,
                         const T* mean, const T* variance, double epsilon) {
    const int v = value(x);
    if (shape(v).c != C) fail(path, "normalises " + std::to_string(C) + " channels of a map with " + std::to_string(shape(v).c));
    Node n = make(OpKind::batch_norm, path, {v}, shape(v));
    for (int c = 0; c < C; ++c) {
      const double a = double(gamma[c]) / std::sqrt(double(variance[c]) + epsilon);
      n.scale.push_back(float(a));
      n.shift.push_back(float(double(beta[c]) - double(mean[c]) * a));
    }
    return push(std::move(n));
  }

  template <class T>
  std::string dense(const std::string& path, const std::string& x, Shape in, int units, const T* kernel, const T* bias) {
    return conv(path, x, make_conv_geometry(in, units, 1, 1, 1, valid), kernel, bias);
  }

  std::string flatten_nhwc(const std::string& path, const std::string& x, Shape in) {
    if (in.h == 1 && in.w == 1) return x;
    return add(OpKind::flatten, path, {value(x)}, {1, 1, in.h * in.w * in.c});
  }

  std::string pool(std::string_view op, const std::string& path, const std::string& x, const ConvGeometry& g) {
    if (op != "MaxPool") fail(path, "is a " + std::string(op) + ", which the int8 program does not run");
    Node n = make(OpKind::max_pool, path, {value(x)}, g.output_shape());
    n.geometry = g;
    return push(std::move(n));
  }

  std::string reduce_channels(std::string_view op, const std::string& path, const std::string& x, Shape in) {
    if (op != "ReduceMean" && op != "ReduceMax") fail(path, "reduces channels by " + std::string(op));
    return add(op == "ReduceMean" ? OpKind::channel_mean : OpKind::channel_max, path, {value(x)}, {in.h, in.w, 1});
  }

  std::string slice(const std::string& path, const std::string& x, std::vector<std::int64_t> axes,
                    std::vector<std::int64_t> starts, std::vector<std::int64_t> ends) {
    const int v = value(x);
    const Shape s = shape(v);
    Node n = make(OpKind::slice, path, {v}, s);
    n.begin = {0, 0, 0}, n.end = s;
    for (std::size_t i = 0; i < axes.size(); ++i) {
      int* b = axes[i] == 1 ? &n.begin.c : axes[i] == 2 ? &n.begin.h : axes[i] == 3 ? &n.begin.w : nullptr;
      int* e = axes[i] == 1 ? &n.end.c : axes[i] == 2 ? &n.end.h : axes[i] == 3 ? &n.end.w : nullptr;
      if (!b) fail(path, "slices the batch axis");
      const std::int64_t size = *e;
      if (starts[i] < 0 || starts[i] >= ends[i] || starts[i] >= size) fail(path, "slices an empty or negative range");
      *b = int(starts[i]), *e = int(std::min(ends[i], size));
    }
    n.shape = {n.end.h - n.begin.h, n.end.w - n.begin.w, n.end.c - n.begin.c};
    return push(std::move(n));
  }

  std::string channel_shuffle(const std::string& path, const std::string& x, Shape s, int groups) {
    Node n = make(OpKind::shuffle, path, {value(x)}, s);
    n.groups = groups;
    return push(std::move(n));
  }

  std::string concat(const std::string& path, const std::vector<std::string>& inputs, int axis) {
    const std::vector<int> in = values(inputs);
    Shape s = shape(in[0]);
    const int a = axis == 1 ? 2 : axis == 2 ? 0 : axis == 3 ? 1 : -1;
    if (a < 0) fail(path, "concatenates along the batch axis");
    for (std::size_t i = 1; i < in.size(); ++i) {
      const Shape t = shape(in[i]);
      if ((a != 0 && t.h != s.h) || (a != 1 && t.w != s.w) || (a != 2 && t.c != s.c)) fail(path, "concatenates maps that do not fit");
      (a == 0 ? s.h : a == 1 ? s.w : s.c) += (a == 0 ? t.h : a == 1 ? t.w : t.c);
    }
    Node n = make(OpKind::concat, path, in, s);
    n.axis = a;
    return push(std::move(n));
  }

  std::string multiply(const std::string& path, const std::vector<std::string>& inputs, const std::vector<Shape>& shapes) {
    const std::vector<int> in = values(inputs);
    Shape u{1, 1, 1};
    for (std::size_t i = 0; i < in.size(); ++i) {
      const Shape t = shape(in[i]);
      if (t != shapes[i]) fail(path, "multiplies a map of another shape than its merge declares");
      u = {std::max(u.h, t.h), std::max(u.w, t.w), std::max(u.c, t.c)};
    }
    for (int v : in) {
      const Shape t = shape(v);
      if ((t.h != 1 && t.h != u.h) || (t.w != 1 && t.w != u.w) || (t.c != 1 && t.c != u.c)) fail(path, "multiplies maps that do not broadcast");
    }
    return add(OpKind::multiply, path, in, u);
  }

  std::string max_median(const std::string& path, const std::string& a, const std::string& b, const std::string& c) {
    const std::vector<int> in = values({a, b, c});
    if (shape(in[1]) != shape(in[0]) || shape(in[2]) != shape(in[0])) fail(path, "selects among maps of different shapes");
    return add(OpKind::max_median, path, in, shape(in[0]));
  }

  Program finish(const std::string& output) && {
    program_.output = value(output);
    return std::move(program_);
  }

 private:
  [[noreturn]] static void fail(const std::string& path, const std::string& what) {
    throw std::invalid_argument("int8 program: " + (path.empty() ? std::string("the network") : "layer '" + path + "'") + " " + what);
  }
  int value(const std::string& name) const {
    std::size_t used = 0;
    const int v = std::stoi(name, &used);
    if (used != name.size() || v < 0 || std::size_t(v) >= program_.nodes.size())
      throw std::logic_error("int8 program: unknown value '" + name + "'");
    return v;
  }
  std::vector<int> values(const std::vector<std::string>& names) const {
    std::vector<int> v;
    for (const auto& n : names) v.push_back(value(n));
    if (v.empty()) throw std::logic_error("int8 program: an operation without inputs");
    return v;
  }
  Shape shape(int v) const { return program_.nodes[std::size_t(v)].shape; }
  static Node make(OpKind kind, const std::string& path, std::vector<int> inputs, Shape s) {
    Node n;
    n.kind = kind, n.name = path, n.inputs = std::move(inputs), n.shape = s;
    return n;
  }
  std::string push(Node n) {
    program_.nodes.push_back(std::move(n));
    return std::to_string(program_.nodes.size() - 1);
  }
  std::string add(OpKind kind, const std::string& path, std::vector<int> inputs, Shape s) {
    return push(make(kind, path, std::move(inputs), s));
  }

  Program program_;
};

// ReLU after a 2x2 (or any) max pool is the same as before it (max commutes with a monotone map).
// Moving it before lets the int8 model fold it into the convolution that feeds the pool. The pool's
// value becomes the ReLU's and the ReLU's the pool's, so every reader of the pair is unchanged.
inline void move_relu_before_pool(Program& p) {
  const auto consumers = p.consumers();
  for (std::size_t i = 1; i < p.nodes.size(); ++i) {
    Node& pool = p.nodes[i];
    if (pool.kind != OpKind::max_pool || consumers[i].size() != 1 || int(i) == p.output) continue;
    Node& relu = p.nodes[std::size_t(consumers[i][0])];
    if (relu.kind != OpKind::relu) continue;
    const int source = pool.inputs[0];
    const Shape pooled = pool.shape;
    const ConvGeometry g = pool.geometry;
    std::string pool_name = pool.name;
    pool.kind = OpKind::relu, pool.shape = p.nodes[std::size_t(source)].shape, pool.name = relu.name;
    relu.kind = OpKind::max_pool, relu.shape = pooled, relu.geometry = g, relu.name = std::move(pool_name);
  }
}

// A product read only by another product becomes factors of the outer one: MassAtt's x * (channel
// attention * spatial attention) is then one pass over x with two broadcast factors, instead of a
// full-size product of the attentions first. (Float rounding may differ in the last bit.)
inline void merge_products(Program& p) {
  const auto consumers = p.consumers();
  for (std::size_t i = 1; i < p.nodes.size(); ++i) {
    Node& outer = p.nodes[i];
    if (outer.kind != OpKind::multiply) continue;
    std::vector<int> factors;
    for (int v : outer.inputs) {
      const Node& inner = p.nodes[std::size_t(v)];
      if (inner.kind == OpKind::multiply && consumers[std::size_t(v)].size() == 1 && v != p.output)
        factors.insert(factors.end(), inner.inputs.begin(), inner.inputs.end());
      else
        factors.push_back(v);
    }
    outer.inputs = std::move(factors);
  }
}

// Removes the nodes the output does not depend on, renumbering the rest (in order).
inline void prune(Program& p) {
  std::vector<char> live(p.nodes.size(), 0);
  live[std::size_t(p.output)] = 1, live[0] = 1;
  for (std::size_t i = p.nodes.size(); i-- > 1;)
    if (live[i])
      for (int v : p.nodes[i].inputs) live[std::size_t(v)] = 1;
  std::vector<int> index(p.nodes.size(), -1);
  std::vector<Node> kept;
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    if (!live[i]) continue;
    index[i] = int(kept.size());
    kept.push_back(std::move(p.nodes[i]));
    for (int& v : kept.back().inputs) v = index[std::size_t(v)];
  }
  p.output = index[std::size_t(p.output)];
  p.nodes = std::move(kept);
}

// The program of a Network (its root) or a layer, with the ReLUs after pools moved before them, nested
// products merged, and what the output does not need removed.
template <class Net>
Program record(Net& net) {
  Recorder r(Net::input_shape);
  std::string y;
  if constexpr (requires { net.root(); }) y = r.emit(net.root(), "0", "");
  else y = r.emit(net, "0", "");
  Program p = std::move(r).finish(y);
  move_relu_before_pool(p);
  merge_products(p);
  prune(p);
  return p;
}

namespace detail {

// The operations that only move values, for float and uint8 alike.
template <class T>
void slice_values(const Node& n, Shape xs, const T* x, int batch, T* y) {
  const Shape s = n.shape;
  parallel_for(0, std::ptrdiff_t(batch) * s.h, [&](std::ptrdiff_t row) {
    const int b = int(row / s.h), r = int(row % s.h);
    const T* src = x + std::size_t(b) * xs.size() + (std::size_t(n.begin.h + r) * xs.w + std::size_t(n.begin.w)) * xs.c + std::size_t(n.begin.c);
    T* out = y + std::size_t(row) * std::size_t(s.w) * std::size_t(s.c);
    for (int xx = 0; xx < s.w; ++xx) std::copy_n(src + std::size_t(xx) * std::size_t(xs.c), s.c, out + std::size_t(xx) * std::size_t(s.c));
  });
}

// remap (uint8 only): per input, a table applied while copying, or empty (a plain copy). A null input is
// skipped (its place in y is written by its producer).
template <class T>
void concat_values(const Node& n, const std::vector<const Shape*>& in_shapes, const std::vector<const T*>& in, int batch, T* y,
                   const std::vector<std::vector<std::uint8_t>>& remap) {
  const Shape s = n.shape;
  parallel_for(0, batch, [&](std::ptrdiff_t b) {
    int offset = 0;  // along the axis
    for (std::size_t k = 0; k < in.size(); ++k) {
      const Shape t = *in_shapes[k];
      if (!in[k]) {  // written in place by its producer
        offset += n.axis == 0 ? t.h : n.axis == 1 ? t.w : t.c;
        continue;
      }
      const std::uint8_t* table = k < remap.size() && !remap[k].empty() ? remap[k].data() : nullptr;
      for (int r = 0; r < t.h; ++r)
        for (int xx = 0; xx < t.w; ++xx) {
          const int oy = r + (n.axis == 0 ? offset : 0), ox = xx + (n.axis == 1 ? offset : 0), oc = n.axis == 2 ? offset : 0;
          const T* src = in[k] + std::size_t(b) * t.size() + (std::size_t(r) * t.w + std::size_t(xx)) * t.c;
          T* dst = y + std::size_t(b) * s.size() + (std::size_t(oy) * s.w + std::size_t(ox)) * s.c + std::size_t(oc);
          if constexpr (std::is_same_v<T, std::uint8_t>) {
            if (table) {
              for (int c = 0; c < t.c; ++c) dst[c] = table[src[c]];
              continue;
            }
          }
          std::copy_n(src, t.c, dst);
        }
      offset += n.axis == 0 ? t.h : n.axis == 1 ? t.w : t.c;
    }
  });
}

// Output channel j * groups + g is input channel g * (C / groups) + j. Bytes in two groups (TwoPath's
// shuffle) interleave 16 at a time where the CPU has SSE2.
template <class T>
void shuffle_values(const Node& n, const T* x, int batch, T* y) {
  const int C = n.shape.c, G = n.groups, per = C / G;
  parallel_rows(std::size_t(batch) * std::size_t(n.shape.h) * std::size_t(n.shape.w), std::size_t(C), [&](std::size_t begin, std::size_t count) {
    for (std::size_t p = begin; p < begin + count; ++p) {
      const T* src = x + p * std::size_t(C);
      T* out = y + p * std::size_t(C);
      int j = 0;
#if defined(__SSE2__)
      if constexpr (sizeof(T) == 1)
        if (G == 2)
          for (; j + 16 <= per; j += 16) {
            const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j));
            const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + per + j));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * j), _mm_unpacklo_epi8(a, b));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * j + 16), _mm_unpackhi_epi8(a, b));
          }
#endif
      for (; j < per; ++j)
        for (int g = 0; g < G; ++g) out[j * G + g] = src[g * per + j];
    }
  });
}

// A slice, shuffle or concatenation of uint8 values (Int8Model).
inline void move_values(const Node& n, const std::vector<const Shape*>& in_shapes, const std::vector<const std::uint8_t*>& in, int batch,
                        std::uint8_t* y, const std::vector<std::vector<std::uint8_t>>& remap) {
  switch (n.kind) {
    case OpKind::slice: slice_values(n, *in_shapes[0], in[0], batch, y); return;
    case OpKind::shuffle: shuffle_values(n, in[0], batch, y); return;
    case OpKind::concat: concat_values(n, in_shapes, in, batch, y, remap); return;
    default: throw std::logic_error("int8 program: " + std::string(op_name(n.kind)) + " does not move uint8 values");
  }
}

// Node `n` on a batch of `batch` samples: inputs[i] holds input i, y the output (sized by the caller).
inline void run_node(const Node& n, const std::vector<const Shape*>& in_shapes, const std::vector<const float*>& in,
                     int batch, float* y) {
  const Shape s = n.shape;
  const std::size_t out_size = s.size(), count = std::size_t(batch) * out_size;
  const float* x = in[0];
  const Shape xs = *in_shapes[0];
  const float* bias = n.bias.empty() ? nullptr : n.bias.data();
  switch (n.kind) {
    case OpKind::input: throw std::logic_error("int8 program: the input is not run");
    case OpKind::conv:
      kernels::conv2d_forward(n.geometry, batch, x, n.kernel.data(), bias, y, nullptr, WeightUse::repeated);
      return;
    case OpKind::depthwise: kernels::depthwise_forward(n.geometry, batch, x, n.kernel.data(), bias, y); return;
    case OpKind::conv_transpose:
      kernels::conv2d_backward_data(n.geometry, batch, x, n.kernel.data(), y);
      if (bias)
        parallel_for(0, std::ptrdiff_t(count / std::size_t(s.c)), [&](std::ptrdiff_t p) {
          for (int c = 0; c < s.c; ++c) y[std::size_t(p) * std::size_t(s.c) + std::size_t(c)] += bias[c];
        });
      return;
    case OpKind::batch_norm:
      parallel_for(0, std::ptrdiff_t(count / std::size_t(s.c)), [&](std::ptrdiff_t p) {
        const std::size_t o = std::size_t(p) * std::size_t(s.c);
        for (int c = 0; c < s.c; ++c) y[o + std::size_t(c)] = x[o + std::size_t(c)] * n.scale[std::size_t(c)] + n.shift[std::size_t(c)];
      });
      return;
    case OpKind::relu: kernels::relu_forward(count, x, y); return;
    case OpKind::sigmoid:  // as the Sigmoid layer: 1 / (1 + e) or e / (1 + e), e = exp(-|x|)
      parallel_chunks(count, [&](std::size_t b, std::size_t m) {
        for (std::size_t i = b; i < b + m; ++i) {
          const float e = std::exp(-std::abs(x[i]));
          y[i] = x[i] >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
        }
      });
      return;
    case OpKind::add:
      parallel_chunks(count, [&](std::size_t b, std::size_t m) {
        for (std::size_t i = b; i < b + m; ++i) {
          float sum = in[0][i];
          for (std::size_t k = 1; k < in.size(); ++k) sum += in[k][i];
          y[i] = sum;
        }
      });
      return;
    case OpKind::multiply:
      parallel_for(0, std::ptrdiff_t(batch) * s.h, [&](std::ptrdiff_t row) {
        const int b = int(row / s.h), r = int(row % s.h);
        float* out = y + std::size_t(row) * std::size_t(s.w) * std::size_t(s.c);
        for (std::size_t k = 0; k < in.size(); ++k) {
          const Shape t = *in_shapes[k];
          const float* src = in[k] + std::size_t(b) * t.size() + std::size_t(t.h == 1 ? 0 : r) * std::size_t(t.w) * std::size_t(t.c);
          for (int xx = 0; xx < s.w; ++xx) {
            const float* px = src + std::size_t(t.w == 1 ? 0 : xx) * std::size_t(t.c);
            float* o = out + std::size_t(xx) * std::size_t(s.c);
            for (int c = 0; c < s.c; ++c) {
              const float f = px[t.c == 1 ? 0 : c];
              o[c] = k == 0 ? f : o[c] * f;
            }
          }
        }
      });
      return;
    case OpKind::max_median:  // MaxMedian's formula, in its order
      parallel_chunks(count, [&](std::size_t b, std::size_t m) {
        const float *a = in[0], *bb = in[1], *c = in[2];
        for (std::size_t i = b; i < b + m; ++i) {
          const float hi = std::max(a[i], std::max(bb[i], c[i])), lo = std::min(a[i], std::min(bb[i], c[i]));
          y[i] = (hi + (a[i] + bb[i] + c[i] - hi - lo)) * 0.5f;
        }
      });
      return;
    case OpKind::slice: slice_values(n, xs, x, batch, y); return;
    case OpKind::concat: concat_values(n, in_shapes, in, batch, y, {}); return;
    case OpKind::shuffle: shuffle_values(n, x, batch, y); return;
    case OpKind::max_pool: kernels::maxpool_forward(n.geometry, batch, x, y); return;
    case OpKind::global_avg_pool:
    case OpKind::global_max_pool: {
      const bool mean = n.kind == OpKind::global_avg_pool;
      const std::size_t pixels = std::size_t(xs.h) * std::size_t(xs.w);
      parallel_for(0, batch, [&](std::ptrdiff_t b) {
        const float* src = x + std::size_t(b) * xs.size();
        float* out = y + std::size_t(b) * std::size_t(s.c);
        std::copy_n(src, s.c, out);
        for (std::size_t p = 1; p < pixels; ++p)
          for (int c = 0; c < s.c; ++c) out[c] = mean ? out[c] + src[p * std::size_t(s.c) + std::size_t(c)]
                                                      : std::max(out[c], src[p * std::size_t(s.c) + std::size_t(c)]);
        if (mean)
          for (int c = 0; c < s.c; ++c) out[c] *= 1.0f / float(pixels);
      });
      return;
    }
    case OpKind::channel_mean:
    case OpKind::channel_max: {
      const bool mean = n.kind == OpKind::channel_mean;
      parallel_rows(count, std::size_t(xs.c), [&](std::size_t b, std::size_t m) {
        for (std::size_t p = b; p < b + m; ++p) {
          const float* px = x + p * std::size_t(xs.c);
          float r = px[0];
          for (int c = 1; c < xs.c; ++c) r = mean ? r + px[c] : std::max(r, px[c]);
          y[p] = mean ? r * (1.0f / float(xs.c)) : r;
        }
      });
      return;
    }
    case OpKind::flatten: std::copy_n(x, count, y); return;
  }
}

}  // namespace detail

// Runs `p` in float on `batch` samples of `input` (batch x input shape, NHWC) and returns the output
// (batch x output shape). `visit(value, data, count)`, if given, sees every value as it is computed.
// Each value's buffer is released after its last reader.
inline std::vector<float> run_float(const Program& p, const float* input, int batch,
                                    const std::function<void(int, const float*, std::size_t)>& visit = {}) {
  if (batch < 1) throw std::invalid_argument("int8 program: the batch must hold at least one sample");
  std::vector<int> last(p.size(), -1);
  for (std::size_t i = 0; i < p.size(); ++i)
    for (int v : p.nodes[i].inputs) last[std::size_t(v)] = int(i);
  std::vector<AlignedVector<float>> values(p.size());
  const std::size_t in_count = std::size_t(batch) * p.input_shape.size();
  values[0].assign(input, input + in_count);
  if (visit) visit(0, values[0].data(), in_count);
  for (std::size_t i = 1; i < p.size(); ++i) {
    const Node& n = p.nodes[i];
    std::vector<const float*> in;
    std::vector<const Shape*> shapes;
    for (int v : n.inputs) in.push_back(values[std::size_t(v)].data()), shapes.push_back(&p.nodes[std::size_t(v)].shape);
    values[i].resize(std::size_t(batch) * n.shape.size());
    detail::run_node(n, shapes, in, batch, values[i].data());
    if (visit) visit(int(i), values[i].data(), values[i].size());
    for (int v : n.inputs)
      if (last[std::size_t(v)] == int(i) && v != p.output) AlignedVector<float>().swap(values[std::size_t(v)]);
  }
  return {values[std::size_t(p.output)].begin(), values[std::size_t(p.output)].end()};
}

}  // namespace lanmsff::quant
