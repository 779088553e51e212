/* simd_mm_avx512.c - the matmul kernels of AVX-512 F/BW/VL/DQ
 * (simd_matmul_kern.inc for 512-bit vectors): integers by exact vpmaddwd
 * emulation of vpdpbusd, bf16 widened to f32. */
/* x86-64 only: elsewhere the backend says so at init (simd.c) */
#if defined(__x86_64__)
#define KNAME(x) x##_avx512
#define TGT \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define VW 512
#define DP_NATIVE 0
#define BF_NATIVE 0
#define EMIT_INT 1
#define EMIT_F32 1
#define EMIT_BF16 1
#include "simd_matmul_kern.inc"

const xo_simd_mm_kernels xo_simd_mm_avx512 = {
    .name = "avx512",
    .mr_max = 4,
    .mr_i8 = I8_MR,
    .i8 = i8_avx512,
    .i4 = i4_avx512,
    .i8d = i8d_avx512,
    .i4d = i4d_avx512,
    .f32 = f32_avx512,
    .bf16 = bf16_avx512,
    .rows = rows_avx512,
};

#endif /* __x86_64__ */
