// The C++ core tested without Python (built by tests/test_cpp_core.py with AddressSanitizer and UBSan):
// JPEG round trips, coefficient facts, the DCT and SSIM kernels, and a corrupt-input corpus that must only
// ever raise CodecError / InvalidArgument.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/errors.hpp"
#include "dct/dct.hpp"
#include "jpeg/coefficients.hpp"
#include "jpeg/decode.hpp"
#include "jpeg/encode.hpp"
#include "jpeg/probe.hpp"
#include "metrics/gaussian.hpp"
#include "metrics/squared_error.hpp"
#include "metrics/ssim.hpp"
#include "metrics/ssim_rows.hpp"

namespace {

int failures = 0;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                            \
    }                                                                        \
  } while (0)

using namespace codeclens;

std::vector<std::uint8_t> photo_like(int h, int w, int c, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 6.0);
  std::vector<std::uint8_t> img(static_cast<std::size_t>(h) * w * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) {
        const double v = 128 + 90 * std::sin(x / (7.0 + 3 * k) + y / 11.0) + 40.0 * (((x / 16) + (y / 16) + k) % 2) + noise(rng);
        img[(static_cast<std::size_t>(y) * w + x) * c + k] = static_cast<std::uint8_t>(std::fmin(255.0, std::fmax(0.0, v)));
      }
  return img;
}

EncodedBuffer encode(const std::vector<std::uint8_t>& img, int h, int w, int c, jpeg::EncodeOptions o) {
  return jpeg::encode(ImageView{img.data(), h, w, c, static_cast<std::ptrdiff_t>(w) * c}, o);
}

std::vector<std::uint8_t> decode(ByteView data, jpeg::DecodeOptions o, int* h, int* w, int* c) {
  jpeg::Decoder dec(data, o);
  *h = dec.height();
  *w = dec.width();
  *c = dec.channels();
  std::vector<std::uint8_t> out(static_cast<std::size_t>(*h) * *w * *c);
  dec.decode_into(MutableImageView{out.data(), *h, *w, *c, static_cast<std::ptrdiff_t>(*w) * *c});
  return out;
}

void test_jpeg_round_trips() {
  const char* names[] = {"444", "422", "420", "440", "411", "gray"};
  const int sizes[][2] = {{1, 1}, {7, 9}, {3, 400}, {61, 83}};
  for (auto& s : sizes) {
    const auto img = photo_like(s[0], s[1], 3, 7);
    for (const char* name : names) {
      for (bool progressive : {false, true}) {
        jpeg::EncodeOptions o;
        o.quality = 90;
        o.subsampling = jpeg::subsampling_from_name(name);
        o.progressive = progressive;
        o.restart_interval = progressive ? 0 : 1;
        const EncodedBuffer enc = encode(img, s[0], s[1], 3, o);
        const ByteView view{enc.data.get(), enc.size};
        int h = 0, w = 0, c = 0;
        const auto px = decode(view, jpeg::DecodeOptions{}, &h, &w, &c);
        CHECK(h == s[0] && w == s[1] && c == 3);
        double err = 0;
        for (std::size_t i = 0; i < px.size(); ++i) err += std::abs(int(px[i]) - int(img[i]));
        if (std::string(name) != "gray" && err / px.size() >= 12.0) {
          std::fprintf(stderr, "%dx%d %s progressive=%d: mean abs error %.2f\n", s[0], s[1], name, progressive, err / px.size());
        }
        CHECK(std::string(name) == "gray" || err / px.size() < 12.0);
        const jpeg::JpegInfo info = jpeg::probe(view);
        CHECK(info.header.progressive == progressive && info.header.width == s[1] && info.header.height == s[0]);
        const jpeg::Coefficients k = jpeg::read_coefficients(view, true);
        std::vector<jpeg::ComponentView> views;
        for (const auto& comp : k.components) {
          views.push_back({comp.component_id, comp.h_samp, comp.v_samp, comp.qtable, comp.blocks_h, comp.blocks_w, comp.blocks.get()});
        }
        jpeg::WriteOptions wo;
        wo.progressive = progressive;
        const EncodedBuffer again = jpeg::write_coefficients(k.header.width, k.header.height, k.header.color_space, views, wo);
        const jpeg::Coefficients k2 = jpeg::read_coefficients(ByteView{again.data.get(), again.size}, true);
        CHECK(k2.components.size() == k.components.size());
        for (std::size_t i = 0; i < k.components.size() && i < k2.components.size(); ++i) {
          const auto& a = k.components[i];
          const auto& b = k2.components[i];
          const std::size_t n = static_cast<std::size_t>(a.blocks_h) * a.blocks_w * 64;
          CHECK(a.qtable == b.qtable && a.blocks_h == b.blocks_h && a.blocks_w == b.blocks_w);
          bool same = true;
          for (std::size_t j = 0; j < n; ++j) same = same && a.blocks.get()[j] == b.blocks.get()[j];
          CHECK(same);
        }
      }
    }
  }
}

