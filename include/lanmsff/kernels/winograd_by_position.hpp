// The position-major layout of kernels/winograd.hpp (for transformed kernels larger than this CPU's L2:
// MA-Net's 128 to 512 channels): the kernel transformed a panel at a time straight into the GEMM's
// packed layout, and the forward and weight gradient that use it. Part of winograd.hpp's pass per
// instruction set, which includes it (inside namespace lanmsff::kernels::<isa>::winograd, after its
// detail helpers); no include guard, and it includes nothing.
#if !defined(LANMSFF_ISA_PASS)
#error "lanmsff: kernels/winograd_by_position.hpp is part of kernels/winograd.hpp; include that instead"
#endif

namespace detail {
// Rows [ci0, ci1) and columns [j0, j0 + width) (width <= one GEMM panel) of U_p = G g G^T for every
// position p, straight into one-panel packed blocks: u[p] + (ci - ci0) panel holds row ci, zeros
// past `width`. In float, through the same constant-matrix code as the data transforms.
inline void transform_kernel_panel(const float* w, int Ci, int Co, int ci0, int ci1, int j0, int width,
                                   float* const* u) {
  constexpr int panel = PackedB<float>::panel, vectors = panel / W;
  const std::size_t pairs = std::size_t(Ci) * Co;
  for (int ci = ci0; ci < ci1; ++ci)
#pragma GCC unroll 2
    for (int b = 0; b < vectors; ++b) {
      const std::size_t at = std::size_t(ci - ci0) * panel + b * W;
      if (width <= b * W) {  // a vector wholly past Co: the packed layout's zeros
        for (int p = 0; p < positions; ++p) L::store(u[p] + at, L::zero());
        continue;
      }
      const auto mask = L::mask(width - b * W);
      const float* src = w + std::size_t(ci) * Co + j0 + b * W;
      two_sided<G, a, r>([&](int ky, int kx) { return L::load(src + (ky * r + kx) * pairs, mask); },
                         [&](int i, int j, V value) { L::store(u[i * a + j] + at, value); });
    }
}

// dW[tap] += (G^T dU G)[tap] for the rows [ci0, ci1) and columns [j0, j0 + width) of the kernel, from
// one-panel blocks of dU: du + p block + (ci - ci0) panel holds row ci of position p (the adjoint of
// transform_kernel_panel).
inline void transform_kernel_gradient_panel(const float* du, std::size_t block, int Ci, int Co, int ci0, int ci1,
                                            int j0, int width, float* dw) {
  constexpr int panel = PackedB<float>::panel, vectors = panel / W;
  const std::size_t pairs = std::size_t(Ci) * Co;
  for (int ci = ci0; ci < ci1; ++ci)
#pragma GCC unroll 2
    for (int b = 0; b < vectors; ++b) {
      if (width <= b * W) break;
      const auto mask = L::mask(width - b * W);
      const float* src = du + std::size_t(ci - ci0) * panel + b * W;
      float* dst = dw + std::size_t(ci) * Co + j0 + b * W;
      two_sided<GT, r, a>([&](int i, int j) { return L::load(src + (i * a + j) * block); },
                          [&](int ky, int kx, V value) {
                            float* at = dst + (ky * r + kx) * pairs;
                            L::store(at, L::add(L::load(at, mask), value), mask);
                          });
    }
}

// One pass of the position-major layout over a batch's tiles, a group at a time: `group` tiles, whose
// transformed inputs V and products M (or output gradients dM), position-major, take at most half the
// L3 (tile_group; a multiple of `multiple` tiles where it can). Per group: transform(group, t0, n) on
// chunks of its tiles in parallel, a few chunks per thread; multiply(group); then finish(group, t0, n)
// on the chunks again, unless finish is nullptr.
struct TileGroup {
  const Tiling& tiling;
  std::ptrdiff_t tiles, first;  // the batch's tiles, the group's first
  int count;                    // the group's tiles
  float* v;                     // V: position p's count x Ci rows at v + p count Ci
  float* m;                     // M: position p's count x Co rows at m + p count Co
};
template <class Transform, class Multiply, class Finish>
void by_tile_groups(const ConvGeometry& g, int batch, int multiple, Transform&& transform, Multiply&& multiply,
                    Finish&& finish) {
  thread_local AlignedVector<float> vbuf, mbuf;
  const int threads = std::max(1, max_threads());
  const Tiling tiling(g);
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * tiling.per_sample();
  const std::ptrdiff_t group = tile_group(tiles, std::size_t(positions) * (g.in_c + g.out_c) * sizeof(float), multiple);
  vbuf.resize(std::size_t(positions) * group * g.in_c);
  mbuf.resize(std::size_t(positions) * group * g.out_c);
  for (std::ptrdiff_t first = 0; first < tiles; first += group) {
    const TileGroup tg{tiling, tiles, first, int(std::min(group, tiles - first)), vbuf.data(), mbuf.data()};
    const int chunk = std::max(1, (tg.count + 4 * threads - 1) / (4 * threads));
    const auto chunks = [&](auto&& f) {
      parallel_for(0, (tg.count + chunk - 1) / chunk, [&](std::ptrdiff_t c) {
        const int t0 = int(c) * chunk;
        f(tg, t0, std::min(chunk, tg.count - t0));
      });
    };
    chunks(transform);
    multiply(tg);
    if constexpr (!std::is_null_pointer_v<std::remove_cvref_t<Finish>>) chunks(finish);
  }
}
}  // namespace detail

