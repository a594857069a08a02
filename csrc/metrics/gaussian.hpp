// The SSIM weighting window.
#pragma once

#include <vector>

namespace codeclens::metrics {

// 1-D Gaussian taps w[k] = exp(-0.5 (k - r)^2 / sigma^2) / sum, k = 0 .. win_size - 1, r = win_size / 2: the
// separable factor of MATLAB's fspecial('gaussian', win_size, sigma) and of scipy.ndimage.gaussian_filter with
// radius r (what skimage uses with gaussian_weights=True). Throws InvalidArgument unless win_size is odd and
// >= 3 and sigma is positive and finite.
std::vector<double> gaussian_window(int win_size, double sigma);

}  // namespace codeclens::metrics