void test_flat_block_dc() {
  std::vector<std::uint8_t> flat(64, 200);
  jpeg::EncodeOptions o;
  o.quality = 100;
  const EncodedBuffer enc = encode(flat, 8, 8, 1, o);
  const jpeg::Coefficients k = jpeg::read_coefficients(ByteView{enc.data.get(), enc.size}, true);
  CHECK(k.components.size() == 1);
  CHECK(k.components[0].blocks.get()[0] == 576);
  // The core's forward DCT gives the same unquantized DC.
  std::vector<float> coeffs(64);
  dct::forward(StridedView{flat.data(), SampleType::U8, 8, 8, 1, 8, 1, 1}, 128.0f, coeffs.data(), 1);
  CHECK(std::fabs(coeffs[0] - 576.0f) < 1e-3f);
  for (int i = 1; i < 64; ++i) CHECK(std::fabs(coeffs[i]) < 1e-3f);
}

// The DCT reads the common strided view: a channel of an interleaved image, flipped, gives the bits of a
// packed copy; the packed-rows view libjpeg needs is derived from the strided one and refuses other layouts.
void test_strided_views() {
  const int h = 21, w = 30;
  const auto rgb = photo_like(h, w, 3, 5);
  std::vector<std::uint8_t> green(static_cast<std::size_t>(h) * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) green[static_cast<std::size_t>(y) * w + x] = rgb[(static_cast<std::size_t>(h - 1 - y) * w + x) * 3 + 1];
  const StridedView packed{green.data(), SampleType::U8, h, w, 1, w, 1, 1};
  const StridedView flipped{rgb.data() + static_cast<std::ptrdiff_t>(h - 1) * w * 3 + 1, SampleType::U8, h, w, 1, -w * 3, 3, 1};
  const std::size_t n = static_cast<std::size_t>(dct::blocks_for(h)) * dct::blocks_for(w) * 64;
  std::vector<float> a(n), b(n);
  dct::forward(packed, 128.0f, a.data(), 1);
  dct::forward(flipped, 128.0f, b.data(), 2);
  CHECK(a == b);
  bool refused = false;
  try {
    dct::forward(StridedView{rgb.data(), SampleType::U16, h, w, 1, w * 2, 2, 2}, 128.0f, a.data(), 1);
  } catch (const TypeMismatch&) {
    refused = true;
  }
  CHECK(refused);

  const StridedView image{rgb.data(), SampleType::U8, h, w, 3, w * 3, 3, 1};
  const ImageView rows = image_rows(image);
  CHECK(rows.data == rgb.data() && rows.channels == 3 && rows.row(2) == rgb.data() + 2 * w * 3);
  refused = false;
  try {
    image_rows(flipped);  // one channel of three: pixels not packed
  } catch (const InvalidArgument&) {
    refused = true;
  }
  CHECK(refused);
}

void test_ssim_invariants() {
  const int h = 64, w = 80;
  const auto a = photo_like(h, w, 3, 1);
  auto b = photo_like(h, w, 3, 2);
  metrics::PlaneView va{a.data(), metrics::SampleType::U8, h, w, 3, w * 3, 3, 1};
  metrics::PlaneView vb{b.data(), metrics::SampleType::U8, h, w, 3, w * 3, 3, 1};
  const metrics::SsimOptions o;
  const auto same = metrics::quality(va, va, o);
  CHECK(same.ssim == 1.0 && same.mse == 0.0 && std::isinf(same.psnr));
  const auto ab = metrics::quality(va, vb, o);
  const auto ba = metrics::quality(vb, va, o);
  CHECK(ab.ssim == ba.ssim && ab.ssim < 1.0 && ab.ssim > 0.0);
  const auto ab2 = metrics::quality(va, vb, o, nullptr, 2);
  CHECK(ab2.ssim == ab.ssim);
}

