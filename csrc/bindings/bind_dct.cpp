// Glue for csrc/dct: numpy arrays in and out, the GIL released around the transforms.
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/common.hpp"
#include "bindings/registry.hpp"
#include "common/thread_pool.hpp"
#include "dct/dct.hpp"

namespace codeclens::py_glue {

namespace {

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// A validated 2-D plane: uint8 or float32, rows contiguous (any row stride).
struct Plane {
  py::array array;
  bool is_u8 = false;
  dct::PlaneView<std::uint8_t> u8;
  dct::PlaneView<float> f32;
};

Plane make_plane(const py::handle& obj, const char* what) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(what) + ": expected a numpy uint8 or float32 (H, W) array, got " +
                         std::string(py::str(obj.get_type().attr("__name__"))));
  }
  Plane p;
  p.array = py::reinterpret_borrow<py::array>(obj);
  const py::array& a = p.array;
  const bool u8 = a.dtype().is(py::dtype::of<std::uint8_t>());
  const bool f32 = a.dtype().is(py::dtype::of<float>());
  if (!u8 && !f32) {
    throw py::type_error(std::string(what) + ": expected dtype uint8 or float32, got " + dtype_name(a));
  }
  if (a.ndim() != 2 || a.shape(0) == 0 || a.shape(1) == 0) {
    throw py::value_error(std::string(what) + ": expected a non-empty 2-D (H, W) plane, got shape " + shape_text(a));
  }
  const py::ssize_t item = a.itemsize();
  if (a.strides(1) != item || a.strides(0) % item != 0 || a.strides(0) < a.shape(1) * item) {
    throw py::value_error(std::string(what) + ": expected rows of contiguous samples (use numpy.ascontiguousarray)");
  }
  if (a.shape(0) > (1 << 28) || a.shape(1) > (1 << 28)) {
    throw py::value_error(std::string(what) + ": plane of shape " + shape_text(a) + " is too large");
  }
  const int h = static_cast<int>(a.shape(0)), w = static_cast<int>(a.shape(1));
  const std::ptrdiff_t stride = a.strides(0) / item;
  p.is_u8 = u8;
  if (u8) p.u8 = {static_cast<const std::uint8_t*>(a.data()), h, w, stride};
  else p.f32 = {static_cast<const float*>(a.data()), h, w, stride};
  return p;
}

void forward_plane(const Plane& p, float shift, float* out, int threads) {
  if (p.is_u8) dct::forward(p.u8, shift, out, threads);
  else dct::forward(p.f32, shift, out, threads);
}

py::array forward_one(const py::handle& plane, float level_shift, int threads) {
  Plane p = make_plane(plane, "dct_forward");
  const int h = p.is_u8 ? p.u8.height : p.f32.height, w = p.is_u8 ? p.u8.width : p.f32.width;
  const py::ssize_t bh = dct::blocks_for(h), bw = dct::blocks_for(w);
  MallocBlock out(static_cast<std::size_t>(bh * bw) * dct::kCoefficients * sizeof(float));
  {
    py::gil_scoped_release release;
    forward_plane(p, level_shift, static_cast<float*>(out.ptr), threads);
  }
  return adopt_malloc(static_cast<float*>(out.release()), {bh, bw, 8, 8});
}

py::list forward_batch(const py::sequence& planes, float level_shift, int threads, const std::string& on_error) {
  const OnError policy = parse_on_error(on_error);
  const std::size_t n = py::len(planes);
  std::vector<Plane> items(n);
  std::vector<MallocBlock> outs(n);
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::pair<py::ssize_t, py::ssize_t>> grids(n);
  for (std::size_t i = 0; i < n; ++i) {
    try {
      items[i] = make_plane(planes[i], "dct_forward_batch");
      const Plane& p = items[i];
      const int h = p.is_u8 ? p.u8.height : p.f32.height, w = p.is_u8 ? p.u8.width : p.f32.width;
      grids[i] = {dct::blocks_for(h), dct::blocks_for(w)};
      outs[i] = MallocBlock(static_cast<std::size_t>(grids[i].first * grids[i].second) * dct::kCoefficients *
                            sizeof(float));
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  run_batch_items(n, resolve_thread_count(threads, n), errors,
                  [&](std::size_t i) { forward_plane(items[i], level_shift, static_cast<float*>(outs[i].ptr), 1); });
  std::vector<py::object> results(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i]) {
      results[i] = adopt_malloc(static_cast<float*>(outs[i].release()), {grids[i].first, grids[i].second, 8, 8});
    }
  }
  return finish_batch(results, errors, policy);
}

