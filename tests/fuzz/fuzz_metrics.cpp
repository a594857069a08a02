// libFuzzer target: the metric kernels on arbitrary shapes, layouts, sample types, values and options (what
// codeclens.metrics runs): metrics::quality with and without the SSIM map (Wang's downsampling included),
// ssim_map_shape, mse, PSNR, the Gaussian window and the downsampling factor. Samples are the input's bytes (NaN and infinities included); options take any value (data range,
// window size, sigma, k1, k2, luma, downsampling).
// Properties: quality() gives the same bits on one thread and on three (the README's promise).
#include <algorithm>
#include <optional>
#include <vector>

#include "fuzz_common.hpp"
#include "metrics/downsample.hpp"
#include "metrics/gaussian.hpp"
#include "metrics/mse_psnr.hpp"
#include "metrics/ssim.hpp"

using namespace codeclens;

namespace {

// Mostly small sides; now and then one large enough for Wang's downsampling (a factor of 2 needs 384 pixels).
// An exhausted input gives 0 (FuzzedDataProvider returns the minimum), so it stays cheap.
int side(FuzzedDataProvider& in) {
  const int kind = in.ConsumeIntegralInRange<int>(0, 63);
  if (kind == 63) return in.ConsumeIntegralInRange<int>(380, 520);
  if (kind >= 56) return in.ConsumeIntegralInRange<int>(0, 3);
  return in.ConsumeIntegralInRange<int>(0, 48);
}

metrics::SsimOptions options(FuzzedDataProvider& in) {
  metrics::SsimOptions o;
  if (in.ConsumeBool()) o.data_range = in.ConsumeBool() ? in.ConsumeFloatingPoint<double>() : 255.0;
  if (in.ConsumeBool()) o.win_size = in.ConsumeBool() ? in.ConsumeIntegral<int>() : in.ConsumeIntegralInRange<int>(1, 13);
  if (in.ConsumeBool()) o.sigma = in.ConsumeFloatingPoint<double>();
  if (in.ConsumeBool()) o.k1 = in.ConsumeFloatingPoint<double>();
  if (in.ConsumeBool()) o.k2 = in.ConsumeFloatingPoint<double>();
  o.luma = in.ConsumeBool();
  o.downsample = in.ConsumeBool();
  return o;
}

void same_result(const metrics::QualityResult& x, const metrics::QualityResult& y) {
  if (!fuzz::same_bits(x.mse, y.mse) || !fuzz::same_bits(x.psnr, y.psnr) || !fuzz::same_bits(x.ssim, y.ssim) ||
      x.channel_ssim.size() != y.channel_ssim.size() ||
      std::memcmp(x.channel_ssim.data(), y.channel_ssim.data(), x.channel_ssim.size() * sizeof(double)) != 0) {
    fuzz::fail("metrics::quality differs on 1 and 3 threads");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const int h = side(in), w = side(in);
  const int channels = in.ConsumeIntegralInRange<int>(0, 5);
  const SampleType ta = fuzz::sample_type(in);
  const SampleType tb = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? fuzz::sample_type(in) : ta;
  // b may differ in shape now and then (a refusal the kernels must give before reading anything).
  const int hb = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? side(in) : h;
  const metrics::SsimOptions o = options(in);
  const int what = in.ConsumeIntegralInRange<int>(0, 3);
  // Under the sanitizers and the fuzzer's comparison tracing a window tap costs about 0.5 us a sample: larger
  // images and windows would take seconds each and reach no code that smaller ones miss (Wang's downsampling,
  // which needs 384 pixels a side, still fits with one channel).
  if (static_cast<double>(h) * w * std::max(channels, 1) * std::max(o.win_size, 11) > 1.7e6) return 0;
  const fuzz::FuzzImage a = fuzz::make_image(in, ta, h, w, channels);
  const fuzz::FuzzImage b = fuzz::make_image(in, tb, hb, w, channels);

  switch (what) {
    case 0: {  // quality without the map, 1 and 3 threads
      metrics::QualityResult one;
      if (fuzz::refused([&] { one = metrics::quality(a.view, b.view, o, nullptr, 1); })) break;
      same_result(one, metrics::quality(a.view, b.view, o, nullptr, 3));
      break;
    }
    case 1: {  // the SSIM map, sized by ssim_map_shape as the bindings do
      fuzz::refused([&] {
        const metrics::MapShape s = metrics::ssim_map_shape(a.view, b.view, o);
        std::vector<double> map(static_cast<std::size_t>(s.height) * s.width * s.channels);
        metrics::quality(a.view, b.view, o, map.data(), 2);
      });
      break;
    }
    case 2:
      fuzz::refused([&] { metrics::mse(a.view, b.view, o.luma); });
      break;
    default:  // PSNR as the bindings compute it; the window and the downsampling factor alone
      fuzz::refused([&] {
        const double range = metrics::resolve_data_range(a.view.type, o.data_range);
        metrics::psnr_from_mse(metrics::mse(a.view, b.view, false), range);
      });
      fuzz::refused([&] { metrics::gaussian_window(o.win_size, o.sigma); });
      metrics::wang_downsample_factor(in.ConsumeIntegral<int>(), in.ConsumeIntegral<int>());
      break;
  }
  return 0;
}
