// A separable convolution's inference forward as one kernel: the depthwise k x k correlation of a
// band of output rows into a per-thread buffer, then the pointwise 1 x 1 GEMM of that band while it
// is in cache, then bias (and a fused BatchNorm / ReLU epilogue). Run as two layers, the depthwise
// output (64x64x66 at batch 32 in LANMSFF's block 1: 35 MB) goes to memory and back.
#ifndef LANMSFF_KERNELS_SEPARABLE_HPP
#define LANMSFF_KERNELS_SEPARABLE_HPP

#include <algorithm>

#include "lanmsff/core/parallel.hpp"
#include "lanmsff/kernels/conv.hpp"
#include "lanmsff/kernels/depthwise.hpp"

namespace lanmsff::kernels {

// Whether separable_forward handles this depthwise geometry: the depthwise fast path's (3 x 3,
// stride 1, any dilation and padding).
inline bool separable_fusable(const ConvGeometry& depthwise) {
  return depthwise.stride == 1 && depthwise.k_h == 3 && depthwise.k_w == 3;
}

// Output rows per band: about 256 pixels, so that the band (C values a pixel) and its output tile
// stay in L2 between the two steps; at least one row, at most the whole map.
inline int separable_band_rows(const ConvGeometry& depthwise) {
  return std::clamp(256 / std::max(depthwise.out_w, 1), 1, std::max(depthwise.out_h, 1));
}

}  // namespace lanmsff::kernels

#define LANMSFF_ISA_BODY "lanmsff/kernels/separable.hpp"
#include "lanmsff/kernels/simd/foreach_isa.hpp"

namespace lanmsff::kernels {

// out (batch x out_h x out_w x out_c) = pointwise(depthwise(in)) + pointwise_bias, then `post`
// when given. Weights as the layers store them: depthwise (k, k, C), pointwise (C, out_c).
// depthwise_bias and pointwise_bias may be null. Requires separable_fusable(depthwise).
template <class T>
void separable_forward(const ConvGeometry& depthwise, int batch, const T* in, const T* depthwise_weights,
                       const T* depthwise_bias, const T* pointwise_weights, int out_c, const T* pointwise_bias, T* out,
                       const ChannelAffine<T>* post = nullptr) {
  LANMSFF_DISPATCH(T, separable_forward<T>(depthwise, batch, in, depthwise_weights, depthwise_bias, pointwise_weights,
                                           out_c, pointwise_bias, out, post));
}
LANMSFF_KERNEL_ENTRY(separable_forward);

}  // namespace lanmsff::kernels

#elif defined(LANMSFF_ISA_PASS)  // ---- compiled once per instruction set ----------------------------

namespace lanmsff::kernels::LANMSFF_ISA_NS {

// See kernels::separable_forward.
template <class T>
void separable_forward(const ConvGeometry& depthwise, int batch, const T* in, const T* depthwise_weights,
                       const T* depthwise_bias, const T* pointwise_weights, int out_c, const T* pointwise_bias, T* out,
                       const ChannelAffine<T>* post) {
  const ConvGeometry& g = depthwise;
  const int C = g.in_c, Co = out_c;
  const detail::Window win{g.in_h, g.in_w, g.out_h, g.out_w, 3, g.dilation, g.pad_top, g.pad_left, false};
  // Packed once per call in this thread's buffer and read by every band (see conv2d_forward).
  thread_local PackedB<T> packed_weights;
  PackedB<T>& W = packed_weights;
  W.pack(C, Co, {pointwise_weights, Co, 1});
  const int band = separable_band_rows(g), bands = (g.out_h + band - 1) / band;
  const std::size_t in_sample = std::size_t(g.in_h) * g.in_w * C, out_sample = std::size_t(g.out_h) * g.out_w * Co;
  const bool prefetch = in_sample * batch * sizeof(T) > detail::prefetch_threshold_bytes;
  parallel_for(0, std::ptrdiff_t(batch) * bands, [&](std::ptrdiff_t item) {
    const int n = int(item / bands), y0 = int(item % bands) * band, y1 = std::min(y0 + band, g.out_h);
    const std::ptrdiff_t rows = std::ptrdiff_t(y1 - y0) * g.out_w;
    auto& mid = thread_buffer<T>(1, std::size_t(rows) * C);
    detail::correlate_band<3>(win, C, in + n * in_sample, depthwise_weights, depthwise_bias, y0, y1, mid.data(),
                              prefetch);
    T* y = out + n * out_sample + std::size_t(y0) * g.out_w * Co;
    gemm<T>(int(rows), {mid.data(), C, 1}, W, y, Co, false);
    finish_tile(y, rows, Co, pointwise_bias, post);
  });
}

}  // namespace lanmsff::kernels::LANMSFF_ISA_NS

#endif
