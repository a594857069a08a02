// Compiled without FMA contraction: the multiply-adds that should fuse are written as V::fma, so the
// rounding of every other expression is fixed by the source (see ssim_rows.hpp).
#pragma GCC optimize("fp-contract=off")

#include "metrics/ssim_rows.hpp"

#include <algorithm>
#include <atomic>
#include <string>

#include "common/errors.hpp"
#include "metrics/simd.hpp"
#include "metrics/vec8.hpp"

namespace codeclens::metrics {
namespace {

// Wang's window (11 taps) and the channel counts of gray and RGB get unrolled instances; other windows and
// channel counts use runtime loops with the same arithmetic.
constexpr int kWangTaps = 11;

CODECLENS_INLINE void products_impl(const double* __restrict a, const double* __restrict b, int count,
                                    double* __restrict squares, double* __restrict cross) {
  for (int j = 0; j < count; ++j) {
    squares[j] = a[j] * a[j] + b[j] * b[j];
    cross[j] = a[j] * b[j];
  }
}

// ------------------------------------------------------------------------------------------ vertical
// kBlockRows sums (one per output row) of 8 columns, kGroup rows at a time (as many sums as registers
// hold): input row s of a group feeds its output row r with tap s - r.
template <class V, int kTaps, int kGroup>
CODECLENS_INLINE void vertical_tile_fixed(const double* const* rows, std::size_t offset, const V* wk, V* acc) {
  static_assert(kBlockRows % kGroup == 0, "whole groups");
  for (int g = 0; g < kBlockRows; g += kGroup) {
#pragma GCC unroll 32
    for (int s = 0; s < kTaps + kGroup - 1; ++s) {
      const V x = V::load(rows[g + s] + offset);
#pragma GCC unroll 8
      for (int r = 0; r < kGroup; ++r) {
        const int k = s - r;
        if (k == 0) acc[g + r] = V::mul(wk[0], x);
        if (k > 0 && k < kTaps) acc[g + r] = V::fma(wk[k], x, acc[g + r]);
      }
    }
  }
}

template <class V>
CODECLENS_INLINE void vertical_tile_runtime(const double* const* rows, std::size_t offset, const double* w,
                                            int taps, V* acc) {
  for (int r = 0; r < kBlockRows; ++r) {
    acc[r] = V::mul(V::set1(w[0]), V::load(rows[r] + offset));
    for (int k = 1; k < taps; ++k) acc[r] = V::fma(V::set1(w[k]), V::load(rows[r + k] + offset), acc[r]);
  }
}

template <class V, int kTaps, int kGroup>
CODECLENS_INLINE void vertical_impl(const double* const* rows, int cols, int pitch, const double* w, int taps,
                                    double* t, std::size_t t_pitch) {
  V wk[kTaps > 0 ? kTaps : 1];
  for (int k = 0; k < kTaps; ++k) wk[k] = V::set1(w[k]);
  for (int m = 0; m < kMoments; ++m) {
    for (int c = 0; c < cols; c += 8) {
      const std::size_t offset = static_cast<std::size_t>(m) * pitch + c;
      V acc[kBlockRows], tile[kBlockRows];
      if constexpr (kTaps > 0) {
        vertical_tile_fixed<V, kTaps, kGroup>(rows, offset, wk, acc);
      } else {
        vertical_tile_runtime<V>(rows, offset, w, taps, acc);
      }
      V::transpose(acc, tile);
      double* out = t + m * t_pitch + 8 * static_cast<std::size_t>(c);
      for (int j = 0; j < 8; ++j) V::store(out + 8 * j, tile[j]);
    }
  }
}

// ---------------------------------------------------------------------------------------- horizontal
// One moment, kOut consecutive outputs h[b] = sum_k w[k] * x[b + k * kStep] (x: 8-lane vectors from
// `first` on): each input vector is loaded once and fed to every output that uses it.
template <class V, int kTaps, int kStep, int kOut>
CODECLENS_INLINE void horizontal_run_fixed(const double* first, const V* wk, V* h) {
#pragma GCC unroll 64
  for (int u = 0; u < kOut + (kTaps - 1) * kStep; ++u) {
    const V x = V::load(first + 8 * u);
#pragma GCC unroll 16
    for (int b = 0; b < kOut; ++b) {
      const int d = u - b;
      if (d < 0 || d % kStep != 0 || d / kStep >= kTaps) continue;
      h[b] = d == 0 ? V::mul(wk[0], x) : V::fma(wk[d / kStep], x, h[b]);
    }
  }
}

template <class V, int kOut>
CODECLENS_INLINE void horizontal_run_runtime(const double* first, int step, const double* w, int taps, V* h) {
  for (int b = 0; b < kOut; ++b) {
    const double* x = first + 8 * b;
    h[b] = V::mul(V::set1(w[0]), V::load(x));
    for (int k = 1; k < taps; ++k) {
      h[b] = V::fma(V::set1(w[k]), V::load(x + 8 * static_cast<std::size_t>(k) * step), h[b]);
    }
  }
}

template <class V>
CODECLENS_INLINE V ssim_of(const V& ma, const V& mb, const V& e_sq, const V& e_ab, const V& c1, const V& c2) {
  // fma(2, x, c) rounds once, as 2 x + c does (doubling is exact).
  const V two = V::set1(2.0);
  const V mab = V::mul(ma, mb), msq = V::add(V::mul(ma, ma), V::mul(mb, mb));
  const V num = V::mul(V::fma(two, mab, c1), V::fma(two, V::sub(e_ab, mab), c2));
  const V den = V::mul(V::add(msq, c1), V::add(V::sub(e_sq, msq), c2));
  return V::div(num, den);
}

// SSIM of the first `outputs` columns of a register block whose moments are h: added to colsum (rows below
// count) and stored in map when set.
template <class V, int kOut>
CODECLENS_INLINE void ssim_outputs(const V (*h)[kOut], int outputs, const V& c1, const V& c2, int count,
                                   double* colsum, double* map) {
  const V zero = V::set1(0.0);
  for (int b = 0; b < outputs; ++b) {
    const V s = ssim_of(h[kMeanA][b], h[kMeanB][b], h[kSquares][b], h[kCross][b], c1, c2);
    double* sums = colsum + 8 * b;
    V::store(sums, V::add(V::load(sums), V::select_first(count, s, zero)));
    if (map != nullptr) V::store(map + 8 * b, s);
  }
}

// kTaps / kStep > 0: compile-time window and channel count; 0: runtime. kOut outputs per register block.
template <class V, int kTaps, int kStep, int kOut>
CODECLENS_INLINE void horizontal_ssim_impl(const double* t, std::size_t t_pitch, int n, int step, const double* w,
                                           int taps, double c1, double c2, int count, double* colsum, double* map) {
  V wk[kTaps > 0 ? kTaps : 1];
  for (int k = 0; k < kTaps; ++k) wk[k] = V::set1(w[k]);
  const V vc1 = V::set1(c1), vc2 = V::set1(c2);
  V h[kMoments][kOut];
  for (int j0 = 0; j0 < n; j0 += kOut) {
    for (int m = 0; m < kMoments; ++m) {
      const double* first = t + m * t_pitch + 8 * static_cast<std::size_t>(j0);
      if constexpr (kTaps > 0 && kStep > 0) {
        horizontal_run_fixed<V, kTaps, kStep, kOut>(first, wk, h[m]);
      } else {
        horizontal_run_runtime<V, kOut>(first, step, w, taps, h[m]);
      }
    }
    const std::size_t at = 8 * static_cast<std::size_t>(j0);
    ssim_outputs<V, kOut>(h, std::min(kOut, n - j0), vc1, vc2, count, colsum + at, map != nullptr ? map + at : nullptr);
  }
}

// ------------------------------------------------------------------------------------ ISA instances
// kGroup: output rows filtered together by the vertical stage (that many sums of V in registers).
template <class V, int kGroup>
CODECLENS_INLINE void vertical_any(const double* const* rows, int cols, int pitch, const double* w, int taps,
                                   double* t, std::size_t t_pitch) {
  if (taps == kWangTaps) {
    vertical_impl<V, kWangTaps, kGroup>(rows, cols, pitch, w, taps, t, t_pitch);
  } else {
    vertical_impl<V, 0, kGroup>(rows, cols, pitch, w, taps, t, t_pitch);
  }
}

// kOut: outputs per horizontal register block (kOut accumulators of V plus the taps' weights must fit).
template <class V, int kOut>
CODECLENS_INLINE void horizontal_ssim_any(const double* t, std::size_t t_pitch, int n, int channels,
                                          const double* w, int taps, double c1, double c2, int count,
                                          double* colsum, double* map) {
  static_assert(kOut <= kHorizontalOverrun, "the register block may run kOut - 1 columns past the strip");
  if (taps == kWangTaps && channels == 3) {
    horizontal_ssim_impl<V, kWangTaps, 3, kOut>(t, t_pitch, n, 3, w, taps, c1, c2, count, colsum, map);
  } else if (taps == kWangTaps && channels == 1) {
    horizontal_ssim_impl<V, kWangTaps, 1, kOut>(t, t_pitch, n, 1, w, taps, c1, c2, count, colsum, map);
  } else {
    horizontal_ssim_impl<V, 0, 0, kOut>(t, t_pitch, n, channels, w, taps, c1, c2, count, colsum, map);
  }
}

// One instance of the stages per instruction set.
struct RowKernels {
  const char* name;
  void (*products)(const double*, const double*, int, double*, double*);
  void (*vertical)(const double* const*, int, int, const double*, int, double*, std::size_t);
  void (*horizontal_ssim)(const double*, std::size_t, int, int, const double*, int, double, double, int, double*,
                          double*);
};

#define CODECLENS_ROW_KERNELS(SUFFIX, ATTR, VEC, GROUP, OUT)                                                   \
  ATTR void products_##SUFFIX(const double* a, const double* b, int count, double* sq, double* cr) {           \
    products_impl(a, b, count, sq, cr);                                                                        \
  }                                                                                                            \
  ATTR void vertical_##SUFFIX(const double* const* rows, int cols, int pitch, const double* w, int taps,       \
                              double* t, std::size_t t_pitch) {                                                \
    vertical_any<VEC, GROUP>(rows, cols, pitch, w, taps, t, t_pitch);                                          \
  }                                                                                                            \
  ATTR void horizontal_ssim_##SUFFIX(const double* t, std::size_t t_pitch, int n, int channels,               \
                                     const double* w, int taps, double c1, double c2, int count,               \
                                     double* colsum, double* map) {                                            \
    horizontal_ssim_any<VEC, OUT>(t, t_pitch, n, channels, w, taps, c1, c2, count, colsum, map);               \
  }                                                                                                            \
  constexpr RowKernels kKernels_##SUFFIX{#SUFFIX, products_##SUFFIX, vertical_##SUFFIX, horizontal_ssim_##SUFFIX};

