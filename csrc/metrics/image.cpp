#include "metrics/image.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "common/errors.hpp"
#include "metrics/simd.hpp"

namespace codeclens::metrics {

PlaneView DoubleImage::view() const {
  PlaneView v;
  v.data = samples.data();
  v.type = SampleType::F64;
  v.height = height;
  v.width = width;
  v.channels = channels;
  v.ch_stride = sizeof(double);
  v.col_stride = static_cast<std::ptrdiff_t>(sizeof(double)) * channels;
  v.row_stride = v.col_stride * width;
  return v;
}

namespace {

template <typename T>
CODECLENS_INLINE T sample_at(const unsigned char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // strides need not be multiples of sizeof(T) in a foreign buffer
  return value;
}

// NaN/inf detector: x * 0 is 0 for finite x and NaN otherwise; the sum stays 0 exactly when all are finite.
template <typename T>
CODECLENS_INLINE bool finite_sum_is_zero(double probe) {
  if constexpr (std::is_floating_point_v<T>) return probe == 0.0;
  return true;
}

template <typename T>
CODECLENS_INLINE bool load_packed(const T* __restrict src, int count, double* __restrict out) {
  // Chunks of 16 keep the vector loop busy on short strip rows (a 64-sample vector loop would leave a
  // scalar tail of up to 63 samples).
  constexpr int kChunk = 16;
  double probe = 0.0;
  int j = 0;
  for (; j + kChunk <= count; j += kChunk) {
    for (int l = 0; l < kChunk; ++l) out[j + l] = static_cast<double>(src[j + l]);
    if constexpr (std::is_floating_point_v<T>) {
      for (int l = 0; l < kChunk; ++l) probe += out[j + l] * 0.0;
    }
  }
  for (; j < count; ++j) {
    out[j] = static_cast<double>(src[j]);
    if constexpr (std::is_floating_point_v<T>) probe += out[j] * 0.0;
  }
  return finite_sum_is_zero<T>(probe);
}

template <typename T>
CODECLENS_INLINE bool load_packed_luma(const T* src, int pixels, double* out) {
  double probe = 0.0;
  for (int j = 0; j < pixels; ++j) {
    const double r = static_cast<double>(src[3 * j]);
    const double g = static_cast<double>(src[3 * j + 1]);
    const double b = static_cast<double>(src[3 * j + 2]);
    out[j] = kLumaR * r + kLumaG * g + kLumaB * b;
    if constexpr (std::is_floating_point_v<T>) probe += out[j] * 0.0;
  }
  return finite_sum_is_zero<T>(probe);
}

template <typename T>
CODECLENS_INLINE bool load_strided(const unsigned char* row, const PlaneView& v, int col0, int ncols, bool luma,
                                   double* out) {
  double probe = 0.0;
  const int c = v.channels;
  for (int j = 0; j < ncols; ++j) {
    const unsigned char* px = row + static_cast<std::ptrdiff_t>(col0 + j) * v.col_stride;
    if (luma) {
      const double r = static_cast<double>(sample_at<T>(px));
      const double g = static_cast<double>(sample_at<T>(px + v.ch_stride));
      const double b = static_cast<double>(sample_at<T>(px + 2 * v.ch_stride));
      out[j] = kLumaR * r + kLumaG * g + kLumaB * b;
      if constexpr (std::is_floating_point_v<T>) probe += out[j] * 0.0;
    } else {
      for (int ch = 0; ch < c; ++ch) {
        const double s = static_cast<double>(sample_at<T>(px + ch * v.ch_stride));
        out[static_cast<std::ptrdiff_t>(j) * c + ch] = s;
        if constexpr (std::is_floating_point_v<T>) probe += s * 0.0;
      }
    }
  }
  return finite_sum_is_zero<T>(probe);
}

// Channel-first rows ((C, H, W) arrays and tensors): each channel's row is contiguous; interleave while
// converting (three planes as one vectorised loop, the common RGB case).
template <typename T>
CODECLENS_INLINE bool load_planar(const unsigned char* row, const PlaneView& v, int col0, int ncols, bool luma,
                                  double* __restrict out) {
  const int c = v.channels;
  auto plane = [&](int ch) {
    return reinterpret_cast<const T*>(row + ch * v.ch_stride) + col0;
  };
  double probe = 0.0;
  if (c == 3) {
    const T* __restrict r = plane(0);
    const T* __restrict g = plane(1);
    const T* __restrict b = plane(2);
    if (luma) {
      for (int j = 0; j < ncols; ++j) {
        out[j] = kLumaR * static_cast<double>(r[j]) + kLumaG * static_cast<double>(g[j]) +
                 kLumaB * static_cast<double>(b[j]);
        if constexpr (std::is_floating_point_v<T>) probe += out[j] * 0.0;
      }
    } else {
      for (int j = 0; j < ncols; ++j) {
        out[3 * j] = static_cast<double>(r[j]);
        out[3 * j + 1] = static_cast<double>(g[j]);
        out[3 * j + 2] = static_cast<double>(b[j]);
        if constexpr (std::is_floating_point_v<T>) probe += (out[3 * j] + out[3 * j + 1] + out[3 * j + 2]) * 0.0;
      }
    }
    return finite_sum_is_zero<T>(probe);
  }
  for (int ch = 0; ch < c; ++ch) {
    const T* __restrict p = plane(ch);
    for (int j = 0; j < ncols; ++j) {
      out[static_cast<std::ptrdiff_t>(j) * c + ch] = static_cast<double>(p[j]);
      if constexpr (std::is_floating_point_v<T>) probe += static_cast<double>(p[j]) * 0.0;
    }
  }
  return finite_sum_is_zero<T>(probe);
}

template <typename T>
CODECLENS_INLINE bool load_row_t(const PlaneView& v, int row, int col0, int ncols, bool luma, double* out) {
  const auto* base = static_cast<const unsigned char*>(v.data) + static_cast<std::ptrdiff_t>(row) * v.row_stride;
  const auto a = static_cast<std::ptrdiff_t>(alignof(T));
  const bool aligned = reinterpret_cast<std::uintptr_t>(base) % alignof(T) == 0 && v.col_stride % a == 0 &&
                       v.ch_stride % a == 0;
  if (aligned && v.packed_rows()) {
    const T* src = reinterpret_cast<const T*>(base) + static_cast<std::ptrdiff_t>(col0) * v.channels;
    return luma ? load_packed_luma<T>(src, ncols, out) : load_packed<T>(src, ncols * v.channels, out);
  }
  if (aligned && v.channels > 1 && v.col_stride == static_cast<std::ptrdiff_t>(sizeof(T))) {
    return load_planar<T>(base, v, col0, ncols, luma, out);
  }
  return load_strided<T>(base, v, col0, ncols, luma, out);
}

CODECLENS_MULTIVERSION bool load_row_u8(const PlaneView& v, int row, int col0, int n, bool luma, double* out) {
  return load_row_t<std::uint8_t>(v, row, col0, n, luma, out);
}
CODECLENS_MULTIVERSION bool load_row_u16(const PlaneView& v, int row, int col0, int n, bool luma, double* out) {
  return load_row_t<std::uint16_t>(v, row, col0, n, luma, out);
}
CODECLENS_MULTIVERSION bool load_row_f32(const PlaneView& v, int row, int col0, int n, bool luma, double* out) {
  return load_row_t<float>(v, row, col0, n, luma, out);
}
CODECLENS_MULTIVERSION bool load_row_f64(const PlaneView& v, int row, int col0, int n, bool luma, double* out) {
  return load_row_t<double>(v, row, col0, n, luma, out);
}

}  // namespace

void prefetch_row(const PlaneView& v, int row, int col0, int ncols) {
  if (row < 0 || row >= v.height) return;
  const auto* p = static_cast<const unsigned char*>(v.data) + static_cast<std::ptrdiff_t>(row) * v.row_stride +
                  static_cast<std::ptrdiff_t>(col0) * v.col_stride;
  const std::ptrdiff_t bytes = static_cast<std::ptrdiff_t>(ncols) * v.col_stride;
  if (bytes <= 0) {  // negative or zero column stride: just the first pixel
    __builtin_prefetch(p);
    return;
  }
  // Channel-first rows are one run per channel; interleaved rows one run in all.
  const bool planar = v.channels > 1 && (v.ch_stride >= bytes || v.ch_stride <= -bytes);
  const int runs = planar ? v.channels : 1;
  for (int c = 0; c < runs; ++c) {
    const unsigned char* q = p + c * v.ch_stride;
    for (std::ptrdiff_t off = 0; off < bytes + 63; off += 64) __builtin_prefetch(q + std::min(off, bytes - 1));
  }
}

bool load_row(const PlaneView& v, int row, int col0, int ncols, bool luma, double* out) {
  switch (v.type) {
    case SampleType::U8: return load_row_u8(v, row, col0, ncols, luma, out);
    case SampleType::U16: return load_row_u16(v, row, col0, ncols, luma, out);
    case SampleType::F32: return load_row_f32(v, row, col0, ncols, luma, out);
    case SampleType::F64: return load_row_f64(v, row, col0, ncols, luma, out);
  }
  return false;
}

void check_same_layout(const PlaneView& a, const PlaneView& b) {
  if (a.type != b.type) {
    throw TypeMismatch(std::string("a and b must have the same dtype, got ") + sample_type_name(a.type) + " and " +
                       sample_type_name(b.type) + " (cast one of them)");
  }
  if (a.height != b.height || a.width != b.width || a.channels != b.channels) {
    throw InvalidArgument("a and b must have the same shape, got " + a.shape_string() + " and " +
                          b.shape_string() + " (height x width x channels)");
  }
  if (a.height <= 0 || a.width <= 0 || a.channels <= 0) {
    throw InvalidArgument("images must not be empty, got " + a.shape_string() + " (height x width x channels)");
  }
}

}  // namespace codeclens::metrics
