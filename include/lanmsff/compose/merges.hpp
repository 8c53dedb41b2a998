// Merges combine the outputs of Parallel branches. A merge spec has a nested
// `merge<T, Shape... Inputs>` with `output_shape`, forward(inputs, output) and
// backward(inputs, output, grad_output, grad_inputs) (grad_inputs overwritten).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/core/tensor.hpp"
#include "lanmsff/kernels/copy.hpp"

namespace lanmsff {

template <class T, std::size_t B>
using MergeInputs = std::array<const Tensor<T>*, B>;
template <class T, std::size_t B>
using MergeGrads = std::array<Tensor<T>*, B>;

enum class Axis { height, width, channels };

// Concatenation along an axis (channels by default, as Keras' Concatenate(axis=-1)).
template <Axis A = Axis::channels>
struct Concat {
  template <class T, Shape... S>
  struct merge {
    static constexpr std::size_t count = sizeof...(S);
    static constexpr std::array<Shape, count> inputs{S...};
    static constexpr Shape compute() {
      Shape out = inputs[0];
      for (std::size_t i = 1; i < count; ++i) {
        if constexpr (A == Axis::channels) out.c += inputs[i].c;
        if constexpr (A == Axis::height) out.h += inputs[i].h;
        if constexpr (A == Axis::width) out.w += inputs[i].w;
      }
      return out;
    }
    static constexpr bool compatible() {
      for (auto s : inputs) {
        if (A != Axis::height && s.h != inputs[0].h) return false;
        if (A != Axis::width && s.w != inputs[0].w) return false;
        if (A != Axis::channels && s.c != inputs[0].c) return false;
      }
      return true;
    }
    static_assert(compatible(), "Concat: branch outputs must agree on every axis except the concatenation axis");
    static constexpr Shape output_shape = compute();

    // Input I's offset along the axis (the extents of the inputs before it).
    template <std::size_t I>
    static constexpr int offset = [] {
      int o = 0;
      for (std::size_t j = 0; j < I; ++j) o += A == Axis::channels ? inputs[j].c : A == Axis::height ? inputs[j].h : inputs[j].w;
      return o;
    }();

    // Copies input I into (ToOutput) or out of its slot. Along channels, a pixel's slot is a run of
    // inputs[I].c values: a few (masked) vector moves per pixel rather than a memcpy call (TwoPath's
    // 36-channel halves: 144 bytes a call).
    template <std::size_t I, bool ToOutput, class Out, class In>
    static void copy(int batch, Out* out, In* in) {
      constexpr Shape s = inputs[I];
      constexpr int off = offset<I>;
      if constexpr (A == Axis::channels) {
        constexpr int C = s.c, Co = output_shape.c;
        constexpr std::ptrdiff_t block = 256;  // pixels per work item
        const std::ptrdiff_t pixels = std::ptrdiff_t(batch) * s.h * s.w;
        parallel_for(0, (pixels + block - 1) / block, [&](std::ptrdiff_t item) {
          const std::ptrdiff_t p = item * block, n = std::min(block, pixels - p);
          if constexpr (ToOutput) kernels::copy_rows(out + p * Co + off, Co, in + p * C, C, n, C);
          else kernels::copy_rows(in + p * C, C, out + p * Co + off, Co, n, C);
        });
      } else {
        parallel_for(0, batch, [&](std::ptrdiff_t n) {
          for (int y = 0; y < s.h; ++y)
            for (int x = 0; x < s.w; ++x) {
              const int oy = A == Axis::height ? y + off : y, ox = A == Axis::width ? x + off : x;
              auto* dst = out + ((std::size_t(n) * output_shape.h + oy) * output_shape.w + ox) * output_shape.c;
              auto* src = in + ((std::size_t(n) * s.h + y) * s.w + x) * s.c;
              if constexpr (ToOutput) std::memcpy(dst, src, sizeof(T) * s.c);
              else std::memcpy(src, dst, sizeof(T) * s.c);
            }
        });
      }
    }

    void forward(const MergeInputs<T, count>& in, Tensor<T>& out) {
      const int batch = in[0]->n();
      out.resize(batch, output_shape);
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (copy<I, true>(batch, out.data(), in[I]->data()), ...);
      }(std::make_index_sequence<count>{});
    }
    // ONNX Concat on the NCHW axis (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::array<std::string, count>& in, const std::string& path) const {
      return graph.concat(path, {in.begin(), in.end()}, A == Axis::channels ? 1 : A == Axis::height ? 2 : 3);
    }
    void backward(const MergeInputs<T, count>&, const Tensor<T>& out, const Tensor<T>& grad_out,
                  const MergeGrads<T, count>& grad_in) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((grad_in[I]->resize(out.n(), inputs[I]), copy<I, false>(out.n(), grad_out.data(), grad_in[I]->data())), ...);
      }(std::make_index_sequence<count>{});
    }
  };
};

