#include "metrics/ssim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <memory>
#include <numeric>
#include <new>
#include <string>

#include "common/errors.hpp"
#include "common/thread_pool.hpp"
#include "metrics/downsample.hpp"
#include "metrics/gaussian.hpp"
#include "metrics/mse_psnr.hpp"
#include "metrics/ssim_rows.hpp"

namespace codeclens::metrics {
namespace {

// A float64 scratch block aligned for 512-bit vectors.
class Scratch {
 public:
  explicit Scratch(std::size_t count) {
    const std::size_t bytes = ((count * sizeof(double) + 63) / 64) * 64;
    ptr_.reset(static_cast<double*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64)));
    if (!ptr_) throw std::bad_alloc();
  }
  double* get() const { return ptr_.get(); }

 private:
  struct Free {
    void operator()(double* p) const { std::free(p); }
  };
  std::unique_ptr<double, Free> ptr_;
};

// Rows ahead of the one being loaded that are requested from memory (2 to 8 measure the same; none is 15%
// slower on 1920x1080 RGB: a strip reads a short piece of every row, which the hardware prefetchers miss).
constexpr int kPrefetchRows = 4;

std::size_t round_up8(std::size_t n) { return (n + 7) / 8 * 8; }

// Pixels per strip: as many as fit kStripPitch samples, rounded down so that width * channels fills whole
// 8-lane vectors (40 pixels for RGB, 128 for gray); only the last strip of a row may be narrower.
int strip_width(int channels) {
  const int fit = kStripPitch / channels;
  if (fit < 1) return 1;
  const int unit = 8 / std::gcd(8, channels);  // pixels per whole number of vectors
  return fit >= unit ? fit / unit * unit : fit;
}

// What one fused pass needs besides the images.
struct Pass {
  const PlaneView* a;
  const PlaneView* b;
  bool luma;
  int channels;  // channels of the signal (1 with luma)
  const std::vector<double>* window;
  double c1;
  double c2;
  int out_height;
  int out_width;
  double* map;
};

struct StripResult {
  std::vector<double> channel_sums;
  double squared_error = 0.0;
  int nonfinite = 0;  // bit 0: a, bit 1: b
};

// One column strip, output pixels [p0, p0 + width): every input row is loaded once, filtered horizontally
// into a ring of win_size rows, and each output row is filtered vertically from the ring and turned into SSIM.
void run_strip(const Pass& pass, int p0, int width, bool last, StripResult& result) {
  const int taps = static_cast<int>(pass.window->size());
  const double* w = pass.window->data();
  const int ce = pass.channels;
  const int n = width * ce;
  // The stages run over whole vectors: n_pad lanes, the lanes past n computed and then ignored.
  const int n_pad = static_cast<int>(round_up8(static_cast<std::size_t>(n)));
  const int span_px = width + taps - 1;
  const int span = span_px * ce;
  const int pitch = n_pad <= kStripPitch ? kStripPitch : n_pad;
  const std::size_t slot = static_cast<std::size_t>(kMoments) * pitch;
  // Input rows carry one zero block past the span for the padding lanes.
  const std::size_t row_ld = round_up8(static_cast<std::size_t>(span) + 8);
  // MSE counts each input column once: the strip owns its first `width` columns, the last strip all of them.
  const int owned = last ? span : n;

  Scratch rows(kMoments * row_ld), ring(static_cast<std::size_t>(taps) * slot),
      colsum(static_cast<std::size_t>(n_pad)), map_row(pass.map != nullptr ? static_cast<std::size_t>(n_pad) : 0);
  std::fill(rows.get(), rows.get() + kMoments * row_ld, 0.0);
  std::fill(colsum.get(), colsum.get() + n_pad, 0.0);
  double* ra = rows.get() + kMeanA * row_ld;
  double* rb = rows.get() + kMeanB * row_ld;
  double* squares = rows.get() + kSquares * row_ld;
  double* cross = rows.get() + kCross * row_ld;
  const double* sources[kMoments] = {ra, rb, squares, cross};
  std::vector<const double*> window_rows(static_cast<std::size_t>(taps));

  const int height = pass.a->height;
  for (int y = 0; y < height; ++y) {
    prefetch_row(*pass.a, y + kPrefetchRows, p0, span_px);
    prefetch_row(*pass.b, y + kPrefetchRows, p0, span_px);
    if (!load_row(*pass.a, y, p0, span_px, pass.luma, ra)) result.nonfinite |= 1;
    if (!load_row(*pass.b, y, p0, span_px, pass.luma, rb)) result.nonfinite |= 2;
    if (result.nonfinite) return;
    result.squared_error += sum_squared_difference(ra, rb, owned);
    products_stage(ra, rb, span, squares, cross);
    horizontal_stage(sources, n_pad, ce, w, taps, ring.get() + static_cast<std::size_t>(y % taps) * slot, pitch);
    const int oy = y - (taps - 1);
    if (oy < 0) continue;
    for (int k = 0; k < taps; ++k) window_rows[k] = ring.get() + static_cast<std::size_t>((oy + k) % taps) * slot;
    vertical_ssim_stage(window_rows.data(), n_pad, w, taps, pitch, pass.c1, pass.c2, colsum.get(),
                        pass.map != nullptr ? map_row.get() : nullptr);
    if (pass.map != nullptr) {
      std::copy(map_row.get(), map_row.get() + n, pass.map + (static_cast<std::size_t>(oy) * pass.out_width + p0) * ce);
    }
  }
  result.channel_sums.assign(static_cast<std::size_t>(ce), 0.0);
  for (int i = 0; i < n; ++i) result.channel_sums[i % ce] += colsum.get()[i];
}