// Runs fn under every kernel instruction set this CPU has, then restores the automatic choice.
template <typename Fn>
void for_each_isa(Fn fn) {
  for (const char* isa : {"avx512", "avx2", "baseline"}) {
    try {
      metrics::set_kernel_isa(isa);
    } catch (const InvalidArgument&) {
      continue;
    }
    fn(isa);
  }
  metrics::set_kernel_isa("auto");
}

// The integer MSE kernel against a plain loop: packed, flipped (negative strides), channel-first and
// every-other-column views of uint8 and uint16 images, odd sizes, every ISA.
template <typename T>
void check_integer_squared_error(int h, int w, int c, unsigned seed) {
  std::mt19937 rng(seed);
  const int top = sizeof(T) == 1 ? 255 : 65535;
  std::vector<T> a(static_cast<std::size_t>(h) * w * c), b(a.size());
  for (auto& v : a) v = static_cast<T>(rng() % (top + 1));
  for (auto& v : b) v = static_cast<T>(rng() % (top + 1));
  const metrics::SampleType type = sizeof(T) == 1 ? metrics::SampleType::U8 : metrics::SampleType::U16;
  const std::ptrdiff_t s = sizeof(T);
  unsigned __int128 want = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::int64_t d = static_cast<std::int64_t>(a[i]) - b[i];
    want += static_cast<unsigned __int128>(d * d);
  }
  auto view = [&](const std::vector<T>& img, bool flip, bool planar) {
    metrics::PlaneView v{img.data(), type, h, w, c, w * c * s, c * s, s};
    if (planar) {  // the same buffer read as (C, H, W): channel-first rows
      v.ch_stride = static_cast<std::ptrdiff_t>(h) * w * s;
      v.row_stride = w * s;
      v.col_stride = s;
    }
    if (flip) {  // [::-1, ::-1]
      const std::size_t first_channel = planar ? static_cast<std::size_t>(c - 1) * h * w : c - 1;
      v.data = img.data() + (img.size() - 1) - first_channel;
      v.row_stride = -v.row_stride;
      v.col_stride = -v.col_stride;
    }
    return v;
  };
  for_each_isa([&](const char* isa) {
    for (bool flip : {false, true}) {
      for (bool planar : {false, true}) {
        const unsigned __int128 got = metrics::integer_squared_error(view(a, flip, planar), view(b, flip, planar));
        if (got != want) std::fprintf(stderr, "%s %dx%dx%d flip=%d planar=%d\n", isa, h, w, c, flip, planar);
        CHECK(got == want);
      }
    }
    // a packed, b flipped: different sample orders, so the per-sample path; compare with a plain loop
    unsigned __int128 mixed = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < c; ++k) {
          const std::int64_t d = static_cast<std::int64_t>(a[(static_cast<std::size_t>(y) * w + x) * c + k]) -
                                 b[(static_cast<std::size_t>(h - 1 - y) * w + (w - 1 - x)) * c + k];
          mixed += static_cast<unsigned __int128>(d * d);
        }
    CHECK(metrics::integer_squared_error(view(a, false, false), view(b, true, false)) == mixed);
  });
}

void test_integer_squared_error() {
  const int sizes[][3] = {{1, 1, 1},  {1, 1, 3},   {3, 1, 1},   {1, 300, 1},
                          {7, 13, 3}, {33, 65, 1}, {5, 9, 200}, {64, 129, 4}};
  unsigned seed = 11;
  for (auto& sz : sizes) {
    check_integer_squared_error<std::uint8_t>(sz[0], sz[1], sz[2], seed++);
    check_integer_squared_error<std::uint16_t>(sz[0], sz[1], sz[2], seed++);
  }
  // Extremes over more than one 32-bit partial-sum block: every difference 255 (65535).
  const std::size_t n = 1100000;
  std::vector<std::uint8_t> z8(n, 0), f8(n, 255);
  std::vector<std::uint16_t> z16(n, 0), f16(n, 65535);
  for_each_isa([&](const char*) {
    CHECK(metrics::sum_squared_difference_u8(z8.data(), f8.data(), n) == n * 65025ull);
    CHECK(metrics::sum_squared_difference_u16(f16.data(), z16.data(), n) == n * 4294836225ull);
  });
}

