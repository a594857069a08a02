// JPEG -> 8-bit pixels over libjpeg-turbo's libjpeg API.
#pragma once

#include "common/view.hpp"
#include "jpeg/jpeg_common.hpp"

namespace codeclens::jpeg {

enum class ColorMode { RGB, Gray, YCbCr };

struct DecodeOptions {
  ColorMode mode = ColorMode::RGB;
  int scale = 1;                  // output is 1/scale of the image: 1, 2, 4 or 8 (libjpeg's scaled IDCT)
  J_DCT_METHOD dct_method = JDCT_ISLOW;
  bool strict = false;            // raise on libjpeg warnings (corrupt or truncated data)
  bool fancy_upsampling = true;   // libjpeg's default (what PyTurboJPEG and Pillow use)
};

// One decode: the constructor reads the header (no pixel work) and refuses images above the pixel limit,
// so the caller can allocate the output; decode_into() then fills it. Not shared between threads.
//
// Colour: YCbCr, RGB and grayscale files decode through libjpeg. CMYK/YCCK (Adobe) files are decoded to
// CMYK and converted like Pillow does (R = (255 - C)(255 - K) / 255, Adobe's inverted values undone);
// mode='gray' then takes BT.601 luma of that RGB. mode='ycbcr' gives libjpeg's upsampled YCbCr planes for
// YCbCr files and (Y, 128, 128) for grayscale files, and refuses RGB/CMYK files.
class Decoder {
 public:
  Decoder(ByteView data, const DecodeOptions& options);

  int height() const { return height_; }
  int width() const { return width_; }
  int channels() const { return channels_; }
  // Decodes into `out` (height x width x channels uint8, rows out.row_stride bytes apart).
  void decode_into(const MutableImageView& out);
  // libjpeg warnings so far (non-strict mode skips over corrupt data, filling what is missing).
  int warnings() const { return session_.warnings(); }

 private:
  enum class Conversion { None, CmykToRgb, CmykToGray, GrayToYCbCr };
  void read_rows_direct(const MutableImageView& out);
  void read_rows_converted(const MutableImageView& out);

  DecompressSession session_;
  Conversion conversion_ = Conversion::None;
  bool adobe_inverted_ = false;
  int height_ = 0, width_ = 0, channels_ = 0;
};

}  // namespace codeclens::jpeg
