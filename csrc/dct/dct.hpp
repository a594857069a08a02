// Blockwise 8x8 DCT with JPEG's conventions, zigzag order and frequency band selection.
//
// Convention (ITU-T T.81, A.3.3): the forward transform of a block is the orthonormal 2-D DCT-II of the
// level-shifted samples s(y, x) - level_shift (level_shift = 128 for 8-bit JPEG):
//     F(v, u) = a(v) a(u) sum_{y,x} (s(y,x) - shift) cos((2y+1) v pi / 16) cos((2x+1) u pi / 16),
//     a(0) = sqrt(1/8), a(k>0) = sqrt(2/8),
// the same numbers as scipy.fft.dctn(block - shift, norm="ortho"). Coefficients are laid out (blocks_h,
// blocks_w, 8, 8) with the 8x8 block in natural (row-major) order: [v][u] = vertical, horizontal frequency.
// A JPEG file stores round(F / Q) for its quantization table Q; dequantizing multiplies back by Q.
//
// Edges: a plane whose height or width is not a multiple of 8 is extended to the next multiple of 8 by
// replicating its last row and last column (what libjpeg does before its forward DCT), so the coefficient
// grid is ceil(h/8) x ceil(w/8). The inverse returns the full padded plane unless asked to crop.
//
// Everything here is plain C++ (no Python); planes are read through their strides, coefficient arrays are
// caller-owned and contiguous.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/view.hpp"

namespace codeclens::dct {

constexpr int kBlock = 8;
constexpr int kCoefficients = 64;

// kZigzag[k] = natural (row-major, 8 * v + u) index of the k-th coefficient in zigzag order (T.81 Fig. A.6).
extern const std::array<int, kCoefficients> kZigzag;
// Largest plane side the transforms accept (the block grid and its float count stay far from overflow).
constexpr int kMaxSide = 1 << 28;

inline int blocks_for(int samples) { return (samples + kBlock - 1) / kBlock; }

// Forward DCT of every 8x8 block of `plane` (one channel of uint8 or float32 samples, any byte strides: the
// common strided view) into `out`, which holds blocks_for(h) * blocks_for(w) * 64 floats. Block rows are
// shared among `threads` workers (<= 0: default_thread_count()). Throws TypeMismatch for other sample types,
// InvalidArgument for an empty, multi-channel or too large plane.
void forward(const StridedView& plane, float level_shift, float* out, int threads);

// Inverse DCT of `coeffs` (blocks_h, blocks_w, 8, 8) plus level_shift, written to an out_h x out_w plane
// (row-major, contiguous) with out_h <= 8 * blocks_h and out_w <= 8 * blocks_w: the top-left crop of the
// padded plane. The uint8 version rounds half away from zero and clamps to [0, 255] (NaN gives 0).
void inverse(const float* coeffs, int blocks_h, int blocks_w, float level_shift, float* out, int out_h, int out_w,
             int threads);
void inverse(const float* coeffs, int blocks_h, int blocks_w, float level_shift, std::uint8_t* out, int out_h,
             int out_w, int threads);

// Frequency band selection: the n (1..64) lowest frequencies in zigzag order of every block of `coeffs`
// (blocks, 64) in natural order, written channel-first to out (n, blocks) as float. When qtable (64 values,
// natural order) is not null each coefficient is multiplied by its quantization step (dequantization).
void select_bands(const std::int16_t* coeffs, std::size_t blocks, const std::uint16_t* qtable, int n, float* out);
void select_bands(const float* coeffs, std::size_t blocks, const std::uint16_t* qtable, int n, float* out);

// One 8x8 block, exposed for tests and benchmarks: in/out are 64 floats in natural order.
void forward_block(const float* in, float* out);
void inverse_block(const float* in, float* out);

}  // namespace codeclens::dct
