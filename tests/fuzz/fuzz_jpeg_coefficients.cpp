// libFuzzer target: jpeg::read_coefficients, then jpeg::write_coefficients on what it read, then a strict read
// of what was written (codeclens.jpeg.read_coefficients / write_coefficients).
//
// The whole input is the JPEG; its last byte also picks the options: bit 0 strict reading, bit 1 progressive
// writing, bit 2 optimized Huffman tables, bit 3 restart markers every 1 + (byte >> 4) MCUs.
// Properties: every component's block grid is what the image size and sampling factors imply; whatever the
// writer accepts, a strict read gives back exactly (read -> write -> read is exact, as the README promises).
#include <algorithm>
#include <vector>

#include "fuzz_common.hpp"
#include "jpeg/coefficients.hpp"

using namespace codeclens;

namespace {

int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

void check_grids(const jpeg::Coefficients& k) {
  int max_h = 1, max_v = 1;
  for (const auto& c : k.components) {
    max_h = std::max(max_h, c.h_samp);
    max_v = std::max(max_v, c.v_samp);
  }
  for (const auto& c : k.components) {
    if (c.blocks_w != ceil_div(static_cast<long long>(k.header.width) * c.h_samp, 8LL * max_h) ||
        c.blocks_h != ceil_div(static_cast<long long>(k.header.height) * c.v_samp, 8LL * max_v)) {
      fuzz::fail("read_coefficients: a block grid differs from what the size and sampling imply");
    }
    if (c.blocks == nullptr) fuzz::fail("read_coefficients: a component without blocks");
  }
}

bool same_coefficients(const jpeg::Coefficients& a, const jpeg::Coefficients& b) {
  if (a.header.width != b.header.width || a.header.height != b.header.height ||
      a.components.size() != b.components.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.components.size(); ++i) {
    const auto& x = a.components[i];
    const auto& y = b.components[i];
    if (x.component_id != y.component_id || x.h_samp != y.h_samp || x.v_samp != y.v_samp || x.qtable != y.qtable ||
        x.blocks_h != y.blocks_h || x.blocks_w != y.blocks_w) {
      return false;
    }
    const std::size_t n = static_cast<std::size_t>(x.blocks_h) * x.blocks_w * 64;
    if (!std::equal(x.blocks.get(), x.blocks.get() + n, y.blocks.get())) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t opt = size > 0 ? data[size - 1] : 0;
  jpeg::Coefficients read;
  if (fuzz::refused([&] { read = jpeg::read_coefficients(ByteView{data, size}, (opt & 1) != 0); })) return 0;
  check_grids(read);

  std::vector<jpeg::ComponentView> views;
  for (const auto& c : read.components) {
    views.push_back({c.component_id, c.h_samp, c.v_samp, c.qtable, c.blocks_h, c.blocks_w, c.blocks.get()});
  }
  jpeg::WriteOptions options;
  options.progressive = (opt & 2) != 0;
  options.optimize = (opt & 4) != 0;
  options.restart_interval = (opt & 8) ? 1 + (opt >> 4) : 0;
  EncodedBuffer written;
  if (fuzz::refused([&] {
        written = jpeg::write_coefficients(read.header.width, read.header.height, read.header.color_space, views,
                                           options);
      })) {
    return 0;
  }
  jpeg::Coefficients again;
  try {
    again = jpeg::read_coefficients(ByteView{written.data.get(), written.size}, /*strict=*/true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reading back: %s\n", e.what());
    fuzz::fail("write_coefficients wrote a file that a strict read refuses");
  }
  if (!same_coefficients(read, again)) fuzz::fail("read -> write -> read changed the coefficients");
  return 0;
}