// Elementwise sum of same-shaped branches (residual connections).
struct Add {
  template <class T, Shape... S>
  struct merge {
    static constexpr std::size_t count = sizeof...(S);
    static constexpr std::array<Shape, count> inputs{S...};
    static constexpr bool same() {
      for (auto s : inputs)
        if (s != inputs[0]) return false;
      return true;
    }
    static_assert(same(), "Add: all branch outputs must have the same shape");
    static constexpr Shape output_shape = inputs[0];

    void forward(const MergeInputs<T, count>& in, Tensor<T>& out) {
      out.resize(in[0]->n(), output_shape);
      out.array() = in[0]->array();
      for (std::size_t i = 1; i < count; ++i) out.array() += in[i]->array();
    }
    // Add nodes, left to right as forward sums.
    template <class G>
    std::string to_onnx(G& graph, const std::array<std::string, count>& in, const std::string& path) const {
      std::string sum = in[0];
      for (std::size_t i = 1; i < count; ++i) sum = graph.node("Add", {sum, in[i]}, path);
      return sum;
    }
    void backward(const MergeInputs<T, count>&, const Tensor<T>&, const Tensor<T>& grad_out,
                  const MergeGrads<T, count>& grad_in) {
      for (auto* g : grad_in) *g = grad_out;
    }
  };
};

// Elementwise product with broadcasting: along each axis an input has either the output's extent
// or 1 (MassAtt's 1x1xC channel map times its HxWx1 spatial map; x times an attention map).
struct Multiply {
  template <class T, Shape... S>
  struct merge {
    static constexpr std::size_t count = sizeof...(S);
    static constexpr std::array<Shape, count> inputs{S...};
    static constexpr Shape compute() {
      Shape out{1, 1, 1};
      for (auto s : inputs) out = {std::max(out.h, s.h), std::max(out.w, s.w), std::max(out.c, s.c)};
      return out;
    }
    static constexpr Shape output_shape = compute();
    static constexpr bool broadcastable() {
      for (auto s : inputs)
        if ((s.h != 1 && s.h != output_shape.h) || (s.w != 1 && s.w != output_shape.w) ||
            (s.c != 1 && s.c != output_shape.c))
          return false;
      return true;
    }
    static_assert(broadcastable(), "Multiply: every axis of every input must equal the output's extent or be 1");

    // Mul nodes, left to right as forward multiplies (io/onnx.hpp first brings every smaller input to
    // the output's shape: OpenCV's importer cannot broadcast them).
    template <class G>
    std::string to_onnx(G& graph, const std::array<std::string, count>& in, const std::string& path) const {
      return graph.multiply(path, {in.begin(), in.end()}, {inputs.begin(), inputs.end()});
    }

    static const T* at(const Tensor<T>& t, std::size_t i, int n, int y, int x) {
      const Shape s = inputs[i];
      return t.pixel(n, s.h == 1 ? 0 : y, s.w == 1 ? 0 : x);
    }

    // Every input of the output's shape (MassAtt's x * A): plain elementwise products on whole vectors.
    static constexpr bool same_shapes = [] {
      for (auto s : inputs)
        if (s != output_shape) return false;
      return true;
    }();
    using Span = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
    using ConstSpan = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

    void forward(const MergeInputs<T, count>& in, Tensor<T>& out) {
      const int batch = in[0]->n(), C = output_shape.c;
      out.resize(batch, output_shape);
      if constexpr (same_shapes) {
        parallel_chunks(out.size(), [&](std::size_t b, std::size_t n) {
          Span o(out.data() + b, std::ptrdiff_t(n));
          o = ConstSpan(in[0]->data() + b, std::ptrdiff_t(n));
          for (std::size_t i = 1; i < count; ++i) o *= ConstSpan(in[i]->data() + b, std::ptrdiff_t(n));
        });
        return;
      }
      parallel_for(0, std::ptrdiff_t(batch) * output_shape.h, [&](std::ptrdiff_t row) {
        const int n = int(row / output_shape.h), y = int(row % output_shape.h);
        for (int x = 0; x < output_shape.w; ++x) {
          Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> o(out.pixel(n, y, x), C);
          o.setConstant(T(1));
          for (std::size_t i = 0; i < count; ++i) {
            const T* p = at(*in[i], i, n, y, x);
            if (inputs[i].c == C) o *= Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p, C);
            else o *= *p;
          }
        }
      });
    }

