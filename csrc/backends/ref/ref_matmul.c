/* ref_matmul.c - reference matmul in every precision. */
#include <stdlib.h>

#include "ref.h"

static xo_status matmul_float(const xo_problem *p, const xo_args *args) {
  int64_t m = p->mm.m, n = p->mm.n, k = p->mm.k;
  xo_dtype d = xo_prec_operand_dtype((xo_precision)p->prec);
  size_t es = xo_dtype_size(d);
  float *fa = NULL, *fb = NULL;
  xo_status st = XO_OK;
  if (p->prec == XO_PREC_FP64) {
    for (int64_t i = 0; i < p->mm.batch; i++)
      ref_gemm_f64(
          m, n, k,
          (const double *)args->in[0] + (p->mm.batch_a > 1 ? i : 0) * m * k,
          (const double *)args->in[1] + (p->mm.batch_b > 1 ? i : 0) * k * n,
          (double *)args->out + i * m * n);
    return XO_OK;
  }
  /* narrow formats are decoded to f32 (exactly) and accumulated in f32 */
  st = xo_alloc(m * k, sizeof(float), (void **)&fa);
  if (st == XO_OK) st = xo_alloc(k * n, sizeof(float), (void **)&fb);
  if (st != XO_OK) goto fail;
  for (int64_t i = 0; i < p->mm.batch; i++) {
    if (i == 0 || p->mm.batch_a > 1)
      xo_decode_f32(d, (const char *)args->in[0] + (size_t)(i * m * k) * es,
                    m * k, fa);
    if (i == 0 || p->mm.batch_b > 1)
      xo_decode_f32(d, (const char *)args->in[1] + (size_t)(i * k * n) * es,
                    k * n, fb);
    ref_gemm_f32(m, n, k, fa, fb, (float *)args->out + i * m * n);
  }
fail:
  free(fa);
  free(fb);
  return st;
}

static xo_status matmul_int(const xo_problem *p, const xo_args *args) {
  int64_t m = p->mm.m, n = p->mm.n, k = p->mm.k;
  int group = p->b_granularity == XO_Q_GROUP;
  int64_t gs = group ? p->group_size : k;
  int16_t *a16 = NULL, *b16 = NULL, *ag = NULL;
  int32_t *acc = NULL;
  xo_status st = xo_alloc(m * k, sizeof(int16_t), (void **)&a16);
  if (st == XO_OK) st = xo_alloc(k * n, sizeof(int16_t), (void **)&b16);
  if (st == XO_OK) st = xo_alloc(m * gs, sizeof(int16_t), (void **)&ag);
  if (st == XO_OK) st = xo_alloc(m * n, sizeof(int32_t), (void **)&acc);
  if (st != XO_OK) goto fail;
  ref_ints ra = ref_operand(p, args, 0), rb = ref_operand(p, args, 1);
  if (p->b_granularity == XO_Q_AXIS) rb.mod = n;
  if (group) {
    rb.div = n;
    rb.mod = k;
    rb.group = gs;
  }
  int per_col = p->b_granularity != XO_Q_TENSOR;
  float sa = args->scale[0][0];
  for (int64_t i = 0; i < p->mm.batch; i++) {
    if (i == 0 || p->mm.batch_a > 1) ref_widen(&ra, i * m * k, m * k, a16);
    if (i == 0 || p->mm.batch_b > 1) ref_widen(&rb, i * k * n, k * n, b16);
    int32_t *c =
        p->out_dtype == XO_DTYPE_S32 ? (int32_t *)args->out + i * m * n : acc;
    float *out = (float *)args->out + i * m * n;
    if (!group) {
      ref_gemm_s16s32(m, n, k, a16, b16, c);
      if (p->out_dtype != XO_DTYPE_S32)
        xo_dequant_rows(m, n, c, sa, args->scale[1], per_col, 0, out);
      continue;
    }
    /* group-wise int4: one s32 accumulator per group, summed in f32 in
     * increasing group order (the first group writes, K > 0 here) */
    for (int64_t g = 0; g < k / gs; g++) {
      for (int64_t r = 0; r < m; r++)
        for (int64_t c2 = 0; c2 < gs; c2++)
          ag[r * gs + c2] = a16[r * k + g * gs + c2];
      ref_gemm_s16s32(m, n, gs, ag, b16 + g * gs * n, acc);
      xo_dequant_rows(m, n, acc, sa, args->scale[1] + g * n, 1, g > 0, out);
    }
  }
fail:
  free(a16);
  free(b16);
  free(ag);
  free(acc);
  return st;
}

xo_status ref_matmul(void *plan, const xo_args *args, xo_run_stats *stats) {
  const xo_problem *p = &((const xo_plan_head *)plan)->p;
  (void)stats;
  if (xo_precision_is_integer((xo_precision)p->prec))
    return matmul_int(p, args);
  return matmul_float(p, args);
}
