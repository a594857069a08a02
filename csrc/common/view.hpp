// Non-owning views over caller memory: the core never copies its inputs.
//
// One view per memory layout:
// - ByteView: a run of bytes (compressed data).
// - StridedView: an H x W x C image of one sample type with any byte strides (numpy's layout); the metric
//   kernels and the DCT read it in place.
// - PackedRows (ImageView / MutableImageView): 8-bit rows of W * C packed samples, rows any distance apart
//   (what libjpeg reads and writes); derived from a StridedView with image_rows(), never built separately
//   from caller objects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace codeclens {

// A read-only run of bytes.
struct ByteView {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

enum class SampleType { U8, U16, F32, F64 };

const char* sample_type_name(SampleType t);  // "uint8", "uint16", "float32", "float64"
std::size_t sample_size(SampleType t);       // bytes per sample

// An H x W x C image of one sample type; any byte strides (negative and unaligned ones too), so numpy views
// (crops, flips, channel-first transposes) are read in place. Readers never write through it.
struct StridedView {
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

// Rows of `width * channels` packed 8-bit samples, `row_stride` bytes apart (negative: bottom-up).
// Byte is `const std::uint8_t` (read) or `std::uint8_t` (written, e.g. a decoder's output).
template <typename Byte>
struct PackedRows {
  Byte* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;
  std::ptrdiff_t row_stride = 0;

  Byte* row(int y) const { return data + static_cast<std::ptrdiff_t>(y) * row_stride; }
};
using ImageView = PackedRows<const std::uint8_t>;
using MutableImageView = PackedRows<std::uint8_t>;

// The packed-rows form of a uint8 StridedView whose rows are packed; throws InvalidArgument (TypeMismatch
// for another sample type) naming what was expected otherwise.
ImageView image_rows(const StridedView& v);

}  // namespace codeclens
