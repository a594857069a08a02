#include "dct/dct.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common/errors.hpp"
#include "common/thread_pool.hpp"

namespace codeclens::dct {

namespace {

constexpr std::array<int, kCoefficients> make_zigzag() {
  // Walk the anti-diagonals d = v + u, alternating direction: even d goes up-right (v decreasing), odd d
  // goes down-left (v increasing), as in T.81 Figure A.6.
  std::array<int, kCoefficients> order{};
  int k = 0;
  for (int d = 0; d < 2 * kBlock - 1; ++d) {
    const int lo = d < kBlock ? 0 : d - kBlock + 1;
    const int hi = d < kBlock ? d : kBlock - 1;
    for (int i = lo; i <= hi; ++i) {
      const int v = (d % 2 == 0) ? (d - i) : i;
      order[k++] = v * kBlock + (d - v);
    }
  }
  return order;
}

// C[k][n] = a(k) cos((2n + 1) k pi / 16): row k of the orthonormal DCT-II matrix.
struct CosineTable {
  float c[kBlock][kBlock];   // c[k][n]
  float ct[kBlock][kBlock];  // ct[n][k] = c[k][n]
  CosineTable() {
    const double pi = std::acos(-1.0);
    for (int k = 0; k < kBlock; ++k) {
      const double a = k == 0 ? std::sqrt(1.0 / kBlock) : std::sqrt(2.0 / kBlock);
      for (int n = 0; n < kBlock; ++n) {
        const double v = a * std::cos((2 * n + 1) * k * pi / (2.0 * kBlock));
        c[k][n] = static_cast<float>(v);
        ct[n][k] = static_cast<float>(v);
      }
    }
  }
};

const CosineTable& table() {
  static const CosineTable t;
  return t;
}

// Below this many blocks a plane is transformed on the calling thread (starting workers would cost more).
constexpr std::size_t kBlocksPerThreadMin = 2048;

int workers_for(int threads, std::size_t rows, std::size_t blocks) {
  if (blocks < kBlocksPerThreadMin) return 1;
  return resolve_thread_count(threads, rows);
}

template <typename T>
inline float sample_at(const unsigned char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // foreign strides need not be multiples of sizeof(T)
  return static_cast<float>(value);
}

// One 8x8 block of samples minus `shift`; outside the plane the last row / column is repeated.
template <typename T>
void load_block(const StridedView& p, int by, int bx, float shift, float* blk) {
  const auto* base = static_cast<const unsigned char*>(p.data);
  const int y0 = by * kBlock, x0 = bx * kBlock;
  const bool interior = y0 + kBlock <= p.height && x0 + kBlock <= p.width;
  for (int y = 0; y < kBlock; ++y) {
    const int sy = interior ? y0 + y : std::min(y0 + y, p.height - 1);
    const unsigned char* row = base + static_cast<std::ptrdiff_t>(sy) * p.row_stride;
    for (int x = 0; x < kBlock; ++x) {
      const int sx = interior ? x0 + x : std::min(x0 + x, p.width - 1);
      blk[y * kBlock + x] = sample_at<T>(row + static_cast<std::ptrdiff_t>(sx) * p.col_stride) - shift;
    }
  }
}

void check_plane(const StridedView& p) {
  if (p.type != SampleType::U8 && p.type != SampleType::F32) {
    throw TypeMismatch(std::string("dct: expected uint8 or float32 samples, got ") + sample_type_name(p.type));
  }
  if (p.data == nullptr || p.height <= 0 || p.width <= 0 || p.channels != 1) {
    throw InvalidArgument("dct: expected a non-empty plane of one channel, got " + p.shape_string());
  }
  if (p.height > kMaxSide || p.width > kMaxSide) {
    throw InvalidArgument("dct: a plane of " + p.shape_string() + " is too large (at most " +
                          std::to_string(kMaxSide) + " samples per side)");
  }
}

template <typename T>
void forward_impl(const StridedView& p, float shift, float* out, int threads) {
  const int bh = blocks_for(p.height), bw = blocks_for(p.width);
  const std::size_t blocks = static_cast<std::size_t>(bh) * bw;
  parallel_for(static_cast<std::size_t>(bh), workers_for(threads, bh, blocks), [&](std::size_t by) {
    float blk[kCoefficients];
    for (int bx = 0; bx < bw; ++bx) {
      load_block<T>(p, static_cast<int>(by), bx, shift, blk);
      forward_block(blk, out + (by * bw + bx) * kCoefficients);
    }
  });
}

template <typename Out, typename Store>
void inverse_impl(const float* coeffs, int bh, int bw, float shift, Out* out, int out_h, int out_w, int threads,
                  Store store) {
  if (coeffs == nullptr || bh <= 0 || bw <= 0) {
    throw InvalidArgument("dct inverse: expected at least one block, got " + std::to_string(bh) + "x" +
                          std::to_string(bw) + " blocks");
  }
  if (out_h <= 0 || out_w <= 0 || out_h > bh * kBlock || out_w > bw * kBlock) {
    throw InvalidArgument("dct inverse: output size " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                          " must be positive and within the " + std::to_string(bh * kBlock) + "x" +
                          std::to_string(bw * kBlock) + " samples the blocks cover");
  }
  const int rows = blocks_for(out_h), cols = blocks_for(out_w);
  parallel_for(static_cast<std::size_t>(rows), workers_for(threads, rows, static_cast<std::size_t>(rows) * cols),
               [&](std::size_t by) {
                 float blk[kCoefficients];
                 for (int bx = 0; bx < cols; ++bx) {
                   inverse_block(coeffs + (by * bw + bx) * kCoefficients, blk);
                   const int y0 = static_cast<int>(by) * kBlock, x0 = bx * kBlock;
                   const int ny = std::min(kBlock, out_h - y0), nx = std::min(kBlock, out_w - x0);
                   for (int y = 0; y < ny; ++y) {
                     Out* dst = out + static_cast<std::ptrdiff_t>(y0 + y) * out_w + x0;
                     for (int x = 0; x < nx; ++x) dst[x] = store(blk[y * kBlock + x] + shift);
                   }
                 }
               });
}

template <typename T>
void select_impl(const T* coeffs, std::size_t blocks, const std::uint16_t* qtable, int n, float* out) {
  if (n < 1 || n > kCoefficients) {
    throw InvalidArgument("select_bands: n must be in 1..64, got " + std::to_string(n));
  }
  if (blocks == 0) return;  // nothing to read: coeffs and out may be null
  for (int k = 0; k < n; ++k) {
    const int idx = kZigzag[k];
    const float q = qtable != nullptr ? static_cast<float>(qtable[idx]) : 1.0f;
    float* dst = out + static_cast<std::size_t>(k) * blocks;
    const T* src = coeffs + idx;
    for (std::size_t b = 0; b < blocks; ++b) dst[b] = static_cast<float>(src[b * kCoefficients]) * q;
  }
}

}  // namespace

const std::array<int, kCoefficients> kZigzag = make_zigzag();

namespace {
using Matrix = float[kBlock][kBlock];

// out = left * in * right for one 8x8 block (row-major), summed in the same order for both transforms:
// rows = in * right first, then out = left * rows.
void sandwich(const float* in, const Matrix& left, const Matrix& right, float* out) {
  float rows[kCoefficients];
  for (int r = 0; r < kBlock; ++r) {
    float acc[kBlock] = {0};
    for (int k = 0; k < kBlock; ++k) {
      const float s = in[r * kBlock + k];
      for (int j = 0; j < kBlock; ++j) acc[j] += s * right[k][j];
    }
    for (int j = 0; j < kBlock; ++j) rows[r * kBlock + j] = acc[j];
  }
  for (int r = 0; r < kBlock; ++r) {
    float acc[kBlock] = {0};
    for (int k = 0; k < kBlock; ++k) {
      const float c = left[r][k];
      for (int j = 0; j < kBlock; ++j) acc[j] += c * rows[k * kBlock + j];
    }
    for (int j = 0; j < kBlock; ++j) out[r * kBlock + j] = acc[j];
  }
}
}  // namespace

// Forward: F = C X C^T (C[k][n] the orthonormal DCT-II basis); inverse: X = C^T F C.
void forward_block(const float* in, float* out) { sandwich(in, table().c, table().ct, out); }

void inverse_block(const float* in, float* out) { sandwich(in, table().ct, table().c, out); }

void forward(const StridedView& plane, float level_shift, float* out, int threads) {
  check_plane(plane);
  if (plane.type == SampleType::U8) {
    forward_impl<std::uint8_t>(plane, level_shift, out, threads);
  } else {
    forward_impl<float>(plane, level_shift, out, threads);
  }
}

void inverse(const float* coeffs, int blocks_h, int blocks_w, float level_shift, float* out, int out_h, int out_w,
             int threads) {
  inverse_impl(coeffs, blocks_h, blocks_w, level_shift, out, out_h, out_w, threads, [](float v) { return v; });
}

void inverse(const float* coeffs, int blocks_h, int blocks_w, float level_shift, std::uint8_t* out, int out_h,
             int out_w, int threads) {
  inverse_impl(coeffs, blocks_h, blocks_w, level_shift, out, out_h, out_w, threads, [](float v) {
    const float r = std::floor(v + 0.5f);
    if (!(r > 0.0f)) return std::uint8_t{0};  // negative, or NaN (converting NaN to an integer is undefined)
    return static_cast<std::uint8_t>(r < 255.0f ? r : 255.0f);
  });
}

void select_bands(const std::int16_t* coeffs, std::size_t blocks, const std::uint16_t* qtable, int n, float* out) {
  select_impl(coeffs, blocks, qtable, n, out);
}

void select_bands(const float* coeffs, std::size_t blocks, const std::uint16_t* qtable, int n, float* out) {
  select_impl(coeffs, blocks, qtable, n, out);
}

}  // namespace codeclens::dct
