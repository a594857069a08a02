// Strided image views over caller memory for the metric kernels (uint8, uint16, float32, float64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace codeclens::metrics {

enum class SampleType { U8, U16, F32, F64 };

const char* sample_type_name(SampleType t);
std::size_t sample_size(SampleType t);
bool is_float(SampleType t);

// An H x W x C image of one sample type; any byte strides (negative ones too), so numpy views (crops,
// flips, channel-first transposes) are read in place. The kernels never write through it.
struct PlaneView {
  const void* data = nullptr;
  SampleType type = SampleType::U8;
  int height = 0;
  int width = 0;
  int channels = 1;
  std::ptrdiff_t row_stride = 0;  // bytes between (y, x, c) and (y + 1, x, c)
  std::ptrdiff_t col_stride = 0;  // bytes between (y, x, c) and (y, x + 1, c)
  std::ptrdiff_t ch_stride = 0;   // bytes between (y, x, c) and (y, x, c + 1)

  // True when the pixels of a row are packed: channel stride = sample size, pixel stride = C samples.
  bool packed_rows() const;
  std::string shape_string() const;  // "HxWxC"
};

// An owned H x W x C float64 image (packed), e.g. the result of Wang's downsampling.
struct DoubleImage {
  int height = 0;
  int width = 0;
  int channels = 1;
  std::vector<double> samples;
  PlaneView view() const;
};

// BT.601 luma weights (JFIF full range): Y = 0.299 R + 0.587 G + 0.114 B.
constexpr double kLumaR = 0.299;
constexpr double kLumaG = 0.587;
constexpr double kLumaB = 0.114;

// Converts columns [col0, col0 + ncols) of row `row` to float64: ncols * C interleaved samples, or, when
// `luma` is set (C must be 3), ncols BT.601 Y values. Returns false when a float sample is NaN or infinite.
bool load_row(const PlaneView& v, int row, int col0, int ncols, bool luma, double* out);

// Asks the cache for columns [col0, col0 + ncols) of row `row` (a strip reads a short piece of each row, a
// pattern the hardware prefetchers do not follow across rows). Rows outside the image are ignored.
void prefetch_row(const PlaneView& v, int row, int col0, int ncols);

// Throws InvalidArgument / TypeMismatch naming what was expected when a and b differ in dtype or shape.
void check_same_layout(const PlaneView& a, const PlaneView& b);

}  // namespace codeclens::metrics
