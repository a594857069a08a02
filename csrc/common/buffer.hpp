// Non-owning views over caller memory: the core never copies its inputs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace codeclens {

// A read-only run of bytes (compressed data).
struct ByteView {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// An 8-bit interleaved image: rows of `width * channels` packed samples, `row_stride` bytes apart.
struct ImageView {
  const std::uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;
  std::ptrdiff_t row_stride = 0;  // bytes between the starts of two rows (>= width * channels)
};

// A writable 8-bit interleaved image (same layout as ImageView).
struct MutableImageView {
  std::uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;
  std::ptrdiff_t row_stride = 0;
};

}  // namespace codeclens

#include <cstdlib>
#include <memory>

namespace codeclens {

// Memory from std::malloc, freed with std::free: the bindings hand it to numpy without copying.
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
template <typename T>
using MallocPtr = std::unique_ptr<T, FreeDeleter>;

// Asks the kernel to back a large fresh allocation with transparent huge pages (as numpy does for arrays of
// 4 MB and more): a 4032x3024 RGB image then costs ~20 page faults instead of ~9,000. No-op when small.
void advise_huge_pages(void* p, std::size_t bytes) noexcept;

// Allocates `count` elements of T with malloc; throws std::bad_alloc.
template <typename T>
MallocPtr<T> malloc_array(std::size_t count) {
  const std::size_t bytes = count > 0 ? count * sizeof(T) : 1;
  void* p = std::malloc(bytes);
  if (p == nullptr) throw std::bad_alloc();
  advise_huge_pages(p, bytes);
  return MallocPtr<T>(static_cast<T*>(p));
}

// A finished compressed stream in malloc'd memory.
struct EncodedBuffer {
  MallocPtr<std::uint8_t> data;
  std::size_t size = 0;
};

}  // namespace codeclens
