// Exact sum of squared differences of integer images (uint8, uint16): the MSE / PSNR kernel.
//
// Integer arithmetic throughout: |a - b| squared fits 16 bits (uint8) or 32 bits (uint16); partial sums are
// widened to 64 bits before they can overflow, and the image total is kept in 128 bits. The result is the
// exact integer sum whatever the instruction set (the instance for the SSIM kernels' ISA, see ssim_rows.hpp:
// AVX-512, AVX2 or portable) and whatever the strides.
#pragma once

#include <cstddef>
#include <cstdint>

#include "metrics/image.hpp"

namespace codeclens::metrics {

// Whether integer_squared_error takes this sample type (uint8, uint16).
inline bool integer_samples(SampleType t) { return t == SampleType::U8 || t == SampleType::U16; }

// sum (a[i] - b[i])^2 over n packed samples (any alignment). n < 2^40 for uint8, n < 2^32 for uint16 (the
// caller splits longer runs).
std::uint64_t sum_squared_difference_u8(const std::uint8_t* a, const std::uint8_t* b, std::size_t n);
std::uint64_t sum_squared_difference_u16(const std::uint16_t* a, const std::uint16_t* b, std::size_t n);

// The exact sum of (a - b)^2 over all H * W * C samples of two uint8 or uint16 views of the same layout
// (check_same_layout). Rows whose samples are packed in the same order in a and b (interleaved or
// channel-reversed pixels, flipped columns, channel-first planes) go to the vector kernel, whole images
// at once when both are one block; any other strides are read sample by sample.
unsigned __int128 integer_squared_error(const PlaneView& a, const PlaneView& b);

}  // namespace codeclens::metrics
