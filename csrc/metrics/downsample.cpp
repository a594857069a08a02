#include "metrics/downsample.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/errors.hpp"

namespace codeclens::metrics {

int wang_downsample_factor(int height, int width) {
  const double ratio = static_cast<double>(std::min(height, width)) / 256.0;
  return std::max(1, static_cast<int>(std::floor(ratio + 0.5)));
}

namespace {

// Symmetric border (MATLAB 'symmetric', numpy 'symmetric'): ... x1 x0 | x0 x1 ... x(n-1) | x(n-1) x(n-2) ...
int reflect_index(int i, int n) {
  while (i < 0 || i >= n) {
    if (i < 0) i = -i - 1;
    if (i >= n) i = 2 * n - i - 1;
  }
  return i;
}

}  // namespace

DoubleImage wang_downsample(const PlaneView& v, int factor, bool luma, const char* what) {
  if (factor < 1) throw InvalidArgument("downsampling factor must be >= 1, got " + std::to_string(factor));
  const int ce = luma ? 1 : v.channels;
  DoubleImage out;
  out.height = (v.height + factor - 1) / factor;
  out.width = (v.width + factor - 1) / factor;
  out.channels = ce;
  out.samples.assign(static_cast<std::size_t>(out.height) * out.width * ce, 0.0);

  // imfilter's centre of an f-tap kernel is floor((f + 1) / 2) (1-based): taps cover [i - lo, i + hi].
  const int lo = (factor + 1) / 2 - 1;
  const int hi = factor - 1 - lo;
  const double area = static_cast<double>(factor) * factor;
  const std::size_t row_len = static_cast<std::size_t>(v.width) * ce;
  std::vector<double> line(row_len), box_rows(row_len);

  for (int oy = 0; oy < out.height; ++oy) {
    const int y = oy * factor;
    std::fill(box_rows.begin(), box_rows.end(), 0.0);
    for (int dy = -lo; dy <= hi; ++dy) {
      if (!load_row(v, reflect_index(y + dy, v.height), 0, v.width, luma, line.data())) {
        throw InvalidArgument(std::string(what) + " contains NaN or infinite values; the metrics need finite samples");
      }
      for (std::size_t i = 0; i < row_len; ++i) box_rows[i] += line[i];
    }
    double* dst = out.samples.data() + static_cast<std::size_t>(oy) * out.width * ce;
    for (int ox = 0; ox < out.width; ++ox) {
      const int x = ox * factor;
      for (int c = 0; c < ce; ++c) {
        double sum = 0.0;
        for (int dx = -lo; dx <= hi; ++dx) sum += box_rows[static_cast<std::size_t>(reflect_index(x + dx, v.width)) * ce + c];
        dst[static_cast<std::size_t>(ox) * ce + c] = sum / area;
      }
    }
  }
  return out;
}

}  // namespace codeclens::metrics
