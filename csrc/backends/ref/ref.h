/* ref.h - private to the reference backend: the oracle every other backend
 * is tested against. Plain, deterministic C: each output element is summed
 * in increasing reduction order, so results do not depend on blocking. */
#ifndef XO_REF_H
#define XO_REF_H

#include "../../core/semantics.h"

/* C [m, n] = A [m, k] @ B [k, n], all row-major and contiguous. */
void ref_gemm_f64(int64_t m, int64_t n, int64_t k, const double *a,
                  const double *b, double *c);
void ref_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a,
                  const float *b, float *c);
/* Integers widened to s16 with zero points already subtracted; s32
 * accumulators (callers bound k so they cannot overflow). */
void ref_gemm_s16s32(int64_t m, int64_t n, int64_t k, const int16_t *a,
                     const int16_t *b, int32_t *c);

/* An integer operand read as s16: q - zero_point. The zero point of
 * element e is zp[e / div % mod]; with group > 0 (group-wise scales over a
 * [mod, div] matrix) it is zp[(e / div % mod) / group * div + e % div].
 * packed4: the values are int4, packed two per byte. */
typedef struct ref_ints {
  const void *data;
  const int32_t *zp;
  int packed4, is_unsigned;
  int64_t div, mod, group;
} ref_ints;
void ref_widen(const ref_ints *src, int64_t first, int64_t n, int16_t *dst);
/* Operand i (0: a / x, 1: b / w) of an integer problem as ref_ints, with
 * one zero point for the whole tensor (div = mod = 1): callers set the
 * layout of per-channel or group-wise ones. */
ref_ints ref_operand(const xo_problem *p, const xo_args *args, int i);

/* The runs of the ops (xo_op_impl.run) on an xo_im2col_plan: conv2d reads
 * its gather map, matmul and attention only the problem. The core's wall
 * clock is their kernel time. */
xo_status ref_matmul(void *plan, const xo_args *args, xo_run_stats *stats);
xo_status ref_conv2d(void *plan, const xo_args *args, xo_run_stats *stats);
xo_status ref_attention(void *plan, const xo_args *args, xo_run_stats *stats);

#endif /* XO_REF_H */
