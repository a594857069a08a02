// Glue for csrc/metrics: names what the kernels accept (the common adapter reads any strides in place), releases
// the GIL around them; the batch runs on the core's pool through the common runner.
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings/common.hpp"
#include "bindings/registry.hpp"
#include "common/errors.hpp"
#include "metrics/downsample.hpp"
#include "metrics/gaussian.hpp"
#include "metrics/mse_psnr.hpp"
#include "metrics/ssim.hpp"
#include "metrics/ssim_rows.hpp"

namespace codeclens::py_glue {
namespace {

namespace cm = codeclens::metrics;

// An image: uint8, uint16, float32 or float64, (H, W) or (H, W, C), any strides (crops, flips, channel-first
// and unaligned views are read in place).
ViewSpec image_spec(const char* what) {
  ViewSpec s;
  s.what = what;
  s.dtypes = {SampleType::U8, SampleType::U16, SampleType::F32, SampleType::F64};
  s.channels = {kAnyChannels};
  return s;
}

struct Pair {
  ArrayView a, b;
};

Pair pair_of(const py::handle& a, const py::handle& b) { return Pair{array_view(a, image_spec("a")), array_view(b, image_spec("b"))}; }

cm::SsimOptions options_of(std::optional<double> data_range, int win_size, double sigma, double k1, double k2,
                           bool luma, bool downsample) {
  cm::SsimOptions o;
  o.data_range = data_range;
  o.win_size = win_size;
  o.sigma = sigma;
  o.k1 = k1;
  o.k2 = k2;
  o.luma = luma;
  o.downsample = downsample;
  return o;
}

py::tuple quality_full(const py::handle& a, const py::handle& b, std::optional<double> data_range, int win_size,
                       double sigma, double k1, double k2, bool luma, bool downsample, bool full,
                       const ThreadsArg& threads) {
  const int n = resolve_threads(threads);
  const Pair p = pair_of(a, b);
  const cm::SsimOptions o = options_of(data_range, win_size, sigma, k1, k2, luma, downsample);
  py::object map = py::none();
  cm::QualityResult r;
  if (full) {
    const cm::MapShape shape = cm::ssim_map_shape(p.a.view, p.b.view, o);
    MallocPtr<double> block = malloc_array<double>(static_cast<std::size_t>(shape.height) * shape.width * shape.channels);
    {
      py::gil_scoped_release release;
      r = cm::quality(p.a.view, p.b.view, o, block.get(), n);
    }
    std::vector<py::ssize_t> dims{shape.height, shape.width};
    if (p.a.array.ndim() == 3 && !luma) dims.push_back(shape.channels);
    map = adopt(std::move(block), dims);
  } else {
    py::gil_scoped_release release;
    r = cm::quality(p.a.view, p.b.view, o, nullptr, n);
  }
  return py::make_tuple(r.mse, r.psnr, r.ssim, py::tuple(py::cast(r.channel_ssim)), r.downsample_factor, map);
}

struct QualityItem {
  Pair pair;
  cm::QualityResult result;
};

void prepare_pair(const py::handle& item, QualityItem& s) {
  if (!py::isinstance<py::sequence>(item) || py::len(item) != 2) {
    throw TypeMismatch("expected an (a, b) pair of arrays, got " + type_name(item));
  }
  s.pair = pair_of(item[py::int_(0)], item[py::int_(1)]);
}

py::list quality_batch(const py::sequence& pairs, std::optional<double> data_range, int win_size, double sigma,
                       double k1, double k2, bool luma, bool downsample, const ThreadsArg& threads) {
  const cm::SsimOptions o = options_of(data_range, win_size, sigma, k1, k2, luma, downsample);
  return run_batch<QualityItem>(
      pairs, resolve_threads(threads), prepare_pair,
      [&](QualityItem& s) { s.result = cm::quality(s.pair.a.view, s.pair.b.view, o, nullptr, 1); },
      [](QualityItem& s) { return py::make_tuple(s.result.mse, s.result.psnr, s.result.ssim); });
}

double mse_of(const py::handle& a, const py::handle& b, bool luma) {
  const Pair p = pair_of(a, b);
  py::gil_scoped_release release;
  return cm::mse(p.a.view, p.b.view, luma);
}

py::tuple psnr_of(const py::handle& a, const py::handle& b, std::optional<double> data_range) {
  const Pair p = pair_of(a, b);
  const double L = cm::resolve_data_range(p.a.view.type, data_range);
  double m = 0.0;
  {
    py::gil_scoped_release release;
    m = cm::mse(p.a.view, p.b.view, false);
  }
  return py::make_tuple(m, cm::psnr_from_mse(m, L));
}

}  // namespace

void register_metrics(py::module_& m) {
  m.def("metrics_quality", &quality_full, py::arg("a"), py::arg("b"), py::kw_only(), py::arg("data_range") = py::none(),
        py::arg("win_size") = 11, py::arg("sigma") = 1.5, py::arg("k1") = 0.01, py::arg("k2") = 0.03,
        py::arg("luma") = false, py::arg("downsample") = false, py::arg("full") = false, py::arg("threads") = py::none(),
        "MSE, PSNR and SSIM of two (H, W) or (H, W, C) arrays in one pass: returns (mse, psnr, ssim, "
        "per-channel ssim, downsample factor, map or None). The map is float64 (H-win+1, W-win+1[, C]).");
  m.def("metrics_quality_batch", &quality_batch, py::arg("pairs"), py::kw_only(), py::arg("data_range") = py::none(),
        py::arg("win_size") = 11, py::arg("sigma") = 1.5, py::arg("k1") = 0.01, py::arg("k2") = 0.03,
        py::arg("luma") = false, py::arg("downsample") = false, py::arg("threads") = py::none(),
        "(mse, psnr, ssim) for each (a, b) pair on the core thread pool (threads=None: all CPUs); a failed "
        "item's place holds its exception instance.");
  m.def("metrics_mse", &mse_of, py::arg("a"), py::arg("b"), py::kw_only(), py::arg("luma") = false,
        "Mean of (a - b)^2 over all samples, in float64.");
  m.def("metrics_psnr", &psnr_of, py::arg("a"), py::arg("b"), py::kw_only(), py::arg("data_range") = py::none(),
        "(mse, 10 log10(L^2 / mse)); +inf for identical inputs.");
  m.def(
      "metrics_gaussian_window",
      [](int win_size, double sigma) {
        std::vector<double> w = cm::gaussian_window(win_size, sigma);
        return py::array_t<double>(static_cast<py::ssize_t>(w.size()), w.data());
      },
      py::arg("win_size") = 11, py::arg("sigma") = 1.5, "The normalised 1-D Gaussian taps the kernel uses.");
  m.def("metrics_kernel_isa", &cm::kernel_isa,
        "Instruction set of the SSIM row kernels: 'avx512', 'avx2' or 'baseline' (chosen from the CPU).");
  m.def(
      "metrics_set_kernel_isa", [](const std::string& name) { cm::set_kernel_isa(name.c_str()); }, py::arg("name"),
      "Force the SSIM kernels' instruction set ('auto', 'avx512', 'avx2', 'baseline'; one the CPU lacks is a "
      "ValueError), for tests and benchmarks. AVX2 and AVX-512 give bitwise-identical results, the baseline "
      "(no FMA) differs by rounding.");
  m.def("metrics_wang_downsample_factor", &cm::wang_downsample_factor, py::arg("height"), py::arg("width"),
        "max(1, round(min(height, width) / 256)), MATLAB rounding.");
}

}  // namespace codeclens::py_glue