// Register blocks (vertical rows, horizontal outputs), the fastest measured: AVX-512 (32 zmm, one per vector)
// 8 and 16; AVX2 (16 ymm, two per vector) 8 and 4; the portable build 2 and 4. The blocks change which sums
// share registers, never the order of any sum.
#if CODECLENS_X86_DISPATCH
CODECLENS_ROW_KERNELS(avx512, __attribute__((target("arch=x86-64-v4"))) CODECLENS_FLATTEN, Vec8Avx512, 8, 16)
CODECLENS_ROW_KERNELS(avx2, __attribute__((target("arch=x86-64-v3"))) CODECLENS_FLATTEN, Vec8Avx2, 8, 4)
#endif
CODECLENS_ROW_KERNELS(baseline, CODECLENS_FLATTEN, Vec8Portable<CODECLENS_BASELINE_FMA>, 2, 4)

const RowKernels* kernels_for(const std::string& name) {
#if CODECLENS_X86_DISPATCH
  __builtin_cpu_init();
  if (name == "avx512") return __builtin_cpu_supports("x86-64-v4") ? &kKernels_avx512 : nullptr;
  if (name == "avx2") return __builtin_cpu_supports("x86-64-v3") ? &kKernels_avx2 : nullptr;
#endif
  if (name == "baseline") return &kKernels_baseline;
  return nullptr;
}

