// Header facts of a JPEG without decoding any pixels.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/view.hpp"
#include "jpeg/jpeg_common.hpp"

namespace codeclens::jpeg {

struct JpegInfo {
  FrameHeader header;
  int components = 0, precision = 8;
  std::string subsampling;  // "444", "422", "420", "440", "411", "441", "gray" or per-component "h2v1,..."
  bool jfif = false;
  int density_unit = 0, x_density = 0, y_density = 0;
  std::vector<int> component_ids, h_samp, v_samp, quant_tbl_no;
  std::vector<int> table_slots;                       // DQT slots defined before the first scan
  std::vector<std::array<std::uint16_t, 64>> tables;  // their tables, natural order
};

// Reads markers up to the first scan. The pixel limit is not applied (nothing large is allocated).
JpegInfo probe(ByteView data);

}  // namespace codeclens::jpeg