struct FusedResult {
  std::vector<double> channel_ssim;
  double squared_error = 0.0;
};

FusedResult run_fused(const Pass& pass, int threads) {
  const int ce = pass.channels;
  const int width = strip_width(ce);
  const int count = (pass.out_width + width - 1) / width;

  std::vector<StripResult> parts(static_cast<std::size_t>(count));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(count));
  parallel_for(static_cast<std::size_t>(count), resolve_thread_count(threads, static_cast<std::size_t>(count)),
               [&](std::size_t i) {
                 const int p0 = static_cast<int>(i) * width;
                 const int w = std::min(width, pass.out_width - p0);
                 try {
                   run_strip(pass, p0, w, p0 + w == pass.out_width, parts[i]);
                 } catch (...) {
                   errors[i] = std::current_exception();
                 }
               });
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  int nonfinite = 0;
  for (const auto& p : parts) nonfinite |= p.nonfinite;
  if (nonfinite & 1) throw InvalidArgument("a contains NaN or infinite values; the metrics need finite samples");
  if (nonfinite & 2) throw InvalidArgument("b contains NaN or infinite values; the metrics need finite samples");

  // Reduce in strip order: the same sums whatever the thread count.
  FusedResult out;
  std::vector<double> sums(static_cast<std::size_t>(ce), 0.0);
  for (const auto& p : parts) {
    for (int c = 0; c < ce; ++c) sums[c] += p.channel_sums[c];
    out.squared_error += p.squared_error;
  }
  const double count_px = static_cast<double>(pass.out_height) * static_cast<double>(pass.out_width);
  out.channel_ssim.resize(static_cast<std::size_t>(ce));
  for (int c = 0; c < ce; ++c) out.channel_ssim[c] = sums[c] / count_px;
  return out;
}

struct Plan {
  double data_range;
  std::vector<double> window;
  int factor;
  MapShape map;
};

Plan make_plan(const PlaneView& a, const PlaneView& b, const SsimOptions& o) {
  check_same_layout(a, b);
  if (o.luma) check_luma_channels(a);
  Plan plan;
  plan.data_range = resolve_data_range(a.type, o.data_range);
  for (const auto& [name, k] : {std::pair{"k1", o.k1}, std::pair{"k2", o.k2}}) {
    if (!(k >= 0.0) || !std::isfinite(k)) {
      throw InvalidArgument(std::string(name) + " must be a non-negative finite number, got " + std::to_string(k));
    }
  }
  plan.window = gaussian_window(o.win_size, o.sigma);
  plan.factor = o.downsample ? wang_downsample_factor(a.height, a.width) : 1;
  const int h = (a.height + plan.factor - 1) / plan.factor;
  const int w = (a.width + plan.factor - 1) / plan.factor;
  if (h < o.win_size || w < o.win_size) {
    std::string msg = "images of " + std::to_string(a.height) + "x" + std::to_string(a.width) + " pixels";
    if (plan.factor > 1) {
      msg += " (" + std::to_string(h) + "x" + std::to_string(w) + " after Wang's downsampling by " +
             std::to_string(plan.factor) + ")";
    }
    msg += " are smaller than the " + std::to_string(o.win_size) + "x" + std::to_string(o.win_size) +
           " SSIM window: SSIM needs at least win_size rows and columns";
    throw InvalidArgument(msg);
  }
  plan.map = MapShape{h - o.win_size + 1, w - o.win_size + 1, o.luma ? 1 : a.channels};
  return plan;
}

}  // namespace

MapShape ssim_map_shape(const PlaneView& a, const PlaneView& b, const SsimOptions& options) {
  return make_plan(a, b, options).map;
}

QualityResult quality(const PlaneView& a, const PlaneView& b, const SsimOptions& options, double* map, int threads) {
  const Plan plan = make_plan(a, b, options);
  const double L = plan.data_range;
  QualityResult r;
  r.data_range = L;
  r.downsample_factor = plan.factor;

  Pass pass{&a, &b, options.luma, plan.map.channels, &plan.window, (options.k1 * L) * (options.k1 * L),
            (options.k2 * L) * (options.k2 * L), plan.map.height, plan.map.width, map};
  FusedResult fused;
  const double samples = static_cast<double>(a.height) * a.width * plan.map.channels;
  if (plan.factor == 1) {
    fused = run_fused(pass, threads);
    r.mse = fused.squared_error / samples;
  } else {
    const DoubleImage da = wang_downsample(a, plan.factor, options.luma, "a");
    const DoubleImage db = wang_downsample(b, plan.factor, options.luma, "b");
    const PlaneView va = da.view(), vb = db.view();
    pass.a = &va;
    pass.b = &vb;
    pass.luma = false;
    fused = run_fused(pass, threads);
    r.mse = mse(a, b, options.luma);
  }
  r.channel_ssim = fused.channel_ssim;
  double total = 0.0;
  for (double s : r.channel_ssim) total += s;
  r.ssim = total / static_cast<double>(r.channel_ssim.size());
  r.psnr = psnr_from_mse(r.mse, L);
  return r;
}

}  // namespace codeclens::metrics
