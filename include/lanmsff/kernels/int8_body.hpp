// One path of kernels/int8.hpp, which includes this file once per path, inside that path's target
// region, with LANMSFF_INT8_OPS (4 AVX-512 VNNI, 3 AVX-512BW, 5 AVX-VNNI, 2 AVX2, 1 NEON, 0 baseline) and
// LANMSFF_INT8_NS (the namespace) defined: the GEMM and convolution tiles, their register blocking and
// passes over the panels. No include guard; it includes only its two part files, int8_ops.hpp (Ops, the
// path's vector operations, first) and int8_channel_body.hpp (the per-channel kernels, last), and no other
// header (a header first included inside a target region would be compiled for that ISA only).
#if !defined(LANMSFF_INT8_BODY)
#error "lanmsff: kernels/int8_body.hpp is part of kernels/int8.hpp; include that instead"
#endif

// The path's vector operations (Ops, Half), in the same pass.
#include "lanmsff/kernels/int8_ops.hpp"

namespace lanmsff::kernels::LANMSFF_INT8_NS {

// A tile column's output mapping, made ready once for the stores of its rows: on AVX-512 the zero
// point's term, scale, shift and bound in registers (Ops::Map), elsewhere the arguments as they are.
#if LANMSFF_INT8_OPS == 3 || LANMSFF_INT8_OPS == 4
using ColumnMap = Ops::Map;
LANMSFF_INT8_INLINE ColumnMap prepare_column(const std::int32_t* sums, const Int8Output& out, int n) {
  return Ops::prepare(sums, out, n);
}
template <class C>
LANMSFF_INT8_INLINE void store_column(C* p, const Ops::Acc& v, const ColumnMap& k) {
  Ops::store(p, v, k);
}
#else
struct ColumnMap {
  const std::int32_t* sums;
  Int8Output out;
  int n;
};
LANMSFF_INT8_INLINE ColumnMap prepare_column(const std::int32_t* sums, const Int8Output& out, int n) { return {sums, out, n}; }
template <class C>
LANMSFF_INT8_INLINE void store_column(C* p, const Ops::Acc& v, const ColumnMap& k) {
  Ops::store(p, v, k.sums, k.out, k.n);
}
#endif

constexpr int vectors_per_panel = PackedInt8::panel_width / Ops::lanes;
constexpr int max_rows = Ops::rows_for(1);  // the most rows of any blocking

// A tile's register blocking: MR rows by NP panels, which are NV vectors of Ops::lanes columns and, with
// NH = 1 (AVX-512), a last half panel of 8 columns in one Ops::Half.
template <int NP, int NV, int NH>
struct Blocking {
  static constexpr int np = NP, nv = NV, nh = NH, mr = Ops::rows_for(NP);
};

template <class K>
struct Accumulators {
  typename Ops::Acc full[K::mr][K::nv > 0 ? K::nv : 1];
  Half half[K::mr][K::nh > 0 ? K::nh : 1];
};

// acc += one k-quad of the tile's panels (at b) times each row's four bytes (at x[r]).
template <class K>
LANMSFF_INT8_INLINE void multiply_quad(Accumulators<K>& acc, const std::int8_t* b, std::ptrdiff_t panel_stride,
                                       const std::uint8_t* const (&x)[K::mr]) {
  constexpr int V = vectors_per_panel;
  typename Ops::B w[K::nv > 0 ? K::nv : 1];
#pragma GCC unroll 24
  for (int j = 0; j < K::nv; ++j) w[j] = Ops::load_b(b + (j / V) * panel_stride + (j % V) * Ops::lanes * 4);
#if LANMSFF_INT8_HALF
  [[maybe_unused]] typename Ops::HalfB h{};
  if constexpr (K::nh > 0) h = Ops::load_half(b + K::nv * panel_stride);  // the next panel's first 8 columns
#endif
#pragma GCC unroll 12
  for (int r = 0; r < K::mr; ++r) {
    const typename Ops::A a = Ops::broadcast_a(x[r]);
#pragma GCC unroll 24
    for (int j = 0; j < K::nv; ++j) acc.full[r][j] = Ops::dot(acc.full[r][j], a, w[j]);
#if LANMSFF_INT8_HALF
    if constexpr (K::nh > 0) acc.half[r][0] = Ops::dot_half(acc.half[r][0], a, h);
#endif
  }
}

template <class K>
LANMSFF_INT8_INLINE void zero_tile(Accumulators<K>& acc) {
#pragma GCC unroll 12
  for (int r = 0; r < K::mr; ++r) {
#pragma GCC unroll 24
    for (int j = 0; j < K::nv; ++j) acc.full[r][j] = Ops::zero();
#if LANMSFF_INT8_HALF
    if constexpr (K::nh > 0) acc.half[r][0] = Ops::zero_half();
#endif
  }
}

// Stores one vector column of a tile: rows v[0 .. rows) of up to `lanes` columns from `col` (of `cols`,
// from 16 p0), as int32 or through `out` (C float or uint8).
template <int MR, class C>
LANMSFF_INT8_INLINE void store_vectors(const typename Ops::Acc (&v)[MR], int rows, int col, int lanes, const PackedInt8& b, int p0,
                                       int cols, C* c, std::ptrdiff_t ldc, const Int8Output* out) {
  const int n = std::min(lanes, cols - col);
  if (n <= 0) return;
  if constexpr (std::is_same_v<C, std::int32_t>) {
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
      if (r < rows) Ops::store(c + std::ptrdiff_t(r) * ldc + col, v[r], n);
  } else {
    const std::ptrdiff_t first = std::ptrdiff_t(p0) * PackedInt8::panel_width + col;
    const Int8Output column{out->scale + first, out->shift ? out->shift + first : nullptr, out->a_zero, out->relu, out->out_zero};
    const ColumnMap map = prepare_column(b.column_sums.data() + first, column, n);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
      if (r < rows) store_column(c + std::ptrdiff_t(r) * ldc + col, v[r], map);
  }
}

// Stores a tile's `rows` x `cols` sums (columns from 16 p0). Fully unrolled, with the tails as
// conditions: an index known only at run time would keep acc in memory.
template <class K, class C>
LANMSFF_INT8_INLINE void store_tile(const Accumulators<K>& acc, int rows, const PackedInt8& b, int p0, int cols, C* c,
                                    std::ptrdiff_t ldc, const Int8Output* out) {
#pragma GCC unroll 24
  for (int j = 0; j < K::nv; ++j) {
    typename Ops::Acc v[K::mr];
#pragma GCC unroll 12
    for (int r = 0; r < K::mr; ++r) v[r] = acc.full[r][j];
    store_vectors<K::mr>(v, rows, j * Ops::lanes, Ops::lanes, b, p0, cols, c, ldc, out);
  }
#if LANMSFF_INT8_HALF
  if constexpr (K::nh > 0) {
    typename Ops::Acc v[K::mr];
#pragma GCC unroll 12
    for (int r = 0; r < K::mr; ++r) v[r] = Ops::widen(acc.half[r][0]);
    store_vectors<K::mr>(v, rows, K::nv * Ops::lanes, PackedInt8::panel_width / 2, b, p0, cols, c, ldc, out);
  }
#endif
}

// One GEMM tile: `rows` (<= K::mr) rows of A from `a`, K's panels from panel p0, `cols` valid columns from 16 p0.
template <class Kb, class C>
void tile(int rows, int K, const std::uint8_t* a, std::ptrdiff_t lda, const PackedInt8& b, int p0, int cols, C* c,
          std::ptrdiff_t ldc, const Int8Output* out) {
  constexpr int MR = Kb::mr;
  Accumulators<Kb> acc;
  zero_tile<Kb>(acc);
  const std::uint8_t* row[MR];
  for (int r = 0; r < MR; ++r) row[r] = a + std::ptrdiff_t(std::min(r, rows - 1)) * lda;  // a short tile repeats its last row
  const std::int8_t* w = b.panel(p0);
  const std::ptrdiff_t panel_stride = std::ptrdiff_t(b.depth) * PackedInt8::panel_width;
  for (int q = 0; q < K / 4; ++q, w += 4 * PackedInt8::panel_width) {
    multiply_quad<Kb>(acc, w, panel_stride, row);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) row[r] += 4;
  }
  if (const int rest = K % 4) {  // the last bytes of each row, copied out (B's rows past K are zero)
    std::uint8_t last[MR][4] = {};
    const std::uint8_t* x[MR];
    for (int r = 0; r < MR; ++r) {
      std::memcpy(last[r], row[r], std::size_t(rest));
      x[r] = last[r];
    }
    multiply_quad<Kb>(acc, w, panel_stride, x);
  }
  store_tile<Kb>(acc, rows, b, p0, cols, c, ldc, out);
}

