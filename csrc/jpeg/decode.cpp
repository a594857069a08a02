#include "jpeg/decode.hpp"

#include <string>
#include <vector>

#include "common/errors.hpp"

namespace codeclens::jpeg {
namespace {

inline std::uint8_t muldiv255(int a, int b) {  // round(a * b / 255), as Pillow computes it
  const int t = a * b + 128;
  return static_cast<std::uint8_t>((t + (t >> 8)) >> 8);
}

// Adobe CMYK JPEGs store inverted ink values; Pillow's conversion: R = (255 - C)(255 - K) / 255.
inline void cmyk_to_rgb_pixel(const std::uint8_t* in, bool inverted, std::uint8_t* rgb) {
  const int k = inverted ? 255 - in[3] : in[3];
  const int nk = 255 - k;
  for (int ch = 0; ch < 3; ++ch) {
    const int c = inverted ? 255 - in[ch] : in[ch];
    rgb[ch] = static_cast<std::uint8_t>(nk - muldiv255(c, nk));
  }
}

// BT.601 luma with libjpeg's fixed-point weights and rounding.
inline std::uint8_t rgb_to_luma(const std::uint8_t* rgb) {
  return static_cast<std::uint8_t>((19595 * rgb[0] + 38470 * rgb[1] + 7471 * rgb[2] + 32768) >> 16);
}

void convert_row(const std::uint8_t* in, std::uint8_t* out, int width, int mode, bool inverted) {
  std::uint8_t rgb[3];
  switch (mode) {
    case 0:  // CMYK -> RGB
      for (int x = 0; x < width; ++x) cmyk_to_rgb_pixel(in + 4 * x, inverted, out + 3 * x);
      break;
    case 1:  // CMYK -> gray
      for (int x = 0; x < width; ++x) {
        cmyk_to_rgb_pixel(in + 4 * x, inverted, rgb);
        out[x] = rgb_to_luma(rgb);
      }
      break;
    default:  // gray -> YCbCr (achromatic: Cb = Cr = 128)
      for (int x = 0; x < width; ++x) {
        out[3 * x] = in[x];
        out[3 * x + 1] = 128;
        out[3 * x + 2] = 128;
      }
  }
}

}  // namespace

Decoder::Decoder(ByteView data, const DecodeOptions& options) : session_(data, options.strict, "decode") {
  if (options.scale != 1 && options.scale != 2 && options.scale != 4 && options.scale != 8) {
    throw InvalidArgument("scale: expected 1, 2, 4 or 8 (output is 1/scale), got " + std::to_string(options.scale));
  }
  jpeg_decompress_struct& cinfo = session_.cinfo();
  const J_COLOR_SPACE source = cinfo.jpeg_color_space;
  const bool cmyk = source == JCS_CMYK || source == JCS_YCCK;
  adobe_inverted_ = cmyk && cinfo.saw_Adobe_marker;
  switch (options.mode) {
    case ColorMode::RGB:
      cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
      conversion_ = cmyk ? Conversion::CmykToRgb : Conversion::None;
      channels_ = 3;
      break;
    case ColorMode::Gray:
      cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_GRAYSCALE;
      conversion_ = cmyk ? Conversion::CmykToGray : Conversion::None;
      channels_ = 1;
      break;
    case ColorMode::YCbCr:
      if (source == JCS_YCbCr) {
        cinfo.out_color_space = JCS_YCbCr;
      } else if (source == JCS_GRAYSCALE) {
        cinfo.out_color_space = JCS_GRAYSCALE;
        conversion_ = Conversion::GrayToYCbCr;
      } else {
        throw InvalidArgument(std::string("decode: mode='ycbcr' needs a YCbCr or grayscale JPEG, this one is ") +
                              color_space_name(source) + " (decode with mode='rgb')");
      }
      channels_ = 3;
      break;
  }
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned int>(options.scale);
  cinfo.dct_method = options.dct_method;
  cinfo.do_fancy_upsampling = options.fancy_upsampling ? TRUE : FALSE;
  session_.run([&] { jpeg_calc_output_dimensions(&cinfo); });
  height_ = static_cast<int>(cinfo.output_height);
  width_ = static_cast<int>(cinfo.output_width);
}

void Decoder::decode_into(const MutableImageView& out) {
  if (out.height != height_ || out.width != width_ || out.channels != channels_) {
    throw InvalidArgument("decode: output is " + std::to_string(out.height) + "x" + std::to_string(out.width) +
                          "x" + std::to_string(out.channels) + ", the image decodes to " +
                          std::to_string(height_) + "x" + std::to_string(width_) + "x" + std::to_string(channels_));
  }
  jpeg_decompress_struct& cinfo = session_.cinfo();
  session_.run([&] { jpeg_start_decompress(&cinfo); });
  if (conversion_ == Conversion::None) {
    read_rows_direct(out);
  } else {
    read_rows_converted(out);
  }
  session_.run([&] { jpeg_finish_decompress(&cinfo); });
}

void Decoder::read_rows_direct(const MutableImageView& out) {
  std::vector<JSAMPROW> rows(static_cast<std::size_t>(height_));
  for (int y = 0; y < height_; ++y) rows[static_cast<std::size_t>(y)] = out.row(y);
  JSAMPROW* row_ptrs = rows.data();
  jpeg_decompress_struct& cinfo = session_.cinfo();
  session_.run([&] {
    while (cinfo.output_scanline < cinfo.output_height) {
      const JDIMENSION done = cinfo.output_scanline;
      jpeg_read_scanlines(&cinfo, row_ptrs + done, cinfo.output_height - done);
    }
  });
}

void Decoder::read_rows_converted(const MutableImageView& out) {
  jpeg_decompress_struct& cinfo = session_.cinfo();
  const int in_channels = cinfo.output_components;
  std::vector<std::uint8_t> line(static_cast<std::size_t>(width_) * static_cast<std::size_t>(in_channels));
  JSAMPROW line_ptr = line.data();
  const int mode = conversion_ == Conversion::CmykToRgb ? 0 : conversion_ == Conversion::CmykToGray ? 1 : 2;
  const bool inverted = adobe_inverted_;
  const int width = width_;
  session_.run([&] {
    while (cinfo.output_scanline < cinfo.output_height) {
      const JDIMENSION y = cinfo.output_scanline;
      jpeg_read_scanlines(&cinfo, &line_ptr, 1);
      convert_row(line_ptr, out.row(static_cast<int>(y)), width, mode, inverted);
    }
  });
}

}  // namespace codeclens::jpeg