// The forward for a transformed kernel too large for L2 (large_kernel(): MA-Net's 128 to 512
// channels). The tile-major forward would stream all of U (36 Ci Co floats, 36 MB at 512 x 512)
// through the cache for every small block of tiles; here U is never stored whole. Per group of tiles,
// their inputs are transformed first (V, position-major); then each work item takes one panel of
// output columns and, a block of input channels at a time (sized so that the block of U, 36 x rows x
// panel floats, is about this CPU's L2), transforms that block of the kernel and multiplies it at
// every position (M_p += V_p U_p, 36 small GEMMs that find their U in cache); last, the products are
// transformed back. (Measured on MA-Net's shapes: a block of U the size of the L2 beat half and a
// quarter of it, and one panel per work item beat two and four.) A group's V and M (36 (Ci + Co) floats per tile) take at most half of the L3.
inline void forward_by_position(const ConvGeometry& g, int batch, const float* in, const float* weights,
                                const float* bias, float* out, const ChannelAffine<float>* post) {
  const int Ci = g.in_c, Co = g.out_c;
  constexpr int panel = PackedB<float>::panel, mr = GemmShape<Lanes<float>>::mr;
  const CacheSizes& cache = cache_sizes();
  const std::ptrdiff_t tiles = std::ptrdiff_t(batch) * Tiling(g).per_sample();
  const int rows = std::min(Ci, std::max(8, int(cache.l2 / (std::size_t(positions) * panel * sizeof(float)))));
  const int panels = (Co + panel - 1) / panel;
  // A transformed kernel that fits in half the L3 (up to 256 x 256 channels on a 32 MB L3) is
  // transformed whole first, straight into the GEMM's packed layout, when several groups or many
  // panels would otherwise transform it again or re-read V for each panel.
  thread_local std::vector<PackedB<float>> whole_store(positions);
  std::vector<PackedB<float>>& U = whole_store;
  const bool whole = std::size_t(positions) * Ci * Co * sizeof(float) <= cache.l3 / 2 && tiles > 8 * panel;
  if (whole) {
    float* base[positions];
    for (int p = 0; p < positions; ++p) base[p] = U[std::size_t(p)].storage(Ci, Co);
    const int blocks = (Ci + rows - 1) / rows;
    parallel_for(0, std::ptrdiff_t(panels) * blocks, [&](std::ptrdiff_t item) {
      const int q = int(item / blocks), ci0 = int(item % blocks) * rows, ci1 = std::min(Ci, ci0 + rows);
      const int j0 = q * panel;
      float* u[positions];
      for (int p = 0; p < positions; ++p) u[p] = base[p] + (std::size_t(q) * Ci + ci0) * panel;
      detail::transform_kernel_panel(weights, Ci, Co, ci0, ci1, j0, std::min(panel, Co - j0), u);
    });
  }
  const auto transform = [&](const detail::TileGroup& tg, int t0, int n) {
    detail::transform_input(g, tg.tiling, in, tg.tiles, tg.first + t0, n, tg.v + std::size_t(t0) * Ci,
                            std::size_t(tg.count) * Ci, Ci);
  };
  const auto multiply = [&](const detail::TileGroup& tg) {
    const int count = tg.count;
    if (whole) {  // every position's product over the whole group, U read from cache
      parallel_for(0, positions, [&](std::ptrdiff_t p) {
        gemm<float>(count, {tg.v + std::size_t(p) * count * Ci, Ci, 1}, U[std::size_t(p)], tg.m + std::size_t(p) * count * Co,
                    Co, false);
      });
      return;
    }
    parallel_for(0, panels, [&](std::ptrdiff_t q) {
      thread_local std::vector<PackedB<float>> block_store(positions);
      const int j0 = int(q) * panel, width = std::min(panel, Co - j0);
      float* u[positions];
      for (int ci0 = 0; ci0 < Ci; ci0 += rows) {
        const int ci1 = std::min(Ci, ci0 + rows);
        for (int p = 0; p < positions; ++p) u[p] = block_store[std::size_t(p)].storage(ci1 - ci0, width);
        detail::transform_kernel_panel(weights, Ci, Co, ci0, ci1, j0, width, u);
        for (int p = 0; p < positions; ++p)
          gemm<float>(count, {tg.v + std::size_t(p) * count * Ci + ci0, Ci, 1}, block_store[std::size_t(p)],
                      tg.m + std::size_t(p) * count * Co + j0, Co, ci0 > 0);
      }
    });
  };
  const auto finish = [&](const detail::TileGroup& tg, int t0, int n) {
    detail::transform_output(g, tg.tiling, tg.m + std::size_t(t0) * Co, std::size_t(tg.count) * Co, Co, tg.first + t0, n,
                             bias, post, out);
  };
  detail::by_tile_groups(g, batch, mr, transform, multiply, finish);
}