// One convolution tile: the rows are output pixels, and row r's patch is `taps` segments of `quads`
// k-quads, segment t at source[t * K::mr + r] (an input pixel's channels, or the zero-point row in the
// padding); or, given `offsets` (every row's window inside the input), at source[r] + offsets[t].
template <class K, class C>
void conv_tile(int rows, int taps, int quads, const std::uint8_t* const* source, const std::ptrdiff_t* offsets,
               const PackedInt8& b, int p0, int cols, C* c, std::ptrdiff_t ldc, const Int8Output* out) {
  constexpr int MR = K::mr;
  Accumulators<K> acc;
  zero_tile<K>(acc);
  const std::int8_t* w = b.panel(p0);
  const std::ptrdiff_t panel_stride = std::ptrdiff_t(b.depth) * PackedInt8::panel_width;
  for (int t = 0; t < taps; ++t) {
    const std::uint8_t* x[MR];
    if (offsets) {
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) x[r] = source[r] + offsets[t];
    } else {
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) x[r] = source[t * MR + r];
    }
    for (int q = 0; q < quads; ++q, w += 4 * PackedInt8::panel_width) {
      multiply_quad<K>(acc, w, panel_stride, x);
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) x[r] += 4;
    }
  }
  store_tile<K>(acc, rows, b, p0, cols, c, ldc, out);
}

