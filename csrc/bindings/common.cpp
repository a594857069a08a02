#include "bindings/common.hpp"

#include <climits>
#include <new>

#include "common/errors.hpp"

namespace codeclens::py_glue {

// ------------------------------------------------------------------------------------------ describing
std::string type_name(const py::handle& obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// ------------------------------------------------------------------------------------------ bytes in
BufferRef::BufferRef(py::handle obj, const char* what) {
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw TypeMismatch(std::string(what) + ": expected a bytes-like object (bytes, bytearray, memoryview, mmap or "
                       "a numpy uint8 array), got " + type_name(obj));
  }
  if (PyObject_GetBuffer(obj.ptr(), &buf_, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    throw InvalidArgument(std::string(what) + ": expected a C-contiguous buffer, got a non-contiguous " +
                          type_name(obj) + " (use bytes(...) or numpy.ascontiguousarray)");
  }
  held_ = true;
}

BufferRef::~BufferRef() {
  if (held_) PyBuffer_Release(&buf_);
}

ByteView BufferRef::view() const {
  return ByteView{static_cast<const std::uint8_t*>(buf_.buf), static_cast<std::size_t>(buf_.len)};
}

// ------------------------------------------------------------------------------------------ arrays in
namespace {

std::optional<SampleType> sample_type_of(const py::dtype& dt) {
  if (dt.equal(py::dtype::of<std::uint8_t>())) return SampleType::U8;
  if (dt.equal(py::dtype::of<std::uint16_t>())) return SampleType::U16;
  if (dt.equal(py::dtype::of<float>())) return SampleType::F32;
  if (dt.equal(py::dtype::of<double>())) return SampleType::F64;
  return std::nullopt;
}

// "a, b or c"
std::string one_of(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) s += i + 1 == names.size() ? " or " : ", ";
    s += names[i];
  }
  return s;
}

std::string dtype_names(const ViewSpec& spec) {
  std::vector<std::string> names;
  for (SampleType t : spec.dtypes) names.emplace_back(sample_type_name(t));
  return one_of(names);
}

// The shapes a spec accepts: "(H, W), (H, W, 1) or (H, W, 3)", "(40, 56, 3)".
std::string accepted_shapes(const ViewSpec& spec) {
  const std::string h = spec.height >= 0 ? std::to_string(spec.height) : "H";
  const std::string w = spec.width >= 0 ? std::to_string(spec.width) : "W";
  std::vector<std::string> shapes;
  if (spec.plane) shapes.push_back("(" + h + ", " + w + ")");
  for (int c : spec.channels) {
    shapes.push_back("(" + h + ", " + w + ", " + (c == kAnyChannels ? std::string("C") : std::to_string(c)) + ")");
  }
  return one_of(shapes);
}

bool shape_accepted(const py::array& a, const ViewSpec& spec) {
  if (a.ndim() == 2) {
    if (!spec.plane) return false;
  } else if (a.ndim() == 3) {
    bool ok = false;
    for (int c : spec.channels) ok = ok || c == kAnyChannels || c == a.shape(2);
    if (!ok) return false;
  } else {
    return false;
  }
  return (spec.height < 0 || a.shape(0) == spec.height) && (spec.width < 0 || a.shape(1) == spec.width);
}

py::array as_array(const py::handle& obj, const ViewSpec& spec) {
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  if (PyObject_CheckBuffer(obj.ptr())) return py::array::ensure(obj);  // a numpy view of the buffer, no copy
  throw TypeMismatch(std::string(spec.what) + ": expected a numpy array of " + dtype_names(spec) + ", got " +
                     type_name(obj));
}

StridedView strided_view(const py::array& a, SampleType type) {
  StridedView v;
  v.data = a.data();
  v.type = type;
  v.height = static_cast<int>(a.shape(0));
  v.width = static_cast<int>(a.shape(1));
  v.channels = a.ndim() == 3 ? static_cast<int>(a.shape(2)) : 1;
  // Strides of dimensions of size 1, and of empty arrays, address nothing: make them the packed ones.
  const bool empty = a.size() == 0;
  const auto sample = static_cast<std::ptrdiff_t>(sample_size(type));
  v.ch_stride = v.channels > 1 && !empty ? a.strides(2) : sample;
  v.col_stride = v.width > 1 && !empty ? a.strides(1) : sample * v.channels;
  v.row_stride = !empty ? a.strides(0) : v.col_stride * v.width;
  return v;
}

std::string strides_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.strides(i));
  return s + ")";
}

void check_packed(const py::array& a, const StridedView& v, const ViewSpec& spec) {
  if (v.packed_rows()) return;
  const auto sample = static_cast<py::ssize_t>(sample_size(v.type));
  const std::string want = a.ndim() == 3 ? "(row, " + std::to_string(sample * v.channels) + ", " + std::to_string(sample) + ")"
                                         : "(row, " + std::to_string(sample) + ")";
  throw InvalidArgument(std::string(spec.what) + ": expected rows of packed pixels (strides " + want + "), got strides " +
                        strides_text(a) + "; pass numpy.ascontiguousarray(" + spec.what + ")");
}

}  // namespace

