// libFuzzer target: JPEG decode in every mode, scale, DCT method and output layout (jpeg::Decoder, what
// codeclens.jpeg.decode / decode_batch run).
//
// The whole input is the JPEG; its last byte also picks the options (libjpeg stops at EOI, so seed files work
// unchanged and the fuzzer reaches every option by mutating one byte): bits 0-1 mode (rgb, gray, ycbcr, rgb),
// bits 2-3 scale 1/2/4/8, bit 4 strict, bits 5-6 DCT method (islow, ifast, float, islow), bit 7 libjpeg's plain
// upsampling instead of its fancy one. The byte before it picks the output rows: packed, padded or bottom-up.
// Properties: the decoder writes only the pixels of its output (padding bytes between rows are left alone).
#include <vector>

#include "fuzz_common.hpp"
#include "jpeg/decode.hpp"

using namespace codeclens;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input{data, size};
  const std::uint8_t opt = size > 0 ? data[size - 1] : 0;
  const std::uint8_t layout = size > 1 ? data[size - 2] : 0;
  constexpr jpeg::ColorMode modes[] = {jpeg::ColorMode::RGB, jpeg::ColorMode::Gray, jpeg::ColorMode::YCbCr,
                                       jpeg::ColorMode::RGB};
  constexpr J_DCT_METHOD methods[] = {JDCT_ISLOW, JDCT_IFAST, JDCT_FLOAT, JDCT_ISLOW};
  jpeg::DecodeOptions options;
  options.mode = modes[opt & 3];
  options.scale = 1 << ((opt >> 2) & 3);
  options.strict = (opt & 0x10) != 0;
  options.dct_method = methods[(opt >> 5) & 3];
  options.fancy_upsampling = (opt & 0x80) == 0;

  fuzz::refused([&] {
    jpeg::Decoder dec(input, options);
    const int h = dec.height(), w = dec.width(), c = dec.channels();
    const std::ptrdiff_t packed = static_cast<std::ptrdiff_t>(w) * c;
    const std::ptrdiff_t pad = (layout & 1) ? 1 + (layout >> 5) : 0;
    const std::ptrdiff_t stride = packed + pad;
    // Exactly the bytes the rows span (the last row has no padding after it): ASan sees any write past them.
    const std::size_t bytes = h > 0 ? static_cast<std::size_t>(stride * (h - 1) + packed) : 0;
    constexpr std::uint8_t kUntouched = 0xA5;
    std::vector<std::uint8_t> out(bytes, kUntouched);
    const bool bottom_up = (layout & 2) != 0 && h > 0;
    std::uint8_t* first = bottom_up ? out.data() + stride * (h - 1) : out.data();
    dec.decode_into(MutableImageView{first, h, w, c, bottom_up ? -stride : stride});
    for (int y = 0; y + 1 < h && pad > 0; ++y) {
      for (std::ptrdiff_t k = packed; k < stride; ++k) {
        if (out[static_cast<std::size_t>(y * stride + k)] != kUntouched) fuzz::fail("decode wrote between rows");
      }
    }
    (void)dec.warnings();
  });
  return 0;
}