// f(std::integral_constant<int, np>) for a run-time 1 <= np <= NP.
template <int NP, class F>
LANMSFF_INT8_INLINE void with_width(int np, F&& f) {
  if constexpr (NP > 1)
    if (np < NP) return with_width<NP - 1>(np, f);
  f(std::integral_constant<int, NP>{});
}

// Calls f(first panel, Blocking<...>{}) for the passes over the panels of B (n columns): all of them at
// once when they fit the register blocking, else np at a time; a pass whose last panel has at most 8
// columns takes it as half a panel.
template <class F>
void for_each_panel_group(int n, F&& f) {
  const int panels = (n + PackedInt8::panel_width - 1) / PackedInt8::panel_width;
  const int step = panels <= Ops::max_np ? panels : Ops::np;
  for (int p = 0; p < panels; p += step) {
    const int np = std::min(step, panels - p), last = n - (p + np - 1) * PackedInt8::panel_width;
    with_width<Ops::max_np>(np, [&](auto width) {
      constexpr int NP = decltype(width)::value, V = vectors_per_panel;
      if (last <= PackedInt8::panel_width / 2) {
        if constexpr (LANMSFF_INT8_HALF) return f(p, Blocking<NP, NP - 1, 1>{});
        else if constexpr (V >= 2) return f(p, Blocking<NP, NP * V - V / 2, 0>{});
      }
      f(p, Blocking<NP, NP * V, 0>{});
    });
  }
}

// Rows per work item: a multiple of every blocking's rows (the tiles of each pass then line up), about
// an eighth of a thread's share.
inline std::ptrdiff_t rows_per_item(std::ptrdiff_t M) {
  constexpr std::ptrdiff_t unit = 120;  // lcm(12, 8, 6, 5, 4, 2)
  return std::clamp<std::ptrdiff_t>(M / (8 * std::ptrdiff_t(max_threads())) / unit, 1, 2) * unit;
}

