// Shared pybind11 glue, one of each: buffers and arrays in (no copies), arrays out (numpy adopts the core's
// memory), the exception mapping, the `threads` rule and the batch runner. The per-area bind_*.cpp files
// only name what they accept and call the core.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/memory.hpp"
#include "common/thread_pool.hpp"
#include "common/view.hpp"

namespace codeclens::py_glue {

namespace py = pybind11;

// ------------------------------------------------------------------------------------------ describing
// The type name of obj ("bytes", "ndarray") and an array's shape as numpy prints it ("(8, 8, 3)", "(8,)").
std::string type_name(const py::handle& obj);
std::string shape_text(const py::array& a);

// ------------------------------------------------------------------------------------------ bytes in
// Holds a contiguous read-only buffer of any object exporting the buffer protocol (bytes, bytearray,
// memoryview, mmap, numpy). The view stays valid, without a copy, until this object is destroyed, so the GIL
// may be released while the core reads it.
class BufferRef {
 public:
  BufferRef(py::handle obj, const char* what);
  ~BufferRef();
  BufferRef(const BufferRef&) = delete;
  BufferRef& operator=(const BufferRef&) = delete;
  ByteView view() const;

 private:
  Py_buffer buf_{};
  bool held_ = false;
};

// ------------------------------------------------------------------------------------------ arrays in
constexpr int kAnyChannels = -1;

// What a caller accepts as an image or plane.
struct ViewSpec {
  const char* what = "array";        // the argument's name, first word of every message
  std::vector<SampleType> dtypes;    // accepted sample types (native byte order), in the order messages list them
  bool plane = true;                 // a 2-D (H, W) array is accepted (as C = 1)
  std::vector<int> channels;         // accepted C of a 3-D (H, W, C) array; {} none; {kAnyChannels} any
  int height = -1, width = -1;       // the required H and W (an out= array), -1 for any
  bool packed = false;               // the pixels of each row must be packed (rows may be strided)
  bool writable = false;             // the core writes into it (out=)
};

// A validated array and the view of its memory; `array` keeps the memory alive while the GIL is released.
struct ArrayView {
  py::array array;
  StridedView view;
};

// The one array -> view adapter: a numpy array (or any object exporting a buffer of the right dtype) read in
// place. Strides of dimensions of size 1 and of empty arrays are normalised (they address nothing). Throws TypeMismatch (not an
// array, wrong dtype) or InvalidArgument (shape, layout, read-only), each naming what was expected and what
// was given.
ArrayView array_view(const py::handle& obj, const ViewSpec& spec);

// ------------------------------------------------------------------------------------------ arrays out
// Hands core memory to numpy through a capsule that frees it: ownership moves, nothing is copied.
py::array adopt(MallocPtr<void> data, const py::dtype& dtype, std::vector<py::ssize_t> shape);

template <typename T>
py::array adopt(MallocPtr<T> data, std::vector<py::ssize_t> shape) {
  return adopt(MallocPtr<void>(data.release()), py::dtype::of<T>(), std::move(shape));
}

// ------------------------------------------------------------------------------------------ errors
// The Python exception for a caught exception: InvalidArgument -> ValueError, TypeMismatch -> TypeError,
// CodecError -> codeclens.JpegError, std::bad_alloc -> MemoryError, pybind11's own and Python errors as
// themselves, anything else -> RuntimeError. The registered translator and batch capture both use it.
struct PythonError {
  py::object type;
  std::string message;
};
PythonError python_error(const std::exception_ptr& error);

// An instance of python_error(error): what a failed batch item holds.
py::object exception_instance(const std::exception_ptr& error);

// Registers the translator for the core's exceptions on module m, and exposes codeclens.JpegError (defined in
// codeclens/errors.py as a CodecError subclass taking one message) as m.JpegError.
void register_errors(py::module_& m);

// ------------------------------------------------------------------------------------------ threads
// The type of every `threads` parameter: any object reaches resolve_threads (which gives the errors); the
// stubs show `int | None`.
inline bool any_object(PyObject* /*unused*/) { return true; }
class ThreadsArg : public py::object {
 public:
  PYBIND11_OBJECT_DEFAULT(ThreadsArg, object, any_object)
};

// The `threads` rule of every entry point: None -> default_thread_count() (the CPUs of this process's
// affinity mask, or CODECLENS_NUM_THREADS); a positive int as given. 0 or a negative int -> ValueError;
// any other type (bool, float, str) -> TypeError.
int resolve_threads(const py::handle& threads);

// ------------------------------------------------------------------------------------------ batches
// Runs fn, recording any exception it throws in `error`.
template <typename F>
void capture(std::exception_ptr& error, F&& fn) noexcept {
  try {
    fn();
  } catch (...) {
    error = std::current_exception();
  }
}

// The one batch runner: for each item, prepare(item, state) with the GIL (argument checks, views), then
// work(state) with the GIL released on the core's pool, then finish(state) -> Python result with the GIL.
// An exception at any stage belongs to its item, which then holds the exception instance; the other items
// go on. The on_error policy is applied by the Python wrappers (codeclens._batch), for every module alike.
template <typename State, typename Prepare, typename Work, typename Finish>
py::list run_batch(const py::sequence& items, int threads, Prepare&& prepare, Work&& work, Finish&& finish) {
  const std::size_t n = py::len(items);
  std::vector<State> states(n);
  std::vector<std::exception_ptr> errors(n);
  for (std::size_t i = 0; i < n; ++i) {
    capture(errors[i], [&] {
      const py::object item = items[i];
      prepare(item, states[i]);
    });
  }
  {
    py::gil_scoped_release nogil;
    parallel_for(n, threads, [&](std::size_t i) {
      if (!errors[i]) capture(errors[i], [&] { work(states[i]); });
    });
  }
  py::list out(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i]) capture(errors[i], [&] { out[i] = finish(states[i]); });
    if (errors[i]) out[i] = exception_instance(errors[i]);
  }
  return out;
}

}  // namespace codeclens::py_glue

namespace pybind11::detail {
template <>
struct handle_type_name<codeclens::py_glue::ThreadsArg> {
  static constexpr auto name = const_name("int | None");
};
}  // namespace pybind11::detail
