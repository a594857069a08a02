// Shared by the libFuzzer targets of the C++ core (tests/fuzz/fuzz_*.cpp, built with -DCODECLENS_FUZZ=ON).
//
// A target feeds arbitrary bytes to core entry points. The core's documented refusals of bad input
// (CodecError, InvalidArgument, TypeMismatch: JpegError, ValueError and TypeError in Python) are expected
// outcomes; anything else is a finding: a sanitizer report, an uncaught exception (another type: std::terminate
// aborts), a hang or an allocation above libFuzzer's limits, or a broken property (fail()).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/errors.hpp"
#include "common/limits.hpp"
#include "common/view.hpp"

namespace codeclens::fuzz {

// The pixel limit while fuzzing: 4 MP, set by every target's LLVMFuzzerInitialize (fuzz_init.cpp). Under the
// default (179 MP) a 200-byte file may legitimately ask for a 537 MB decode, and the fuzzer would spend its time
// filling memory; the refusal is the same code either way.
constexpr std::uint64_t kMaxPixels = std::uint64_t{1} << 22;

// Runs fn(); true when the core refused the input in a documented way.
template <typename F>
bool refused(F&& fn) {
  try {
    fn();
    return false;
  } catch (const CodecError&) {
    return true;
  } catch (const InvalidArgument&) {
    return true;
  } catch (const TypeMismatch&) {
    return true;
  }
}

// A property the core promises does not hold: print it and abort, which libFuzzer reports as a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "codeclens fuzz: property violated: %s\n", what);
  std::abort();
}

// An image in caller memory, laid out as numpy can present one: packed, padded rows, rows or columns reversed
// (negative strides), channel-first, broadcast rows (stride 0) or one byte off alignment. The heap block holds
// exactly the bytes the view addresses, so AddressSanitizer reports any read outside it.
struct FuzzImage {
  std::unique_ptr<unsigned char[]> block;
  StridedView view;
};

inline FuzzImage make_image(FuzzedDataProvider& in, SampleType type, int height, int width, int channels) {
  const auto s = static_cast<std::ptrdiff_t>(sample_size(type));
  const std::ptrdiff_t h = height, w = width, c = channels;
  std::ptrdiff_t ch = s, col = s * c, row = s * c * w;
  std::ptrdiff_t misalign = 0;
  switch (in.ConsumeIntegralInRange<int>(0, 6)) {
    case 0: break;                                  // packed
    case 1: row += s * in.ConsumeIntegralInRange<int>(1, 9); break;  // padded rows (a crop)
    case 2: row = -row; break;                      // rows reversed (a[::-1])
    case 3: col = -col; break;                      // columns reversed (a[:, ::-1])
    case 4: col = s; row = s * w; ch = s * w * h; break;  // channel-first (a.transpose(1, 2, 0))
    case 5: row = 0; break;                         // every row the same (np.broadcast_to)
    default: misalign = 1; break;                   // one byte off alignment
  }
  // Byte offsets of the first and one past the last sample, over every index the view can address.
  std::ptrdiff_t lo = 0, hi = 0;
  const bool empty = h <= 0 || w <= 0 || c <= 0;
  if (!empty) {
    for (const auto [n, stride] : {std::pair{h, row}, std::pair{w, col}, std::pair{c, ch}}) {
      (stride < 0 ? lo : hi) += (n - 1) * stride;
    }
    hi += s;
  }
  const std::size_t bytes = static_cast<std::size_t>(hi - lo + misalign);
  FuzzImage img;
  img.block.reset(new unsigned char[bytes]);
  std::memset(img.block.get(), 0, bytes);
  if (bytes > 0) in.ConsumeData(img.block.get(), bytes);  // what the input does not cover stays zero
  img.view.data = img.block.get() + misalign - lo;
  img.view.type = type;
  img.view.height = height;
  img.view.width = width;
  img.view.channels = channels;
  img.view.row_stride = row;
  img.view.col_stride = col;
  img.view.ch_stride = ch;
  return img;
}

inline SampleType sample_type(FuzzedDataProvider& in) {
  constexpr SampleType types[] = {SampleType::U8, SampleType::U16, SampleType::F32, SampleType::F64};
  return types[in.ConsumeIntegralInRange<int>(0, 3)];
}

// Bitwise equality of two results (NaN payloads included).
template <typename T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace codeclens::fuzz
