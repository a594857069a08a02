// MSE and PSNR over all samples of two images (skimage.metrics.mean_squared_error /
// peak_signal_noise_ratio convention: one mean over every sample of every channel).
#pragma once

#include <optional>

#include "metrics/image.hpp"

namespace codeclens::metrics {

// The data range L: the requested value (positive and finite), else 255 for uint8 and 65535 for uint16.
// Float input without a requested range throws InvalidArgument: the range is never inferred from the data.
double resolve_data_range(SampleType type, std::optional<double> requested);

// 10 log10(L^2 / mse); +inf when mse == 0 (identical images).
double psnr_from_mse(double mse, double data_range);

// Mean of (a - b)^2 over all H * W * C samples (or over the H * W BT.601 Y values with `luma`, which needs 3
// channels). uint8 / uint16 without luma: the exact integer sum S (squared_error.hpp) over the count N, as
// double(S) / double(N) (the correctly rounded quotient while S < 2^53, i.e. always for uint8 below 10^11
// samples). Otherwise float64 throughout. Throws InvalidArgument for shape mismatch or non-finite samples,
// TypeMismatch for differing dtypes.
double mse(const PlaneView& a, const PlaneView& b, bool luma = false);

// sum_i (a[i] - b[i])^2 over n float64 samples.
double sum_squared_difference(const double* a, const double* b, int n);

// Throws InvalidArgument unless the image has 3 channels (what luma=True needs).
void check_luma_channels(const PlaneView& v);

}  // namespace codeclens::metrics