void check_block_array(const py::array& a, const char* what) {
  if (a.ndim() < 3 || a.shape(a.ndim() - 1) != 8 || a.shape(a.ndim() - 2) != 8) {
    throw py::value_error(std::string(what) + ": expected coefficients of shape (..., 8, 8), got " + shape_text(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(what) + ": expected a C-contiguous array (use numpy.ascontiguousarray)");
  }
}

py::array inverse_one(const py::array& coeffs, float level_shift, int height, int width, bool as_uint8, int threads) {
  if (!coeffs.dtype().is(py::dtype::of<float>())) {
    throw py::type_error("dct_inverse: expected float32 coefficients, got " + dtype_name(coeffs));
  }
  check_block_array(coeffs, "dct_inverse");
  if (coeffs.ndim() != 4) {
    throw py::value_error("dct_inverse: expected coefficients of shape (blocks_h, blocks_w, 8, 8), got " +
                          shape_text(coeffs));
  }
  const int bh = static_cast<int>(coeffs.shape(0)), bw = static_cast<int>(coeffs.shape(1));
  const int h = height > 0 ? height : bh * 8, w = width > 0 ? width : bw * 8;
  if (h > bh * 8 || w > bw * 8 || bh == 0 || bw == 0) {
    throw py::value_error("dct_inverse: output size " + std::to_string(h) + "x" + std::to_string(w) +
                          " exceeds the " + std::to_string(bh * 8) + "x" + std::to_string(bw * 8) +
                          " samples that the blocks cover");
  }
  const float* src = static_cast<const float*>(coeffs.data());
  if (as_uint8) {
    MallocBlock out(static_cast<std::size_t>(h) * w);
    {
      py::gil_scoped_release release;
      dct::inverse(src, bh, bw, level_shift, static_cast<std::uint8_t*>(out.ptr), h, w, threads);
    }
    return adopt_malloc(static_cast<std::uint8_t*>(out.release()), {h, w});
  }
  MallocBlock out(static_cast<std::size_t>(h) * w * sizeof(float));
  {
    py::gil_scoped_release release;
    dct::inverse(src, bh, bw, level_shift, static_cast<float*>(out.ptr), h, w, threads);
  }
  return adopt_malloc(static_cast<float*>(out.release()), {h, w});
}

py::array select_one(const py::array& coeffs, int n, const py::object& qtable) {
  const bool i16 = coeffs.dtype().is(py::dtype::of<std::int16_t>());
  const bool f32 = coeffs.dtype().is(py::dtype::of<float>());
  if (!i16 && !f32) {
    throw py::type_error("dct_select_bands: expected int16 (quantized) or float32 coefficients, got " +
                         dtype_name(coeffs));
  }
  check_block_array(coeffs, "dct_select_bands");
  if (n < 1 || n > 64) throw py::value_error("dct_select_bands: n must be in 1..64, got " + std::to_string(n));
  py::array_t<std::uint16_t, py::array::c_style> q;
  const std::uint16_t* qp = nullptr;
  if (!qtable.is_none()) {
    if (!py::isinstance<py::array>(qtable)) {
      throw py::type_error("dct_select_bands: expected qtable as a uint16 (8, 8) array, got " +
                           std::string(py::str(qtable.get_type().attr("__name__"))));
    }
    py::array qa = py::reinterpret_borrow<py::array>(qtable);
    if (!qa.dtype().is(py::dtype::of<std::uint16_t>())) {
      throw py::type_error("dct_select_bands: expected qtable dtype uint16, got " + dtype_name(qa));
    }
    if (qa.ndim() != 2 || qa.shape(0) != 8 || qa.shape(1) != 8) {
      throw py::value_error("dct_select_bands: expected qtable of shape (8, 8), got " + shape_text(qa));
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
  MallocBlock out(std::max<std::size_t>(blocks, 1) * n * sizeof(float));
  {
    py::gil_scoped_release release;
    if (i16) dct::select_bands(static_cast<const std::int16_t*>(coeffs.data()), blocks, qp, n, static_cast<float*>(out.ptr));
    else dct::select_bands(static_cast<const float*>(coeffs.data()), blocks, qp, n, static_cast<float*>(out.ptr));
  }
  return adopt_malloc(static_cast<float*>(out.release()), shape);
}

py::array zigzag() {
  py::array_t<std::int32_t> out(dct::kCoefficients);
  auto m = out.mutable_unchecked<1>();
  for (int k = 0; k < dct::kCoefficients; ++k) m(k) = dct::kZigzag[k];
  return out;
}

}  // namespace

void register_dct(py::module_& m) {
  m.def("dct_forward", &forward_one, py::arg("plane"), py::arg("level_shift") = 128.0f, py::arg("threads") = 0,
        "Blockwise orthonormal 8x8 DCT-II of (plane - level_shift); plane uint8/float32 (H, W); returns float32 "
        "(ceil(H/8), ceil(W/8), 8, 8), natural order; edges padded by replicating the last row/column.");
  m.def("dct_forward_batch", &forward_batch, py::arg("planes"), py::arg("level_shift") = 128.0f,
        py::arg("threads") = 0, py::arg("on_error") = "raise",
        "dct_forward over a list of planes on the core's thread pool; on_error 'raise' or 'return'.");
  m.def("dct_inverse", &inverse_one, py::arg("coeffs"), py::arg("level_shift") = 128.0f, py::arg("height") = 0,
        py::arg("width") = 0, py::arg("as_uint8") = false, py::arg("threads") = 0,
        "Inverse of dct_forward: float32 (bh, bw, 8, 8) -> (height, width) float32, or uint8 rounded and clamped; "
        "height/width 0 = the full 8*bh x 8*bw plane.");
  m.def("dct_select_bands", &select_one, py::arg("coeffs"), py::arg("n"), py::arg("qtable") = py::none(),
        "The n lowest zigzag frequencies of int16/float32 (..., 8, 8) blocks as float32 (n, ...); multiplied by "
        "qtable (uint16 (8, 8), natural order) when given.");
  m.def("dct_zigzag", &zigzag, "int32 (64,): natural (row-major) index of each zigzag position.");
}

}  // namespace codeclens::py_glue
