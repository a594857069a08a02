// Memory the core allocates and hands over: from std::malloc, freed with std::free, so the bindings can
// give it to numpy (one capsule owner, no copy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace codeclens {

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
