/* gemm_blk.cl - the GEMM's direct variant: no local memory, each
 * work-item keeps an MW x VW block of C in registers (MW rows, VW columns
 * held as one ACC vector) and reads A and B straight from global memory.
 * CPUs (PoCL) and GPUs with good caches prefer it; the tuner picks
 * between it and the tiled xo_gemm (gemm.cl, built ahead of this file:
 * the operand formats and LOADA/LOADB come from there).
 * Every C element sums k in increasing order, one multiply and one add
 * per step, exactly as xo_gemm and ref do.
 * Build options: MW, VW (1, 2, 4, 8, 16), the local size LX x LY (for
 *   reqd_work_group_size), gemm.cl's format and output options, and
 *   DOT4: integer operands through packed 4 x 8-bit dot products
 *     (cl_khr_integer_dot_product), four k steps at a time; integer sums
 *     are associative, so the result is bit-identical to the scalar path;
 *   XO_DOT_SOFT: with DOT4, a software dot of the same semantics instead
 *     of the extension's (tests the path on devices without it);
 *   XO_HALF: fp16 operands multiplied in half (cl_khr_fp16 arithmetic),
 *     each product widened and summed in f32. */
#if defined(XO_TEST_FAIL_VW) && VW == XO_TEST_FAIL_VW
/* lets the tests check that the tuner skips a set that does not build */
#error "xpuops: build error forced for this vector width by XO_TEST_FAIL_VW"
#endif

#define XO_CAT_(a, b) a##b
#define XO_CAT(a, b) XO_CAT_(a, b)
#if VW == 1
#define ACCV ACC
#else
#define ACCV XO_CAT(ACC, VW)
#endif

/* acc += a * b, a scalar and b of VW lanes (MADDV) or one (MADD1) */
#ifdef XO_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#if VW == 1
#define HALFV half
#else
#define HALFV XO_CAT(half, VW)
#endif
#define MADDV(acc, a, b) \
  acc += XO_CAT(convert_, ACCV)((half)(a) * XO_CAT(convert_, HALFV)(b))
#define MADD1(acc, a, b) acc += (float)((half)(a) * (half)(b))
#else
#define MADDV(acc, a, b) acc += (a) * (b)
#define MADD1(acc, a, b) acc += (a) * (b)
#endif

/* B[i .. i + VW) as an ACC vector (the caller checks the bounds) */
#if VW > 1 && defined(B_F32)
#define LOADBV(i) XO_CAT(vload, VW)(0, (__global const float *)B + (i))
#elif VW > 1 && defined(B_F16)
#define LOADBV(i) XO_CAT(vload_half, VW)(0, (__global const half *)B + (i))
#elif VW > 1 && defined(B_S8)
#define LOADBV(i) \
  XO_CAT(convert_, ACCV)(XO_CAT(vload, VW)(0, (__global const char *)B + (i)))
#elif VW > 1 && defined(B_U8)
#define LOADBV(i) \
  XO_CAT(convert_, ACCV)(XO_CAT(vload, VW)(0, (__global const uchar *)B + (i)))
#else
#define LOADBV(i) xo_loadbv(B, (i))
#endif

ACCV xo_loadbv(__global const void *B, long i) {
  ACCV v;
  ACC *e = (ACC *)&v;
  for (int j = 0; j < VW; j++) e[j] = (ACC)LOADB(i + j);
  return v;
}

#ifdef DOT4
#if defined(A_U8)
#define A4_T uchar4
#define A_ET uchar
#else
#define A4_T char4
#define A_ET char
#endif
#if defined(XO_DOT_SOFT)
/* the extension's dot(a, b) for 4 x 8-bit operands: each product and the
 * sum exact in int */
int xo_dot4(A4_T a, char4 b) {
  return (int)a.x * b.x + (int)a.y * b.y + (int)a.z * b.z + (int)a.w * b.w;
}
#elif defined(__opencl_c_integer_dot_product_input_4x8bit) || \
    defined(cl_khr_integer_dot_product)
