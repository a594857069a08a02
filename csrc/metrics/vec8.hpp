// Eight float64 lanes as one value on every instruction set, for the SSIM block kernel (ssim_rows.cpp):
// Vec8Avx512 (one zmm register), Vec8Avx2 (two ymm registers) and Vec8Portable (an array the compiler
// vectorises). The kernel's lanes, and so the order of every sum, are the same on all of them; fma is an
// explicit fused multiply-add (Vec8Portable<false>: a multiply and an add, for CPUs without FMA).
//
// The x86 members carry their instruction set as a target attribute: they are meant to be inlined into
// functions compiled for that set (the kernel's per-ISA entry points, which are `flatten`).
#pragma once

#include "metrics/simd.hpp"

#if CODECLENS_X86_DISPATCH
#include <immintrin.h>
#endif

namespace codeclens::metrics {

template <bool kFma>
struct Vec8Portable {
  double v[8];

  static CODECLENS_INLINE Vec8Portable load(const double* p) {
    Vec8Portable r;
    for (int l = 0; l < 8; ++l) r.v[l] = p[l];
    return r;
  }
  static CODECLENS_INLINE void store(double* p, const Vec8Portable& a) {
    for (int l = 0; l < 8; ++l) p[l] = a.v[l];
  }
  static CODECLENS_INLINE Vec8Portable set1(double x) {
    Vec8Portable r;
    for (int l = 0; l < 8; ++l) r.v[l] = x;
    return r;
  }
#define CODECLENS_VEC8_LANEWISE(NAME, OP)                                                    \
  static CODECLENS_INLINE Vec8Portable NAME(const Vec8Portable& a, const Vec8Portable& b) { \
    Vec8Portable r;                                                                          \
    for (int l = 0; l < 8; ++l) r.v[l] = a.v[l] OP b.v[l];                                   \
    return r;                                                                                \
  }
  CODECLENS_VEC8_LANEWISE(add, +)
  CODECLENS_VEC8_LANEWISE(sub, -)
  CODECLENS_VEC8_LANEWISE(mul, *)
  CODECLENS_VEC8_LANEWISE(div, /)
#undef CODECLENS_VEC8_LANEWISE
  static CODECLENS_INLINE Vec8Portable fma(const Vec8Portable& a, const Vec8Portable& b, const Vec8Portable& c) {
    Vec8Portable r;
    for (int l = 0; l < 8; ++l) r.v[l] = kFma ? __builtin_fma(a.v[l], b.v[l], c.v[l]) : a.v[l] * b.v[l] + c.v[l];
    return r;
  }
  // Lanes [0, count) of a, the others of b.
  static CODECLENS_INLINE Vec8Portable select_first(int count, const Vec8Portable& a, const Vec8Portable& b) {
    Vec8Portable r;
    for (int l = 0; l < 8; ++l) r.v[l] = l < count ? a.v[l] : b.v[l];
    return r;
  }
  // out[j].v[r] = in[r].v[j].
  static CODECLENS_INLINE void transpose(const Vec8Portable* in, Vec8Portable* out) {
    for (int j = 0; j < 8; ++j)
      for (int r = 0; r < 8; ++r) out[j].v[r] = in[r].v[j];
  }
};

#if CODECLENS_X86_DISPATCH
// GCC 12's AVX-512 shuffle intrinsics start from _mm512_undefined_*(), which its -W(maybe-)uninitialized
// reports at every use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define CODECLENS_V4 __attribute__((target("arch=x86-64-v4"))) inline
#define CODECLENS_V3 __attribute__((target("arch=x86-64-v3"))) inline

struct Vec8Avx512 {
  __m512d v;

