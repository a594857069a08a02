// 8-bit pixels -> JPEG over libjpeg-turbo's libjpeg API.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/memory.hpp"
#include "common/view.hpp"
#include "jpeg/jpeg_common.hpp"

namespace codeclens::jpeg {

enum class Subsampling { S444, S422, S420, S440, S411, Gray };

struct EncodeOptions {
  int quality = 75;                                    // IJG quality 1..100 (ignored for explicit tables)
  Subsampling subsampling = Subsampling::S420;
  std::vector<std::array<std::uint16_t, 64>> qtables;  // natural order; empty: IJG tables scaled by quality
  bool progressive = false;
  bool optimize = false;                               // optimized Huffman tables (two passes)
  J_DCT_METHOD dct_method = JDCT_ISLOW;
  int restart_interval = 0;                            // MCUs between restart markers, 0 = none
};

// Encodes an (H, W, 1) or (H, W, 3) RGB image. One-channel input, or Subsampling::Gray, gives a grayscale
// JPEG (RGB input is then reduced to BT.601 luma by libjpeg). Component 0 uses qtables[0], the chroma
// components qtables[1] when given, else qtables[0]. Tables above 255 make a 16-bit (extended) JPEG.
EncodedBuffer encode(const ImageView& image, const EncodeOptions& options);

Subsampling subsampling_from_name(const std::string& name);  // "444" "422" "420" "440" "411" "gray"

}  // namespace codeclens::jpeg
