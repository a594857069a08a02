// Fused MSE / PSNR / SSIM of two images in one pass over the pixels.
//
// Convention (Wang, Bovik, Sheikh, Simoncelli 2004): Gaussian window win_size x win_size (11, sigma 1.5),
// C1 = (k1 L)^2, C2 = (k2 L)^2 (k1 0.01, k2 0.03, L the data range), population (co)variances, valid region
// only (no padding: the map is (H - win_size + 1) x (W - win_size + 1)), SSIM = mean of the map; several
// channels = mean of the per-channel SSIMs; luma = on BT.601 Y. Equal to skimage.metrics.structural_similarity(
// a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L) up to float64 rounding.
// `downsample` applies Wang's MATLAB rule first (see downsample.hpp); the MSE is always at full resolution.
#pragma once

#include <optional>
#include <vector>

#include "metrics/image.hpp"

namespace codeclens::metrics {

struct SsimOptions {
  std::optional<double> data_range;  // required for float input; uint8 255, uint16 65535
  int win_size = 11;
  double sigma = 1.5;
  double k1 = 0.01;
  double k2 = 0.03;
  bool luma = false;        // SSIM (and MSE) on BT.601 Y of RGB input
  bool downsample = false;  // Wang's automatic downsampling before SSIM
};

struct MapShape {
  int height = 0;
  int width = 0;
  int channels = 0;
};

struct QualityResult {
  double mse = 0.0;
  double psnr = 0.0;
  double ssim = 0.0;
  std::vector<double> channel_ssim;  // per channel (one value with luma)
  double data_range = 0.0;
  int downsample_factor = 1;
};

// Validates a, b and the options (dtype, shape, luma channels, data range, window, image at least the window
// after downsampling) and returns the shape of the SSIM map. Throws InvalidArgument / TypeMismatch.
MapShape ssim_map_shape(const PlaneView& a, const PlaneView& b, const SsimOptions& options);

// All three metrics in one pass. `map`, when set, receives the SSIM map (ssim_map_shape(), packed
// row-major, channels interleaved). `threads` > 1 splits the columns into strips run in parallel; the result
// is bitwise identical for any thread count. Throws InvalidArgument on NaN/inf samples.
QualityResult quality(const PlaneView& a, const PlaneView& b, const SsimOptions& options, double* map = nullptr,
                      int threads = 1);

}  // namespace codeclens::metrics
