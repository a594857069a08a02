#include "common/limits.hpp"

#include <atomic>
#include <string>

#include "common/errors.hpp"

namespace codeclens {
namespace {
std::atomic<std::uint64_t> g_max_pixels{kDefaultMaxPixels};
}

std::uint64_t max_pixels() { return g_max_pixels.load(std::memory_order_relaxed); }

void set_max_pixels(std::uint64_t limit) {
  if (limit == 0) throw InvalidArgument("max_pixels must be a positive number of pixels, got 0");
  g_max_pixels.store(limit, std::memory_order_relaxed);
}

void check_pixel_limit(std::uint64_t width, std::uint64_t height, const char* what) {
  const std::uint64_t limit = max_pixels();
  if (width * height > limit) {
    throw InvalidArgument(std::string(what) + " declares " + std::to_string(width) + "x" +
                          std::to_string(height) + " = " + std::to_string(width * height) +
                          " pixels, above the limit of " + std::to_string(limit) +
                          " (raise it with codeclens.set_max_pixels)");
  }
}

}  // namespace codeclens
