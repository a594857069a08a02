// The row stages of the fused SSIM kernel. Each works on one row of a column strip, vectorised across
// samples (interleaved channels side by side, so horizontal taps are `channels` samples apart).
//
// All arithmetic is float64: a float32 kernel (even with centred samples) drifts by up to ~7e-5 in the SSIM
// map on saturated regions (cancellation in E[x^2] - E[x]^2), beyond the 1e-5 agreement with skimage the
// tests require. Every fused multiply-add is explicit (the file is compiled without FMA contraction), so the
// AVX2 and AVX-512 builds give bitwise-identical results; the baseline build (no FMA) differs by rounding.
//
// A filtered row holds the four moments one after the other, `pitch` doubles apart; with the default strip
// pitch (kStripPitch) the offsets are compile-time constants, so the fused vertical stage addresses every
// moment of a tap row from one pointer.
#pragma once

#include <cstddef>

namespace codeclens::metrics {

// The four filtered quantities. SSIM needs only the sum of the two variances, so a^2 + b^2 is filtered as
// one moment instead of a^2 and b^2 apart (four moments, not five).
enum Moment { kMeanA = 0, kMeanB = 1, kSquares = 2, kCross = 3, kMoments = 4 };

// Samples per column strip (at most): the ring of win_size filtered rows then takes 11 * 4 * 8 * 128 bytes,
// which stays in L1 with the input rows while the vertical stage reads it. Measured on 1920x1080 RGB
// (AVX-512, 48 KiB L1d): 128 is fastest; 192 to 384 (ring in L2) are 20% slower, 48 (more per-row calls
// and halo) 15% slower.
constexpr int kStripPitch = 128;

// Forms a*a + b*b and a*b for `count` samples.
void products_stage(const double* a, const double* b, int count, double* squares, double* cross);

// Horizontal stage: out[m * pitch + i] = sum_k w[k] * src[m][i + k * channels] for the four moments and
// i < n (n <= pitch). Each src row holds n + (taps - 1) * channels samples.
void horizontal_stage(const double* const* src, int n, int channels, const double* w, int taps, double* out,
                      int pitch);

// Vertical stage and SSIM for one output row of n samples: filters the taps ring rows (layout above) with w
// and forms
//   s = (2 mu_a mu_b + C1)(2 cov + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))
// with population (co)variances cov = E[ab] - mu_a mu_b and var_a + var_b = E[a^2 + b^2] - (mu_a^2 + mu_b^2);
// adds s to colsum[i] and stores it in map[i] when map is set. For a == b the operands of numerator and
// denominator are bitwise equal, so s == 1 exactly; swapping a and b only commutes operands, so s is
// symmetric bitwise.
void vertical_ssim_stage(const double* const* rows, int n, const double* w, int taps, int pitch, double c1,
                         double c2, double* colsum, double* map);

// The instruction set the row stages run with: "avx512" (x86-64-v4), "avx2" (x86-64-v3, with FMA) or
// "baseline". Chosen once from the CPU; set_kernel_isa overrides it (for tests and benchmarks; an ISA the CPU
// lacks is refused with InvalidArgument).
const char* kernel_isa();
void set_kernel_isa(const char* name);

}  // namespace codeclens::metrics