// SSIM map by direct 2-D Gaussian sums (121 terms per moment, no separable passes, no blocks or strips).
std::vector<double> naive_ssim_map(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b, int h,
                                   int w, int c) {
  const std::vector<double> g = metrics::gaussian_window(11, 1.5);
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  std::vector<double> map;
  for (int y = 0; y + 11 <= h; ++y)
    for (int x = 0; x + 11 <= w; ++x)
      for (int k = 0; k < c; ++k) {
        double ma = 0, mb = 0, sq = 0, ab = 0;
        for (int i = 0; i < 11; ++i)
          for (int j = 0; j < 11; ++j) {
            const std::size_t at = (static_cast<std::size_t>(y + i) * w + x + j) * c + k;
            const double wt = g[i] * g[j], va = a[at], vb = b[at];
            ma += wt * va;
            mb += wt * vb;
            sq += wt * (va * va + vb * vb);
            ab += wt * va * vb;
          }
        const double num = (2 * ma * mb + c1) * (2 * (ab - ma * mb) + c2);
        const double den = (ma * ma + mb * mb + c1) * (sq - ma * ma - mb * mb + c2);
        map.push_back(num / den);
      }
  return map;
}

// The block kernel against the naive map for every remainder of the 8-row blocks, on every ISA (AVX2 and
// AVX-512 bitwise equal), and on 1 or 3 threads (bitwise equal).
void test_ssim_blocks_against_naive() {
  const int w = 150, c = 3;
  for (int h = 11; h <= 27; h += 3) {
    const auto a = photo_like(h, w, c, 5 + h);
    auto b = photo_like(h, w, c, 6 + h);
    const std::vector<double> want = naive_ssim_map(a, b, h, w, c);
    metrics::PlaneView va{a.data(), metrics::SampleType::U8, h, w, c, w * c, c, 1};
    metrics::PlaneView vb{b.data(), metrics::SampleType::U8, h, w, c, w * c, c, 1};
    std::vector<std::vector<double>> fma_maps;
    for_each_isa([&](const char* isa) {
      std::vector<double> map(want.size()), map3(want.size());
      const auto one = metrics::quality(va, vb, metrics::SsimOptions{}, map.data(), 1);
      const auto three = metrics::quality(va, vb, metrics::SsimOptions{}, map3.data(), 3);
      CHECK(one.ssim == three.ssim && map == map3);
      double worst = 0;
      for (std::size_t i = 0; i < map.size(); ++i) worst = std::fmax(worst, std::fabs(map[i] - want[i]));
      // The naive sums run in another order; E[a^2 + b^2] - mu^2 cancels to ~1e-12 (skimage, separable: ~1e-15).
      if (worst >= 1e-10) std::fprintf(stderr, "%s h=%d: max |map - naive| = %g\n", isa, h, worst);
      CHECK(worst < 1e-10);
      if (std::string(isa) != "baseline") fma_maps.push_back(map);
    });
    for (const auto& m : fma_maps) CHECK(m == fma_maps[0]);
  }
}

// Every mutation of valid files must give pixels/coefficients or a CodecError / InvalidArgument.
void test_corrupt_corpus() {
  const auto img = photo_like(40, 56, 3, 3);
  std::vector<EncodedBuffer> seeds;
  for (bool progressive : {false, true}) {
    jpeg::EncodeOptions o;
    o.progressive = progressive;
    o.restart_interval = progressive ? 0 : 2;
    seeds.push_back(encode(img, 40, 56, 3, o));
  }
  std::mt19937 rng(2024);
  int ok = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const EncodedBuffer& seed = seeds[trial % seeds.size()];
    std::vector<std::uint8_t> data(seed.data.get(), seed.data.get() + seed.size);
    if (trial % 3 == 0) data.resize(rng() % data.size());
    for (int f = 0, n = 1 + rng() % 5; f < n && !data.empty(); ++f) data[rng() % data.size()] = rng() & 0xFF;
    const ByteView view{data.data(), data.size()};
    try {
      int h, w, c;
      jpeg::DecodeOptions o;
      o.strict = trial % 2 == 0;
      o.scale = 1 << (trial % 4);
      decode(view, o, &h, &w, &c);
      jpeg::read_coefficients(view, o.strict);
      jpeg::probe(view);
      ++ok;
    } catch (const CodecError&) {
      ++refused;
    } catch (const InvalidArgument&) {
      ++refused;
    }
  }
  CHECK(ok > 0 && refused > 0);
}

}  // namespace

int main() {
  test_jpeg_round_trips();
  test_flat_block_dc();
  test_strided_views();
  test_ssim_invariants();
  test_integer_squared_error();
  test_ssim_blocks_against_naive();
  test_corrupt_corpus();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all C++ core checks passed\n");
  return 0;
}
