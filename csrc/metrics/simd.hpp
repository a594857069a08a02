// Instruction-set dispatch for the metric kernels.
//
// The kernels are plain loops written for the compiler to vectorise. Building them with -march=native would
// make the wheel crash on older CPUs, so on GCC/x86-64 the hot row functions are compiled for AVX-512
// (x86-64-v4), AVX2+FMA (x86-64-v3) and the baseline, and one is chosen at run time from the CPU:
// - CODECLENS_MULTIVERSION: GCC's target_clones (an ifunc picks the clone), for simple loops whose rounding
//   does not depend on FMA contraction;
// - CODECLENS_X86_DISPATCH: explicit per-ISA instances chosen once with __builtin_cpu_supports (ssim_rows.cpp,
//   where FMA must be explicit so that every instance rounds the same way).
// `flatten` inlines the templated body into each instance, so the whole loop nest gets that ISA.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && defined(__linux__) && \
    !defined(CODECLENS_NO_MULTIVERSION)
#define CODECLENS_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), flatten))
#define CODECLENS_X86_DISPATCH 1
#else
#define CODECLENS_MULTIVERSION
#define CODECLENS_X86_DISPATCH 0
#endif

// Whether the baseline build has a hardware FMA (__builtin_fma would otherwise be a slow libm call).
#if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define CODECLENS_BASELINE_FMA true
#else
#define CODECLENS_BASELINE_FMA false
#endif

#if defined(__GNUC__)
#define CODECLENS_INLINE inline __attribute__((always_inline))
#define CODECLENS_FLATTEN __attribute__((flatten))
#else
#define CODECLENS_INLINE inline
#define CODECLENS_FLATTEN
#endif
