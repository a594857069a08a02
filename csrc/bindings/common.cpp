#include "bindings/common.hpp"

#include <new>

#include "common/errors.hpp"

namespace codeclens::py_glue {

BufferRef::BufferRef(py::handle obj, const char* what) {
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw py::type_error(std::string(what) + ": expected a bytes-like object (bytes, bytearray, memoryview, "
                         "mmap or a numpy uint8 array), got " + std::string(py::str(obj.get_type().attr("__name__"))));
  }
  if (PyObject_GetBuffer(obj.ptr(), &buf_, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    throw py::value_error(std::string(what) + ": expected a C-contiguous buffer, got a non-contiguous " +
                          std::string(py::str(obj.get_type().attr("__name__"))) +
                          " (use bytes(...) or numpy.ascontiguousarray)");
  }
  held_ = true;
}

BufferRef::~BufferRef() {
  if (held_) PyBuffer_Release(&buf_);
}

BufferRef::BufferRef(BufferRef&& other) noexcept : buf_(other.buf_), held_(other.held_) { other.held_ = false; }

ByteView BufferRef::view() const {
  return ByteView{static_cast<const std::uint8_t*>(buf_.buf), static_cast<std::size_t>(buf_.len)};
}

MallocBlock::MallocBlock(std::size_t bytes) : ptr(std::malloc(bytes > 0 ? bytes : 1)) {
  if (ptr == nullptr) throw std::bad_alloc();
}

py::array adopt_malloc(void* data, py::dtype dtype, std::vector<py::ssize_t> shape) {
  py::capsule owner(data, [](void* p) { std::free(p); });
  return py::array(dtype, std::move(shape), {}, data, owner);
}

namespace {
// codeclens.JpegError; one strong reference kept for the life of the process (never released, so nothing
// runs at interpreter shutdown).
PyObject* g_jpeg_error = nullptr;

py::object make_exception(const py::handle& type, const char* message) { return type(py::str(message)); }
}  // namespace

py::object exception_object(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const CodecError& e) {
    return make_exception(g_jpeg_error, e.what());
  } catch (const TypeMismatch& e) {
    return make_exception(PyExc_TypeError, e.what());
  } catch (const InvalidArgument& e) {
    return make_exception(PyExc_ValueError, e.what());
  } catch (const std::bad_alloc&) {
    return make_exception(PyExc_MemoryError, "out of memory");
  } catch (py::error_already_set& e) {
    return e.value();
  } catch (const py::builtin_exception& e) {
    // pybind11's value_error/type_error thrown by glue code.
    e.set_error();
    py::error_already_set err;
    return err.value();
  } catch (const std::exception& e) {
    return make_exception(PyExc_RuntimeError, e.what());
  }
}

OnError parse_on_error(const std::string& value) {
  if (value == "raise") return OnError::Raise;
  if (value == "return") return OnError::Return;
  throw py::value_error("on_error: expected 'raise' or 'return', got '" + value + "'");
}

int batch_threads(const std::optional<int>& threads, std::size_t items) {
  if (threads.has_value() && *threads < 1) {
    throw py::value_error("threads: expected None or a positive integer, got " + std::to_string(*threads));
  }
  return resolve_thread_count(threads.value_or(0), items);
}

py::list finish_batch(std::vector<py::object>& results, const std::vector<std::exception_ptr>& errors,
                      OnError policy) {
  py::list out(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!errors[i]) {
      out[i] = std::move(results[i]);
      continue;
    }
    py::object exc = exception_object(errors[i]);
    if (policy == OnError::Raise) {
      py::object type = py::type::of(exc);
      std::string msg = "item " + std::to_string(i) + ": " + std::string(py::str(exc));
      PyErr_SetString(type.ptr(), msg.c_str());
      throw py::error_already_set();
    }
    out[i] = exc;
  }
  return out;
}

void register_errors(py::module_& m) {
  if (g_jpeg_error == nullptr) {
    g_jpeg_error = PyErr_NewExceptionWithDoc(
        "codeclens.JpegError",
        "libjpeg refused the data (corrupt, truncated, unsupported). A ValueError carrying libjpeg's message.",
        PyExc_ValueError, nullptr);
    if (g_jpeg_error == nullptr) throw py::error_already_set();
  }
  m.add_object("JpegError", py::handle(g_jpeg_error));
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const CodecError& e) {
      py::set_error(g_jpeg_error, e.what());
    } catch (const TypeMismatch& e) {
      py::set_error(PyExc_TypeError, e.what());
    } catch (const InvalidArgument& e) {
      py::set_error(PyExc_ValueError, e.what());
    }
  });
}

}  // namespace codeclens::py_glue