const RowKernels* detect_kernels() {
  for (const char* name : {"avx512", "avx2"}) {
    if (const RowKernels* k = kernels_for(name)) return k;
  }
  return &kKernels_baseline;
}

std::atomic<const RowKernels*>& active_kernels() {
  static std::atomic<const RowKernels*> active{detect_kernels()};
  return active;
}

const RowKernels& kernels() { return *active_kernels().load(std::memory_order_relaxed); }

}  // namespace

void products_stage(const double* a, const double* b, int count, double* squares, double* cross) {
  kernels().products(a, b, count, squares, cross);
}

void vertical_block_stage(const double* const* rows, int cols, int pitch, const double* w, int taps, double* t,
                          std::size_t t_pitch) {
  kernels().vertical(rows, cols, pitch, w, taps, t, t_pitch);
}

void horizontal_ssim_stage(const double* t, std::size_t t_pitch, int n, int channels, const double* w, int taps,
                           double c1, double c2, int count, double* colsum, double* map) {
  kernels().horizontal_ssim(t, t_pitch, n, channels, w, taps, c1, c2, count, colsum, map);
}

const char* kernel_isa() { return kernels().name; }

void set_kernel_isa(const char* name) {
  const std::string wanted = name == nullptr ? "" : name;
  const RowKernels* k = wanted == "auto" ? detect_kernels() : kernels_for(wanted);
  if (k == nullptr) {
    throw InvalidArgument("kernel ISA must be 'auto', 'avx512', 'avx2' or 'baseline' and supported by this CPU, "
                          "got '" + wanted + "'");
  }
  active_kernels().store(k, std::memory_order_relaxed);
}

}  // namespace codeclens::metrics