// C = A * B (C int32) or its mapping `out` (C float or uint8): runs of rows in parallel, each over every
// column, one group of panels at a time (the group's B, depth x 16 x np bytes, stays in cache).
template <class C>
void gemm(int M, const std::uint8_t* a, std::ptrdiff_t lda, const PackedInt8& b, C* c, std::ptrdiff_t ldc,
          const Int8Output* out) {
  if (M <= 0) return;
  const int K = b.k, N = b.n;
  const std::ptrdiff_t per_item = rows_per_item(M);
  parallel_for(0, (M + per_item - 1) / per_item, [&](std::ptrdiff_t item) {
    const std::ptrdiff_t m0 = item * per_item, m1 = std::min<std::ptrdiff_t>(M, m0 + per_item);
    for_each_panel_group(N, [&](int p, auto blocking) {
      using Kb = decltype(blocking);
      const int col = p * PackedInt8::panel_width;
      for (std::ptrdiff_t m = m0; m < m1; m += Kb::mr)
        tile<Kb>(int(std::min<std::ptrdiff_t>(Kb::mr, m1 - m)), K, a + m * lda, lda, b, p, N - col, c + m * ldc + col, ldc, out);
    });
  });
}

// The convolution of an NHWC uint8 batch `in` (geometry g, `batch` samples; a pixel's g.in_c channels
// `in_stride` bytes apart from the next pixel's) with B packed by pack_int8_conv in `layout`: each tile
// gathers its rows' run addresses, then multiplies them as a GEMM tile; no patch matrix is written. A run
// is read in place (an input pixel's channels, or by rows a kernel row's pixels when they are adjacent
// and inside the input), is `zero_row` (wholly in the padding), or, by rows at the left and right
// edges, is copied with the zero point where the window leaves the input. Output pixels are ldc apart.
template <class C>
void conv(const ConvGeometry& g, const Int8ConvLayout& layout, int batch, const std::uint8_t* in, std::ptrdiff_t in_stride,
          const std::uint8_t* zero_row, const PackedInt8& b, C* c, std::ptrdiff_t ldc, const Int8Output* out) {
  const std::ptrdiff_t pixels = std::ptrdiff_t(g.out_h) * g.out_w, M = pixels * batch;
  if (M <= 0) return;
  const int segments = layout.segments, run = layout.quads * 4, N = b.n;
  const std::ptrdiff_t per_item = rows_per_item(M);
  const int span_h = (g.k_h - 1) * g.dilation, span_w = (g.k_w - 1) * g.dilation;
  const bool adjacent = in_stride == g.in_c;  // a row's pixels follow one another (not a Split's half)
  // Each run's offset from the window's first pixel where the window is inside the input (and, by rows,
  // a row's pixels are adjacent): a kernel row's, or a tap's. Run 0's is 0.
  std::ptrdiff_t run_offset[int8_max_taps];
  for (int s = 0; s < segments; ++s)
    run_offset[s] = layout.by_rows ? std::ptrdiff_t(s) * g.in_w * in_stride
                                   : (std::ptrdiff_t(s / g.k_w) * g.in_w + s % g.k_w) * g.dilation * in_stride;
  // source[s * MR + r]: where row r's run s reads; or, where every row's window is inside (the answer is
  // true), only source[r], row r's first pixel, and its runs at run_offset. The first row's pixel is
  // found by division, the others by stepping along the output (a division per row cost as much as a
  // 36-channel tile's products). copies: by rows, the runs put together here (MR x k_h runs).
  const auto gather = [&](std::ptrdiff_t m0, int MR, int rows, const std::uint8_t** source, std::uint8_t* copies) {
    std::ptrdiff_t sample = m0 / pixels;
    int oy = int(m0 % pixels / g.out_w), ox = int(m0 % pixels % g.out_w);
    bool all_inside = true;
    for (int r = 0; r < rows; ++r) {
      const std::uint8_t* image = in + sample * std::ptrdiff_t(g.in_h) * g.in_w * in_stride;
      const int iy0 = oy * g.stride - g.pad_top, ix0 = ox * g.stride - g.pad_left;
      const bool inside_x = ix0 >= 0 && ix0 + span_w < g.in_w;
      const bool inside = inside_x && iy0 >= 0 && iy0 + span_h < g.in_h && (adjacent || !layout.by_rows);
      if (inside) {  // every run at a fixed offset from the window's first pixel
        const std::uint8_t* first = image + (std::ptrdiff_t(iy0) * g.in_w + ix0) * in_stride;
        for (int s = 0; s < (all_inside ? 1 : segments); ++s) source[s * MR + r] = first + run_offset[s];
      } else {
        if (all_inside) {  // the rows so far, run by run
          all_inside = false;
          for (int q = 0; q < r; ++q)
            for (int t = 1; t < segments; ++t) source[t * MR + q] = source[q] + run_offset[t];
        }
        if (layout.by_rows) {
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = iy0 + ky;
            if (iy < 0 || iy >= g.in_h) {
              source[ky * MR + r] = zero_row;
              continue;
            }
            const std::uint8_t* row = image + std::ptrdiff_t(iy) * g.in_w * in_stride;
            if (inside_x && adjacent) {  // the window leaves the input at the top or bottom only
              source[ky * MR + r] = row + std::ptrdiff_t(ix0) * in_stride;
            } else {
              std::uint8_t* copy = copies + (std::ptrdiff_t(r) * g.k_h + ky) * run;
              std::memcpy(copy, zero_row, std::size_t(run));
              for (int kx = 0; kx < g.k_w; ++kx)
                if (ix0 + kx >= 0 && ix0 + kx < g.in_w)
                  std::memcpy(copy + kx * g.in_c, row + std::ptrdiff_t(ix0 + kx) * in_stride, std::size_t(g.in_c));
              source[ky * MR + r] = copy;
            }
          }
        } else {
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = iy0 + ky * g.dilation;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ix0 + kx * g.dilation;
              const bool in_input = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
              source[(ky * g.k_w + kx) * MR + r] = in_input ? image + (std::ptrdiff_t(iy) * g.in_w + ix) * in_stride : zero_row;
            }
          }
        }
      }
      if (++ox == g.out_w) {
        ox = 0;
        if (++oy == g.out_h) oy = 0, ++sample;
      }
    }
    for (int r = rows; r < MR; ++r)  // a short tile repeats its last row
      for (int s = 0; s < (all_inside ? 1 : segments); ++s) source[s * MR + r] = source[s * MR + rows - 1];
    return all_inside;
  };
  parallel_for(0, (M + per_item - 1) / per_item, [&](std::ptrdiff_t item) {
    const std::uint8_t* source[int8_max_taps * max_rows];
    thread_local std::vector<std::uint8_t> copies;
    if (layout.by_rows) copies.resize(std::size_t(max_rows) * g.k_h * run);
    const std::ptrdiff_t m0 = item * per_item, m1 = std::min(M, m0 + per_item);
    for_each_panel_group(N, [&](int p, auto blocking) {
      using K = decltype(blocking);
      const int col = p * PackedInt8::panel_width;
      for (std::ptrdiff_t m = m0; m < m1; m += K::mr) {
        const int rows = int(std::min<std::ptrdiff_t>(K::mr, m1 - m));
        const bool inside = gather(m, K::mr, rows, source, copies.data());
        conv_tile<K>(rows, segments, layout.quads, source, inside ? run_offset : nullptr, b, p, N - col, c + m * ldc + col, ldc,
                     out);
      }
    });
  });
}

}  // namespace lanmsff::kernels::LANMSFF_INT8_NS

// The per-channel kernels (depthwise convolution, pooling, quantize, dequantize), in the same pass.
#include "lanmsff/kernels/int8_channel_body.hpp"

#undef LANMSFF_INT8_HALF
#undef LANMSFF_INT8_OPS
#undef LANMSFF_INT8_NS
