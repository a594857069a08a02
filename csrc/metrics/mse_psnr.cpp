#include "metrics/mse_psnr.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/errors.hpp"
#include "metrics/simd.hpp"
#include "metrics/squared_error.hpp"

namespace codeclens::metrics {

double resolve_data_range(SampleType type, std::optional<double> requested) {
  if (requested.has_value()) {
    const double L = *requested;
    if (!(L > 0.0) || !std::isfinite(L)) {
      throw InvalidArgument("data_range must be a positive finite number, got " + std::to_string(L));
    }
    return L;
  }
  switch (type) {
    case SampleType::U8: return 255.0;
    case SampleType::U16: return 65535.0;
    default:
      throw InvalidArgument(std::string("data_range is required for ") + sample_type_name(type) +
                            " input (the span of possible values, e.g. 1.0 or 255.0); it is never inferred "
                            "from the data");
  }
}

double psnr_from_mse(double mse, double data_range) {
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10((data_range * data_range) / mse);
}

void check_luma_channels(const PlaneView& v) {
  if (v.channels != 3) {
    throw InvalidArgument("luma=True needs RGB images with 3 channels, got " + std::to_string(v.channels) +
                          " channel(s)");
  }
}

CODECLENS_MULTIVERSION double sum_squared_difference(const double* a, const double* b, int n) {
  // Eight independent partial sums (a fixed assignment, so the result does not depend on the vector width)
  // let the compiler vectorise a reduction it may not reorder itself.
  constexpr int kLanes = 8;
  double acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const double d = a[i + k] - b[i + k];
      acc[k] += d * d;
    }
  }
  for (int k = 0; i < n; ++i, ++k) {
    const double d = a[i] - b[i];
    acc[k] += d * d;
  }
  double sum = 0.0;
  for (int k = 0; k < kLanes; ++k) sum += acc[k];
  return sum;
}

double mse(const PlaneView& a, const PlaneView& b, bool luma) {
  check_same_layout(a, b);
  if (luma) check_luma_channels(a);
  if (!luma && integer_samples(a.type)) {
    const double count = static_cast<double>(a.height) * static_cast<double>(a.width) * static_cast<double>(a.channels);
    return static_cast<double>(integer_squared_error(a, b)) / count;
  }
  const int ce = luma ? 1 : a.channels;
  const int n = a.width * ce;
  std::vector<double> ra(static_cast<std::size_t>(n)), rb(static_cast<std::size_t>(n));
  double total = 0.0;
  for (int y = 0; y < a.height; ++y) {
    if (!load_row(a, y, 0, a.width, luma, ra.data())) {
      throw InvalidArgument("a contains NaN or infinite values; the metrics need finite samples");
    }
    if (!load_row(b, y, 0, b.width, luma, rb.data())) {
      throw InvalidArgument("b contains NaN or infinite values; the metrics need finite samples");
    }
    total += sum_squared_difference(ra.data(), rb.data(), n);
  }
  return total / (static_cast<double>(a.height) * static_cast<double>(n));
}

}  // namespace codeclens::metrics
