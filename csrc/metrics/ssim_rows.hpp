// The stages of the fused SSIM kernel over one column strip (ssim.cpp): blocks of kBlockRows output rows.
//
// Layouts. An input row of the strip holds the four moments (a, b, a^2 + b^2, ab; interleaved channels side
// by side) one after the other, `pitch` doubles apart. The vertical stage filters kBlockRows output rows
// together (every input value loaded once feeds all the sums that use it) and transposes 8 x 8 tiles, so
// that its output holds, per moment and per sample column j, one 8-lane vector of the block's rows: doubles
// t[m * t_pitch + 8 * j + r]. The horizontal stage then slides along j with aligned vector loads reused from
// registers, and forms SSIM for 8 rows at once. (Filtering rows first with unaligned loads, the horizontal
// taps `channels` samples apart, was bound by split loads: about 1.3 vector loads per cycle against 2 FMAs.)
//
// All arithmetic is float64: a float32 kernel (even with centred samples) drifts by up to ~7e-5 in the SSIM
// map on saturated regions (cancellation in E[x^2] - E[x]^2), beyond the 1e-5 agreement with skimage the
// tests require. Every sum starts with w[0] * x and adds the taps in order with explicit fused multiply-adds
// (the file is compiled without FMA contraction), on 8 lanes whatever the vector width (vec8.hpp), so the
// AVX2 and AVX-512 builds give bitwise-identical results; the baseline build (no FMA) differs by rounding.
#pragma once

#include <cstddef>

namespace codeclens::metrics {

// The four filtered quantities. SSIM needs only the sum of the two variances, so a^2 + b^2 is filtered as
// one moment instead of a^2 and b^2 apart (four moments, not five).
enum Moment { kMeanA = 0, kMeanB = 1, kSquares = 2, kCross = 3, kMoments = 4 };

// Output rows per block: the lanes of the transposed tiles.
constexpr int kBlockRows = 8;

// Samples per column strip (at most). The ring of kBlockRows + win_size - 1 input rows (4 moments each) and
// the transposed block stay in L2; a strip's loads are few per multiply-add, so L2 serves them. Measured on
// 1920x1080 RGB (AVX-512, 2 MiB L2): 384 is fastest; 128 about 10% slower (the halo of 10 columns filtered
// vertically, per-call work), 512 about 4% slower.
constexpr int kStripPitch = 384;

// Columns past the last one the vertical stage writes that the horizontal stage may read (its register
// block runs past the strip's end; those outputs are dropped). The caller zeroes them.
constexpr int kHorizontalOverrun = 16;

// Forms a*a + b*b and a*b for `count` samples.
void products_stage(const double* a, const double* b, int count, double* squares, double* cross);

// Vertical stage: for output rows r < kBlockRows, moments m and columns j < cols (a multiple of 8),
//   t[m * t_pitch + 8 * j + r] = sum_k w[k] * rows[r + k][m * pitch + j],   k < taps,
// rows[] holding kBlockRows + taps - 1 input rows (64-byte aligned, pitch a multiple of 8).
void vertical_block_stage(const double* const* rows, int cols, int pitch, const double* w, int taps, double* t,
                          std::size_t t_pitch);

// Horizontal stage and SSIM for the block's output samples j < n:
//   mu_a, mu_b, E[a^2 + b^2], E[ab] = sum_k w[k] * t[m * t_pitch + 8 * (j + k * channels) + r],
//   s = (2 mu_a mu_b + C1)(2 cov + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))
// with population (co)variances cov = E[ab] - mu_a mu_b and var_a + var_b = E[a^2 + b^2] - (mu_a^2 + mu_b^2);
// adds s of rows r < count to colsum[8 * j + r] and, when `map` is set, stores every row's s in
// map[8 * j + r]. For a == b the operands of numerator and denominator are bitwise equal, so s == 1 exactly;
// swapping a and b only commutes operands, so s is symmetric bitwise.
void horizontal_ssim_stage(const double* t, std::size_t t_pitch, int n, int channels, const double* w, int taps,
                           double c1, double c2, int count, double* colsum, double* map);

// The instruction set the stages run with: "avx512" (x86-64-v4), "avx2" (x86-64-v3, with FMA) or
// "baseline". Chosen once from the CPU; set_kernel_isa overrides it (for tests and benchmarks; an ISA the CPU
// lacks is refused with InvalidArgument).
const char* kernel_isa();
void set_kernel_isa(const char* name);

}  // namespace codeclens::metrics
