// libFuzzer target: the DCT entry points on arbitrary shapes, layouts and values (what codeclens.dct runs):
// dct::forward on a plane of any sample type, size and strides; dct::inverse to float and to uint8 for any block
// grid and output size; dct::select_bands on int16 and float coefficients with or without a table; the 8x8
// block transforms. Sample and coefficient values are the input's bytes (NaN and infinities included).
// Properties: forward and inverse give the same bits on one thread and on two.
#include <vector>

#include "dct/dct.hpp"
#include "fuzz_common.hpp"

using namespace codeclens;

namespace {

// Small sides mostly; now and then a plane large enough for the transforms to split work between threads.
int side(FuzzedDataProvider& in) {
  return in.ConsumeBool() ? in.ConsumeIntegralInRange<int>(0, 40) : in.ConsumeIntegralInRange<int>(0, 420);
}

template <typename T>
std::vector<T> values(FuzzedDataProvider& in, std::size_t n) {
  std::vector<T> v(n);
  if (n > 0) in.ConsumeData(v.data(), n * sizeof(T));  // the rest stays zero
  return v;
}

void forward(FuzzedDataProvider& in) {
  const SampleType type = fuzz::sample_type(in);
  const int h = side(in), w = side(in);
  const int channels = in.ConsumeIntegralInRange<int>(0, 10) == 0 ? 3 : 1;
  const float shift = in.ConsumeFloatingPoint<float>();
  const fuzz::FuzzImage plane = fuzz::make_image(in, type, h, w, channels);
  const std::size_t n = h > 0 && w > 0 ? static_cast<std::size_t>(dct::blocks_for(h)) * dct::blocks_for(w) * 64 : 0;
  std::vector<float> one(n), two(n);
  if (fuzz::refused([&] { dct::forward(plane.view, shift, one.data(), 1); })) return;
  dct::forward(plane.view, shift, two.data(), 2);
  if (std::memcmp(one.data(), two.data(), n * sizeof(float)) != 0) fuzz::fail("dct::forward differs on 2 threads");
}

template <typename Out>
void inverse(FuzzedDataProvider& in) {
  const int bh = in.ConsumeIntegralInRange<int>(-1, 60), bw = in.ConsumeIntegralInRange<int>(-1, 60);
  const int out_h = in.ConsumeIntegralInRange<int>(-1, 8 * 60 + 9), out_w = in.ConsumeIntegralInRange<int>(-1, 8 * 60 + 9);
  const float shift = in.ConsumeFloatingPoint<float>();
  const std::vector<float> coeffs = values<float>(in, bh > 0 && bw > 0 ? static_cast<std::size_t>(bh) * bw * 64 : 0);
  const std::size_t n = out_h > 0 && out_w > 0 ? static_cast<std::size_t>(out_h) * out_w : 0;
  std::vector<Out> one(n), two(n);
  const float* src = coeffs.empty() ? nullptr : coeffs.data();
  if (fuzz::refused([&] { dct::inverse(src, bh, bw, shift, one.data(), out_h, out_w, 1); })) return;
  dct::inverse(src, bh, bw, shift, two.data(), out_h, out_w, 2);
  if (std::memcmp(one.data(), two.data(), n * sizeof(Out)) != 0) fuzz::fail("dct::inverse differs on 2 threads");
}

template <typename T>
void select(FuzzedDataProvider& in) {
  const std::size_t blocks = in.ConsumeIntegralInRange<std::size_t>(0, 300);
  const int bands = in.ConsumeIntegralInRange<int>(-1, 66);
  const bool with_table = in.ConsumeBool();
  const std::vector<std::uint16_t> table = values<std::uint16_t>(in, 64);
  const std::vector<T> coeffs = values<T>(in, blocks * 64);
  std::vector<float> out(bands > 0 ? static_cast<std::size_t>(bands) * blocks : 0);
  fuzz::refused([&] { dct::select_bands(coeffs.data(), blocks, with_table ? table.data() : nullptr, bands, out.data()); });
}

void blocks(FuzzedDataProvider& in) {
  const std::vector<float> block = values<float>(in, 64);
  float out[64], back[64];
  dct::forward_block(block.data(), out);
  dct::inverse_block(out, back);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0: forward(in); break;
    case 1: inverse<float>(in); break;
    case 2: inverse<std::uint8_t>(in); break;
    case 3: select<std::int16_t>(in); break;
    case 4: select<float>(in); break;
    default: blocks(in); break;
  }
  return 0;
}