    void backward(const MergeInputs<T, count>& in, const Tensor<T>&, const Tensor<T>& grad_out,
                  const MergeGrads<T, count>& grad_in) {
      const int batch = grad_out.n(), C = output_shape.c;
      if constexpr (same_shapes) {  // grad_i = grad_out * the product of the other inputs
        for (std::size_t i = 0; i < count; ++i) grad_in[i]->resize(batch, inputs[i]);
        parallel_chunks(grad_out.size(), [&](std::size_t b, std::size_t n) {
          const ConstSpan g(grad_out.data() + b, std::ptrdiff_t(n));
          for (std::size_t i = 0; i < count; ++i) {
            Span d(grad_in[i]->data() + b, std::ptrdiff_t(n));
            d = g;
            for (std::size_t j = 0; j < count; ++j)
              if (j != i) d *= ConstSpan(in[j]->data() + b, std::ptrdiff_t(n));
          }
        });
        return;
      }
      for (std::size_t i = 0; i < count; ++i) {
        grad_in[i]->resize(batch, inputs[i]);
        grad_in[i]->set_zero();
      }
      // Broadcast axes sum their gradient; batch items never share an element, so split by sample.
      parallel_for(0, batch, [&](std::ptrdiff_t nn) {
        const int n = int(nn);
        thread_local AlignedVector<T> others_store;  // this thread's, kept: no allocation per step
        others_store.resize(std::size_t(C));
        Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> others(others_store.data(), C);
        for (int y = 0; y < output_shape.h; ++y)
          for (int x = 0; x < output_shape.w; ++x) {
            Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> g(grad_out.pixel(n, y, x), C);
            for (std::size_t i = 0; i < count; ++i) {
              others = g;
              for (std::size_t j = 0; j < count; ++j) {
                if (j == i) continue;
                const T* p = at(*in[j], j, n, y, x);
                if (inputs[j].c == C) others *= Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p, C);
                else others *= *p;
              }
              T* d = const_cast<T*>(at(*grad_in[i], i, n, y, x));
              if (inputs[i].c == C) Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(d, C) += others;
              else *d += others.sum();
            }
          }
      });
    }
  };
};

// PWFS's selection: for three same-shaped inputs a, b, c, (max + median) / 2 per element.
// Tie rule (documented in docs/layers.md): the max is the lowest-indexed of the largest values;
// of the two others, the one with the smaller value is the min, the higher index on a tie; the
// remaining one is the median. Backward sends half the gradient to the max and half to the median.
struct MaxMedian {
  template <class T, Shape... S>
  struct merge {
    static constexpr std::size_t count = sizeof...(S);
    static_assert(count == 3, "MaxMedian: needs exactly three branches");
    static constexpr std::array<Shape, count> inputs{S...};
    static_assert(inputs[0] == inputs[1] && inputs[1] == inputs[2], "MaxMedian: the three inputs must have the same shape");
    static constexpr Shape output_shape = inputs[0];

    // (max + (a + b + c - max - min)) / 2 as forward computes it (io/onnx.hpp).
    template <class G>
    std::string to_onnx(G& graph, const std::array<std::string, count>& in, const std::string& path) const {
      return graph.max_median(path, in[0], in[1], in[2]);
    }

    void forward(const MergeInputs<T, count>& in, Tensor<T>& out) {
      out.resize(in[0]->n(), output_shape);
      const T *__restrict a = in[0]->data(), *__restrict b = in[1]->data(), *__restrict c = in[2]->data();
      T* __restrict o = out.data();
      parallel_for(0, std::ptrdiff_t(in[0]->n()), [&](std::ptrdiff_t n) {
        const std::size_t begin = n * output_shape.size(), end = begin + output_shape.size();
        for (std::size_t e = begin; e < end; ++e) {  // branch-free: vectorises
          const T hi = std::max(a[e], std::max(b[e], c[e])), lo = std::min(a[e], std::min(b[e], c[e]));
          o[e] = (hi + (a[e] + b[e] + c[e] - hi - lo)) * T(0.5);
        }
      });
    }