ArrayView array_view(const py::handle& obj, const ViewSpec& spec) {
  py::array a = as_array(obj, spec);
  const std::optional<SampleType> type = sample_type_of(a.dtype());
  bool accepted = false;
  for (SampleType t : spec.dtypes) accepted = accepted || (type && *type == t);
  if (!accepted) {
    throw TypeMismatch(std::string(spec.what) + ": expected dtype " + dtype_names(spec) + ", got " +
                       std::string(py::str(a.dtype())));
  }
  if (!shape_accepted(a, spec)) {
    throw InvalidArgument(std::string(spec.what) + ": expected shape " + accepted_shapes(spec) + ", got " + shape_text(a));
  }
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) > INT_MAX) {
      throw InvalidArgument(std::string(spec.what) + ": shape " + shape_text(a) + " is too large (at most " +
                            std::to_string(INT_MAX) + " per dimension)");
    }
  }
  if (spec.writable && !a.writeable()) {
    throw InvalidArgument(std::string(spec.what) + ": expected a writable array, got a read-only one");
  }
  const StridedView v = strided_view(a, *type);
  if (spec.packed) check_packed(a, v, spec);
  return ArrayView{std::move(a), v};
}

// ------------------------------------------------------------------------------------------ arrays out
py::array adopt(MallocPtr<void> data, const py::dtype& dtype, std::vector<py::ssize_t> shape) {
  py::capsule owner(data.get(), [](void* p) { std::free(p); });
  void* p = data.release();  // the capsule frees it from here on
  return py::array(dtype, std::move(shape), {}, p, owner);
}

// ------------------------------------------------------------------------------------------ errors
namespace {
// codeclens.JpegError, defined in Python (codeclens/errors.py, a CodecError); one strong reference kept for the
// life of the process (never released, so nothing runs at interpreter shutdown).
PyObject* g_jpeg_error = nullptr;

PythonError fetched_error() {
  py::error_already_set err;
  return {py::reinterpret_borrow<py::object>(err.type()), py::str(err.value())};
}

py::object builtin(PyObject* type) { return py::reinterpret_borrow<py::object>(type); }
}  // namespace

PythonError python_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const CodecError& e) {
    return {builtin(g_jpeg_error), e.what()};
  } catch (const TypeMismatch& e) {
    return {builtin(PyExc_TypeError), e.what()};
  } catch (const InvalidArgument& e) {
    return {builtin(PyExc_ValueError), e.what()};
  } catch (const std::bad_alloc&) {
    return {builtin(PyExc_MemoryError), "out of memory"};
  } catch (py::error_already_set& e) {
    return {py::reinterpret_borrow<py::object>(e.type()), py::str(e.value())};
  } catch (const py::builtin_exception& e) {  // pybind11's value_error, cast_error, ...
    e.set_error();
    return fetched_error();
  } catch (const std::exception& e) {
    return {builtin(PyExc_RuntimeError), e.what()};
  } catch (...) {
    return {builtin(PyExc_RuntimeError), "unknown C++ exception"};
  }
}

py::object exception_instance(const std::exception_ptr& error) {
  const PythonError e = python_error(error);
  return e.type(py::str(e.message));
}

void register_errors(py::module_& m) {
  if (g_jpeg_error == nullptr) {
    // The error types belong to codeclens.errors, which imports nothing from this module.
    py::object type = py::module_::import("codeclens.errors").attr("JpegError");
    g_jpeg_error = type.release().ptr();
  }
  m.add_object("JpegError", py::handle(g_jpeg_error));
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    const PythonError e = python_error(p);
    py::set_error(e.type, e.message.c_str());
  });
}

// ------------------------------------------------------------------------------------------ threads
int resolve_threads(const py::handle& threads) {
  if (threads.is_none()) return default_thread_count();
  const std::string expected = "threads: expected None or a positive integer, got ";
  if (PyBool_Check(threads.ptr()) || !PyIndex_Check(threads.ptr())) {
    throw TypeMismatch(expected + type_name(threads) + " (" + std::string(py::repr(threads)) + ")");
  }
  const py::int_ value = py::reinterpret_steal<py::int_>(PyNumber_Index(threads.ptr()));
  if (!value) throw py::error_already_set();
  int overflow = 0;
  const long long n = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow < 0 || (overflow == 0 && n < 1)) throw InvalidArgument(expected + std::string(py::str(value)));
  if (overflow > 0 || n > INT_MAX) return INT_MAX;  // more than any machine has: as many as there is work
  return static_cast<int>(n);
}

}  // namespace codeclens::py_glue