  static CODECLENS_V4 Vec8Avx512 load(const double* p) { return {_mm512_load_pd(p)}; }  // 64-byte aligned
  static CODECLENS_V4 void store(double* p, Vec8Avx512 a) { _mm512_store_pd(p, a.v); }
  static CODECLENS_V4 Vec8Avx512 set1(double x) { return {_mm512_set1_pd(x)}; }
  static CODECLENS_V4 Vec8Avx512 add(Vec8Avx512 a, Vec8Avx512 b) { return {_mm512_add_pd(a.v, b.v)}; }
  static CODECLENS_V4 Vec8Avx512 sub(Vec8Avx512 a, Vec8Avx512 b) { return {_mm512_sub_pd(a.v, b.v)}; }
  static CODECLENS_V4 Vec8Avx512 mul(Vec8Avx512 a, Vec8Avx512 b) { return {_mm512_mul_pd(a.v, b.v)}; }
  static CODECLENS_V4 Vec8Avx512 div(Vec8Avx512 a, Vec8Avx512 b) { return {_mm512_div_pd(a.v, b.v)}; }
  static CODECLENS_V4 Vec8Avx512 fma(Vec8Avx512 a, Vec8Avx512 b, Vec8Avx512 c) {
    return {_mm512_fmadd_pd(a.v, b.v, c.v)};
  }
  static CODECLENS_V4 Vec8Avx512 select_first(int count, Vec8Avx512 a, Vec8Avx512 b) {
    const __mmask8 first = static_cast<__mmask8>((1u << count) - 1u);
    return {_mm512_mask_blend_pd(first, b.v, a.v)};
  }
  // 8 x 8 transpose: pairs (unpack), then 128-bit blocks (two rounds of shuffle_f64x2).
  static CODECLENS_V4 void transpose(const Vec8Avx512* in, Vec8Avx512* out) {
    __m512d lo[4], hi[4];
    for (int i = 0; i < 4; ++i) {
      lo[i] = _mm512_unpacklo_pd(in[2 * i].v, in[2 * i + 1].v);  // blocks (r[2b], r'[2b])
      hi[i] = _mm512_unpackhi_pd(in[2 * i].v, in[2 * i + 1].v);  // blocks (r[2b+1], r'[2b+1])
    }
    for (int odd = 0; odd < 2; ++odd) {
      const __m512d* t = odd ? hi : lo;
      const __m512d u0 = _mm512_shuffle_f64x2(t[0], t[1], 0x88), u1 = _mm512_shuffle_f64x2(t[0], t[1], 0xDD);
      const __m512d u2 = _mm512_shuffle_f64x2(t[2], t[3], 0x88), u3 = _mm512_shuffle_f64x2(t[2], t[3], 0xDD);
      out[0 + odd].v = _mm512_shuffle_f64x2(u0, u2, 0x88);
      out[4 + odd].v = _mm512_shuffle_f64x2(u0, u2, 0xDD);
      out[2 + odd].v = _mm512_shuffle_f64x2(u1, u3, 0x88);
      out[6 + odd].v = _mm512_shuffle_f64x2(u1, u3, 0xDD);
    }
  }
};

struct Vec8Avx2 {
  __m256d lo, hi;  // lanes 0-3, 4-7

  static CODECLENS_V3 Vec8Avx2 load(const double* p) { return {_mm256_load_pd(p), _mm256_load_pd(p + 4)}; }
  static CODECLENS_V3 void store(double* p, Vec8Avx2 a) {
    _mm256_store_pd(p, a.lo);
    _mm256_store_pd(p + 4, a.hi);
  }
  static CODECLENS_V3 Vec8Avx2 set1(double x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
  static CODECLENS_V3 Vec8Avx2 add(Vec8Avx2 a, Vec8Avx2 b) {
    return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)};
  }
  static CODECLENS_V3 Vec8Avx2 sub(Vec8Avx2 a, Vec8Avx2 b) {
    return {_mm256_sub_pd(a.lo, b.lo), _mm256_sub_pd(a.hi, b.hi)};
  }
  static CODECLENS_V3 Vec8Avx2 mul(Vec8Avx2 a, Vec8Avx2 b) {
    return {_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)};
  }
  static CODECLENS_V3 Vec8Avx2 div(Vec8Avx2 a, Vec8Avx2 b) {
    return {_mm256_div_pd(a.lo, b.lo), _mm256_div_pd(a.hi, b.hi)};
  }
  static CODECLENS_V3 Vec8Avx2 fma(Vec8Avx2 a, Vec8Avx2 b, Vec8Avx2 c) {
    return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
  }
  static CODECLENS_V3 Vec8Avx2 select_first(int count, Vec8Avx2 a, Vec8Avx2 b) {
    const __m256d n = _mm256_set1_pd(static_cast<double>(count));
    const __m256d first = _mm256_cmp_pd(_mm256_setr_pd(0, 1, 2, 3), n, _CMP_LT_OQ);
    const __m256d second = _mm256_cmp_pd(_mm256_setr_pd(4, 5, 6, 7), n, _CMP_LT_OQ);
    return {_mm256_blendv_pd(b.lo, a.lo, first), _mm256_blendv_pd(b.hi, a.hi, second)};
  }
  // Four 4 x 4 transposes: rows 0-3 / 4-7 (lo / hi of the outputs) by columns 0-3 / 4-7 (lo / hi of the inputs).
  static CODECLENS_V3 void transpose4(__m256d r0, __m256d r1, __m256d r2, __m256d r3, __m256d* c) {
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    c[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    c[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    c[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    c[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
  static CODECLENS_V3 void transpose(const Vec8Avx2* in, Vec8Avx2* out) {
    __m256d c[4];
    for (int rows = 0; rows < 2; ++rows) {
      const Vec8Avx2* r = in + 4 * rows;
      transpose4(r[0].lo, r[1].lo, r[2].lo, r[3].lo, c);
      for (int j = 0; j < 4; ++j) (rows ? out[j].hi : out[j].lo) = c[j];
      transpose4(r[0].hi, r[1].hi, r[2].hi, r[3].hi, c);
      for (int j = 0; j < 4; ++j) (rows ? out[4 + j].hi : out[4 + j].lo) = c[j];
    }
  }
};

#undef CODECLENS_V4
#undef CODECLENS_V3
#pragma GCC diagnostic pop
#endif

}  // namespace codeclens::metrics
