// Quantized DCT coefficients of every component, read and written without transcoding.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/memory.hpp"
#include "common/view.hpp"
#include "jpeg/jpeg_common.hpp"

namespace codeclens::jpeg {

// One component's quantized coefficients as stored in the file.
struct ComponentCoefficients {
  int component_id = 0;                 // the id in the frame header (1, 2, 3 in JFIF files)
  int h_samp = 1, v_samp = 1;           // sampling factors
  int quant_tbl_no = 0;                 // which DQT slot the component uses
  int blocks_h = 0, blocks_w = 0;       // blocks covering the component (no MCU padding)
  std::array<std::uint16_t, 64> qtable{};  // natural (row-major) order
  MallocPtr<std::int16_t> blocks;       // blocks_h * blocks_w * 64 int16, each block in natural order
};

struct Coefficients {
  FrameHeader header;
  std::vector<ComponentCoefficients> components;
};

// Reads every component's coefficients (entropy decoding only: no IDCT, no upsampling, no colour
// conversion). Any subsampling, baseline or progressive, restart markers; never transcodes.
Coefficients read_coefficients(ByteView data, bool strict);

// Caller-owned coefficients to write.
struct ComponentView {
  int component_id = 0;
  int h_samp = 1, v_samp = 1;
  std::array<std::uint16_t, 64> qtable{};  // natural order
  int blocks_h = 0, blocks_w = 0;
  const std::int16_t* blocks = nullptr;    // blocks_h * blocks_w * 64, natural order
};

struct WriteOptions {
  bool progressive = false;
  bool optimize = true;       // optimized Huffman tables (progressive always optimizes)
  int restart_interval = 0;   // MCUs
};

// Writes a JPEG holding exactly these coefficients and tables (components sharing equal tables share a
// DQT slot). Block grids must match what the image size and sampling factors imply, and values must be ones an
// 8-bit JPEG can code (DC -1024..1023, AC -1023..1023: a corrupt file may decode to others); else InvalidArgument.
EncodedBuffer write_coefficients(int width, int height, J_COLOR_SPACE color_space,
                                 const std::vector<ComponentView>& components, const WriteOptions& options);

}  // namespace codeclens::jpeg
