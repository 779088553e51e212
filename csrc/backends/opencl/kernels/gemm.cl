/* gemm.cl - C [batch][M][N] = A [M][K] x B [K][N], row-major, tiled.
 * A work-group computes a TS x TS tile of C from TS x TS tiles of A and B
 * staged in local memory; each work-item keeps WPT results of one column
 * in registers (rows ty, ty + TS/WPT, ...). Every C element sums k in
 * increasing order, exactly as the ref backend does.
 * Build options: TS, WPT, ACC (float or int), the A_ and B_ formats, and
 *   OUT_S32: raw int accumulators;  SCALES: dequantize with sa * sb[...];
 *   SCALE_ROWS / SCALE_COLS: per-channel scales of rows (conv) or columns
 *   (matmul), else one scale;
 *   BIAS: add bias[row_off + row];  ADD: C += result (group-wise sums).
 * row_off: the first output channel of a convolution group. */
#define RTS (TS / WPT)

#if defined(A_F32)
#define LOADA(i) XO_LOAD_F32(A, i)
#elif defined(A_BF16)
#define LOADA(i) XO_LOAD_BF16(A, i)
#elif defined(A_F16)
#define LOADA(i) XO_LOAD_F16(A, i)
#elif defined(A_F8)
#define LOADA(i) XO_LOAD_F8(A, i)
#elif defined(A_S8)
#define LOADA(i) (XO_LOAD_S8(A, i) - za)
#elif defined(A_U8)
#define LOADA(i) (XO_LOAD_U8(A, i) - za)
#elif defined(A_S4)
#define LOADA(i) XO_LOAD_S4(A, i)
#endif

#if defined(B_F32)
#define LOADB(i) XO_LOAD_F32(B, i)
#elif defined(B_BF16)
#define LOADB(i) XO_LOAD_BF16(B, i)
#elif defined(B_F16)
#define LOADB(i) XO_LOAD_F16(B, i)
#elif defined(B_F8)
#define LOADB(i) XO_LOAD_F8(B, i)
#elif defined(B_S8)
#define LOADB(i) XO_LOAD_S8(B, i)
#elif defined(B_U8)
#define LOADB(i) XO_LOAD_U8(B, i)
#elif defined(B_S4)
#define LOADB(i) XO_LOAD_S4(B, i)
#endif

#ifdef OUT_S32
#define OUT_T int
#else
#define OUT_T float
#endif

/* One C element from its accumulator (both GEMM kernels): the s32 sum as
 * it is, or dequantized (scales of the rows, columns or tensor), plus the
 * bias, stored or added (ADD: group-wise sums, in group order). */
void xo_gemm_store(__global OUT_T *C, long o, int row, int col, ACC acc,
                   __global const float *sa, __global const float *sb,
                   int sb_off, int row_off, __global const float *bias) {
#if defined(OUT_S32)
  C[o] = acc;
#elif defined(SCALES)
#if defined(SCALE_ROWS)
  const int s = row_off + row;
#elif defined(SCALE_COLS)
  const int s = col;
#else
  const int s = 0;
#endif
  float v = (float)acc * (sa[0] * sb[sb_off + s]);
#ifdef BIAS
  v = v + bias[row_off + row];
#endif
#ifdef ADD
  C[o] = C[o] + v;
#else
  C[o] = v;
#endif
#else
  float v = acc;
#ifdef BIAS
  v = v + bias[row_off + row];
#endif
  C[o] = v;
#endif
}

__kernel __attribute__((reqd_work_group_size(TS, RTS, 1))) void xo_gemm(
    const int M, const int N, const int K, const int k0, const int k1,
    __global const void *A, const long a_off, const long a_bstride,
    __global const void *B, const long b_off, const long b_bstride,
    __global OUT_T *C, const long c_off, const int za,
    __global const float *sa, __global const float *sb, const int sb_off,
    const int row_off, __global const float *bias) {
  const int tx = get_local_id(0), ty = get_local_id(1);
  const int col = get_group_id(0) * TS + tx;
  const int rowbase = get_group_id(1) * TS;
  const long bz = get_global_id(2);
  const long ab = a_off + bz * a_bstride, bb = b_off + bz * b_bstride;
  __local ACC Asub[TS][TS];
  __local ACC Bsub[TS][TS];
  ACC acc[WPT];
  for (int w = 0; w < WPT; w++) acc[w] = 0;
  for (int t = k0; t < k1; t += TS) {
    for (int w = 0; w < WPT; w++) {
      const int r = ty + w * RTS;
      const int ar = rowbase + r, ak = t + tx, bk = t + r;
      Asub[r][tx] = (ar < M && ak < k1) ? (ACC)LOADA(ab + (long)ar * K + ak) : 0;
      Bsub[r][tx] = (bk < k1 && col < N) ? (ACC)LOADB(bb + (long)bk * N + col) : 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = 0; k < TS; k++) {
      const ACC b = Bsub[k][tx];
      for (int w = 0; w < WPT; w++) acc[w] += Asub[ty + w * RTS][k] * b;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int w = 0; w < WPT; w++) {
    const int row = rowbase + ty + w * RTS;
    if (row >= M || col >= N) continue;
    const long o = c_off + bz * (long)M * N + (long)row * N + col;
    xo_gemm_store(C, o, row, col, acc[w], sa, sb, sb_off, row_off, bias);
  }
}