// The weight gradient for a transformed kernel too large for L2, the forward_by_position way: per
// group of tiles, V and dM (position-major) first; then each work item, a block of input channels
// (rows of the kernel) by one panel of output channels, computes that block of dU at every position
// (dU_p = V_p^T dM_p, 36 small GEMMs into a buffer that stays in L2) and transforms it back into the
// kernel's gradient at once. Work items write disjoint parts of grad_W, so no reduction is needed.
inline void backward_weights_by_position(const ConvGeometry& g, int batch, const float* in, const float* grad_out,
                                         float* grad_weights, float* grad_bias) {
  const int Ci = g.in_c, Co = g.out_c;
  constexpr int panel = PackedB<float>::panel;
  const int rows = std::min(Ci, std::max(8, int(cache_sizes().l2 / 2 / (std::size_t(positions) * panel * sizeof(float)))));
  const int panels = (Co + panel - 1) / panel, blocks = (Ci + rows - 1) / rows;
  const auto transform = [&](const detail::TileGroup& tg, int t0, int n) {
    detail::transform_input(g, tg.tiling, in, tg.tiles, tg.first + t0, n, tg.v + std::size_t(t0) * Ci,
                            std::size_t(tg.count) * Ci, Ci);
    detail::transform_output_gradient(g, tg.tiling, grad_out, tg.tiles, tg.first + t0, n, tg.m + std::size_t(t0) * Co,
                                      std::size_t(tg.count) * Co, Co);
  };
  const auto multiply = [&](const detail::TileGroup& tg) {
    parallel_for(0, std::ptrdiff_t(panels) * blocks, [&](std::ptrdiff_t item) {
      thread_local AlignedVector<float> du;
      thread_local PackedB<float> packed_dm;
      const int q = int(item / blocks), ci0 = int(item % blocks) * rows, ci1 = std::min(Ci, ci0 + rows);
      const int j0 = q * panel, width = std::min(panel, Co - j0);
      const std::size_t block = std::size_t(rows) * panel;
      du.resize(positions * block);
      for (int p = 0; p < positions; ++p) {
        // dU_p block (ci1 - ci0 x width) = V_p^T dM_p: A = V_p read transposed (element (ci, tile) at
        // tile * Ci + ci), B = dM_p's panel of columns read in place.
        packed_dm.view(tg.count, width, tg.m + std::size_t(p) * tg.count * Co + j0, Co);
        gemm<float>(ci1 - ci0, {tg.v + std::size_t(p) * tg.count * Ci + ci0, 1, Ci}, packed_dm, du.data() + p * block,
                    panel, false);
      }
      detail::transform_kernel_gradient_panel(du.data(), block, Ci, Co, ci0, ci1, j0, width, grad_weights);
    });
  };
  detail::by_tile_groups(g, batch, 1, transform, multiply, nullptr);
  if (grad_bias) detail::add_bias_gradient(g, batch, grad_out, grad_bias);
}