#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable
#define xo_dot4(a, b) dot((a), (b))
#else
#error "DOT4 needs cl_khr_integer_dot_product (or XO_DOT_SOFT)"
#endif

/* B[k .. k + 4) of column c as 8-bit values (the raw operands: LOADB
 * subtracts no zero point from weights) */
char4 xo_b4(__global const void *B, long bb, int N, int k, int c) {
  return (char4)((char)LOADB(bb + (long)k * N + c),
                 (char)LOADB(bb + (long)(k + 1) * N + c),
                 (char)LOADB(bb + (long)(k + 2) * N + c),
                 (char)LOADB(bb + (long)(k + 3) * N + c));
}
#endif

__kernel __attribute__((reqd_work_group_size(LX, LY, 1))) void xo_gemm_blk(
    const int M, const int N, const int K, const int k0, const int k1,
    __global const void *A, const long a_off, const long a_bstride,
    __global const void *B, const long b_off, const long b_bstride,
    __global OUT_T *C, const long c_off, const int za,
    __global const float *sa, __global const float *sb, const int sb_off,
    const int row_off, __global const float *bias) {
  const int c0 = get_global_id(0) * VW, r0 = get_global_id(1) * MW;
  const long bz = get_global_id(2);
  const long ab = a_off + bz * a_bstride, bb = b_off + bz * b_bstride;
  if (r0 >= M || c0 >= N) return;
  const long cb = c_off + bz * (long)M * N;
  if (r0 + MW <= M && c0 + VW <= N) { /* a whole block: vectors */
    ACCV acc[MW];
    for (int r = 0; r < MW; r++) acc[r] = 0;
#ifdef DOT4
    int k = k0;
    ACC bsum[VW]; /* sum of B over k, for the zero point of A */
    for (int j = 0; j < VW; j++) bsum[j] = 0;
    for (; k + 4 <= k1; k += 4) {
      char4 b4[VW];
      for (int j = 0; j < VW; j++) {
        b4[j] = xo_b4(B, bb, N, k, c0 + j);
        bsum[j] += xo_dot4((A4_T)(1), b4[j]);
      }
      for (int r = 0; r < MW; r++) {
        const A4_T a4 = vload4(0, (__global const A_ET *)A + ab +
                                      (long)(r0 + r) * K + k);
        ACC *e = (ACC *)&acc[r];
        for (int j = 0; j < VW; j++) e[j] += xo_dot4(a4, b4[j]);
      }
    }
    for (int r = 0; r < MW; r++) { /* the zero point of A, once */
      ACC *e = (ACC *)&acc[r];
      for (int j = 0; j < VW; j++) e[j] -= za * bsum[j];
    }
    for (; k < k1; k++) { /* the last k1 - k0 mod 4 steps */
      const ACCV b = LOADBV(bb + (long)k * N + c0);
      for (int r = 0; r < MW; r++)
        acc[r] += (ACC)LOADA(ab + (long)(r0 + r) * K + k) * b;
    }
#else
    for (int k = k0; k < k1; k++) {
      const ACCV b = LOADBV(bb + (long)k * N + c0);
      for (int r = 0; r < MW; r++)
        MADDV(acc[r], (ACC)LOADA(ab + (long)(r0 + r) * K + k), b);
    }
#endif
    for (int r = 0; r < MW; r++) {
      const ACC *e = (const ACC *)&acc[r];
      for (int j = 0; j < VW; j++)
        xo_gemm_store(C, cb + (long)(r0 + r) * N + c0 + j, r0 + r, c0 + j, e[j],
                      sa, sb, sb_off, row_off, bias);
    }
    return;
  }
  /* a block at the edge: element by element, in the same order */
  for (int r = r0; r < r0 + MW && r < M; r++)
    for (int c = c0; c < c0 + VW && c < N; c++) {
      ACC acc = 0;
      for (int k = k0; k < k1; k++)
        MADD1(acc, (ACC)LOADA(ab + (long)r * K + k),
              (ACC)LOADB(bb + (long)k * N + c));
      xo_gemm_store(C, cb + (long)r * N + c, r, c, acc, sa, sb, sb_off, row_off,
                    bias);
    }
}