    // The selection (which input is the max, which the median) is found again from the inputs,
    // branch-free, with the tie rule above; each input's gradient is half the output gradient for
    // every role (max, median) it plays. All three gradients are written in full.
    // A plain function with restrict-qualified pointers: GCC vectorises the selects (through a
    // lambda capture it cannot prove the buffers distinct and emits mispredicted branches instead).
    static void backward_range(const T* __restrict a, const T* __restrict b, const T* __restrict c,
                               const T* __restrict go, T* __restrict ga, T* __restrict gb, T* __restrict gc,
                               std::size_t size) {
      for (std::size_t e = 0; e < size; ++e) {
        // One-hot roles as 0/1 values. max: the lowest index among the largest values.
        const T m2 = c[e] > std::max(a[e], b[e]) ? T(1) : T(0);
        const T m1 = b[e] > a[e] ? T(1) - m2 : T(0);
        const T m0 = T(1) - m1 - m2;
        // The two others, o1 < o2 (imax 0: b, c; 1: a, c; 2: a, b); the larger is the median, o1 on a tie.
        const T v1 = m0 > T(0) ? b[e] : a[e];
        const T v2 = m2 > T(0) ? b[e] : c[e];
        const T first = v1 >= v2 ? T(1) : T(0);
        const T half = go[e] * T(0.5);
        ga[e] = half * (m0 + first * (T(1) - m0));
        gb[e] = half * (m1 + first * m0 + (T(1) - first) * m2);
        gc[e] = half * (m2 + (T(1) - first) * (T(1) - m2));
      }
    }

    // The selection (which input is the max, which the median) is found again from the inputs,
    // with the tie rule above; each input's gradient is half the output gradient for every role
    // (max, median) it plays. All three gradients are written in full.
    void backward(const MergeInputs<T, count>& in, const Tensor<T>& out, const Tensor<T>& grad_out,
                  const MergeGrads<T, count>& grad_in) {
      for (std::size_t i = 0; i < 3; ++i) grad_in[i]->resize(out.n(), output_shape);
      const std::size_t size = output_shape.size();
      parallel_for(0, std::ptrdiff_t(out.n()), [&](std::ptrdiff_t n) {
        const std::size_t o = std::size_t(n) * size;
        backward_range(in[0]->data() + o, in[1]->data() + o, in[2]->data() + o, grad_out.data() + o,
                       grad_in[0]->data() + o, grad_in[1]->data() + o, grad_in[2]->data() + o, size);
      });
    }
  };
};

// Places R*C same-shaped branch outputs on an R x C grid, row by row (MA-Net's four patches
// tiled back into one map). The inverse of Crop-ing the grid cells.
template <int Rows, int Cols>
struct TileGrid {
  template <class T, Shape... S>
  struct merge {
    static constexpr std::size_t count = sizeof...(S);
    static_assert(count == std::size_t(Rows) * Cols, "TileGrid: needs Rows*Cols branches");
    static constexpr std::array<Shape, count> inputs{S...};
    static constexpr bool same() {
      for (auto s : inputs)
        if (s != inputs[0]) return false;
      return true;
    }
    static_assert(same(), "TileGrid: all branch outputs must have the same shape");
    static constexpr Shape cell = inputs[0];
    static constexpr Shape output_shape{cell.h * Rows, cell.w * Cols, cell.c};

    template <class Fn>
    static void each_row(int batch, Fn&& fn) {  // fn(n, i, y): copy row y of cell i
      parallel_for(0, batch, [&](std::ptrdiff_t n) {
        for (std::size_t i = 0; i < count; ++i)
          for (int y = 0; y < cell.h; ++y) fn(int(n), i, y);
      });
    }
    // Each grid row's cells concatenated along the width, then the rows along the height.
    template <class G>
    std::string to_onnx(G& graph, const std::array<std::string, count>& in, const std::string& path) const {
      std::vector<std::string> rows;
      for (int r = 0; r < Rows; ++r)
        rows.push_back(Cols == 1 ? in[std::size_t(r)]
                                 : graph.concat(path, {in.begin() + r * Cols, in.begin() + (r + 1) * Cols}, 3));
      return Rows == 1 ? rows[0] : graph.concat(path, rows, 2);
    }
    void forward(const MergeInputs<T, count>& in, Tensor<T>& out) {
      out.resize(in[0]->n(), output_shape);
      each_row(in[0]->n(), [&](int n, std::size_t i, int y) {
        const int oy = int(i / Cols) * cell.h + y, ox = int(i % Cols) * cell.w;
        std::memcpy(out.pixel(n, oy, ox), in[i]->pixel(n, y, 0), sizeof(T) * cell.w * cell.c);
      });
    }
    void backward(const MergeInputs<T, count>&, const Tensor<T>& out, const Tensor<T>& grad_out,
                  const MergeGrads<T, count>& grad_in) {
      for (auto* g : grad_in) g->resize(out.n(), cell);
      each_row(out.n(), [&](int n, std::size_t i, int y) {
        const int oy = int(i / Cols) * cell.h + y, ox = int(i % Cols) * cell.w;
        std::memcpy(grad_in[i]->pixel(n, y, 0), grad_out.pixel(n, oy, ox), sizeof(T) * cell.w * cell.c);
      });
    }
  };
};

}  // namespace lanmsff
