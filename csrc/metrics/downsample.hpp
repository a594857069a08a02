// Wang's automatic downsampling from the reference MATLAB ssim.m (2009): an f x f box filter with symmetric
// borders ('same' size, MATLAB's centre for even f), then every f-th row and column starting at the first.
#pragma once

#include "metrics/image.hpp"

namespace codeclens::metrics {

// f = max(1, round(min(height, width) / 256)), MATLAB's round (halves away from zero: 384 -> 2, 640 -> 3).
int wang_downsample_factor(int height, int width);

// The downsampled float64 image (ceil(H / f) x ceil(W / f) x C, or x 1 with `luma`: Y is formed first).
// f == 1 converts without filtering. Throws InvalidArgument when a sample is NaN or infinite (names `what`).
DoubleImage wang_downsample(const PlaneView& v, int factor, bool luma, const char* what);

}  // namespace codeclens::metrics
