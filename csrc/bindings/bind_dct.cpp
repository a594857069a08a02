// Glue for csrc/dct: numpy arrays in and out, the GIL released around the transforms.
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/common.hpp"
#include "bindings/registry.hpp"
#include "common/errors.hpp"
#include "dct/dct.hpp"

namespace codeclens::py_glue {

namespace {

std::string dtype_name(const py::array& a) { return py::str(a.dtype()); }

// A plane to transform: uint8 or float32 (H, W), read in place through its strides.
ViewSpec plane_spec() {
  ViewSpec s;
  s.what = "plane";
  s.dtypes = {SampleType::U8, SampleType::F32};
  return s;
}

struct Transform {
  ArrayView plane;
  py::ssize_t bh = 0, bw = 0;
  MallocPtr<float> out;
};

void prepare_transform(const py::handle& obj, Transform& t) {
  t.plane = array_view(obj, plane_spec());
  t.bh = dct::blocks_for(t.plane.view.height);
  t.bw = dct::blocks_for(t.plane.view.width);
  t.out = malloc_array<float>(static_cast<std::size_t>(t.bh * t.bw) * dct::kCoefficients);
}

py::array transformed(Transform& t) { return adopt(std::move(t.out), {t.bh, t.bw, 8, 8}); }

py::array forward_one(const py::handle& plane, float level_shift, const ThreadsArg& threads) {
  const int n = resolve_threads(threads);
  Transform t;
  prepare_transform(plane, t);
  {
    py::gil_scoped_release release;
    dct::forward(t.plane.view, level_shift, t.out.get(), n);
  }
  return transformed(t);
}

py::list forward_batch(const py::sequence& planes, float level_shift, const ThreadsArg& threads) {
  return run_batch<Transform>(
      planes, resolve_threads(threads), prepare_transform,
      [&](Transform& t) { dct::forward(t.plane.view, level_shift, t.out.get(), 1); }, transformed);
}

void check_block_array(const py::array& a, const char* what) {
  if (a.ndim() < 3 || a.shape(a.ndim() - 1) != 8 || a.shape(a.ndim() - 2) != 8) {
    throw InvalidArgument(std::string(what) + ": expected coefficients of shape (..., 8, 8), got " + shape_text(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw InvalidArgument(std::string(what) + ": expected a C-contiguous array (use numpy.ascontiguousarray)");
  }
}

template <typename T>
py::array inverse_to(const float* src, int bh, int bw, float level_shift, int h, int w, int threads) {
  MallocPtr<T> out = malloc_array<T>(static_cast<std::size_t>(h) * w);
  {
    py::gil_scoped_release release;
    dct::inverse(src, bh, bw, level_shift, out.get(), h, w, threads);
  }
  return adopt(std::move(out), {h, w});
}

py::array inverse_one(const py::array& coeffs, float level_shift, int height, int width, bool as_uint8,
                      const ThreadsArg& threads) {
  const int n = resolve_threads(threads);
  if (!coeffs.dtype().equal(py::dtype::of<float>())) {
    throw TypeMismatch("dct_inverse: expected float32 coefficients, got " + dtype_name(coeffs));
  }
  check_block_array(coeffs, "dct_inverse");
  if (coeffs.ndim() != 4) {
    throw InvalidArgument("dct_inverse: expected coefficients of shape (blocks_h, blocks_w, 8, 8), got " +
                          shape_text(coeffs));
  }
  const int bh = static_cast<int>(coeffs.shape(0)), bw = static_cast<int>(coeffs.shape(1));
  const int h = height > 0 ? height : bh * 8, w = width > 0 ? width : bw * 8;
  if (h > bh * 8 || w > bw * 8 || bh == 0 || bw == 0) {
    throw InvalidArgument("dct_inverse: output size " + std::to_string(h) + "x" + std::to_string(w) +
                          " exceeds the " + std::to_string(bh * 8) + "x" + std::to_string(bw * 8) +
                          " samples that the blocks cover");
  }
  const float* src = static_cast<const float*>(coeffs.data());
  return as_uint8 ? inverse_to<std::uint8_t>(src, bh, bw, level_shift, h, w, n)
                  : inverse_to<float>(src, bh, bw, level_shift, h, w, n);
}

py::array select_one(const py::array& coeffs, int n, const py::object& qtable) {
  const bool i16 = coeffs.dtype().equal(py::dtype::of<std::int16_t>());
  const bool f32 = coeffs.dtype().equal(py::dtype::of<float>());
  if (!i16 && !f32) {
    throw TypeMismatch("dct_select_bands: expected int16 (quantized) or float32 coefficients, got " +
                       dtype_name(coeffs));
  }
  check_block_array(coeffs, "dct_select_bands");
  if (n < 1 || n > 64) throw InvalidArgument("dct_select_bands: n must be in 1..64, got " + std::to_string(n));
  py::array_t<std::uint16_t, py::array::c_style> q;
  const std::uint16_t* qp = nullptr;
  if (!qtable.is_none()) {
    if (!py::isinstance<py::array>(qtable)) {
      throw TypeMismatch("dct_select_bands: expected qtable as a uint16 (8, 8) array, got " + type_name(qtable));
    }
    py::array qa = py::reinterpret_borrow<py::array>(qtable);
    if (!qa.dtype().equal(py::dtype::of<std::uint16_t>())) {
      throw TypeMismatch("dct_select_bands: expected qtable dtype uint16, got " + dtype_name(qa));
    }
    if (qa.ndim() != 2 || qa.shape(0) != 8 || qa.shape(1) != 8) {
      throw InvalidArgument("dct_select_bands: expected qtable of shape (8, 8), got " + shape_text(qa));
    }
    q = py::array_t<std::uint16_t, py::array::c_style>::ensure(qa);
    qp = q.data();
  }
  std::vector<py::ssize_t> shape{n};
  std::size_t blocks = 1;
  for (py::ssize_t i = 0; i + 2 < coeffs.ndim(); ++i) {
    shape.push_back(coeffs.shape(i));
    blocks *= static_cast<std::size_t>(coeffs.shape(i));
  }
  MallocPtr<float> out = malloc_array<float>(blocks * static_cast<std::size_t>(n));
  {
    py::gil_scoped_release release;
    if (i16) dct::select_bands(static_cast<const std::int16_t*>(coeffs.data()), blocks, qp, n, out.get());
    else dct::select_bands(static_cast<const float*>(coeffs.data()), blocks, qp, n, out.get());
  }
  return adopt(std::move(out), shape);
}

py::array zigzag() {
  py::array_t<std::int32_t> out(dct::kCoefficients);
  auto m = out.mutable_unchecked<1>();
  for (int k = 0; k < dct::kCoefficients; ++k) m(k) = dct::kZigzag[k];
  return out;
}

}  // namespace

void register_dct(py::module_& m) {
  m.def("dct_forward", &forward_one, py::arg("plane"), py::arg("level_shift") = 128.0f,
        py::arg("threads") = py::none(),
        "Blockwise orthonormal 8x8 DCT-II of (plane - level_shift); plane uint8/float32 (H, W), any strides; returns "
        "float32 (ceil(H/8), ceil(W/8), 8, 8), natural order; edges padded by replicating the last row/column.");
  m.def("dct_forward_batch", &forward_batch, py::arg("planes"), py::arg("level_shift") = 128.0f,
        py::arg("threads") = py::none(),
        "dct_forward over a list of planes on the core's thread pool; failed items hold their exception instance.");
  m.def("dct_inverse", &inverse_one, py::arg("coeffs"), py::arg("level_shift") = 128.0f, py::arg("height") = 0,
        py::arg("width") = 0, py::arg("as_uint8") = false, py::arg("threads") = py::none(),
        "Inverse of dct_forward: float32 (bh, bw, 8, 8) -> (height, width) float32, or uint8 rounded and clamped; "
        "height/width 0 = the full 8*bh x 8*bw plane.");
  m.def("dct_select_bands", &select_one, py::arg("coeffs"), py::arg("n"), py::arg("qtable") = py::none(),
        "The n lowest zigzag frequencies of int16/float32 (..., 8, 8) blocks as float32 (n, ...); multiplied by "
        "qtable (uint16 (8, 8), natural order) when given.");
  m.def("dct_zigzag", &zigzag, "int32 (64,): natural (row-major) index of each zigzag position.");
}

}  // namespace codeclens::py_glue
