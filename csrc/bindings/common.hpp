// Shared pybind11 glue: buffer access without copies, arrays that adopt C++ memory, error mapping.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <optional>

#include "common/buffer.hpp"
#include "common/thread_pool.hpp"

namespace codeclens::py_glue {

namespace py = pybind11;

// Holds a contiguous read-only buffer of any object exporting the buffer protocol (bytes, bytearray,
// memoryview, mmap, numpy). The view stays valid, without a copy, until this object is destroyed, so the GIL
// may be released while the core reads it.
class BufferRef {
 public:
  BufferRef(py::handle obj, const char* what);
  ~BufferRef();
  BufferRef(const BufferRef&) = delete;
  BufferRef& operator=(const BufferRef&) = delete;
  BufferRef(BufferRef&& other) noexcept;
  BufferRef& operator=(BufferRef&&) = delete;
  ByteView view() const;

 private:
  Py_buffer buf_{};
  bool held_ = false;
};

// Wraps memory from std::malloc in a numpy array that frees it: ownership moves, nothing is copied.
py::array adopt_malloc(void* data, py::dtype dtype, std::vector<py::ssize_t> shape);

template <typename T>
py::array adopt_malloc(T* data, std::vector<py::ssize_t> shape) {
  return adopt_malloc(static_cast<void*>(data), py::dtype::of<T>(), std::move(shape));
}

// A malloc'd block that frees itself unless released to adopt_malloc.
struct MallocBlock {
  void* ptr = nullptr;
  MallocBlock() = default;
  explicit MallocBlock(std::size_t bytes);
  ~MallocBlock() { std::free(ptr); }
  MallocBlock(MallocBlock&& o) noexcept : ptr(o.ptr) { o.ptr = nullptr; }
  MallocBlock& operator=(MallocBlock&& o) noexcept {
    std::swap(ptr, o.ptr);
    return *this;
  }
  void* release() {
    void* p = ptr;
    ptr = nullptr;
    return p;
  }
};

// The Python exception instance for a caught core exception (same mapping as the registered translators).
py::object exception_object(const std::exception_ptr& error);

// Batch policy: "raise" re-raises the first failed item's exception (its index prepended to the message);
// "return" puts exception instances in the failed items' places.
enum class OnError { Raise, Return };
OnError parse_on_error(const std::string& value);

// Worker threads for a batch of `items`: None (or 0 where an API takes ints) means the core's default; a
// negative count (or 0 given explicitly as Optional) is refused with a ValueError.
int batch_threads(const std::optional<int>& threads, std::size_t items);

// Runs fn(i) with the GIL released on the core's pool for every item that has no error yet, recording the
// exception of each item that throws: one bad item never loses the others.
template <typename F>
void run_batch_items(std::size_t n, int threads, std::vector<std::exception_ptr>& errors, F&& fn) {
  py::gil_scoped_release nogil;
  parallel_for(n, threads, [&](std::size_t i) {
    if (errors[i]) return;
    try {
      fn(i);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
}

// Builds the result list of a batch: results[i] when errors[i] is null, else per policy.
py::list finish_batch(std::vector<py::object>& results, const std::vector<std::exception_ptr>& errors,
                      OnError policy);

// Registers JpegError and the translators for the core's exception types on module m.
void register_errors(py::module_& m);

}  // namespace codeclens::py_glue
