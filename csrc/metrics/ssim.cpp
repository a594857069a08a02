#include "metrics/ssim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "common/errors.hpp"
#include "common/thread_pool.hpp"
#include "metrics/downsample.hpp"
#include "metrics/gaussian.hpp"
#include "metrics/mse_psnr.hpp"
#include "metrics/squared_error.hpp"
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

// Rows ahead of the one being loaded that are requested from memory (none is 5% slower on 1920x1080 RGB: a
// strip reads a short piece of every row, which the hardware prefetchers miss).
constexpr int kPrefetchRows = 4;

std::size_t round_up8(std::size_t n) { return (n + 7) / 8 * 8; }

// Pixels per strip: as many as fit kStripPitch samples (128 for RGB, 384 for gray), at least one; only the
// last strip of a row may be narrower. The strips, and so every sum, do not depend on the thread count.
int strip_width(int channels) { return std::max(1, kStripPitch / channels); }

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
  bool fused_mse;  // sum (a - b)^2 of the loaded rows (float or luma input; integers use the exact kernel)
};

struct StripResult {
  std::vector<double> channel_sums;
  double squared_error = 0.0;
  int nonfinite = 0;  // bit 0: a, bit 1: b
};

// One column strip, output pixels [p0, p0 + width). Every input row is loaded once into a ring of
// kBlockRows + taps - 1 rows (the four moments of its samples); as soon as kBlockRows output rows (or the
// last ones) have all their input rows, they are filtered vertically, transposed, filtered horizontally and
// turned into SSIM together (ssim_rows.hpp). colsum[kBlockRows j + r] sums the SSIM of sample column j over
// the output rows with r = row mod kBlockRows.
void run_strip(const Pass& pass, int p0, int width, bool last, StripResult& result) {
  const int taps = static_cast<int>(pass.window->size());
  const double* w = pass.window->data();
  const int ce = pass.channels;
  const int n = width * ce;
  const int span_px = width + taps - 1;
  const int span = span_px * ce;
  const int cols = static_cast<int>(round_up8(static_cast<std::size_t>(span)));  // the vertical stage's columns
  const std::size_t slot = static_cast<std::size_t>(kMoments) * cols;
  const int slots = kBlockRows + taps - 1;
  const std::size_t t_pitch = static_cast<std::size_t>(kBlockRows) * (cols + kHorizontalOverrun);
  // MSE counts each input column once: the strip owns its first `width` columns, the last strip all of them.
  const int owned = last ? span : n;

  const std::size_t block_samples = static_cast<std::size_t>(kBlockRows) * n;
  Scratch ring(static_cast<std::size_t>(slots) * slot), tiles(kMoments * t_pitch), colsum(block_samples),
      map_block(pass.map != nullptr ? block_samples : 0);
  // Zeros: the padding columns past the span (never loaded) and past the tiles (never filtered) stay finite.
  std::fill(ring.get(), ring.get() + slots * slot, 0.0);
  std::fill(tiles.get(), tiles.get() + kMoments * t_pitch, 0.0);
  std::fill(colsum.get(), colsum.get() + block_samples, 0.0);
  std::vector<const double*> window_rows(static_cast<std::size_t>(slots));

  const int height = pass.a->height;
  int next_out = 0;  // output rows [0, next_out) are done
  for (int y = 0; y < height; ++y) {
    double* ra = ring.get() + static_cast<std::size_t>(y % slots) * slot;
    double* rb = ra + kMeanB * cols;
    prefetch_row(*pass.a, y + kPrefetchRows, p0, span_px);
    prefetch_row(*pass.b, y + kPrefetchRows, p0, span_px);
    if (!load_row(*pass.a, y, p0, span_px, pass.luma, ra)) result.nonfinite |= 1;
    if (!load_row(*pass.b, y, p0, span_px, pass.luma, rb)) result.nonfinite |= 2;
    if (result.nonfinite) return;
    if (pass.fused_mse) result.squared_error += sum_squared_difference(ra, rb, owned);
    products_stage(ra, rb, span, ra + kSquares * cols, ra + kCross * cols);
    const int count = std::min(kBlockRows, y - taps + 2 - next_out);  // output rows with all inputs loaded
    if (count < kBlockRows && (y + 1 < height || count <= 0)) continue;
    // A short last block repeats its last input row for the missing ones (finite; those rows are dropped).
    for (int t = 0; t < slots; ++t) {
      const int row = next_out + std::min(t, count + taps - 2);
      window_rows[t] = ring.get() + static_cast<std::size_t>(row % slots) * slot;
    }
    vertical_block_stage(window_rows.data(), cols, cols, w, taps, tiles.get(), t_pitch);
    horizontal_ssim_stage(tiles.get(), t_pitch, n, ce, w, taps, pass.c1, pass.c2, count, colsum.get(),
                          pass.map != nullptr ? map_block.get() : nullptr);
    for (int r = 0; pass.map != nullptr && r < count; ++r) {
      double* dst = pass.map + (static_cast<std::size_t>(next_out + r) * pass.out_width + p0) * ce;
      for (int j = 0; j < n; ++j) dst[j] = map_block.get()[static_cast<std::size_t>(kBlockRows) * j + r];
    }
    next_out += count;
  }
  result.channel_sums.assign(static_cast<std::size_t>(ce), 0.0);
  for (int j = 0; j < n; ++j) {
    double column = 0.0;
    for (int r = 0; r < kBlockRows; ++r) column += colsum.get()[static_cast<std::size_t>(kBlockRows) * j + r];
    result.channel_sums[j % ce] += column;
  }
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

  // Integer samples without luma: the exact integer kernel (one pass at memory speed), as mse() and psnr().
  const bool exact_mse = !options.luma && integer_samples(a.type);
  Pass pass{&a, &b, options.luma, plan.map.channels, &plan.window, (options.k1 * L) * (options.k1 * L),
            (options.k2 * L) * (options.k2 * L), plan.map.height, plan.map.width, map,
            !exact_mse && plan.factor == 1};
  FusedResult fused;
  const double samples = static_cast<double>(a.height) * a.width * plan.map.channels;
  if (plan.factor == 1) {
    fused = run_fused(pass, threads);
    r.mse = exact_mse ? mse(a, b, false) : fused.squared_error / samples;
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
