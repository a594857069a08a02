// Non-owning views over caller memory: the core never copies its inputs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace codeclens {

// A read-only run of bytes (compressed data).
struct ByteView {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// An 8-bit interleaved image: rows of `width * channels` packed samples, `row_stride` bytes apart.
struct ImageView {
  const std::uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;
  std::ptrdiff_t row_stride = 0;  // bytes between the starts of two rows (>= width * channels)
};

// A writable 8-bit interleaved image (same layout as ImageView).
struct MutableImageView {
  std::uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;
  std::ptrdiff_t row_stride = 0;
};

}  // namespace codeclens
