/* simd_mm_avx512_bf16.c - the bf16 matmul kernel of AVX512-BF16
 * (simd_matmul_kern.inc with vdpbf16ps on 512-bit vectors). */
/* x86-64 only: elsewhere the backend says so at init (simd.c) */
#if defined(__x86_64__)
#define KNAME(x) x##_avx512_bf16
#define TGT                                                      \
  __attribute__((                                                \
      target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq," \
             "avx512bf16")))
#define VW 512
#define DP_NATIVE 0
#define BF_NATIVE 1
#define EMIT_INT 0
#define EMIT_F32 0
#define EMIT_BF16 1
#include "simd_matmul_kern.inc"

const xo_simd_mm_kernels xo_simd_mm_avx512_bf16 = {
    .name = "avx512_bf16",
    .mr_max = 4,
    .bf16_native = 1,
    .bf16 = bf16_avx512_bf16,
    .rows = rows_avx512_bf16,
};

#endif /* __x86_64__ */
