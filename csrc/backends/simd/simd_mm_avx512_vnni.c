/* simd_mm_avx512_vnni.c - the integer matmul kernels of AVX512-VNNI
 * (simd_matmul_kern.inc with vpdpbusd on 512-bit vectors). */
/* x86-64 only: elsewhere the backend says so at init (simd.c) */
#if defined(__x86_64__)
#define KNAME(x) x##_avx512_vnni
#define TGT                                                      \
  __attribute__((                                                \
      target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq," \
             "avx512vnni")))
#define VW 512
#define DP_NATIVE 1
#define BF_NATIVE 0
#define EMIT_INT 1
#define EMIT_F32 0
#define EMIT_BF16 0
#include "simd_matmul_kern.inc"

const xo_simd_mm_kernels xo_simd_mm_avx512_vnni = {
    .name = "avx512_vnni",
    .mr_max = 4,
    .int_native = 1,
    .mr_i8 = I8_MR,
    .i8 = i8_avx512_vnni,
    .i4 = i4_avx512_vnni,
    .i8d = i8d_avx512_vnni,
    .i4d = i4d_avx512_vnni,
};

#endif /* __x86_64__ */
