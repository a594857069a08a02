// Glue for codeclens._core.metrics: numpy arrays -> strided PlaneViews (no copies), GIL released around the
// kernels, batch on the core thread pool. The work lives in csrc/metrics/.
#include <pybind11/stl.h>

#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "bindings/common.hpp"
#include "bindings/registry.hpp"
#include "common/thread_pool.hpp"
#include "metrics/downsample.hpp"
#include "metrics/gaussian.hpp"
#include "metrics/mse_psnr.hpp"
#include "metrics/ssim.hpp"
#include "metrics/ssim_rows.hpp"

namespace codeclens::py_glue {
namespace {

namespace cm = codeclens::metrics;

cm::SampleType sample_type_of(const py::array& arr, const char* name) {
  const py::dtype dt = arr.dtype();
  if (dt.equal(py::dtype::of<std::uint8_t>())) return cm::SampleType::U8;
  if (dt.equal(py::dtype::of<std::uint16_t>())) return cm::SampleType::U16;
  if (dt.equal(py::dtype::of<float>())) return cm::SampleType::F32;
  if (dt.equal(py::dtype::of<double>())) return cm::SampleType::F64;
  throw py::type_error(std::string(name) + ": expected uint8, uint16, float32 or float64 samples in native byte "
                       "order, got " + std::string(py::str(dt)));
}

// A 2-D (H, W) or 3-D (H, W, C) numpy array read in place through its strides (any strides, unaligned too).
cm::PlaneView plane_of(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + ": expected a numpy array, got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  }
  const auto arr = py::reinterpret_borrow<py::array>(obj);
  cm::PlaneView v;
  v.type = sample_type_of(arr, name);
  if (arr.ndim() != 2 && arr.ndim() != 3) {
    throw py::value_error(std::string(name) + ": expected a 2-D (H, W) or 3-D (H, W, C) array, got " +
                          std::to_string(arr.ndim()) + " dimensions");
  }
  for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
    if (arr.shape(d) > INT_MAX) throw py::value_error(std::string(name) + ": dimension too large");
  }
  v.data = arr.data();
  v.height = static_cast<int>(arr.shape(0));
  v.width = static_cast<int>(arr.shape(1));
  v.channels = arr.ndim() == 3 ? static_cast<int>(arr.shape(2)) : 1;
  v.row_stride = arr.strides(0);
  v.col_stride = arr.strides(1);
  v.ch_stride = arr.ndim() == 3 ? arr.strides(2) : static_cast<py::ssize_t>(cm::sample_size(v.type));
  return v;
}

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

// None: every CPU of this process (or CODECLENS_NUM_THREADS); otherwise a positive count.

py::tuple quality_tuple(const cm::QualityResult& r) { return py::make_tuple(r.mse, r.psnr, r.ssim); }

py::tuple quality_full(const py::array& a, const py::array& b, std::optional<double> data_range, int win_size,
                       double sigma, double k1, double k2, bool luma, bool downsample, bool full,
                       std::optional<int> threads_arg) {
  const cm::PlaneView va = plane_of(a, "a"), vb = plane_of(b, "b");
  const cm::SsimOptions o = options_of(data_range, win_size, sigma, k1, k2, luma, downsample);
  const int threads = batch_threads(threads_arg, static_cast<std::size_t>(va.width));
  py::object map = py::none();
  cm::QualityResult r;
  if (full) {
    const cm::MapShape shape = cm::ssim_map_shape(va, vb, o);
    MallocBlock block(static_cast<std::size_t>(shape.height) * shape.width * shape.channels * sizeof(double));
    {
      py::gil_scoped_release release;
      r = cm::quality(va, vb, o, static_cast<double*>(block.ptr), threads);
    }
    std::vector<py::ssize_t> dims{shape.height, shape.width};
    if (a.ndim() == 3 && !luma) dims.push_back(shape.channels);
    map = adopt_malloc(static_cast<double*>(block.release()), dims);
  } else {
    py::gil_scoped_release release;
    r = cm::quality(va, vb, o, nullptr, threads);
  }
  return py::make_tuple(r.mse, r.psnr, r.ssim, py::tuple(py::cast(r.channel_ssim)), r.downsample_factor, map);
}

py::list quality_batch(const py::sequence& pairs, std::optional<double> data_range, int win_size, double sigma,
                       double k1, double k2, bool luma, bool downsample, std::optional<int> threads,
                       const std::string& on_error) {
  const OnError policy = parse_on_error(on_error);
  const cm::SsimOptions o = options_of(data_range, win_size, sigma, k1, k2, luma, downsample);
  const std::size_t n = py::len(pairs);
  const int nthreads = batch_threads(threads, n);
  std::vector<py::object> keep;  // owners of the buffers while the GIL is released
  keep.reserve(n);
  std::vector<cm::PlaneView> va(n), vb(n);
  std::vector<cm::QualityResult> out(n);
  std::vector<std::exception_ptr> errors(n);
  for (std::size_t i = 0; i < n; ++i) {
    py::object item = pairs[i];
    keep.push_back(item);
    try {
      if (!py::isinstance<py::sequence>(item) || py::len(item) != 2) {
        throw py::type_error("expected an (a, b) pair of arrays, got " +
                             std::string(py::str(py::type::handle_of(item).attr("__name__"))));
      }
      va[i] = plane_of(item[py::int_(0)], "a");
      vb[i] = plane_of(item[py::int_(1)], "b");
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  run_batch_items(n, nthreads, errors, [&](std::size_t i) { out[i] = cm::quality(va[i], vb[i], o, nullptr, 1); });
  std::vector<py::object> results(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i]) results[i] = quality_tuple(out[i]);
  }
  return finish_batch(results, errors, policy);
}

double mse_of(const py::array& a, const py::array& b, bool luma) {
  const cm::PlaneView va = plane_of(a, "a"), vb = plane_of(b, "b");
  py::gil_scoped_release release;
  return cm::mse(va, vb, luma);
}

py::tuple psnr_of(const py::array& a, const py::array& b, std::optional<double> data_range) {
  const cm::PlaneView va = plane_of(a, "a"), vb = plane_of(b, "b");
  const double L = cm::resolve_data_range(va.type, data_range);
  double m = 0.0;
  {
    py::gil_scoped_release release;
    m = cm::mse(va, vb, false);
  }
  return py::make_tuple(m, cm::psnr_from_mse(m, L));
}

}  // namespace

