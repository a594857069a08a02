// Image views for the metric kernels (uint8, uint16, float32, float64): the common strided view, and
// row loaders that convert any layout to float64.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/view.hpp"

namespace codeclens::metrics {

// The metric kernels read the core's one strided view (common/view.hpp): any sample type, any byte strides.
using codeclens::sample_size;
using codeclens::sample_type_name;
using codeclens::SampleType;
using PlaneView = codeclens::StridedView;

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
