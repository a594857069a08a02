// Process-wide limits checked before any large allocation.
#pragma once

#include <cstdint>

namespace codeclens {

// Default: 178,956,970 pixels (Pillow's decompression-bomb error threshold), about 13,377 x 13,377.
constexpr std::uint64_t kDefaultMaxPixels = 178956970ULL;

std::uint64_t max_pixels();
void set_max_pixels(std::uint64_t limit);  // 0 is refused; thread-safe

// Throws InvalidArgument naming the declared size and the limit when width * height exceeds it.
void check_pixel_limit(std::uint64_t width, std::uint64_t height, const char* what);

}  // namespace codeclens
