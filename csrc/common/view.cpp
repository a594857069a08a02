#include "common/view.hpp"

#include "common/errors.hpp"

namespace codeclens {

const char* sample_type_name(SampleType t) {
  switch (t) {
    case SampleType::U8: return "uint8";
    case SampleType::U16: return "uint16";
    case SampleType::F32: return "float32";
    case SampleType::F64: return "float64";
  }
  return "?";
}

std::size_t sample_size(SampleType t) {
  switch (t) {
    case SampleType::U8: return 1;
    case SampleType::U16: return 2;
    case SampleType::F32: return 4;
    case SampleType::F64: return 8;
  }
  return 1;
}

bool StridedView::packed_rows() const {
  const auto s = static_cast<std::ptrdiff_t>(sample_size(type));
  return ch_stride == s && col_stride == s * channels;
}

std::string StridedView::shape_string() const {
  return std::to_string(height) + "x" + std::to_string(width) + "x" + std::to_string(channels);
}

ImageView image_rows(const StridedView& v) {
  if (v.type != SampleType::U8) {
    throw TypeMismatch(std::string("expected uint8 samples, got ") + sample_type_name(v.type));
  }
  if (!v.packed_rows()) {
    throw InvalidArgument("expected rows of packed pixels (pixel stride " + std::to_string(v.channels) +
                          ", channel stride 1), got pixel stride " + std::to_string(v.col_stride) +
                          ", channel stride " + std::to_string(v.ch_stride));
  }
  return ImageView{static_cast<const std::uint8_t*>(v.data), v.height, v.width, v.channels, v.row_stride};
}

}  // namespace codeclens
