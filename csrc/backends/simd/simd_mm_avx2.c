/* simd_mm_avx2.c - the matmul kernels of AVX2 + FMA (simd_matmul_kern.inc
 * for 256-bit vectors): integers by exact vpmaddwd emulation of vpdpbusd,
 * bf16 widened to f32. */
/* x86-64 only: elsewhere the backend says so at init (simd.c) */
#if defined(__x86_64__)
#define KNAME(x) x##_avx2
#define TGT __attribute__((target("avx2,fma,f16c")))
#define VW 256
#define DP_NATIVE 0
#define BF_NATIVE 0
#define EMIT_INT 1
#define EMIT_F32 1
#define EMIT_BF16 1
#include "simd_matmul_kern.inc"

const xo_simd_mm_kernels xo_simd_mm_avx2 = {
    .name = "avx2",
    .mr_max = 2,
    .mr_i8 = I8_MR,
    .i8 = i8_avx2,
    .i4 = i4_avx2,
    .i8d = i8d_avx2,
    .i4d = i4d_avx2,
    .f32 = f32_avx2,
    .bf16 = bf16_avx2,
    .rows = rows_avx2,
};

#endif /* __x86_64__ */
