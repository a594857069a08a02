// Compiled without FMA contraction: the multiply-adds that should fuse are written as madd<kFma>, so the
// rounding of every other expression is fixed by the source (see ssim_rows.hpp).
#pragma GCC optimize("fp-contract=off")

#include "metrics/ssim_rows.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "common/errors.hpp"
#include "metrics/simd.hpp"

namespace codeclens::metrics {
namespace {

template <bool kFma>
CODECLENS_INLINE double madd(double a, double b, double c) {
  if constexpr (kFma) {
    return __builtin_fma(a, b, c);
  } else {
    return a * b + c;
  }
}

// The window of Wang et al. (11 taps) gets its own unrolled instance; other sizes use the runtime loop.
constexpr int kWangTaps = 11;

template <bool kFma>
CODECLENS_INLINE void products_impl(const double* __restrict a, const double* __restrict b, int count,
                                    double* __restrict squares, double* __restrict cross) {
  for (int j = 0; j < count; ++j) {
    squares[j] = a[j] * a[j] + b[j] * b[j];
    cross[j] = a[j] * b[j];
  }
}

// d[i] = sum_k w[k] * s[i + k * step], i < n. kTaps > 0: the tap loop is unrolled and the sum stays in a
// register; kTaps == 0: runtime size (tap-outer loops, still vectorised across i).
template <bool kFma, int kTaps>
CODECLENS_INLINE void filter_row(const double* __restrict s, double* __restrict d, int n, int step,
                                 const double* __restrict w, int taps) {
  if constexpr (kTaps > 0) {
    double wk[kTaps];
    for (int k = 0; k < kTaps; ++k) wk[k] = w[k];
    for (int i = 0; i < n; ++i) {
      // Even and odd taps in two chains: half the latency of one chain of kTaps dependent FMAs.
      double even = wk[0] * s[i];
      double odd = wk[1] * s[i + step];
#pragma GCC unroll 16
      for (int k = 2; k + 1 < kTaps; k += 2) {
        even = madd<kFma>(wk[k], s[i + k * step], even);
        odd = madd<kFma>(wk[k + 1], s[i + (k + 1) * step], odd);
      }
      if constexpr (kTaps % 2 == 1) even = madd<kFma>(wk[kTaps - 1], s[i + (kTaps - 1) * step], even);
      d[i] = even + odd;
    }
  } else {
    for (int i = 0; i < n; ++i) d[i] = w[0] * s[i];
    for (int k = 1; k < taps; ++k) {
      const double wk = w[k];
      const double* __restrict sk = s + k * step;
      for (int i = 0; i < n; ++i) d[i] = madd<kFma>(wk, sk[i], d[i]);
    }
  }
}

// kTaps / kPitch > 0: the compile-time fast path (Wang's 11 taps, default strip pitch); 0: runtime values.
template <bool kFma, int kTaps, int kPitch>
CODECLENS_INLINE void horizontal_impl(const double* const* src, int n, int step, const double* w, int taps_rt,
                                      double* out, int pitch_rt) {
  const int pitch = kPitch > 0 ? kPitch : pitch_rt;
  for (int m = 0; m < kMoments; ++m) filter_row<kFma, kTaps>(src[m], out + m * pitch, n, step, w, taps_rt);
}

CODECLENS_INLINE double ssim_of(double ma, double mb, double e_sq, double e_ab, double c1, double c2) {
  const double mab = ma * mb, msq = ma * ma + mb * mb;
  const double num = (2.0 * mab + c1) * (2.0 * (e_ab - mab) + c2);
  const double den = (msq + c1) * ((e_sq - msq) + c2);
  return num / den;
}

// Vertical stage fused with SSIM: the division overlaps the next samples' multiply-adds.
template <bool kFma, int kTaps, int kPitch, bool kMap>
CODECLENS_INLINE void vertical_ssim_fixed(const double* const* rows, int n, const double* __restrict w, double c1,
                                          double c2, double* __restrict colsum, double* __restrict map) {
  static_assert(kTaps >= 3 && kTaps % 2 == 1, "odd tap count");
  const double* __restrict p[kTaps];
  double wk[kTaps];
#pragma GCC unroll 16
  for (int k = 0; k < kTaps; ++k) {
    p[k] = rows[k];
    wk[k] = w[k];
  }
  // The ring rows, colsum and map never overlap; ivdep says so (restrict does not reach into the array).
#pragma GCC ivdep
  for (int i = 0; i < n; ++i) {
    double mom[kMoments];
#pragma GCC unroll 4
    for (int m = 0; m < kMoments; ++m) {
      const int at = m * kPitch + i;
      double even = wk[0] * p[0][at];
      double odd = wk[1] * p[1][at];
#pragma GCC unroll 16
      for (int k = 2; k + 1 < kTaps; k += 2) {
        even = madd<kFma>(wk[k], p[k][at], even);
        odd = madd<kFma>(wk[k + 1], p[k + 1][at], odd);
      }
      mom[m] = madd<kFma>(wk[kTaps - 1], p[kTaps - 1][at], even) + odd;
    }
    const double s = ssim_of(mom[kMeanA], mom[kMeanB], mom[kSquares], mom[kCross], c1, c2);
    colsum[i] += s;
    if constexpr (kMap) map[i] = s;
  }
}

// Runtime taps and pitch: tap-outer loops over a moments scratch row, then the SSIM loop.
template <bool kFma>
CODECLENS_INLINE void vertical_ssim_runtime(const double* const* rows, int n, const double* __restrict w, int taps,
                                            int pitch, double c1, double c2, double* __restrict colsum,
                                            double* __restrict map) {
  std::vector<double> scratch(static_cast<std::size_t>(kMoments) * pitch);
  double* __restrict mom = scratch.data();
  for (int m = 0; m < kMoments; ++m) {
    double* __restrict d = mom + m * pitch;
    const double* __restrict r0 = rows[0] + m * pitch;
    for (int i = 0; i < n; ++i) d[i] = w[0] * r0[i];
    for (int k = 1; k < taps; ++k) {
      const double wk = w[k];
      const double* __restrict rk = rows[k] + m * pitch;
      for (int i = 0; i < n; ++i) d[i] = madd<kFma>(wk, rk[i], d[i]);
    }
  }
  for (int i = 0; i < n; ++i) {
    const double s = ssim_of(mom[kMeanA * pitch + i], mom[kMeanB * pitch + i], mom[kSquares * pitch + i],
                             mom[kCross * pitch + i], c1, c2);
    colsum[i] += s;
    if (map != nullptr) map[i] = s;
  }
}

template <bool kFma>
CODECLENS_INLINE void horizontal_any(const double* const* src, int n, int step, const double* w, int taps,
                                     double* out, int pitch) {
  if (taps == kWangTaps && pitch == kStripPitch) {
    horizontal_impl<kFma, kWangTaps, kStripPitch>(src, n, step, w, taps, out, pitch);
  } else {
    horizontal_impl<kFma, 0, 0>(src, n, step, w, taps, out, pitch);
  }
}

template <bool kFma>
CODECLENS_INLINE void vertical_ssim_any(const double* const* rows, int n, const double* w, int taps, int pitch,
                                        double c1, double c2, double* colsum, double* map) {
  if (taps == kWangTaps && pitch == kStripPitch) {
    if (map != nullptr) {
      vertical_ssim_fixed<kFma, kWangTaps, kStripPitch, true>(rows, n, w, c1, c2, colsum, map);
    } else {
      vertical_ssim_fixed<kFma, kWangTaps, kStripPitch, false>(rows, n, w, c1, c2, colsum, map);
    }
  } else {
    vertical_ssim_runtime<kFma>(rows, n, w, taps, pitch, c1, c2, colsum, map);
  }
}

// One instance of the stages per instruction set.
struct RowKernels {
  const char* name;
  void (*products)(const double*, const double*, int, double*, double*);
  void (*horizontal)(const double* const*, int, int, const double*, int, double*, int);
  void (*vertical_ssim)(const double* const*, int, const double*, int, int, double, double, double*, double*);
};

#define CODECLENS_ROW_KERNELS(SUFFIX, ATTR, FMA)                                                              \
  ATTR void products_##SUFFIX(const double* a, const double* b, int count, double* sq, double* cr) {           \
    products_impl<FMA>(a, b, count, sq, cr);                                                                   \
  }                                                                                                            \
  ATTR void horizontal_##SUFFIX(const double* const* src, int n, int step, const double* w, int taps,         \
                                double* out, int pitch) {                                                      \
    horizontal_any<FMA>(src, n, step, w, taps, out, pitch);                                                    \
  }                                                                                                            \
  ATTR void vertical_ssim_##SUFFIX(const double* const* rows, int n, const double* w, int taps, int pitch,    \
                                   double c1, double c2, double* colsum, double* map) {                        \
    vertical_ssim_any<FMA>(rows, n, w, taps, pitch, c1, c2, colsum, map);                                      \
  }                                                                                                            \
  constexpr RowKernels kKernels_##SUFFIX{#SUFFIX, products_##SUFFIX, horizontal_##SUFFIX, vertical_ssim_##SUFFIX};

#if CODECLENS_X86_DISPATCH
CODECLENS_ROW_KERNELS(avx512, __attribute__((target("arch=x86-64-v4"))) CODECLENS_FLATTEN, true)
CODECLENS_ROW_KERNELS(avx2, __attribute__((target("arch=x86-64-v3"))) CODECLENS_FLATTEN, true)
#endif
CODECLENS_ROW_KERNELS(baseline, CODECLENS_FLATTEN, CODECLENS_BASELINE_FMA)

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

void horizontal_stage(const double* const* src, int n, int channels, const double* w, int taps, double* out,
                      int pitch) {
  kernels().horizontal(src, n, channels, w, taps, out, pitch);
}

void vertical_ssim_stage(const double* const* rows, int n, const double* w, int taps, int pitch, double c1,
                         double c2, double* colsum, double* map) {
  kernels().vertical_ssim(rows, n, w, taps, pitch, c1, c2, colsum, map);
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
