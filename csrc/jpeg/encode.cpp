#include "jpeg/encode.hpp"

#include <string>

#include "common/errors.hpp"
#include "common/limits.hpp"

namespace codeclens::jpeg {
namespace {

void set_sampling(jpeg_compress_struct& c, Subsampling s) {
  int h = 1, v = 1;
  switch (s) {
    case Subsampling::S444: break;
    case Subsampling::S422: h = 2; break;
    case Subsampling::S420: h = 2; v = 2; break;
    case Subsampling::S440: v = 2; break;
    case Subsampling::S411: h = 4; break;
    case Subsampling::Gray: return;
  }
  c.comp_info[0].h_samp_factor = h;
  c.comp_info[0].v_samp_factor = v;
  for (int i = 1; i < c.num_components; ++i) {
    c.comp_info[i].h_samp_factor = 1;
    c.comp_info[i].v_samp_factor = 1;
  }
}

void check_tables(const std::vector<std::array<std::uint16_t, 64>>& tables) {
  if (tables.size() > 4) {
    throw InvalidArgument("qtables: expected 1 to 4 tables of 64 values, got " + std::to_string(tables.size()));
  }
  for (std::size_t t = 0; t < tables.size(); ++t) {
    for (int k = 0; k < 64; ++k) {
      const int q = tables[t][static_cast<std::size_t>(k)];
      if (q < 1 || q > 32767) {
        throw InvalidArgument("qtables[" + std::to_string(t) + "]: values must be in 1..32767, got " +
                              std::to_string(q) + " at index " + std::to_string(k));
      }
    }
  }
}

}  // namespace

Subsampling subsampling_from_name(const std::string& name) {
  if (name == "444") return Subsampling::S444;
  if (name == "422") return Subsampling::S422;
  if (name == "420") return Subsampling::S420;
  if (name == "440") return Subsampling::S440;
  if (name == "411") return Subsampling::S411;
  if (name == "gray") return Subsampling::Gray;
  throw InvalidArgument("subsampling: expected '444', '422', '420', '440', '411' or 'gray', got '" + name + "'");
}

EncodedBuffer encode(const ImageView& image, const EncodeOptions& options) {
  if (image.channels != 1 && image.channels != 3) {
    throw InvalidArgument("encode: expected 1 or 3 channels, got " + std::to_string(image.channels));
  }
  if (image.height < 1 || image.width < 1 || image.height > JPEG_MAX_DIMENSION || image.width > JPEG_MAX_DIMENSION) {
    throw InvalidArgument("encode: image size must be 1.." + std::to_string(JPEG_MAX_DIMENSION) + " on each side, got " +
                          std::to_string(image.height) + "x" + std::to_string(image.width));
  }
  check_pixel_limit(static_cast<std::uint64_t>(image.width), static_cast<std::uint64_t>(image.height), "encode input");
  if (options.quality < 1 || options.quality > 100) {
    throw InvalidArgument("quality: expected 1..100, got " + std::to_string(options.quality));
  }
  if (options.restart_interval < 0 || options.restart_interval > 65535) {
    throw InvalidArgument("restart_interval: expected 0..65535 MCUs, got " + std::to_string(options.restart_interval));
  }
  check_tables(options.qtables);

  const bool gray_out = image.channels == 1 || options.subsampling == Subsampling::Gray;
  CompressSession s("encode");
  jpeg_compress_struct& c = s.cinfo();
  const std::size_t raw = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) *
                          static_cast<std::size_t>(image.channels);
  s.start_destination(raw / 4 + 2048);
  c.image_width = static_cast<JDIMENSION>(image.width);
  c.image_height = static_cast<JDIMENSION>(image.height);
  c.input_components = image.channels;
  c.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  s.run([&] {
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, gray_out ? JCS_GRAYSCALE : JCS_YCbCr);
  });
  if (!gray_out) set_sampling(c, options.subsampling);
  if (options.qtables.empty()) {
    s.run([&] { jpeg_set_quality(&c, options.quality, TRUE); });
  } else {
    const auto& tables = options.qtables;
    s.run([&] {
      for (std::size_t t = 0; t < tables.size(); ++t) {
        unsigned int basic[64];
        for (int k = 0; k < 64; ++k) basic[k] = tables[t][static_cast<std::size_t>(k)];
        jpeg_add_quant_table(&c, static_cast<int>(t), basic, 100, FALSE);
      }
    });
    const int chroma_table = tables.size() > 1 ? 1 : 0;
    for (int i = 0; i < c.num_components; ++i) c.comp_info[i].quant_tbl_no = i == 0 ? 0 : chroma_table;
  }
  c.optimize_coding = options.optimize ? TRUE : FALSE;
  c.dct_method = options.dct_method;
  c.restart_interval = static_cast<unsigned int>(options.restart_interval);
  if (options.progressive) s.run([&] { jpeg_simple_progression(&c); });

  // libjpeg reads the rows and never writes them; its API just lacks const.
  std::vector<JSAMPROW> rows(static_cast<std::size_t>(image.height));
  for (int y = 0; y < image.height; ++y) {
    rows[static_cast<std::size_t>(y)] = const_cast<JSAMPROW>(image.row(y));
  }
  JSAMPROW* row_ptrs = rows.data();
  s.run([&] {
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
      jpeg_write_scanlines(&c, row_ptrs + c.next_scanline, c.image_height - c.next_scanline);
    }
    jpeg_finish_compress(&c);
  });
  return s.take();
}

}  // namespace codeclens::jpeg
