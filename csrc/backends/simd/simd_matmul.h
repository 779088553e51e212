/* simd_matmul.h - private to the simd matmul: the register-tile kernels of
 * each ISA level (simd_mm_<isa>.c, all from simd_matmul_kern.inc) and the
 * blocked weight layout they read.
 *
 * Weight panels: the weights [K, N] are cut into panels of XO_SIMD_NC = 64
 * columns (the last zero-padded). Integer panels are repacked once per
 * QTensor (cached under its token) into, per group along K (one group when
 * the scales are per tensor or per channel), its k-steps of 256 bytes, 4
 * bytes per column:
 *   int8: a step is 4 k, byte i of column c = w[k0 + i, c] as s8;
 *   int4: a step is 8 k, byte i of column c = u[k0 + i, c] in its low
 *         nibble and u[k0 + 4 + i, c] in its high one (u = the s4 value
 *         + 8, unsigned; unpacked in registers by a mask and a shift),
 * then the group's tail: 64 f32 weight scales, then (when has_cs) 64 s32
 * sums of the stored values per column, then (when has_cw) 64 s32 offsets
 * cw = stored offset + zero point per column. A thread thus streams one
 * contiguous run of bytes per panel, scales included, and one 32-bit lane
 * of a step holds 4 consecutive k of one column: the operand of vpdpbusd.
 * of vpdpbusd. Float weights are read in place, row-major (ldw = N). */
#ifndef XO_SIMD_MATMUL_H
#define XO_SIMD_MATMUL_H

#include "simd.h"

enum {
  XO_SIMD_NC = 64,       /* columns per weight panel */
  XO_SIMD_MR_MAX = 4,    /* largest register tile but int8 GEMM's, in rows */
  XO_SIMD_MR_I8_MAX = 6, /* largest int8 GEMM tile, in rows */
};

/* What the decode kernels need besides the activations and the panel:
 * the corrections of the u8 x s8 identity (simd_matmul.c) and the
 * dequantization, per group. */
typedef struct xo_simd_qpass {
  int64_t ldx;     /* bytes between activation rows */
  int64_t ngroups; /* groups along K */
  int64_t nsg;     /* k-steps per group */
  int64_t gp;      /* activation bytes per group (steps x k per step) */
  int has_cs;      /* the tail holds column sums (else ca is 0) */
  int has_cw;      /* the tail holds cw (else every column's is cw0) */
  int32_t ca;      /* the activations' offset plus zero point */
  int32_t cw0;
  int32_t len;         /* a group's real length along K */
  float sa;            /* the activations' scale */
  int s32;             /* 1: write the corrected s32 sums (one group) */
  const int32_t *rsum; /* row r, group g: rsum[r * ngroups + g] */
} xo_simd_qpass;

/* Bytes of a group's tail (scales, then column sums, then cw). */
static inline int64_t xo_simd_tail_bytes(int has_cs, int has_cw) {
  return (int64_t)XO_SIMD_NC * 4 * (1 + (has_cs != 0) + (has_cw != 0));
}

/* The kernels of one ISA level. Each computes a tile of mr <= mr_max rows
 * by 64 columns into acc (row-major, 64 per row): acc = (accumulate ? acc :
 * 0) + the products over the k range given. */
typedef struct xo_simd_mm_kernels {
  const char *name; /* "avx512_vnni"... for the impl string */
  int mr_max;       /* rows of every tile but the int8 GEMM one */
  int mr_i8;        /* rows of the int8 GEMM tile (i8) */
  int int_native;   /* 1: vpdpbusd; 0: exact emulation with vpmaddwd */
  int bf16_native;  /* 1: vdpbf16ps; 0: bf16 widened to f32, FMA */
  /* int8 GEMM: x u8 activations packed by row tiles of mr_i8 rows (row r
   * of step s: the 4 bytes at x + (s * mr_i8 + r) * 4, rows past the
   * matrix zero), w a panel's steps; mr <= mr_i8 rows, nsteps steps of 4
   * k: acc += sum x[r, k] * w[k, c] */
  void (*i8)(const uint8_t *x, int mr, const int8_t *w, int64_t nsteps,
             int32_t *acc, int accumulate);
  /* int4: x s8 activations, w a panel's steps of 8 k (nibbles unsigned):
   * acc += sum x[r, k] * u[k, c] */
  void (*i4)(const int8_t *x, int64_t ldx, int mr, const uint8_t *w,
             int64_t nsteps, int32_t *acc, int accumulate);
  /* decode: mr <= mr_max rows of activations x (int8: u8, int4: s8)
   * against one whole panel (every group, tails included), corrected and
   * dequantized in registers: out = mr rows of 64 f32 (s32 with q->s32),
   * out = sum over groups in order of f32(acc_g) * (sa * sb_g) */
  void (*i8d)(const uint8_t *x, int mr, const uint8_t *panel,
              const xo_simd_qpass *q, void *out);
  void (*i4d)(const int8_t *x, int mr, const uint8_t *panel,
              const xo_simd_qpass *q, void *out);
  /* fp32: a rows (stride lda), w the first of 64 columns of row-major
   * weights (row stride ldw), k rows: acc += a @ w */
  void (*f32)(const float *a, int64_t lda, int mr, const float *w, int64_t ldw,
              int64_t k, float *acc, int accumulate);
  /* bf16 bits in, f32 accumulators out; as f32 */
  void (*bf16)(const uint16_t *a, int64_t lda, int mr, const uint16_t *w,
               int64_t ldw, int64_t k, float *acc, int accumulate);
  /* skinny float (m <= 4 rows): acc[r, 0..nc) += a[r, 0..kn) @ w[0..kn,
   * 0..nc), w row-major (row stride ldw), nc a multiple of 16; bf: bf16
   * operands (widened), else f32 */
  void (*rows)(const void *a, int64_t lda, int m, const void *w, int64_t ldw,
               int64_t kn, int64_t nc, float *acc, int bf);
} xo_simd_mm_kernels;

/* Per ISA family; a family's entries are NULL where it adds nothing (the
 * VNNI set has only integer kernels, the BF16 set only bf16). */
extern const xo_simd_mm_kernels xo_simd_mm_avx2;
extern const xo_simd_mm_kernels xo_simd_mm_avx512;
extern const xo_simd_mm_kernels xo_simd_mm_avx512_vnni;
extern const xo_simd_mm_kernels xo_simd_mm_avx512_bf16;

/* The matmul entry of the backend table (simd_matmul.c). */
xo_status xo_simd_matmul_plan(void *plan);
xo_status xo_simd_matmul_run(void *plan, const xo_args *args,
                             xo_run_stats *stats);
/* Frees the weight cache (backend fini). */
void xo_simd_matmul_fini(void);

#endif /* XO_SIMD_MATMUL_H */
