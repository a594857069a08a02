#include "metrics/gaussian.hpp"

#include <cmath>
#include <string>

#include "common/errors.hpp"

namespace codeclens::metrics {

std::vector<double> gaussian_window(int win_size, double sigma) {
  if (win_size < 3 || win_size % 2 == 0 || win_size > 255) {
    throw InvalidArgument("win_size must be an odd integer from 3 to 255, got " + std::to_string(win_size));
  }
  if (!(sigma > 0.0) || !std::isfinite(sigma)) {
    throw InvalidArgument("sigma must be a positive finite number, got " + std::to_string(sigma));
  }
  const int radius = win_size / 2;
  const double scale = -0.5 / (sigma * sigma);  // the same expression order as scipy's _gaussian_kernel1d
  std::vector<double> w(static_cast<std::size_t>(win_size));
  double sum = 0.0;
  for (int k = 0; k < win_size; ++k) {
    const double x = static_cast<double>(k - radius);
    w[k] = std::exp(scale * (x * x));
    sum += w[k];
  }
  for (double& v : w) v /= sum;
  return w;
}

}  // namespace codeclens::metrics