void register_metrics(py::module_& m) {
  m.def("metrics_quality", &quality_full, py::arg("a"), py::arg("b"), py::kw_only(), py::arg("data_range") = py::none(),
        py::arg("win_size") = 11, py::arg("sigma") = 1.5, py::arg("k1") = 0.01, py::arg("k2") = 0.03,
        py::arg("luma") = false, py::arg("downsample") = false, py::arg("full") = false, py::arg("threads") = 1,
        "MSE, PSNR and SSIM of two (H, W) or (H, W, C) arrays in one pass: returns (mse, psnr, ssim, "
        "per-channel ssim, downsample factor, map or None). The map is float64 (H-win+1, W-win+1[, C]).");
  m.def("metrics_quality_batch", &quality_batch, py::arg("pairs"), py::kw_only(), py::arg("data_range") = py::none(),
        py::arg("win_size") = 11, py::arg("sigma") = 1.5, py::arg("k1") = 0.01, py::arg("k2") = 0.03,
        py::arg("luma") = false, py::arg("downsample") = false, py::arg("threads") = py::none(),
        py::arg("on_error") = "raise",
        "(mse, psnr, ssim) for each (a, b) pair on the core thread pool (threads=None: all CPUs); with "
        "on_error='return' a failed item's place holds its exception.");
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
